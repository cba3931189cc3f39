//! Spans and events of the driver layer (feature `tracing`).
//!
//! What is recorded: key vault reads (operation, filter kind, found, duration), KMS
//! calls (provider, wrap or unwrap, endpoint host, duration, outcome), key cache misses,
//! loads, evictions and removals (key id), the data key lifecycle and rewrap progress.
//! What never is: key material (wrapped or not), master keys, credentials, tokens,
//! plaintext, ciphertext, and alternate names (applications that shred per user name
//! keys after users). Key ids are random UUIDs and are recorded.
//!
//! Nothing is recorded on the per-value path: a cache hit emits nothing, so encrypting
//! and decrypting with a cached key costs no more with the feature than without it.
//! Without a subscriber each call site below is one relaxed atomic load (tracing's
//! global level filter is `OFF`); without the feature they compile to nothing.
//!
//! Field names follow OpenTelemetry's where one fits (`db.operation`, `db.namespace`,
//! `server.address`, `http.response.status_code`, `error.kind`).

#[cfg(feature = "tracing")]
use std::time::Instant;

use std::future::Future;

use bson::Uuid;

use crate::{Error, Namespace, Result};

/// The targets, one per concern, so that `RUST_LOG=encrypted_core::kms=debug` shows
/// the KMS calls alone.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) const KEY_VAULT: &str = "encrypted_core::key_vault";
/// KMS calls and their HTTPS requests.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) const KMS: &str = "encrypted_core::kms";
/// Key cache misses, loads, evictions, removals.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) const KEY_CACHE: &str = "encrypted_core::key_cache";
/// Rewrap progress and summary.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) const REWRAP: &str = "encrypted_core::rewrap";

/// `tracing::event!` at `$level` (`DEBUG`, `INFO`, `WARN`) and one of the targets above
/// with the feature; nothing without it.
macro_rules! trace_event {
    ($level:ident, $target:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::event!(
                target: $crate::driver::trace::$target,
                ::tracing::Level::$level,
                $($arg)*
            );
        }
    };
}

pub(crate) use trace_event;

/// How a key vault read chose its documents (never the alternate name itself).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) enum Filter {
    /// By `_id`.
    Id(Uuid),
    /// By alternate name.
    AltName,
    /// By a caller's filter (rewrap).
    Query,
}

#[cfg(feature = "tracing")]
impl Filter {
    fn kind(self) -> &'static str {
        match self {
            Self::Id(_) => "id",
            Self::AltName => "alt_name",
            Self::Query => "query",
        }
    }
}

/// One timed operation: a `DEBUG` span around it, and a `DEBUG` event when it ends
/// with its outcome and duration. A zero-sized no-op without the feature.
#[must_use]
pub(crate) struct Operation {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    #[cfg(feature = "tracing")]
    started: Instant,
    /// Whether the span still lacks the key id (a read by alternate name or query).
    #[cfg(feature = "tracing")]
    key_id_pending: bool,
}

#[cfg(feature = "tracing")]
impl Operation {
    /// A key vault read.
    pub(crate) fn key_vault_read(
        operation: &'static str,
        namespace: &Namespace,
        filter: Filter,
    ) -> Self {
        let span = tracing::debug_span!(
            target: KEY_VAULT,
            "key_vault_read",
            db.system = "mongodb",
            db.operation = operation,
            db.namespace = %namespace,
            filter = filter.kind(),
            key.id = tracing::field::Empty,
        );
        let mut operation = Self::started(span);
        match filter {
            Filter::Id(id) => {
                operation.span.record("key.id", tracing::field::display(id));
            }
            Filter::AltName | Filter::Query => operation.key_id_pending = true,
        }
        operation
    }

    /// A call to a KMS provider: `operation` is `wrap` or `unwrap`.
    pub(crate) fn kms(provider: &str, operation: &'static str, key_id: Uuid) -> Self {
        Self::started(tracing::debug_span!(
            target: KMS,
            "kms",
            kms.provider = provider,
            kms.operation = operation,
            key.id = %key_id,
        ))
    }

    /// One HTTPS request of a KMS provider (inside its [`Operation::kms`] span).
    /// `attempt` counts from 1; a retried request has one span per attempt.
    pub(crate) fn kms_request(
        provider: &str,
        target: &str,
        host: &str,
        port: u16,
        attempt: u32,
    ) -> Self {
        Self::started(tracing::debug_span!(
            target: KMS,
            "kms_request",
            kms.provider = provider,
            rpc.method = target,
            server.address = host,
            server.port = port,
            kms.attempt = attempt,
        ))
    }

