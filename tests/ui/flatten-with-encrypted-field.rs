use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Contact {
    phone: String,
}

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    #[serde(flatten)]
    #[encrypt(random)]
    contact: Contact,
}

fn main() {}
