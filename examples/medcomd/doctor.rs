//! Step E as a doctor: a client with the key vault and the master key reads and writes
//! every field, and searches by the deterministically encrypted ones.

use encrypted::bson::doc;
use encrypted::model::{Filter, Update};
use encrypted::{Encrypted, EncryptedCollection};
use futures_util::TryStreamExt;

use crate::failure::{Context, Failure};
use crate::output::{block, json, line};
use crate::patient::{self, MedicalRecord, Patient};

/// Writes the demo's patients and reads them back; returns every patient as stored at
/// the end.
///
/// # Errors
///
/// When the server or the key vault fails, or a read does not return what was written.
pub async fn write_and_read(
    patients: &EncryptedCollection<Patient>,
) -> Result<Vec<Patient>, Failure> {
    let cleared = patients
        .delete_many(Filter::all())
        .await
        .context("cannot clear the patients collection")?;
    line(format!(
        "cleared the collection ({} patients of an earlier run removed)",
        cleared.deleted_count
    ));

    let everyone = patient::all();
    patients
        .insert_many(&everyone)
        .await
        .context("cannot insert the patients")?;
    let names: Vec<&str> = everyone.iter().map(|p| p.name.as_str()).collect();
    line(format!(
        "inserted {} patients: {}",
        everyone.len(),
        names.join(", ")
    ));

    let stored = patients
        .plain()
        .find_one(doc! { "name": "Jon Doe" })
        .await
        .context("cannot read Jon Doe as stored")?
        .ok_or_else(|| Failure::new("Jon Doe is not in the collection"))?;
    line(
        "what the server, a DBA or a backup sees of Jon Doe (ciphertexts are BSON binary subtype 6):",
    );
    block(json(&stored));

    let jon = patients
        .find_one(Patient::fields().ssn().eq(patient::jon_doe().ssn))
        .await
        .context("cannot find Jon Doe by SSN")?
        .ok_or_else(|| Failure::new("no patient has Jon Doe's SSN"))?;
    if jon != patient::jon_doe() {
        return Err(Failure::new(
            "the patient found by Jon Doe's SSN is not Jon Doe",
        ));
    }
    line(
        "found by SSN (the query's SSN is encrypted deterministically, so the server matches \
         ciphertexts), decrypted:",
    );
    block(serde_json::to_string_pretty(&jon).context("cannot print Jon Doe")?);

    let policy = 654_321;
    let insured = patients
        .find_one(
            Patient::fields()
                .insurance()
                .fields()
                .policy_number()
                .eq(policy),
        )
        .await
        .context("cannot find a patient by insurance policy number")?
        .ok_or_else(|| Failure::new(format!("no patient has the policy number {policy}")))?;
    line(format!(
        "found by insurance policy number {policy}: {} (insured by {})",
        insured.name, insured.insurance.provider
    ));

    line(
        "a query on a randomly encrypted field, `Patient::fields().blood_type().eq(\"AB+\")`, \
         does not compile: `Random` paths have no `eq` (see tests/ui/query-on-random-field.rs)",
    );

    let visit = MedicalRecord {
        weight: 178,
        blood_pressure: "118/79".to_owned(),
    };
    let mut records = jon.medical_records.clone();
    records.push(visit);
    patients
        .update_one(
            Patient::fields().ssn().eq(jon.ssn),
            Update::new().set(Patient::fields().medical_records(), records.clone()),
        )
        .await
        .context("cannot add a medical record to Jon Doe")?;
    let updated = patients
        .find_one(Patient::fields().ssn().eq(jon.ssn))
        .await
        .context("cannot read Jon Doe back")?
        .ok_or_else(|| Failure::new("Jon Doe is gone"))?;
    if updated.medical_records != records {
        return Err(Failure::new("Jon Doe's new medical record was not stored"));
    }
    line(format!(
        "added today's vital signs to Jon Doe's medical records (re-encrypted as a whole): {} visits now",
        updated.medical_records.len()
    ));

    let all: Vec<Patient> = patients
        .find(Filter::all())
        .await
        .context("cannot read the patients")?
        .try_collect()
        .await
        .context("cannot decrypt the patients")?;
    line(format!("read all {} patients back, decrypted", all.len()));
    Ok(all)
}
