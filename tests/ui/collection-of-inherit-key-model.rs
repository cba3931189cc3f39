use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted)]
#[encrypted(inherit_key)]
struct Insurance {
    #[encrypt(deterministic)]
    policy_number: i32,
}

fn open(collection: &mongodb::Collection<bson::Document>, encryption: &encrypted::ClientEncryption) {
    let _ = encrypted::EncryptedCollection::<Insurance>::new(collection, encryption);
}

fn main() {
    let _ = open;
}
