use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(inherit_key)]
struct Insurance {
    #[encrypt(deterministic)]
    policy_number: i32,
}

#[derive(Serialize, Deserialize, Encrypted)]
struct Patient {
    name: String,
    #[encrypt(nested)]
    insurance: Insurance,
}

fn main() {}
