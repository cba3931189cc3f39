use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Record<T> {
    #[encrypt(random)]
    value: T,
}

fn main() {}
