use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
struct Note {
    #[encrypt(random, key_alt_name_field = "owner")]
    body: String,
}

fn main() {}
