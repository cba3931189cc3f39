use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Vitals {
    #[encrypt(deterministic)]
    temperature: f64,
}

fn main() {}
