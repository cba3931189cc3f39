use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    #[serde(rename = "_id")]
    #[encrypt(random)]
    id: String,
}

fn main() {}
