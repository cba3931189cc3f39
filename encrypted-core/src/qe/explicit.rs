//! Explicit Queryable Encryption (protocol v2): `Unindexed` values (blob 16), `Indexed`
//! equality insert payloads (blob 11) and equality find payloads (blob 12), byte for byte
//! as libmongocrypt 1.21 writes them (`mongocrypt-marking.c`).

use bson::spec::{BinarySubtype, ElementType};
use bson::{Binary, Bson, doc};

use super::blob::subtype;
use super::cipher::{Aead, IV_LEN, ctr_encrypt_with_iv};
use super::tokens::{
    CollectionsLevel1Token, EcocToken, EdcDerivedFromDataToken,
    EdcDerivedFromDataTokenAndContentionFactor, EdcToken, EscDerivedFromDataToken,
    EscDerivedFromDataTokenAndContentionFactor, EscToken, ServerDataEncryptionLevel1Token,
    ServerDerivedFromDataToken, ServerTokenDerivationLevel1Token,
};
use crate::{DataKey, Error, Result, plaintext};

/// Where the random bytes come from: the operating system's CSPRNG, except in the tests,
/// which replay the bytes libmongocrypt's vectors fixed.
pub(crate) type Rng<'a> = &'a mut dyn FnMut(&mut [u8]) -> Result<()>;

fn os_rng(dest: &mut [u8]) -> Result<()> {
    crate::crypto::random::fill(dest)
}

fn refuse(payload: &'static str, problem: impl Into<String>) -> Error {
    Error::QueryableEncryption {
        payload,
        problem: problem.into(),
    }
}

/// The value's type and bytes, if the algorithm accepts the type (the server's
/// `isFLE2UnindexedSupportedType` and `isFLE2EqualityIndexedSupportedType`).
fn value_bytes(
    payload: &'static str,
    value: &Bson,
    indexed: bool,
) -> Result<(u8, zeroize::Zeroizing<Vec<u8>>)> {
    let element_type = value.element_type();
    let never = matches!(
        element_type,
        ElementType::Null | ElementType::Undefined | ElementType::MinKey | ElementType::MaxKey
    );
    let not_indexed = matches!(
        element_type,
        ElementType::Double
            | ElementType::Decimal128
            | ElementType::EmbeddedDocument
            | ElementType::Array
            | ElementType::JavaScriptCodeWithScope
    );
    if never || (indexed && not_indexed) {
        return Err(refuse(
            payload,
            format!(
                "a value of BSON type {element_type:?} cannot be encrypted with this algorithm"
            ),
        ));
    }
    if let Bson::Binary(Binary {
        subtype: BinarySubtype::Encrypted,
        ..
    }) = value
    {
        return Err(Error::AlreadyEncrypted);
    }
    Ok((element_type as u8, plaintext::encode(value)?))
}

fn binary(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Encrypted,
        bytes,
    }
}

fn generic(bytes: impl Into<Vec<u8>>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.into(),
    })
}

fn document_blob(payload: &'static str, first: u8, document: &bson::Document) -> Result<Binary> {
    let mut bytes = vec![first];
    document
        .to_writer(&mut bytes)
        .map_err(|_| refuse(payload, "its document cannot be encoded as BSON"))?;
    Ok(binary(bytes))
}

/// Encrypts `value` with the algorithm `Unindexed`: an `FLE2UnindexedEncryptedValueV2`
/// (BSON binary of subtype 6, blob subtype 16), as libmongocrypt's explicit encryption
/// writes it. Any type but null, undefined, MinKey and MaxKey.
///
/// ```
/// use encrypted_core::bson::{Bson, Uuid};
/// use encrypted_core::{DataKey, qe};
///
/// let key = DataKey::generate(Uuid::new())?;
/// let blob = qe::encrypt_unindexed(&key, &Bson::String("Alice".into()))?;
/// assert_eq!(blob.bytes[0], 16);
/// # Ok::<(), encrypted_core::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::QueryableEncryption`] for a type the algorithm refuses,
/// [`Error::AlreadyEncrypted`], [`Error::UnencodableValue`], [`Error::Randomness`].
pub fn encrypt_unindexed(user_key: &DataKey, value: &Bson) -> Result<Binary> {
    unindexed_with(user_key, value, &mut os_rng)
}

