use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
struct Patient {
    name: String,
    #[encrypt(deterministic)]
    ssn: i32,
}

fn main() {}
