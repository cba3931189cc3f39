//! What kind of failure an [`Error::Kms`](crate::Error::Kms) is, for retry and alerting
//! policy.

use std::fmt;

/// What went wrong talking to a KMS provider, so that callers can decide what to do
/// (retry later, page someone, fix the configuration) without parsing messages.
///
/// The HTTP providers already retry what is worth retrying (network errors, HTTP 429
/// and 5xx) before reporting it; [`KmsErrorKind::is_transient`] says whether a later
/// retry of the whole operation may still succeed.
///
/// ```
/// use encrypted_core::Error;
/// use encrypted_core::kms::KmsErrorKind;
///
/// fn page_someone(error: &Error) -> bool {
///     match error {
///         Error::Kms { kind, .. } => !kind.is_transient(),
///         _ => false,
///     }
/// }
/// let error = Error::kms("aws", KmsErrorKind::TimedOut, "no answer from kms.example in time");
/// assert!(!page_someone(&error));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsErrorKind {
    /// The KMS (or a credentials endpoint) could not be reached: DNS, connection refused
    /// or reset.
    Unreachable,
    /// No complete answer came in time.
    TimedOut,
    /// The TLS handshake failed: an untrusted or wrong certificate, a refused client
    /// certificate.
    Tls,
    /// The KMS answered with an HTTP error status.
    HttpStatus {
        /// The HTTP status (`400`, `403`, `503`, …).
        status: u16,
        /// The provider's own error code, when its reply names one: AWS's `__type`
        /// (`NotFoundException`), Azure's `error.code`, Google Cloud's `error.status`.
        code: Option<String>,
    },
    /// The KMS answered success with a reply that is not what the protocol says: not
    /// JSON, a field missing, not base64, longer than allowed.
    MalformedReply,
    /// No usable credentials: missing, or refused by the credentials endpoint.
    Credentials,
    /// The request was refused before anything was sent, or the provider is configured
    /// wrongly (a malformed endpoint, a master key of another provider).
    Configuration,
    /// Anything else (a custom provider's own failure).
    Other,
}

impl KmsErrorKind {
    /// Whether the same request may succeed later: network errors, timeouts, HTTP 429
    /// and 5xx.
    ///
    /// ```
    /// use encrypted_core::kms::KmsErrorKind;
    ///
    /// assert!(KmsErrorKind::HttpStatus { status: 503, code: None }.is_transient());
    /// assert!(!KmsErrorKind::HttpStatus { status: 400, code: None }.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable | Self::TimedOut => true,
            Self::HttpStatus { status, .. } => *status == 429 || (500..600).contains(status),
            _ => false,
        }
    }
}

impl fmt::Display for KmsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("unreachable"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Tls => f.write_str("TLS failure"),
            Self::HttpStatus {
                status,
                code: Some(code),
            } => write!(f, "HTTP {status} ({code})"),
            Self::HttpStatus { status, code: None } => write!(f, "HTTP {status}"),
            Self::MalformedReply => f.write_str("malformed reply"),
            Self::Credentials => f.write_str("credentials"),
            Self::Configuration => f.write_str("configuration"),
            Self::Other => f.write_str("other"),
        }
    }
}
