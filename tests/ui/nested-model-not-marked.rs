use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted, Debug)]
#[encrypted(inherit_key)]
struct Insurance {
    #[encrypt(deterministic)]
    policy_number: i32,
}

#[derive(Serialize, Deserialize, Encrypted, Debug)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    insurance: Insurance,
}

fn main() {}
