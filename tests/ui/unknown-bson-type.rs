use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    #[encrypt(random, bson_type = "integer")]
    code: i32,
}

fn main() {}
