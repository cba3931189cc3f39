use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
enum Status {
    Admitted,
    Discharged,
}

fn main() {}
