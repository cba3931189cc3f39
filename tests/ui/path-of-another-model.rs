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

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "medco-key")]
struct Doctor {
    name: String,
}

fn main() {
    let _: encrypted::model::Filter<Doctor> = Patient::fields().name().eq("Jon Doe");
}
