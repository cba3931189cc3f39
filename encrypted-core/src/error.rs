//! The one error type of the crate.

use bson::spec::ElementType;

#[cfg(feature = "driver")]
mod driver;

use crate::Algorithm;

/// Everything that can go wrong while encrypting, decrypting or handling keys.
///
/// Messages name what failed and why (the BSON type, the key id, the field of a key
/// document), never plaintext and never key bytes. Authentication failures are
/// deliberately opaque: [`Error::Decryption`] does not say whether the tag or the
/// padding was wrong.
///
/// Following the `std::error::Error` convention, a variant that wraps another error
/// (one with a `source`) says only what it adds (the field, the file, the operation):
/// the cause is its [`source`](std::error::Error::source), not repeated in its message.
/// Print the whole chain with a reporter (`anyhow`'s `{:#}`, or by walking
/// `source()`), which shows each cause once:
/// ``field `ssn`: decryption failed: the ciphertext is not authentic for this key``.
///
/// ```
/// use bson::Bson;
/// use encrypted_core::{Algorithm, DataKey, Error};
///
/// let key = DataKey::generate(bson::Uuid::new())?;
/// let err = key.encrypt(&Bson::Double(1.5), Algorithm::Deterministic).unwrap_err();
/// assert!(matches!(err, Error::ProhibitedType { .. }));
/// assert_eq!(
///     err.to_string(),
///     "a value of BSON type double cannot be encrypted deterministically"
/// );
/// # Ok::<(), encrypted_core::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The drivers' Client Side Encryption spec forbids encrypting this BSON type with
    /// this algorithm (for example a double deterministically, or null at all).
    #[error("{}", prohibited_message(*.bson_type, *.algorithm))]
    ProhibitedType {
        /// The BSON type of the value that was refused.
        bson_type: ElementType,
        /// The algorithm that was asked for.
        algorithm: Algorithm,
    },

    /// The value is already a CSFLE ciphertext (BSON binary subtype 6); encrypting it
    /// again is refused.
    #[error("the value is already encrypted (BSON binary subtype 6)")]
    AlreadyEncrypted,

    /// The value cannot be serialized as BSON (for example a document key containing a
    /// NUL byte).
    #[error("the value cannot be encoded as BSON: {reason}")]
    UnencodableValue {
        /// Why, in words that never quote the value (`a document key contains a NUL
        /// byte`): a fixed text, so that no plaintext can reach an error.
        reason: &'static str,
    },

    /// Key bytes of the wrong length were supplied.
    #[error("{what} must be {expected} bytes long, got {actual}")]
    InvalidKeyLength {
        /// Which key ("a data key", "a local master key").
        what: &'static str,
        /// The required length in bytes.
        expected: usize,
        /// The length that was supplied.
        actual: usize,
    },

    /// A master key given as text is not standard base64.
    #[error("the master key is not valid base64")]
    InvalidMasterKeyEncoding,

    /// A master key file could not be read; `source` says why.
    #[error("cannot read the master key file {}", .path.display())]
    MasterKeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },

    /// A master key file could not be created or written
    /// ([`LocalMasterKey::create_file`](crate::LocalMasterKey::create_file)): it exists
    /// already (`source` of kind `AlreadyExists`), its folder is missing, or writing
    /// failed.
    #[error("cannot write the master key file {}", .path.display())]
    MasterKeyFileWrite {
        /// The file.
        path: std::path::PathBuf,
        /// Why it could not be written.
        source: std::io::Error,
    },

    /// A master key file was refused before its key was read or replaced: it is not a
    /// regular file, is too long, is readable by others, or its format is ambiguous.
    #[error("refusing the master key file {}: {problem}", .path.display())]
    MasterKeyFileRefused {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: crate::MasterKeyFileProblem,
    },

    /// The bytes are not a well-formed CSFLE ciphertext: wrong binary subtype, too
    /// short, unknown algorithm byte or an impossible length. Nothing was decrypted.
    #[error("malformed ciphertext: {reason}")]
    MalformedCiphertext {
        /// Which structural check failed.
        reason: &'static str,
    },

    /// The ciphertext was made with another data key than the one supplied to decrypt it.
    #[error(
        "the ciphertext was encrypted with data key {ciphertext_key_id}, not with {supplied_key_id}"
    )]
    KeyMismatch {
        /// The key id written in the ciphertext.
        ciphertext_key_id: bson::Uuid,
        /// The id of the key that was supplied.
        supplied_key_id: bson::Uuid,
    },

    /// A Queryable Encryption payload is malformed (named by its libmongocrypt name and
    /// the check that failed), a value cannot be encrypted with the QE algorithm asked
    /// for, or a collection mixes FLE1 and QE fields. Nothing was decrypted.
    #[error("queryable encryption refused the {payload}: {problem}")]
    QueryableEncryption {
        /// The payload or operation, e.g. `FLE2IndexedEqualityEncryptedValueV2`.
        payload: &'static str,
        /// What is wrong (never a value or key bytes).
        problem: String,
    },

    /// Authenticated decryption failed: the ciphertext was tampered with, truncated or
    /// made with other key bytes. Deliberately says nothing more.
    #[error("decryption failed: the ciphertext is not authentic for this key")]
    Decryption,

    /// A data key's `keyMaterial` could not be unwrapped with the master key: a wrong
    /// master key, or altered key material.
    #[error(
        "cannot unwrap data key {key_id} with the {provider} master key: wrong master key or altered keyMaterial"
    )]
    KeyUnwrap {
        /// The `_id` of the data key.
        key_id: bson::Uuid,
        /// The KMS provider whose master key was used (`local`, `local:name`, …).
        provider: String,
    },

    /// A key vault document does not follow the key vault schema.
    #[error("malformed key document{}: field `{field}` {problem}", key_id_context(.key_id.as_ref()))]
    MalformedKeyDocument {
        /// The `_id` of the document, when it could be read.
        key_id: Option<bson::Uuid>,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },

    /// A KMS provider name is not `kind` or `kind:name` with a name of letters, digits
    /// and `_`.
    #[error("invalid KMS provider name `{name}`: a name is letters, digits and `_`")]
    InvalidProviderName {
        /// The name that was given.
        name: String,
    },

    /// A custom KMS provider ([`MasterKey::custom`](crate::MasterKey::custom)) was
    /// given the kind of a provider this crate defines (`local`, `aws`, `azure`, `gcp`,
    /// `kmip`): its key documents would be read as that provider's.
    #[error("KMS provider `{name}` cannot be custom: `{kind}` is a built-in provider kind")]
    ReservedProviderName {
        /// The name that was given.
        name: String,
        /// Its built-in kind.
        kind: String,
    },

    /// A key document names a KMS provider that is not configured.
    #[error("KMS provider `{name}` is not configured (configured: {})", .configured.join(", "))]
    UnknownKmsProvider {
        /// The provider that was asked for.
        name: String,
        /// The providers that are configured.
        configured: Vec<String>,
    },

    /// A KMS provider could not wrap or unwrap a key: unreachable, timed out, or it
    /// refused the request. `kind` says which, for retry and alerting policy; the
    /// underlying error (a network error, say), if any, is the
    /// [`source`](std::error::Error::source). Build one with [`Error::kms`].
    #[error("KMS provider `{provider}` failed: {message}")]
    #[non_exhaustive]
    Kms {
        /// The provider (`aws`, `local:name`, …).
        provider: String,
        /// What kind of failure it is.
        kind: crate::kms::KmsErrorKind,
        /// What went wrong, without key bytes or credentials (and without repeating
        /// the source).
        message: String,
        /// The error that caused it, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// A master key names a KMS endpoint that the provider is not allowed to reach:
    /// neither one of the provider's official endpoints for the key's region nor one
    /// the application allowed (`AwsKms::with_allowed_endpoint`). A key document is data
    /// anyone who can write the key vault can change; it cannot choose where signed
    /// requests and credentials go. Nothing was sent.
    #[error(
        "KMS provider `{provider}` refused to send the request for data key {key_id} to `{endpoint}`: not an allowed endpoint"
    )]
    KmsEndpointRefused {
        /// The provider (`aws`, `aws:name`).
        provider: String,
        /// The data key whose wrap or unwrap was asked for.
        key_id: bson::Uuid,
        /// The endpoint the master key names (or its region implies).
        endpoint: String,
    },

    /// TLS settings for a KMS provider are unusable: a CA or client certificate PEM that
    /// holds no certificate, holds something else, or does not parse.
    #[error("invalid KMS TLS settings: {reason}")]
    KmsTls {
        /// What is wrong (never key bytes).
        reason: String,
    },

    /// A namespace is not `database.collection`.
    #[error("invalid namespace `{namespace}`: expected `database.collection`")]
    InvalidNamespace {
        /// The text that was given.
        namespace: String,
    },

    /// No data key has this id or alternate name (it may have been deleted).
    #[error("no data key {key} in the key vault")]
    KeyNotFound {
        /// The key's id, or `alt name `name``.
        key: String,
    },

    /// Another data key already has this alternate name.
    #[error("another data key already has the alternate name `{name}`")]
    DuplicateKeyAltName {
        /// The name.
        name: String,
    },

    /// More than one data key has this alternate name (a duplicate the server did not
    /// prevent): using it would pick one at random, so it is refused, as libmongocrypt
    /// does. Name the key by id, or remove the name from all keys but one.
    #[error("the alternate name `{name}` is ambiguous: {count} data keys have it")]
    AmbiguousKeyAltName {
        /// The name.
        name: String,
        /// How many keys have it.
        count: u64,
    },

    #[cfg(feature = "driver")]
    /// The key vault server failed or could not be reached; `source` is the driver's
    /// error.
    #[error("key vault {operation} failed")]
    KeyVault {
        /// The key vault operation (`createDataKey`, `getKey`, …).
        operation: &'static str,
        /// The driver's error: a type of the `mongodb` crate, which this crate
        /// re-exports so that its version is the one you name.
        source: Box<mongodb::error::Error>,
    },

    /// The server does not implement something this operation needs (FerretDB 1.x has
    /// no partial indexes, for example).
    #[error("the server does not support {operation} as needed here: {message}")]
    UnsupportedByServer {
        /// The server command.
        operation: &'static str,
        /// What the server said.
        message: String,
    },

    /// Encrypting or decrypting one field of a model failed; `path` names the field
    /// (`insurance.policyNumber`), `source` says why.
    #[error("field `{path}`")]
    Field {
        /// The dotted path of the field, as stored.
        path: String,
        /// What went wrong there.
        #[source]
        source: Box<Error>,
    },

    /// A value does not have the BSON type the model's schema declares for its field
    /// (a custom type that serializes to something else: declare it with
    /// `#[encrypt(bson_type = "...")]`).
    #[error("field `{path}` is declared as BSON type {expected} but serializes to {found}")]
    SchemaMismatch {
        /// The dotted path of the field.
        path: String,
        /// The type the schema declares.
        expected: &'static str,
        /// The type that was found.
        found: &'static str,
    },

    /// A field's ciphertext is not what the model's schema declares for the field: it
    /// holds a value of another BSON type (an int32 ciphertext in an int64 field), or was
    /// made with the other algorithm (a random ciphertext in a deterministic field, which
    /// equality queries would never find). Checked before any key lookup or decryption;
    /// reported inside [`Error::Field`]. A view leaves such a field sealed.
    #[error("{}", ciphertext_mismatch_message(*.found_type, *.found_algorithm, *.expected_type, *.expected_algorithm))]
    CiphertextMismatch {
        /// The BSON type the model declares for the field.
        expected_type: ElementType,
        /// The original BSON type written in the ciphertext's header.
        found_type: ElementType,
        /// The algorithm the model declares for the field.
        expected_algorithm: Algorithm,
        /// The algorithm written in the ciphertext's header.
        found_algorithm: Algorithm,
    },

    /// A stored document has no value for a field the model requires (reported inside
    /// [`Error::Field`], which names it), and the Rust type does not supply a default.
    #[error("the stored document has no value for this field, which the model requires")]
    MissingField,

    /// A document nests embedded documents or arrays deeper than `limit` levels. MongoDB
    /// stores at most 100; deeper input comes from no server and is refused before it is
    /// deserialized (whose recursion could exhaust the stack).
    #[error("a document nests embedded documents or arrays deeper than {limit} levels")]
    TooDeeplyNested {
        /// The deepest nesting accepted.
        limit: usize,
    },

    /// A field the model encrypts holds plaintext: in a stored document (written by a
    /// client without encryption, or altered by someone with access to the database), or
    /// as the operand of a raw filter, which would silently match nothing.
    #[error("field `{path}` must be encrypted but holds a plaintext {found}")]
    UnencryptedField {
        /// The dotted path of the field.
        path: String,
        /// The BSON type that was found instead of an encrypted binary.
        found: &'static str,
    },

    /// A query or update operator that cannot work on an encrypted field (a range or
    /// regex on a ciphertext, `$inc` of a ciphertext, a query on a randomly encrypted
    /// field).
    #[error("{}", unsupported_operator_message(.operator, .path))]
    UnsupportedOperator {
        /// The dotted path of the field; empty for an operator of the filter or update
        /// itself (`$expr`, `$where`, an unknown one), refused on a model with encrypted
        /// fields because it could reach them unchecked.
        path: String,
        /// The operator.
        operator: String,
    },

    /// A sort, a projection or an aggregation stage would compute on, order by or move a
    /// ciphertext: equality is all that encrypted fields support. The server holds only
    /// ciphertexts, so sorting by an encrypted field (or a document holding one) would
    /// sort by random bytes, arithmetic or string operators would compute on them, and a
    /// ciphertext moved to another path would no longer be decrypted (results are
    /// decrypted by the model's paths). Refused before anything is sent; `path` names the
    /// encrypted path, `operation` the sort, projection or stage, `reason` why.
    #[error("{}", encrypted_path_refused_message(.operation, .path, .reason))]
    EncryptedPathRefused {
        /// The dotted path of the encrypted field (or of the document holding one); empty
        /// for a stage refused whole on a model with encrypted fields (`$lookup`).
        path: String,
        /// What was refused: `sort`, `projection`, or an aggregation stage (`$group`),
        /// with the operator when there is one (`$sum in $group`).
        operation: String,
        /// Why, in fixed words (`ciphertext order means nothing`).
        reason: &'static str,
    },

    /// A document could not be converted to or from the model's Rust type. The reason is
    /// withheld because it could quote plaintext.
    #[error("a document does not match the Rust type `{model}` ({direction})")]
    Serde {
        /// The model type.
        model: &'static str,
        /// `serialize` or `deserialize`.
        direction: &'static str,
    },

    /// The operation needs a data key, but this handle was made without key access
    /// ([`EncryptedCollection::without_keys`](crate::EncryptedCollection::without_keys)).
    #[error("this collection handle has no key access")]
    NoKeyAccess,

    #[cfg(feature = "driver")]
    /// The server rejected or failed a collection operation; `source` is the driver's
    /// error.
    #[error("{operation} on `{namespace}` failed")]
    Collection {
        /// The operation (`insertOne`, `find`, …).
        operation: &'static str,
        /// The collection's namespace.
        namespace: String,
        /// The driver's error: a type of the `mongodb` crate, which this crate
        /// re-exports so that its version is the one you name.
        source: Box<mongodb::error::Error>,
    },

    #[cfg(feature = "driver")]
    /// `insertMany` failed part-way (a write error, a lost connection): `inserted` of the
    /// `total` documents are stored, counted by the `_id`s sent, or `None` when they could
    /// not be counted (the server is unreachable). `source` is the driver's error.
    #[error("insertMany on `{namespace}` failed after storing {} of {total} documents", .inserted.map_or_else(|| "an unknown number".to_owned(), |n| n.to_string()))]
    PartialInsert {
        /// The collection's namespace.
        namespace: String,
        /// How many of the documents are stored.
        inserted: Option<u64>,
        /// How many documents were sent.
        total: usize,
        /// The driver's error: a type of the `mongodb` crate, which this crate
        /// re-exports so that its version is the one you name.
        source: Box<mongodb::error::Error>,
    },

    /// The operating system's random number generator failed; `source` says how.
    #[error("the operating system's random number generator failed")]
    Randomness {
        /// What the generator reported.
        source: RandomnessError,
    },
}

