//! The MedcoMD guide's model, as a user of the crate writes it.

#![allow(dead_code, missing_docs, clippy::indexing_slicing)]

use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(inherit_key)]
pub struct Insurance {
    pub provider: String,
    #[encrypt(deterministic)]
    pub policy_number: i32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MedicalRecord {
    pub weight: i32,
    pub blood_pressure: String,
}

#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "medco-key")]
pub struct Patient {
    pub name: String,
    #[encrypt(deterministic)]
    pub ssn: i32,
    #[encrypt(random)]
    pub blood_type: String,
    #[encrypt(random)]
    pub medical_records: Vec<MedicalRecord>,
    #[encrypt(nested)]
    pub insurance: Insurance,
}

/// The guide's Jon Doe.
pub fn jon_doe() -> Patient {
    Patient {
        name: "Jon Doe".to_owned(),
        ssn: 241014209,
        blood_type: "AB+".to_owned(),
        medical_records: vec![MedicalRecord {
            weight: 180,
            blood_pressure: "120/80".to_owned(),
        }],
        insurance: Insurance {
            provider: "MaestCare".to_owned(),
            policy_number: 123142,
        },
    }
}

/// More patients, numbered.
pub fn patient(n: i32) -> Patient {
    Patient {
        name: format!("Patient {n}"),
        ssn: 100_000_000 + n,
        blood_type: ["O+", "O-", "A+", "AB+"][(n % 4) as usize].to_owned(),
        medical_records: (0..(n % 3))
            .map(|visit| MedicalRecord {
                weight: 150 + visit,
                blood_pressure: format!("1{visit}0/80"),
            })
            .collect(),
        insurance: Insurance {
            provider: ["MaestCare", "Medicorp"][(n % 2) as usize].to_owned(),
            policy_number: 500_000 + n,
        },
    }
}
