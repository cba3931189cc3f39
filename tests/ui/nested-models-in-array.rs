use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted, Debug)]
#[encrypted(key_alt_name = "k")]
struct Visit {
    #[encrypt(random)]
    diagnosis: String,
}

#[derive(Serialize, Deserialize, Encrypted, Debug)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    visits: Vec<Visit>,
}

fn main() {}
