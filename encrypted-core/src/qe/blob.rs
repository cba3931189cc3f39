//! The Queryable Encryption blobs a client reads back, parsed and decrypted with the data
//! keys only (libmongocrypt's `mc-fle2-payload-iev-v2.c`, `mc-fle2-payload-uev-v2.c`,
//! `mc-fle2-insert-update-payload-v2.c`).
//!
//! Each is a BSON binary of subtype 6 whose first byte is the blob subtype:
//!
//! - 14 `FLE2IndexedEqualityEncryptedValueV2`: `14 || S_KeyId (16) || type (1) ||
//!   ServerEncryptedValue || metadata (96)`;
//! - 15 `FLE2IndexedRangeEncryptedValueV2`: `15 || S_KeyId || type || edge_count (1, not
//!   0) || ServerEncryptedValue || metadata (96 × edge_count)`;
//!
//!   where `ServerEncryptedValue = FLE2(ServerDataEncryptionLevel1Token(S_Key), K_KeyId ||
//!   ClientEncryptedValue)` and `ClientEncryptedValue = FLE2v2AEAD(K_Key, value,
//!   AD = K_KeyId)`;
//! - 16 `FLE2UnindexedEncryptedValueV2`: `16 || K_KeyId || type || FLE2v2AEAD(K_Key,
//!   value, AD = the first 18 bytes)`;
//! - 11 `FLE2InsertUpdatePayloadV2`: `11 || BSON document` whose `t` is the type and `v`
//!   is `K_KeyId || ClientEncryptedValue`.

use bson::Uuid;
use bson::spec::ElementType;
use bson::{Bson, RawDocument};
use zeroize::Zeroizing;

use super::cipher::{Aead, ctr_decrypt};
use super::tokens::ServerDataEncryptionLevel1Token;
use crate::model::Keys;
use crate::{DataKey, Error, KeyRef, Result, plaintext};

const UUID_LEN: usize = 16;
/// Length of one `FLE2TagAndEncryptedMetadataBlock`.
const METADATA_LEN: usize = 96;
/// The shortest ServerEncryptedValue: an IV and one byte.
const MIN_SERVER_ENCRYPTED_VALUE_LEN: usize = 17;

/// The blob subtypes of protocol v2.
pub(crate) mod subtype {
    /// `FLE2InsertUpdatePayloadV2`.
    pub(crate) const INSERT_UPDATE_PAYLOAD_V2: u8 = 11;
    /// `FLE2FindEqualityPayloadV2`.
    pub(crate) const FIND_EQUALITY_PAYLOAD_V2: u8 = 12;
    /// `FLE2IndexedEqualityEncryptedValueV2`.
    pub(crate) const INDEXED_EQUALITY_V2: u8 = 14;
    /// `FLE2IndexedRangeEncryptedValueV2`.
    pub(crate) const INDEXED_RANGE_V2: u8 = 15;
    /// `FLE2UnindexedEncryptedValueV2`.
    pub(crate) const UNINDEXED_V2: u8 = 16;
}

fn malformed(payload: &'static str, problem: impl Into<String>) -> Error {
    Error::QueryableEncryption {
        payload,
        problem: problem.into(),
    }
}

/// A QE blob, parsed but not decrypted.
#[derive(Debug)]
pub(crate) enum Blob<'a> {
    /// Subtypes 14 and 15: the index key id, the type, the server-encrypted value.
    Indexed {
        name: &'static str,
        index_key_id: Uuid,
        bson_type: u8,
        server_encrypted_value: &'a [u8],
    },
    /// Subtype 16: the whole blob (its first 18 bytes are the associated data).
    Unindexed {
        user_key_id: Uuid,
        bson_type: u8,
        associated_data: &'a [u8],
        ciphertext: &'a [u8],
    },
    /// Subtype 11: the user key id and the client-encrypted value of `v`.
    InsertUpdate {
        user_key_id: Uuid,
        bson_type: u8,
        client_encrypted_value: &'a [u8],
    },
}

fn uuid(bytes: &[u8]) -> Option<Uuid> {
    bytes
        .first_chunk::<UUID_LEN>()
        .map(|id| Uuid::from_bytes(*id))
}

