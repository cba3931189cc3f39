use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
struct Note {
    owner: String,
    #[encrypt(deterministic, key_alt_name_field = "owner")]
    body: String,
}

fn main() {}
