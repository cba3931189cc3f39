use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    #[encrypt(random, deterministic)]
    ssn: i32,
    #[encrypt(random, key_alt_name = "a", key_alt_name = "b")]
    blood_type: String,
}

fn main() {}