pub(crate) fn unindexed_with(user_key: &DataKey, value: &Bson, rng: Rng<'_>) -> Result<Binary> {
    let (bson_type, bytes) = value_bytes("Unindexed encryption", value, false)?;
    let mut iv = [0; IV_LEN];
    rng(&mut iv)?;
    let mut out = Vec::with_capacity(18 + Aead::Cbc.ciphertext_len(bytes.len()));
    out.push(subtype::UNINDEXED_V2);
    out.extend_from_slice(&user_key.id().bytes());
    out.push(bson_type);
    let sealed = Aead::Cbc.seal_with_iv(user_key.material(), &iv, &out, &bytes)?;
    out.extend_from_slice(&sealed);
    Ok(binary(out))
}

/// libmongocrypt's `_mongocrypt_random_int64(cf + 1)`: a uniform draw in
/// `0..=contention_factor` from 8 little-endian random bytes, by rejection; no bytes are
/// drawn when the factor is 0.
fn draw_contention(contention_factor: u64, rng: Rng<'_>) -> Result<u64> {
    let bound = contention_factor + 1;
    if bound < 2 {
        return Ok(0);
    }
    let min = bound.wrapping_neg() % bound;
    loop {
        let mut bytes = [0; 8];
        rng(&mut bytes)?;
        let draw = u64::from_le_bytes(bytes);
        if draw >= min {
            return Ok(draw % bound);
        }
    }
}

fn check_contention(payload: &'static str, contention_factor: i64) -> Result<u64> {
    if contention_factor == i64::MAX {
        return Err(refuse(payload, "the contention factor must be < 2^63 - 1"));
    }
    u64::try_from(contention_factor)
        .map_err(|_| refuse(payload, "the contention factor must be non-negative"))
}

/// Encrypts `value` with the algorithm `Indexed` (equality): the insert payload
/// `FLE2InsertUpdatePayloadV2` (binary subtype 6, blob subtype 11) that an insert or an
/// update sends and the server turns into an `FLE2IndexedEqualityEncryptedValueV2`.
///
/// `index_key` derives the tokens (libmongocrypt's `indexKeyId`, by default the user
/// key); `user_key` encrypts the value. A random contention value in
/// `0..=contention_factor` is drawn, as libmongocrypt does (the driver's default factor
/// is 8).
///
/// ```
/// use encrypted_core::bson::{Bson, Uuid};
/// use encrypted_core::{DataKey, qe};
///
/// let key = DataKey::generate(Uuid::new())?;
/// let payload = qe::encrypt_indexed(&key, &key, &Bson::String("457-55-5462".into()), 8)?;
/// assert_eq!(payload.bytes[0], 11);
/// # Ok::<(), encrypted_core::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::QueryableEncryption`] for a negative or maximal contention factor or a type
/// equality indexes refuse (double, decimal128, document, array, code with scope, null,
/// undefined, MinKey, MaxKey); [`Error::AlreadyEncrypted`],
/// [`Error::UnencodableValue`], [`Error::Randomness`].
pub fn encrypt_indexed(
    user_key: &DataKey,
    index_key: &DataKey,
    value: &Bson,
    contention_factor: i64,
) -> Result<Binary> {
    indexed_with(user_key, index_key, value, contention_factor, &mut os_rng)
}

