//! Step E as a receptionist: a client with no key vault and no master key. It finds
//! patients by their plaintext fields, sees names and insurance providers, and every
//! encrypted field stays sealed: nothing sensitive can end up on the front desk's screen.

use encrypted::model::Filter;
use encrypted::{Encrypted, EncryptedCollection};
use futures_util::TryStreamExt;

use crate::failure::{Context, Failure, one_line};
use crate::output::{block, line};
use crate::patient::{Patient, PatientView};

/// How many patients a page of the front desk's list shows.
const PAGE_SIZE: u64 = 2;

/// Verifies Jon Doe at the front desk and lists what the receptionist sees.
///
/// # Errors
///
/// When the server fails, or when the receptionist could see an encrypted field.
pub async fn verify(patients: &EncryptedCollection<Patient>) -> Result<(), Failure> {
    line(
        "the receptionist checks identity with the name and the last four SSN digits, which \
         are stored in plaintext (`last4ssn`, as the guide suggests): holding no key, the \
         receptionist could not compare against an encrypted value. Four digits alone do not \
         identify anyone and are what front desks ask for anyway; the full SSN stays encrypted. \
         The price: whoever reads the database sees them too.",
    );
    let (name, last4) = ("Jon Doe", 4209);
    let found = patients
        .find_one_view(
            Patient::fields()
                .name()
                .eq(name)
                .and(Patient::fields().last4_ssn().eq(last4)),
        )
        .await
        .context("cannot look the patient up")?;
    let view = found.ok_or_else(|| {
        Failure::new(format!(
            "{name} with SSN ending {last4} was not found at the front desk"
        ))
    })?;
    check_sealed(&view)?;
    line(format!(
        "{name}, SSN ending {last4}: verified. The receptionist's screen:"
    ));
    block(format!("{view:#?}"));

    let wrong = patients
        .find_one_view(
            Patient::fields()
                .name()
                .eq(name)
                .and(Patient::fields().last4_ssn().eq(1234)),
        )
        .await
        .context("cannot look the patient up")?;
    if wrong.is_some() {
        return Err(Failure::new("a wrong SSN ending verified a patient"));
    }
    line(format!(
        "{name}, SSN ending 1234: no such patient, not verified"
    ));

    // The list a front desk pages through: sorted by name (a plaintext field; ciphertext
    // order means nothing, so sorting by an encrypted field is refused), a page at a time.
    line(format!(
        "the front desk's patient list, by name, {PAGE_SIZE} to a page:"
    ));
    let mut page = 0;
    loop {
        let views: Vec<PatientView> = patients
            .find_views(Filter::all())
            .sort(Patient::fields().name().ascending())
            .skip(page * PAGE_SIZE)
            .limit(i64::try_from(PAGE_SIZE).unwrap_or(i64::MAX))
            .await
            .context("cannot list the patients")?
            .try_collect()
            .await
            .context("cannot list the patients")?;
        if views.is_empty() {
            break;
        }
        page += 1;
        line(format!("page {page}:"));
        for view in &views {
            check_sealed(view)?;
            block(format!(
                "{:<10} insured by {:<12} policy {}, SSN {}, blood type {}, medical records {:?}",
                view.name,
                view.insurance.provider,
                view.insurance.policy_number,
                view.ssn,
                view.blood_type,
                view.medical_records,
            ));
        }
    }

    match patients
        .find_one_view(Patient::fields().ssn().eq(123_456_789))
        .await
    {
        Ok(_) => return Err(Failure::new("the receptionist could search by SSN")),
        Err(error) => line(format!(
            "searching by a full SSN is refused, as the guide says it must be: {}",
            one_line(&error)
        )),
    }
    match patients.find_one(Patient::fields().name().eq(name)).await {
        Ok(_) => {
            return Err(Failure::new(
                "the receptionist could read a whole patient record",
            ));
        }
        Err(error) => line(format!(
            "and reading the whole record (not the view) is a typed error: {}",
            one_line(&error)
        )),
    }
    Ok(())
}

/// Fails unless every encrypted field of `view` is sealed.
fn check_sealed(view: &PatientView) -> Result<(), Failure> {
    let sealed = view.ssn.is_sealed()
        && view.blood_type.is_sealed()
        && view.medical_records.is_sealed()
        && view.insurance.policy_number.is_sealed();
    if sealed {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "the receptionist could read an encrypted field of {}",
            view.name
        )))
    }
}
