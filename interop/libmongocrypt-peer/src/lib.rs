//! libmongocrypt as a peer, driven through the `mongocrypt` crate with the `local` KMS
//! provider and key documents fed straight to its state machine: no server, no
//! mongocryptd. Used by the benchmark that compares encrypted-core with libmongocrypt.
//!
//! Building needs Debian's `libmongocrypt0` and `MONGOCRYPT_LIB_DIR` naming a folder with
//! a `libmongocrypt.so` link (`scripts/install-prerequisites` sets both up).

#![forbid(unsafe_code)]

use bson::{Binary, Bson, Document, RawDocumentBuf, doc};
use mongocrypt::Crypt;
use mongocrypt::ctx::{Algorithm, Ctx, State};

/// A libmongocrypt handle with a local master key.
pub struct Peer {
    crypt: Crypt,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Peer { .. }")
    }
}

/// The libmongocrypt version linked in.
pub fn libmongocrypt_version() -> &'static str {
    mongocrypt::version()
}

impl Peer {
    /// A handle whose `local` KMS provider holds `local_master_key`.
    ///
    /// # Errors
    ///
    /// libmongocrypt's message when it refuses the configuration.
    pub fn new(local_master_key: &[u8; 96]) -> Result<Self, String> {
        let kms = doc! { "local": { "key": Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: local_master_key.to_vec() } } };
        let crypt = Crypt::builder()
            .kms_providers(&kms)
            .map_err(|e| e.to_string())?
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { crypt })
    }

    /// Explicitly encrypts `value` with the key of `key_document`; returns the bytes of
    /// the subtype-6 binary.
    ///
    /// # Errors
    ///
    /// libmongocrypt's message.
    pub fn encrypt(
        &self,
        key_document: &Document,
        value: &Bson,
        deterministic: bool,
    ) -> Result<Vec<u8>, String> {
        let id = match key_document.get("_id") {
            Some(Bson::Binary(binary)) => binary.bytes.clone(),
            _ => return Err("the key document has no UUID _id".to_owned()),
        };
        let algorithm = if deterministic {
            Algorithm::Deterministic
        } else {
            Algorithm::Random
        };
        let raw = bson::RawBson::try_from(value.clone()).map_err(|e| e.to_string())?;
        let ctx = self
            .crypt
            .ctx_builder()
            .key_id(&id)
            .and_then(|b| b.algorithm(algorithm))
            .and_then(|b| b.build_explicit_encrypt(raw))
            .map_err(|e| e.to_string())?;
        match run(ctx, key_document)?.get("v") {
            Some(Bson::Binary(binary)) => Ok(binary.bytes.clone()),
            other => Err(format!("unexpected result {other:?}")),
        }
    }

    /// Explicitly decrypts the bytes of a subtype-6 binary made with `key_document`.
    ///
    /// # Errors
    ///
    /// libmongocrypt's message.
    pub fn decrypt(&self, key_document: &Document, ciphertext: &[u8]) -> Result<Bson, String> {
        let ctx = self
            .crypt
            .ctx_builder()
            .build_explicit_decrypt(ciphertext)
            .map_err(|e| e.to_string())?;
        run(ctx, key_document)?
            .get("v")
            .cloned()
            .ok_or_else(|| "no value".to_owned())
    }
}

/// Runs a context to completion, answering key requests with `key_document`.
fn run(mut ctx: Ctx, key_document: &Document) -> Result<Document, String> {
    let key = RawDocumentBuf::try_from(key_document).map_err(|e| e.to_string())?;
    loop {
        match ctx.state().map_err(|e| e.to_string())? {
            State::NeedMongoKeys => {
                ctx.mongo_feed(&key).map_err(|e| e.to_string())?;
                ctx.mongo_done().map_err(|e| e.to_string())?;
            }
            State::Ready => {
                let result = ctx.finalize().map_err(|e| e.to_string())?;
                return Document::try_from(result).map_err(|e| e.to_string());
            }
            State::Done => return Ok(Document::new()),
            State::NeedKms => {
                // The local provider needs no KMS round trip; dropping the scope
                // tells libmongocrypt the KMS phase is done.
                drop(ctx.kms_scope());
            }
            other => return Err(format!("unexpected libmongocrypt state {other:?}")),
        }
    }
}