impl<'a> Blob<'a> {
    /// Parses the bytes of a subtype-6 binary (blob subtype first). Bounded: every length
    /// is checked against the input before it is used.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self> {
        let (&first, rest) = bytes
            .split_first()
            .ok_or_else(|| malformed("payload", "the binary is empty"))?;
        match first {
            subtype::INDEXED_EQUALITY_V2 | subtype::INDEXED_RANGE_V2 => {
                let name = if first == subtype::INDEXED_EQUALITY_V2 {
                    "FLE2IndexedEqualityEncryptedValueV2"
                } else {
                    "FLE2IndexedRangeEncryptedValueV2"
                };
                let index_key_id = uuid(rest)
                    .ok_or_else(|| malformed(name, "shorter than its 16-byte index key id"))?;
                let rest = rest.get(UUID_LEN..).unwrap_or_default();
                let (&bson_type, mut rest) = rest
                    .split_first()
                    .ok_or_else(|| malformed(name, "has no original BSON type"))?;
                let mut edges = 1usize;
                if first == subtype::INDEXED_RANGE_V2 {
                    let (&count, after) = rest
                        .split_first()
                        .ok_or_else(|| malformed(name, "has no edge count"))?;
                    if count == 0 {
                        return Err(malformed(name, "its edge count is 0"));
                    }
                    edges = usize::from(count);
                    rest = after;
                }
                let metadata = edges * METADATA_LEN;
                if rest.len() < MIN_SERVER_ENCRYPTED_VALUE_LEN + metadata {
                    return Err(malformed(
                        name,
                        format!(
                            "{} bytes after the header are fewer than the {} its {edges} metadata block(s) and an encrypted value need",
                            rest.len(),
                            MIN_SERVER_ENCRYPTED_VALUE_LEN + metadata
                        ),
                    ));
                }
                let server_encrypted_value = rest.get(..rest.len() - metadata).unwrap_or_default();
                Ok(Self::Indexed {
                    name,
                    index_key_id,
                    bson_type,
                    server_encrypted_value,
                })
            }
            subtype::UNINDEXED_V2 => {
                const NAME: &str = "FLE2UnindexedEncryptedValueV2";
                let header = 1 + UUID_LEN + 1;
                if bytes.len() < header + 1 {
                    return Err(malformed(
                        NAME,
                        format!("{} bytes, at least {} expected", bytes.len(), header + 1),
                    ));
                }
                let (associated_data, ciphertext) = bytes.split_at(header);
                Ok(Self::Unindexed {
                    user_key_id: uuid(rest).ok_or_else(|| malformed(NAME, "no key id"))?,
                    bson_type: associated_data.last().copied().unwrap_or_default(),
                    associated_data,
                    ciphertext,
                })
            }
            subtype::INSERT_UPDATE_PAYLOAD_V2 => {
                const NAME: &str = "FLE2InsertUpdatePayloadV2";
                let document = RawDocument::from_bytes(rest)
                    .map_err(|_| malformed(NAME, "is not a BSON document"))?;
                let field = |key: &str| {
                    document
                        .get(key)
                        .map_err(|_| malformed(NAME, format!("field `{key}` is not valid BSON")))?
                        .ok_or_else(|| malformed(NAME, format!("has no field `{key}`")))
                };
                let bson_type = field("t")?
                    .as_i32()
                    .and_then(|t| u8::try_from(t).ok())
                    .ok_or_else(|| malformed(NAME, "field `t` is not a BSON type (int32)"))?;
                let value = field("v")?
                    .as_binary()
                    .map(|binary| binary.bytes)
                    .ok_or_else(|| malformed(NAME, "field `v` is not a binary"))?;
                let user_key_id =
                    uuid(value).ok_or_else(|| malformed(NAME, "field `v` has no key id"))?;
                Ok(Self::InsertUpdate {
                    user_key_id,
                    bson_type,
                    client_encrypted_value: value.get(UUID_LEN..).unwrap_or_default(),
                })
            }
            other => Err(malformed(
                "payload",
                format!(
                    "blob subtype {other} is not one a client decrypts (11, 14, 15 or 16; FLE1 is 1 and 2)"
                ),
            )),
        }
    }

    /// The ids of the data keys decryption needs: the index key first for indexed values
    /// (the user key id is inside the encrypted part).
    pub(crate) fn first_key_id(&self) -> Uuid {
        match self {
            Self::Indexed { index_key_id, .. } => *index_key_id,
            Self::Unindexed { user_key_id, .. } | Self::InsertUpdate { user_key_id, .. } => {
                *user_key_id
            }
        }
    }

    /// Decrypts with the keys of `lookup`, returning the original BSON type and the bytes
    /// of the value.
    pub(crate) fn decrypt_bytes<'k>(
        &self,
        lookup: impl Fn(Uuid) -> Result<&'k DataKey>,
    ) -> Result<(u8, Zeroizing<Vec<u8>>)> {
        match self {
            Self::Indexed {
                name,
                index_key_id,
                bson_type,
                server_encrypted_value,
            } => {
                let index_key = lookup(*index_key_id)?;
                let token = ServerDataEncryptionLevel1Token::from_data_key(index_key);
                let decrypted = ctr_decrypt(token.as_bytes(), server_encrypted_value)?;
                if decrypted.len() <= UUID_LEN {
                    return Err(malformed(
                        name,
                        "its decrypted server value has no user key id and value",
                    ));
                }
                let (user_key_id, client_encrypted_value) = decrypted.split_at(UUID_LEN);
                let user_key = lookup(uuid(user_key_id).ok_or(Error::Decryption)?)?;
                let value =
                    Aead::Cbc.open(user_key.material(), user_key_id, client_encrypted_value)?;
                Ok((*bson_type, value))
            }
            Self::Unindexed {
                user_key_id,
                bson_type,
                associated_data,
                ciphertext,
            } => {
                let key = lookup(*user_key_id)?;
                Ok((
                    *bson_type,
                    Aead::Cbc.open(key.material(), associated_data, ciphertext)?,
                ))
            }
            Self::InsertUpdate {
                user_key_id,
                bson_type,
                client_encrypted_value,
            } => {
                let key = lookup(*user_key_id)?;
                let value = Aead::Cbc.open(
                    key.material(),
                    user_key_id.bytes().as_slice(),
                    client_encrypted_value,
                )?;
                Ok((*bson_type, value))
            }
        }
    }
}

