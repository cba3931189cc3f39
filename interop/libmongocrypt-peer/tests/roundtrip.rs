//! The peer works, and Debian's libmongocrypt agrees with encrypted-core byte for byte.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bson::spec::BinarySubtype;
use bson::{Binary, Bson};
use encrypted_core::{Algorithm, Ciphertext, DataKey, KeyDocument, LocalMasterKey, MasterKey};
use libmongocrypt_peer::Peer;

#[test]
fn debian_libmongocrypt_and_encrypted_core_agree() {
    let master = [0x11u8; 96];
    let peer = Peer::new(&master).unwrap();
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    let wrapped = LocalMasterKey::from_bytes(&master)
        .unwrap()
        .wrap(&key)
        .unwrap();
    let key_document = KeyDocument::new(key.id(), wrapped, MasterKey::local()).to_document();
    for value in [
        Bson::Int32(7),
        Bson::String("x".repeat(32)),
        Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![9; 1024],
        }),
    ] {
        let theirs = peer.encrypt(&key_document, &value, true).unwrap();
        let ours = key.encrypt(&value, Algorithm::Deterministic).unwrap();
        assert_eq!(theirs, ours.as_bytes());
        assert_eq!(peer.decrypt(&key_document, &theirs).unwrap(), value);

        let random = peer.encrypt(&key_document, &value, false).unwrap();
        assert_ne!(random, peer.encrypt(&key_document, &value, false).unwrap());
        assert_eq!(
            key.decrypt(&Ciphertext::from_bytes(random).unwrap())
                .unwrap(),
            value
        );
        let ours = key.encrypt(&value, Algorithm::Random).unwrap();
        assert_eq!(peer.decrypt(&key_document, ours.as_bytes()).unwrap(), value);
    }
    assert!(
        peer.encrypt(&key_document, &Bson::Double(1.0), true)
            .is_err()
    );
}