/// How the operating system's random number generator failed ([`Error::Randomness`]).
///
/// Opaque on purpose: the generator behind it is an implementation detail. Its message
/// is the operating system's; [`raw_os_error`](Self::raw_os_error) gives the code.
///
/// ```
/// # fn show(error: &encrypted_core::Error) {
/// if let encrypted_core::Error::Randomness { source } = error {
///     eprintln!("CSPRNG failure (OS error {:?}): {source}", source.raw_os_error());
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomnessError(RandomnessFailure);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RandomnessFailure {
    /// The operating system's call failed.
    Os(getrandom::Error),
    /// The generator answered, but with output no working generator gives.
    Implausible(&'static str),
}

impl RandomnessError {
    /// The generator's call failed.
    pub(crate) const fn os(error: getrandom::Error) -> Self {
        Self(RandomnessFailure::Os(error))
    }

    /// The generator answered with output that cannot be random (`what` says why).
    pub(crate) const fn implausible(what: &'static str) -> Self {
        Self(RandomnessFailure::Implausible(what))
    }

    /// The operating system's error code (`errno` on Unix), when the failure came from
    /// a system call that returned one.
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        match self.0 {
            RandomnessFailure::Os(error) => error.raw_os_error(),
            RandomnessFailure::Implausible(_) => None,
        }
    }
}

