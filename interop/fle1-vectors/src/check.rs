//! Checking a vector file against this implementation.

use bson::Uuid;
use bson::spec::BinarySubtype;
use encrypted_core::{Algorithm, Ciphertext, DataKey, Error};

use crate::file::{Case, Tampered, VectorFile, to_binary, value_bytes};
use crate::keys::KeyRing;

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which case or tampered entry.
    pub description: String,
    /// `None` when it passed; otherwise what went wrong.
    pub failure: Option<String>,
}

/// Checks every case and tampered entry of `file` with this implementation:
///
/// - a recorded ciphertext decrypts to exactly the recorded value (compared as BSON
///   bytes) and carries the recorded algorithm;
/// - deterministic: encrypting the value here gives the same bytes;
/// - random: encrypting here succeeds and decrypts back;
/// - a recorded refusal is refused here too, with a prohibition error;
/// - every tampered ciphertext fails to decrypt.
///
/// # Errors
///
/// When the file's keys cannot be read; individual failures are in the outcomes.
pub fn check(file: &VectorFile) -> Result<Vec<Outcome>, String> {
    let ring = KeyRing::from_file(file)?;
    let mut outcomes = Vec::with_capacity(file.cases.len() + file.tampered.len());
    for case in &file.cases {
        outcomes.push(Outcome {
            description: case.description.clone(),
            failure: check_case(&ring, case).err(),
        });
    }
    for tampered in &file.tampered {
        outcomes.push(Outcome {
            description: format!("tampered: {}", tampered.description),
            failure: check_tampered(&ring, tampered).err(),
        });
    }
    Ok(outcomes)
}

/// Finds the case's key by id or by alternate name.
///
/// # Errors
///
/// When the case names no key, or one the ring does not have.
pub fn resolve_key<'a>(ring: &'a KeyRing, case: &Case) -> Result<&'a DataKey, String> {
    match (&case.key_id, &case.key_alt_name) {
        (Some(id), None) => {
            let binary = to_binary(id)?;
            let id = <[u8; 16]>::try_from(binary.bytes.as_slice())
                .map(Uuid::from_bytes)
                .map_err(|_| "keyId is not 16 bytes".to_owned())?;
            ring.by_id(id).ok_or_else(|| format!("no key {id}"))
        }
        (None, Some(name)) => ring
            .by_alt_name(name)
            .ok_or_else(|| format!("no key named {name}")),
        _ => Err("a case names its key by keyId or keyAltName, exactly one".to_owned()),
    }
}

fn check_case(ring: &KeyRing, case: &Case) -> Result<(), String> {
    let key = resolve_key(ring, case)?;
    let algorithm: Algorithm = case.algorithm.parse().map_err(|e| format!("{e}"))?;
    let value = case.bson_value()?;
    let ours = key.encrypt(&value, algorithm);
    match (&case.ciphertext, &case.error) {
        (Some(ciphertext), None) => {
            let binary = to_binary(ciphertext)?;
            let theirs = Ciphertext::from_binary(&binary)
                .map_err(|e| format!("theirs does not parse: {e}"))?;
            if theirs.algorithm() != algorithm {
                return Err(format!("their ciphertext says {}", theirs.algorithm()));
            }
            let decrypted = key
                .decrypt(&theirs)
                .map_err(|e| format!("theirs does not decrypt: {e}"))?;
            if value_bytes(&decrypted)? != value_bytes(&value)? {
                return Err(format!("theirs decrypts to {decrypted}, not {value}"));
            }
            let ours = ours.map_err(|e| format!("we refuse what they encrypted: {e}"))?;
            match algorithm {
                Algorithm::Deterministic if ours.as_bytes() != binary.bytes.as_slice() => {
                    Err("deterministic ciphertexts differ".to_owned())
                }
                _ => {
                    let back = key
                        .decrypt(&ours)
                        .map_err(|e| format!("ours does not decrypt: {e}"))?;
                    if value_bytes(&back)? == value_bytes(&value)? {
                        Ok(())
                    } else {
                        Err(format!("ours decrypts to {back}, not {value}"))
                    }
                }
            }
        }
        (None, Some(their_error)) => match ours {
            Err(Error::ProhibitedType { .. } | Error::AlreadyEncrypted) => Ok(()),
            Err(other) => Err(format!(
                "they refused ({their_error}); we failed otherwise: {other}"
            )),
            Ok(_) => Err(format!("they refused ({their_error}); we encrypted")),
        },
        _ => Err("a case records a ciphertext or an error, exactly one".to_owned()),
    }
}

fn check_tampered(ring: &KeyRing, tampered: &Tampered) -> Result<(), String> {
    let binary = to_binary(&tampered.ciphertext)?;
    let parsed = match Ciphertext::from_binary(&binary) {
        Err(_) => return Ok(()),
        Ok(parsed) => parsed,
    };
    if binary.subtype != BinarySubtype::Encrypted {
        return Err("a binary of another subtype parsed as a ciphertext".to_owned());
    }
    let Some(key) = ring.by_id(parsed.key_id()) else {
        return Ok(());
    };
    match key.decrypt(&parsed) {
        Err(_) => Ok(()),
        Ok(value) => Err(format!(
            "decrypted to a value of type {:?}",
            value.element_type()
        )),
    }
}