/// Whether the bytes of a subtype-6 binary are a Queryable Encryption blob (subtypes 3
/// to 17; FLE1 is 1 and 2, the placeholders 0).
///
/// ```
/// use encrypted_core::bson::{Bson, Uuid};
/// use encrypted_core::{Algorithm, DataKey, qe};
///
/// let key = DataKey::generate(Uuid::new())?;
/// assert!(qe::is_queryable_encryption(&qe::encrypt_unindexed(&key, &Bson::Int32(1))?.bytes));
/// let fle1 = key.encrypt(&Bson::Int32(1), Algorithm::Random)?;
/// assert!(!qe::is_queryable_encryption(fle1.as_bytes()));
/// # Ok::<(), encrypted_core::Error>(())
/// ```
pub fn is_queryable_encryption(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(3..=17))
}

/// Decrypts a Queryable Encryption value, as stored by the server or as sent in an
/// insert payload: blob subtypes 11 (`FLE2InsertUpdatePayloadV2`), 14
/// (`FLE2IndexedEqualityEncryptedValueV2`), 15 (`FLE2IndexedRangeEncryptedValueV2`) and
/// 16 (`FLE2UnindexedEncryptedValueV2`). `bytes` are the bytes of the BSON binary of
/// subtype 6. Indexed values need the index key and the user key; the others the user
/// key.
///
/// ```
/// use std::sync::Arc;
/// use encrypted_core::bson::{Bson, Uuid};
/// use encrypted_core::{DataKey, KeyRef, model::Keys, qe};
///
/// let key = Arc::new(DataKey::generate(Uuid::new())?);
/// let blob = qe::encrypt_unindexed(&key, &Bson::String("Alice".into()))?;
/// let keys = Keys::new().with(KeyRef::Id(key.id()), key);
/// assert_eq!(qe::decrypt(&blob.bytes, &keys)?, Bson::String("Alice".into()));
/// # Ok::<(), encrypted_core::Error>(())
/// ```
///
/// # Errors
///
/// - [`Error::QueryableEncryption`] for a blob that is malformed (named, with the check
///   that failed) or of a subtype a client does not decrypt;
/// - [`Error::KeyNotFound`] when `keys` lacks a key the blob names;
/// - [`Error::Decryption`] when the value is not authentic for the key.
pub fn decrypt(bytes: &[u8], keys: &Keys) -> Result<Bson> {
    let blob = Blob::parse(bytes)?;
    let (bson_type, value) = blob.decrypt_bytes(|id| {
        keys.get(&KeyRef::Id(id)).ok_or_else(|| Error::KeyNotFound {
            key: id.to_string(),
        })
    })?;
    let element_type = ElementType::from(bson_type).ok_or(Error::Decryption)?;
    plaintext::decode(element_type, &value)
}

/// The id of the first data key [`decrypt`] needs: the index key of an indexed value
/// (whose user key id is only known once decrypted with it), else the user key.
///
/// ```
/// use encrypted_core::bson::{Bson, Uuid};
/// use encrypted_core::{DataKey, qe};
///
/// let key = DataKey::generate(Uuid::new())?;
/// let blob = qe::encrypt_unindexed(&key, &Bson::Int32(7))?;
/// assert_eq!(qe::first_key_id(&blob.bytes)?, key.id());
/// # Ok::<(), encrypted_core::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::QueryableEncryption`] for a malformed blob.
pub fn first_key_id(bytes: &[u8]) -> Result<Uuid> {
    Ok(Blob::parse(bytes)?.first_key_id())
}