pub(crate) fn indexed_with(
    user_key: &DataKey,
    index_key: &DataKey,
    value: &Bson,
    contention_factor: i64,
    rng: Rng<'_>,
) -> Result<Binary> {
    const NAME: &str = "Indexed encryption";
    let contention_factor = check_contention(NAME, contention_factor)?;
    let (bson_type, bytes) = value_bytes(NAME, value, true)?;
    let k = draw_contention(contention_factor, rng)?;

    let level1 = CollectionsLevel1Token::from_data_key(index_key);
    let edc_data = EdcDerivedFromDataToken::derive(&EdcToken::derive(&level1), &bytes);
    let esc_data = EscDerivedFromDataToken::derive(&EscToken::derive(&level1), &bytes);
    let server_data = ServerDerivedFromDataToken::derive(
        &ServerTokenDerivationLevel1Token::from_data_key(index_key),
        &bytes,
    );
    let edc = EdcDerivedFromDataTokenAndContentionFactor::derive(&edc_data, k);
    let esc = EscDerivedFromDataTokenAndContentionFactor::derive(&esc_data, k);

    let mut iv = [0; IV_LEN];
    rng(&mut iv)?;
    let encrypted_tokens =
        ctr_encrypt_with_iv(EcocToken::derive(&level1).as_bytes(), &iv, esc.as_bytes())?;
    rng(&mut iv)?;
    let user_key_id = user_key.id().bytes();
    let mut encrypted_value = user_key_id.to_vec();
    encrypted_value.extend(Aead::Cbc.seal_with_iv(
        user_key.material(),
        &iv,
        &user_key_id,
        &bytes,
    )?);

    let document = doc! {
        "d": generic(edc.as_bytes().as_slice()),
        "s": generic(esc.as_bytes().as_slice()),
        "p": generic(encrypted_tokens),
        "u": Binary { subtype: BinarySubtype::Uuid, bytes: index_key.id().bytes().to_vec() },
        "t": i32::from(bson_type),
        "v": generic(encrypted_value),
        "e": generic(ServerDataEncryptionLevel1Token::from_data_key(index_key).as_bytes().as_slice()),
        "l": generic(server_data.as_bytes().as_slice()),
        "k": i64::try_from(k).unwrap_or(i64::MAX),
    };
    document_blob(NAME, subtype::INSERT_UPDATE_PAYLOAD_V2, &document)
}

/// The find payload of an equality query on an `Indexed` field:
/// `FLE2FindEqualityPayloadV2` (binary subtype 6, blob subtype 12), the operand of
/// `$eq` (or of `$in`) that the server matches against the stored values. Deterministic:
/// the same key, value and contention factor give the same bytes.
///
/// ```
/// use encrypted_core::bson::{Bson, Uuid};
/// use encrypted_core::{DataKey, qe};
///
/// let key = DataKey::generate(Uuid::new())?;
/// let a = qe::encrypt_equality_query(&key, &Bson::String("457-55-5462".into()), 8)?;
/// let b = qe::encrypt_equality_query(&key, &Bson::String("457-55-5462".into()), 8)?;
/// assert_eq!((a.bytes[0], &a.bytes), (12, &b.bytes));
/// # Ok::<(), encrypted_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`encrypt_indexed`] (no randomness is drawn).
pub fn encrypt_equality_query(
    index_key: &DataKey,
    value: &Bson,
    contention_factor: i64,
) -> Result<Binary> {
    const NAME: &str = "equality query";
    let contention_factor = check_contention(NAME, contention_factor)?;
    let (_, bytes) = value_bytes(NAME, value, true)?;
    let level1 = CollectionsLevel1Token::from_data_key(index_key);
    let edc_data = EdcDerivedFromDataToken::derive(&EdcToken::derive(&level1), &bytes);
    let esc_data = EscDerivedFromDataToken::derive(&EscToken::derive(&level1), &bytes);
    let server_data = ServerDerivedFromDataToken::derive(
        &ServerTokenDerivationLevel1Token::from_data_key(index_key),
        &bytes,
    );
    let document = doc! {
        "d": generic(edc_data.as_bytes().as_slice()),
        "s": generic(esc_data.as_bytes().as_slice()),
        "l": generic(server_data.as_bytes().as_slice()),
        "cm": i64::try_from(contention_factor).unwrap_or(i64::MAX),
    };
    document_blob(NAME, subtype::FIND_EQUALITY_PAYLOAD_V2, &document)
}
