use encrypted::Encrypted;
use encrypted::model::Sort;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[serde(rename_all = "camelCase")]
#[encrypted(inherit_key)]
struct Insurance {
    provider: String,
    #[encrypt(deterministic)]
    policy_number: i32,
}

#[derive(Serialize, Deserialize, Encrypted)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "medco-key")]
struct Patient {
    name: String,
    #[encrypt(nested)]
    insurance: Insurance,
}

fn main() {
    // Sorting by a document compares its ciphertexts; its plaintext fields are fine.
    let _ = Sort::new().ascending(Patient::fields().insurance().fields().provider());
    let _ = Sort::new().ascending(Patient::fields().insurance());
}
