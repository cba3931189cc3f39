use encrypted::Encrypted;
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
    let _ = Patient::fields().blood_type().ascending();
}
