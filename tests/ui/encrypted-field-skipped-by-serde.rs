use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    #[serde(skip)]
    #[encrypt(random)]
    blood_type: String,
}

fn main() {}
