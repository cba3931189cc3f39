use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_id = "not-a-uuid")]
struct Patient {
    #[encrypt(random)]
    code: i32,
}

fn main() {}