impl std::fmt::Display for RandomnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            RandomnessFailure::Os(error) => std::fmt::Display::fmt(&error, f),
            RandomnessFailure::Implausible(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for RandomnessError {}

fn prohibited_message(bson_type: ElementType, algorithm: Algorithm) -> String {
    let name = crate::plaintext::type_name(bson_type);
    match algorithm {
        Algorithm::Deterministic => {
            format!("a value of BSON type {name} cannot be encrypted deterministically")
        }
        Algorithm::Random => format!("a value of BSON type {name} cannot be encrypted"),
    }
}

fn ciphertext_mismatch_message(
    found_type: ElementType,
    found_algorithm: Algorithm,
    expected_type: ElementType,
    expected_algorithm: Algorithm,
) -> String {
    let how = |algorithm| match algorithm {
        Algorithm::Deterministic => "deterministically",
        Algorithm::Random => "randomly",
    };
    format!(
        "the ciphertext holds a value of BSON type {} encrypted {}, but the model declares BSON type {} encrypted {}",
        crate::plaintext::type_name(found_type),
        how(found_algorithm),
        crate::plaintext::type_name(expected_type),
        how(expected_algorithm),
    )
}

fn unsupported_operator_message(operator: &str, path: &str) -> String {
    if path.is_empty() {
        format!(
            "operator `{operator}` cannot be used on a model with encrypted fields (it could reach them unchecked)"
        )
    } else {
        format!("operator `{operator}` cannot be applied to the encrypted field `{path}`")
    }
}

fn encrypted_path_refused_message(operation: &str, path: &str, reason: &str) -> String {
    if path.is_empty() {
        format!("{operation} is refused on a model with encrypted fields: {reason}")
    } else {
        format!("{operation} on the encrypted path `{path}` is refused: {reason}")
    }
}

fn key_id_context(key_id: Option<&bson::Uuid>) -> String {
    key_id.map_or_else(String::new, |id| format!(" {id}"))
}

impl Error {
    /// An [`Error::Kms`] of `provider` (`aws`, `azure:name`, a custom provider's name),
    /// without a source. The message must not hold key bytes or credentials.
    ///
    /// ```
    /// use encrypted_core::Error;
    /// use encrypted_core::kms::KmsErrorKind;
    ///
    /// let error = Error::kms("my_hsm", KmsErrorKind::Unreachable, "the HSM is offline");
    /// assert_eq!(error.to_string(), "KMS provider `my_hsm` failed: the HSM is offline");
    /// ```
    pub fn kms(
        provider: impl Into<String>,
        kind: crate::kms::KmsErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self::Kms {
            provider: provider.into(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// This [`Error::Kms`] with `source` as its cause (any other variant is returned
    /// unchanged). The message should say only what the source does not.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use encrypted_core::Error;
    /// use encrypted_core::kms::KmsErrorKind;
    ///
    /// let cause = std::io::Error::other("connection reset");
    /// let error = Error::kms("my_hsm", KmsErrorKind::Unreachable, "cannot reach the HSM")
    ///     .with_kms_source(cause);
    /// assert_eq!(error.source().unwrap().to_string(), "connection reset");
    /// ```
    #[must_use]
    pub fn with_kms_source(
        self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        match self {
            Self::Kms {
                provider,
                kind,
                message,
                ..
            } => Self::Kms {
                provider,
                kind,
                message,
                source: Some(cause.into()),
            },
            other => other,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The whole chain of `error`, `outer: cause: its cause`, as a reporter prints it: for
/// tests that check what a user would read.
#[cfg(test)]
pub(crate) fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        line.push_str(": ");
        line.push_str(&error.to_string());
        cause = error.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// Every variant that wraps another error, with a source whose message is easy to
    /// spot.
    fn wrapping_errors() -> Vec<Error> {
        let io = || std::io::Error::other("disk on fire");
        let errors = vec![
            Error::MasterKeyFile {
                path: "master-key.txt".into(),
                source: io(),
            },
            Error::MasterKeyFileWrite {
                path: "master-key.txt".into(),
                source: io(),
            },
            Error::Field {
                path: "insurance.policyNumber".to_owned(),
                source: Box::new(Error::Decryption),
            },
            Error::Randomness {
                source: RandomnessError::os(getrandom::Error::UNSUPPORTED),
            },
            Error::Randomness {
                source: RandomnessError::implausible("the generator is stuck"),
            },
            Error::kms(
                "aws",
                crate::kms::KmsErrorKind::Unreachable,
                "cannot connect to kms.us-east-1.amazonaws.com",
            )
            .with_kms_source(io()),
        ];
        #[cfg(feature = "driver")]
        let errors = errors.into_iter().chain(driver_wrapping_errors()).collect();
        errors
    }

    /// The variants that wrap the driver's errors.
    #[cfg(feature = "driver")]
    fn driver_wrapping_errors() -> Vec<Error> {
        let driver = || Box::new(mongodb::error::Error::from(std::io::Error::other("reset")));
        vec![
            Error::KeyVault {
                operation: "getKey",
                source: driver(),
            },
            Error::Collection {
                operation: "find",
                namespace: "medco.patients".to_owned(),
                source: driver(),
            },
            Error::PartialInsert {
                namespace: "medco.patients".to_owned(),
                inserted: Some(3),
                total: 5,
                source: driver(),
            },
        ]
    }

    #[test]
    fn a_wrapping_variant_does_not_repeat_its_source_in_its_message() {
        for error in wrapping_errors() {
            let source = error.source().expect("a wrapping variant has a source");
            let (message, cause) = (error.to_string(), source.to_string());
            assert!(!message.is_empty() && !cause.is_empty(), "{error:?}");
            assert!(
                !message.contains(&cause),
                "`{message}` repeats its source `{cause}`"
            );
        }
    }

    #[test]
    fn messages_are_lowercase_without_a_final_period() {
        let mut errors = wrapping_errors();
        errors.extend([
            Error::Decryption,
            Error::MissingField,
            Error::AlreadyEncrypted,
            Error::NoKeyAccess,
            Error::InvalidMasterKeyEncoding,
        ]);
        for error in errors {
            let message = error.to_string();
            assert!(!message.ends_with('.'), "{message}");
            assert!(
                !message.starts_with(|c: char| c.is_uppercase()) || message.starts_with("KMS"),
                "{message}"
            );
        }
    }

    #[test]
    fn randomness_error_hides_the_generator_but_keeps_its_message_and_code() {
        let error = RandomnessError::os(getrandom::Error::UNSUPPORTED);
        assert_eq!(error.to_string(), getrandom::Error::UNSUPPORTED.to_string());
        assert_eq!(error.raw_os_error(), None);
        assert!(error.source().is_none());
        let stuck = RandomnessError::implausible("the generator is stuck");
        assert_eq!(stuck.to_string(), "the generator is stuck");
        assert_eq!(stuck.raw_os_error(), None);
    }
}
