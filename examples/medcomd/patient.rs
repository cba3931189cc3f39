//! The guide's data model, with the one addition its "randomly encrypted field" section
//! suggests: `last4ssn`, the last four digits of the SSN in plaintext.

use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

/// The insurance of a patient: the provider is plaintext (a receptionist reads it), the
/// policy number is deterministically encrypted (a doctor can search by it) with the
/// key of the patient document that holds it.
#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(inherit_key)]
pub struct Insurance {
    /// The insurance provider.
    pub provider: String,
    /// The policy number.
    #[encrypt(deterministic)]
    pub policy_number: i32,
}

/// One visit's vital signs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MedicalRecord {
    /// Weight in pounds.
    pub weight: i32,
    /// Blood pressure, `systolic/diastolic`.
    pub blood_pressure: String,
}

/// A patient of MedcoMD, stored in `medicalRecords.patients`.
///
/// Every encrypted field uses the data key whose alternate name is `medco-key`.
#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "medco-key")]
pub struct Patient {
    /// The patient's name, plaintext: receptionists find patients by it.
    pub name: String,
    /// The social security number, deterministically encrypted: queryable by equality
    /// and of high cardinality, as the guide decides.
    #[encrypt(deterministic)]
    pub ssn: i32,
    /// The last four digits of the SSN, plaintext: what a receptionist, who holds no
    /// key, checks a patient's identity with.
    #[serde(rename = "last4ssn")]
    pub last4_ssn: i32,
    /// The blood type, randomly encrypted: never queried, low cardinality.
    #[encrypt(random)]
    pub blood_type: String,
    /// The visits, randomly encrypted (an array can only be encrypted randomly).
    #[encrypt(random)]
    pub medical_records: Vec<MedicalRecord>,
    /// The insurance, a sub-document with its own encrypted field.
    #[encrypt(nested)]
    pub insurance: Insurance,
}

impl Patient {
    /// A patient; `last4ssn` is derived from the SSN so the two cannot disagree.
    fn new(
        name: &str,
        ssn: i32,
        blood_type: &str,
        medical_records: Vec<MedicalRecord>,
        provider: &str,
        policy_number: i32,
    ) -> Self {
        Self {
            name: name.to_owned(),
            ssn,
            last4_ssn: ssn % 10_000,
            blood_type: blood_type.to_owned(),
            medical_records,
            insurance: Insurance {
                provider: provider.to_owned(),
                policy_number,
            },
        }
    }
}

fn visit(weight: i32, blood_pressure: &str) -> MedicalRecord {
    MedicalRecord {
        weight,
        blood_pressure: blood_pressure.to_owned(),
    }
}

/// The guide's Jon Doe.
pub fn jon_doe() -> Patient {
    Patient::new(
        "Jon Doe",
        241_014_209,
        "AB+",
        vec![visit(180, "120/80")],
        "MaestCare",
        123_142,
    )
}

/// The demo's patients: Jon Doe and three more.
pub fn all() -> Vec<Patient> {
    vec![
        jon_doe(),
        Patient::new(
            "Jane Roe",
            318_552_071,
            "O-",
            vec![visit(135, "110/70"), visit(137, "115/75")],
            "Medicorp",
            654_321,
        ),
        Patient::new(
            "Ada Byron",
            512_663_930,
            "A+",
            Vec::new(),
            "MaestCare",
            777_001,
        ),
        Patient::new(
            "Sam Poe",
            629_104_481,
            "B+",
            vec![visit(201, "135/88")],
            "HealthFirst",
            900_417,
        ),
    ]
}
