//! The AWS KMS key of step F: where it is, and the provider that reaches it.

use std::path::PathBuf;

use encrypted::MasterKey;
use encrypted::kms::{AwsCredentials, AwsKms, TlsOptions};

use crate::args::Args;
use crate::failure::{Context, Failure};

/// The AWS KMS key the data key moves to, checked before the demo starts so that a
/// missing setting stops it at once rather than at step F.
pub struct AwsKey {
    master_key: MasterKey,
    ca_file: Option<PathBuf>,
    ca_pem: Option<Vec<u8>>,
}

impl AwsKey {
    /// The key the command line (or the `ENCRYPTED_TEST_AWS_*` variables) names; the
    /// credentials come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    ///
    /// # Errors
    ///
    /// When the ARN, the region, the credentials or the CA file are missing or
    /// unreadable.
    pub fn from_args(args: &Args) -> Result<Self, Failure> {
        let arn = args.aws_key_arn.as_deref().ok_or_else(|| {
            Failure::new(
                "step F needs an AWS KMS key: pass --aws-key-arn ARN or set ENCRYPTED_TEST_AWS_KEY_ARN \
                 (scripts/medcomd starts a KMS emulator and sets it)",
            )
        })?;
        AwsCredentials::from_env().context("step F needs AWS credentials")?;
        let region = match (&args.aws_region, region_of_arn(arn)) {
            (Some(region), _) => region.clone(),
            (None, Some(region)) => region.to_owned(),
            (None, None) => {
                return Err(Failure::new(format!(
                    "no AWS region: pass --aws-region (the key `{arn}` is not an ARN that names one)"
                )));
            }
        };
        let mut master_key = MasterKey::aws(region, arn);
        if let Some(endpoint) = &args.aws_endpoint {
            master_key = master_key.with_endpoint(endpoint);
        }
        let ca_pem = match &args.aws_ca_file {
            Some(path) => Some(std::fs::read(path).context(format!(
                "cannot read the AWS KMS CA file {}",
                path.display()
            ))?),
            None => None,
        };
        Ok(Self {
            master_key,
            ca_file: args.aws_ca_file.clone(),
            ca_pem,
        })
    }

    /// The `masterKey` of a data key wrapped by this key.
    pub fn master_key(&self) -> MasterKey {
        self.master_key.clone()
    }

    /// The `aws` KMS provider, trusting the CA file if one was given. The endpoint the
    /// command line names (the emulator's) is allowed explicitly: a provider reaches
    /// only AWS's own endpoints unless the application says otherwise.
    ///
    /// # Errors
    ///
    /// When the credentials are gone, or the endpoint or the CA file is not valid.
    pub fn provider(&self) -> Result<AwsKms, Failure> {
        let mut aws = AwsKms::new(AwsCredentials::from_env().context("AWS KMS needs credentials")?)
            .context("cannot set up AWS KMS")?;
        if let MasterKey::Aws {
            endpoint: Some(endpoint),
            ..
        } = &self.master_key
        {
            aws = aws
                .with_allowed_endpoint(endpoint)
                .context(format!("cannot use the AWS KMS endpoint `{endpoint}`"))?;
        }
        match (&self.ca_pem, &self.ca_file) {
            (Some(pem), Some(path)) => TlsOptions::new()
                .with_ca_pem(pem)
                .and_then(|tls| aws.with_tls(tls))
                .context(format!("cannot use the AWS KMS CA file {}", path.display())),
            _ => Ok(aws),
        }
    }

    /// The key for people: its ARN, region and endpoint.
    pub fn describe(&self) -> String {
        match &self.master_key {
            MasterKey::Aws {
                region,
                key,
                endpoint,
                ..
            } => {
                let endpoint = endpoint
                    .clone()
                    .unwrap_or_else(|| format!("kms.{region}.amazonaws.com"));
                format!("{key} (region {region}, endpoint https://{endpoint})")
            }
            other => other.provider(),
        }
    }
}

/// The region of a KMS key ARN, `arn:aws:kms:<region>:<account>:key/<id>`.
fn region_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}