    fn started(span: tracing::Span) -> Self {
        Self {
            span,
            started: Instant::now(),
            key_id_pending: false,
        }
    }

    /// Runs `future` inside this operation's span.
    pub(crate) fn run<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        tracing::Instrument::instrument(future, self.span.clone())
    }

    /// Ends a key vault read: whether it found a key, and which.
    pub(crate) fn read_done<T>(self, result: &Result<Option<T>>, id: impl Fn(&T) -> Uuid) {
        let _entered = self.span.enter();
        let duration_ms = self.elapsed_ms();
        match result {
            Ok(found) => {
                if let Some(found) = found.as_ref().filter(|_| self.key_id_pending) {
                    self.span
                        .record("key.id", tracing::field::display(id(found)));
                }
                tracing::debug!(target: KEY_VAULT, found = found.is_some(), duration_ms, "key vault read");
            }
            Err(error) => tracing::debug!(
                target: KEY_VAULT,
                outcome = "error",
                error.kind = error_kind(error),
                duration_ms,
                "key vault read failed"
            ),
        }
    }

    /// Ends a key vault query: how many documents it returned.
    pub(crate) fn query_done<T>(self, result: &Result<Vec<T>>) {
        let _entered = self.span.enter();
        let duration_ms = self.elapsed_ms();
        match result {
            Ok(found) => {
                tracing::debug!(target: KEY_VAULT, found = found.len(), duration_ms, "key vault read")
            }
            Err(error) => tracing::debug!(
                target: KEY_VAULT,
                outcome = "error",
                error.kind = error_kind(error),
                duration_ms,
                "key vault read failed"
            ),
        }
    }

    /// Ends a KMS call or request with its outcome; `status` is the HTTP status, when
    /// there was one.
    pub(crate) fn done<T>(self, result: &Result<T>, status: Option<u16>) {
        let _entered = self.span.enter();
        let duration_ms = self.elapsed_ms();
        match result {
            Ok(_) => tracing::debug!(
                target: KMS,
                outcome = "ok",
                http.response.status_code = status,
                duration_ms,
                "kms call"
            ),
            Err(error) => tracing::debug!(
                target: KMS,
                outcome = "error",
                error.kind = error_kind(error),
                http.response.status_code = status,
                duration_ms,
                "kms call failed"
            ),
        }
    }

    fn elapsed_ms(&self) -> f64 {
        // Whole microseconds, shown as milliseconds without binary noise.
        self.started.elapsed().as_micros() as f64 / 1000.0
    }
}

/// Without the feature: the same calls, doing nothing.
#[cfg(not(feature = "tracing"))]
impl Operation {
    #[inline(always)]
    pub(crate) fn key_vault_read(_: &'static str, _: &Namespace, _: Filter) -> Self {
        Self {}
    }

    #[inline(always)]
    pub(crate) fn kms(_: &str, _: &'static str, _: Uuid) -> Self {
        Self {}
    }

    #[inline(always)]
    pub(crate) fn kms_request(_: &str, _: &str, _: &str, _: u16, _: u32) -> Self {
        Self {}
    }

    #[inline(always)]
    pub(crate) fn run<F: Future>(&self, future: F) -> F {
        future
    }

    #[inline(always)]
    pub(crate) fn read_done<T>(self, _: &Result<Option<T>>, _: impl Fn(&T) -> Uuid) {}

    #[inline(always)]
    pub(crate) fn query_done<T>(self, _: &Result<Vec<T>>) {}

    #[inline(always)]
    pub(crate) fn done<T>(self, _: &Result<T>, _: Option<u16>) {}
}

/// A short, stable name for an error (its variant), for the `error.kind` field: the
/// message stays with the caller, who decides whether and how to log it.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::Kms { .. } => "kms",
        Error::KmsEndpointRefused { .. } => "kms_endpoint_refused",
        Error::KmsTls { .. } => "kms_tls",
        Error::KeyUnwrap { .. } => "key_unwrap",
        Error::KeyVault { .. } => "key_vault",
        Error::KeyNotFound { .. } => "key_not_found",
        Error::MalformedKeyDocument { .. } => "malformed_key_document",
        Error::UnknownKmsProvider { .. } => "unknown_kms_provider",
        Error::AmbiguousKeyAltName { .. } => "ambiguous_key_alt_name",
        Error::DuplicateKeyAltName { .. } => "duplicate_key_alt_name",
        Error::InvalidKeyLength { .. } => "invalid_key_length",
        Error::Randomness { .. } => "randomness",
        _ => "other",
    }
}
