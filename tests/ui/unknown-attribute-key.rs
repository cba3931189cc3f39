use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k", cache = "yes")]
struct Patient {
    #[encrypt(random, padding = 16)]
    blood_type: String,
}

fn main() {}
