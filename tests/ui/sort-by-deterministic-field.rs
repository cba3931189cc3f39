use encrypted::Encrypted;
use encrypted::model::Sort;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "medco-key")]
struct Patient {
    name: String,
    visits: i32,
    #[encrypt(deterministic)]
    ssn: i32,
    #[encrypt(random)]
    blood_type: String,
}

fn main() {
    // Ciphertext order is not the order of the SSNs.
    let _ = Sort::new()
        .ascending(Patient::fields().name())
        .descending(Patient::fields().ssn());
}
