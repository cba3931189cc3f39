use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    #[encrypt(deterministic)]
    notes: std::collections::HashMap<String, String>,
}

fn main() {}
