//! Writing a vector file with this implementation, for libmongocrypt to check.

use std::collections::HashMap;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Uuid};
use encrypted_core::{Algorithm, DataKey, KeyDocument, LocalMasterKey, MasterKey};

use crate::check::resolve_key;
use crate::file::{Case, Tampered, VectorFile, to_document, to_json};
use crate::keys::KeyRing;

/// Writes, with this implementation, a file with the same cases as `template`: a new
/// local master key, new data keys with the template's alternate names, every value
/// encrypted (or refused) here, and tampered copies of ciphertexts made here.
///
/// # Errors
///
/// When the template cannot be read or a key cannot be made.
pub fn write_from_template(
    template: &VectorFile,
    description: String,
) -> Result<VectorFile, String> {
    let error = |e: encrypted_core::Error| e.to_string();
    let master_bytes = LocalMasterKey::generate_bytes().map_err(error)?;
    let master_key = LocalMasterKey::from_bytes(master_bytes.as_ref()).map_err(error)?;

    // One new key per template key, same alternate names.
    let mut ring = KeyRing::default();
    let mut new_ids: HashMap<Uuid, Uuid> = HashMap::new();
    let mut key_documents = Vec::new();
    for document in &template.key_documents {
        let theirs = KeyDocument::from_document(&to_document(document)?).map_err(error)?;
        let key = DataKey::generate(Uuid::new()).map_err(error)?;
        let ours = KeyDocument::new(
            key.id(),
            master_key.wrap(&key).map_err(error)?,
            MasterKey::local(),
        )
        .with_key_alt_names(theirs.key_alt_names.clone());
        key_documents.push(to_json(Bson::Document(ours.to_document())));
        new_ids.insert(theirs.id, key.id());
        ring.insert(key, &theirs.key_alt_names);
    }

    let mut cases = Vec::with_capacity(template.cases.len());
    let mut samples = Vec::new();
    for case in &template.cases {
        let key_id = match &case.key_id {
            Some(id) => {
                let bytes = crate::file::to_binary(id)?.bytes;
                let theirs = <[u8; 16]>::try_from(bytes.as_slice())
                    .map(Uuid::from_bytes)
                    .map_err(|_| "keyId is not 16 bytes".to_owned())?;
                let ours = new_ids
                    .get(&theirs)
                    .ok_or_else(|| format!("no template key {theirs}"))?;
                Some(to_json(Bson::Binary(Binary::from_uuid(*ours))))
            }
            None => None,
        };
        let mut ours = Case {
            description: case.description.clone(),
            algorithm: case.algorithm.clone(),
            key_id,
            key_alt_name: case.key_alt_name.clone(),
            value: case.value.clone(),
            ciphertext: None,
            error: None,
        };
        let key = resolve_key(&ring, &ours)?;
        let algorithm: Algorithm = ours.algorithm.parse().map_err(|e| format!("{e}"))?;
        match key.encrypt(&ours.bson_value()?, algorithm) {
            Ok(ciphertext) => {
                if samples.len() < 2 || algorithm == Algorithm::Deterministic && samples.len() < 3 {
                    samples.push(ciphertext.as_bytes().to_vec());
                }
                ours.ciphertext = Some(to_json(Bson::Binary(ciphertext.into_binary())));
            }
            Err(refused) => ours.error = Some(refused.to_string()),
        }
        cases.push(ours);
    }

    let tampered = samples.iter().flat_map(|sample| tamper(sample)).collect();
    Ok(VectorFile {
        description,
        local_master_key: to_json(Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: master_bytes.to_vec(),
        })),
        key_documents,
        cases,
        tampered,
    })
}

/// Damaged copies of a valid ciphertext, each of which must fail to decrypt.
pub fn tamper(valid: &[u8]) -> Vec<Tampered> {
    let mut out = Vec::new();
    let mut push = |description: String, bytes: Vec<u8>, subtype: BinarySubtype| {
        out.push(Tampered {
            description,
            ciphertext: to_json(Bson::Binary(Binary { subtype, bytes })),
            libmongocrypt_error: None,
        });
    };
    let len = valid.len();
    let flips = [
        ("algorithm byte", 0),
        ("key id", 5),
        ("original type byte", 17),
        ("IV", 18 + 3),
        ("ciphertext body", 18 + 16 + 1),
        ("tag", len.saturating_sub(1)),
    ];
    for (part, index) in flips {
        let mut bytes = valid.to_vec();
        if let Some(byte) = bytes.get_mut(index) {
            *byte ^= 0x01;
        }
        push(
            format!("bit flipped in the {part}"),
            bytes,
            BinarySubtype::Encrypted,
        );
    }
    for algorithm in [0u8, 3] {
        let mut bytes = valid.to_vec();
        if let Some(first) = bytes.first_mut() {
            *first = algorithm;
        }
        push(
            format!("algorithm byte set to {algorithm}"),
            bytes,
            BinarySubtype::Encrypted,
        );
    }
    let mut swapped = valid.to_vec();
    if let Some(first) = swapped.first_mut() {
        *first = if *first == 1 { 2 } else { 1 };
    }
    push(
        "algorithm byte swapped".to_owned(),
        swapped,
        BinarySubtype::Encrypted,
    );
    for keep in [
        0,
        1,
        17,
        18,
        18 + 16,
        18 + 16 + 31,
        len.saturating_sub(1),
        len.saturating_sub(16),
    ] {
        push(
            format!("truncated to {keep} bytes"),
            valid.get(..keep).unwrap_or(valid).to_vec(),
            BinarySubtype::Encrypted,
        );
    }
    let mut extended = valid.to_vec();
    extended.extend_from_slice(&[0; 16]);
    push(
        "a block appended".to_owned(),
        extended,
        BinarySubtype::Encrypted,
    );
    push(
        "binary subtype 0 instead of 6".to_owned(),
        valid.to_vec(),
        BinarySubtype::Generic,
    );
    out
}
