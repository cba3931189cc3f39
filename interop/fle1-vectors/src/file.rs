//! The JSON layout of a vector file.

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole vector file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VectorFile {
    /// Who wrote it, with which versions.
    pub description: String,
    /// The 96-byte local master key, as an Extended JSON binary.
    pub local_master_key: Value,
    /// Key vault documents wrapped with that master key.
    pub key_documents: Vec<Value>,
    /// Encryption cases.
    pub cases: Vec<Case>,
    /// Ciphertexts that must not decrypt.
    pub tampered: Vec<Tampered>,
}

/// One value encrypted (or refused) with one algorithm and one key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    /// What the case is.
    pub description: String,
    /// `AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic` or `…-Random`.
    pub algorithm: String,
    /// The key by id (Extended JSON UUID binary), or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Value>,
    /// the key by alternate name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_alt_name: Option<String>,
    /// `{"v": value}`.
    pub value: Value,
    /// The ciphertext the writer produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<Value>,
    /// The writer's message when it refused to encrypt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A ciphertext that must fail to decrypt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tampered {
    /// What was done to it.
    pub description: String,
    /// The bytes, as an Extended JSON binary.
    pub ciphertext: Value,
    /// What libmongocrypt said when it refused it, if libmongocrypt wrote the file.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "libmongocrypt_error"
    )]
    pub libmongocrypt_error: Option<String>,
}

impl Case {
    /// The value to encrypt.
    ///
    /// # Errors
    ///
    /// When `value` is not `{"v": <Extended JSON>}`.
    pub fn bson_value(&self) -> Result<Bson, String> {
        let document = to_document(&self.value)?;
        document
            .get("v")
            .cloned()
            .ok_or_else(|| format!("{}: `value` has no `v`", self.description))
    }
}

/// Parses an Extended JSON value.
///
/// # Errors
///
/// When it is not valid Extended JSON.
pub fn to_bson(value: &Value) -> Result<Bson, String> {
    Bson::try_from(value.clone()).map_err(|error| format!("invalid Extended JSON {value}: {error}"))
}

/// Parses an Extended JSON document.
///
/// # Errors
///
/// When it is not an Extended JSON document.
pub fn to_document(value: &Value) -> Result<Document, String> {
    match to_bson(value)? {
        Bson::Document(document) => Ok(document),
        other => Err(format!("expected a document, found {other}")),
    }
}

/// Parses an Extended JSON binary into its bytes.
///
/// # Errors
///
/// When it is not an Extended JSON binary.
pub fn to_binary(value: &Value) -> Result<bson::Binary, String> {
    match to_bson(value)? {
        Bson::Binary(binary) => Ok(binary),
        other => Err(format!("expected a binary, found {other}")),
    }
}

/// The canonical Extended JSON of a BSON value.
pub fn to_json(value: Bson) -> Value {
    value.into_canonical_extjson()
}

/// The BSON bytes of `{"v": value}`: how two values are compared, so that doubles, NaN,
/// -0.0 and field order compare as bytes, not as Rust values.
///
/// # Errors
///
/// When the value cannot be encoded.
pub fn value_bytes(value: &Bson) -> Result<Vec<u8>, String> {
    let mut document = Document::new();
    document.insert("v", value.clone());
    let mut bytes = Vec::new();
    document
        .to_writer(&mut bytes)
        .map_err(|error| error.to_string())?;
    Ok(bytes)
}
