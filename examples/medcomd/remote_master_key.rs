//! Step F: the data key moves from the local master key to an AWS KMS key. The data key
//! itself does not change (it is only wrapped anew), so the schema, which names its id,
//! and every stored ciphertext stay as they are.

use encrypted::bson::doc;
use encrypted::kms::KmsProviders;
use encrypted::model::Filter;
use encrypted::{Encrypted, Error};
use futures_util::TryStreamExt;

use crate::Demo;
use crate::aws::AwsKey;
use crate::data_key::{self, KEY_ALT_NAME};
use crate::failure::{Context, Failure, one_line};
use crate::output::{block, line};
use crate::patient::{self, Patient};

/// Rewraps `medco-key` with the AWS key, then shows that a client with only the AWS key
/// reads every patient in `expected`, and that one with only the local master key no
/// longer can.
///
/// # Errors
///
/// When the KMS, the server or the key vault fails, or either check does not hold.
pub async fn convert(demo: &Demo, aws: &AwsKey, expected: &[Patient]) -> Result<(), Failure> {
    let both = demo.encryption(
        KmsProviders::new()
            .with(demo.local_kms()?)
            .with(aws.provider()?),
    );
    let before = both
        .get_key_by_alt_name(KEY_ALT_NAME)
        .await
        .context("cannot read the data key")?
        .ok_or_else(|| Failure::new(format!("`{KEY_ALT_NAME}` vanished from the key vault")))?;
    line(format!(
        "`{KEY_ALT_NAME}` is wrapped by the `{}` master key; rewrapping it with the AWS KMS key {}",
        before.master_key.provider(),
        aws.describe()
    ));
    let result = both
        .rewrap_many_data_key(doc! { "keyAltNames": KEY_ALT_NAME }, Some(aws.master_key()))
        .await
        .context(format!(
            "cannot rewrap `{KEY_ALT_NAME}` with the AWS KMS key"
        ))?;
    if result.rewrapped.len() != 1 {
        return Err(Failure::new(format!(
            "expected to rewrap one data key, rewrapped {} (skipped {})",
            result.rewrapped.len(),
            result.skipped.len()
        )));
    }
    let key = both
        .get_key_by_alt_name(KEY_ALT_NAME)
        .await
        .context("cannot read the rewrapped key")?
        .ok_or_else(|| Failure::new(format!("`{KEY_ALT_NAME}` vanished from the key vault")))?;
    line(format!(
        "rewrapped `{KEY_ALT_NAME}` ({}): the AWS key now wraps it; its key vault document:",
        key.id
    ));
    block(data_key::describe(&key));

    // Production: a client that has only the AWS provider, no local master key.
    let aws_only = demo.encryption(KmsProviders::new().with(aws.provider()?));
    let patients = demo.patients(&aws_only);
    let mut read: Vec<Patient> = patients
        .find(Filter::all())
        .await
        .context("with only the AWS key, cannot read the patients")?
        .try_collect()
        .await
        .context("with only the AWS key, cannot decrypt the patients")?;
    let mut expected = expected.to_vec();
    read.sort_by(|a, b| a.name.cmp(&b.name));
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    if read != expected {
        return Err(Failure::new(
            "with only the AWS key, the patients read back differ from those written",
        ));
    }
    let names: Vec<&str> = read.iter().map(|p| p.name.as_str()).collect();
    line(format!(
        "a new client with only the AWS KMS key reads every patient back, decrypted: {}",
        names.join(", ")
    ));
    let jon = patients
        .find_one(Patient::fields().ssn().eq(patient::jon_doe().ssn))
        .await
        .context("with only the AWS key, cannot search by SSN")?
        .ok_or_else(|| Failure::new("with only the AWS key, Jon Doe is not found by SSN"))?;
    line(format!(
        "and still finds {} by SSN: the data key, and so every ciphertext, is unchanged",
        jon.name
    ));

    // The old development setup: only the local master key file.
    let local_only = demo.encryption(KmsProviders::new().with(demo.local_kms()?));
    let patients = demo.patients(&local_only);
    let outcome: Result<Vec<Patient>, Error> = match patients.find(Filter::all()).await {
        Ok(stream) => stream.try_collect().await,
        Err(error) => Err(error),
    };
    match outcome {
        Err(error) if needs_another_kms(&error) => {
            line(format!(
                "the local master key alone no longer decrypts it: {}",
                one_line(&error)
            ));
            Ok(())
        }
        Err(error) => Err(Failure::caused_by(
            "with only the local master key, reading failed, but not for want of the AWS key",
            &error,
        )),
        Ok(_) => Err(Failure::new(format!(
            "the local master key in {} still decrypts the patients after the rewrap",
            demo.master_key_file().display()
        ))),
    }
}

/// Whether `error` says the key is wrapped by a KMS provider this client lacks.
fn needs_another_kms(error: &Error) -> bool {
    match error {
        Error::UnknownKmsProvider { .. } => true,
        Error::Field { source, .. } => needs_another_kms(source),
        _ => false,
    }
}
