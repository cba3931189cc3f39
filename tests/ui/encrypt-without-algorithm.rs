use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Patient {
    #[encrypt]
    ssn: i32,
    #[encrypt(key_alt_name = "other")]
    pin: i32,
}

fn main() {}
