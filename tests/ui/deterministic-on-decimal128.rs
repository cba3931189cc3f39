use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(key_alt_name = "k")]
struct Invoice {
    #[encrypt(deterministic)]
    amount: encrypted::bson::Decimal128,
}

fn main() {}
