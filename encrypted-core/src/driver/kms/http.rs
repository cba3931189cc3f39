//! The HTTP exchange every remote KMS provider shares (AWS, Azure, Google Cloud, and
//! the credentials endpoints they fetch tokens from): one client per provider, bounded
//! replies read into one zeroized buffer, a timeout over the whole exchange, no
//! redirects, typed errors, tracing, and retries of what is worth retrying.
//!
//! What is specific to a provider (signing, endpoint pinning, the reply's fields and
//! error codes) stays in the provider's module.

mod retry;

use std::time::Duration;

use zeroize::Zeroizing;

pub(crate) use self::retry::Retry;
use super::{MAX_KMS_REPLY_BYTES, TlsOptions};
use crate::driver::trace::Operation;
use crate::kms::KmsErrorKind;
use crate::{Error, Result};

/// The HTTP method of a request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Method {
    /// `GET` (metadata servers).
    Get,
    /// `POST` (KMS calls, token requests).
    Post,
    /// `PUT` (the EC2 IMDSv2 session token).
    Put,
}

impl Method {
    fn reqwest(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Put => reqwest::Method::PUT,
        }
    }
}

/// One request, as a provider describes it.
pub(crate) struct Request<'a> {
    /// The provider name errors and traces carry (`aws`, `azure:prod`).
    pub(crate) provider: &'a str,
    /// What is called, for traces (`TrentService.Encrypt`, `wrapkey`, `token`).
    pub(crate) target: &'a str,
    pub(crate) method: Method,
    /// The whole URL (`https://host[:port]/path?query`).
    pub(crate) url: &'a str,
    /// Headers besides `host` and `content-length`, which the client sets.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// The body, moved into the HTTP stack without a copy and zeroized when the stack
    /// drops it (after the last attempt).
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// An answer, whatever its status: the provider reads its own error format.
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The body, at most [`MAX_KMS_REPLY_BYTES`], zeroized on drop.
    pub(crate) body: Zeroizing<Vec<u8>>,
    /// How many attempts it took (1 unless retried).
    pub(crate) attempts: u32,
}

impl Reply {
    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// An [`Error::Kms`] of kind [`KmsErrorKind::HttpStatus`] for this (unsuccessful)
    /// reply: `message` plus, when retried, how many attempts were made.
    pub(crate) fn status_error(
        &self,
        provider: &str,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Error {
        let mut message = message.into();
        if self.attempts > 1 {
            message.push_str(&format!(" (after {} attempts)", self.attempts));
        }
        Error::kms(
            provider,
            KmsErrorKind::HttpStatus {
                status: self.status,
                code,
            },
            message,
        )
    }
}

/// An HTTP client of one provider: its TLS settings, timeout and retry policy.
pub(crate) struct HttpClient {
    client: reqwest::Client,
    tls: TlsOptions,
    timeout: Duration,
    retry: Retry,
    https_only: bool,
}

impl HttpClient {
    /// An HTTPS-only client with these TLS settings; `timeout` bounds each attempt
    /// (connection, TLS handshake, sending, and reading the whole reply). Retries are
    /// on.
    pub(crate) fn new(tls: TlsOptions, timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            client: tls.client(timeout)?,
            tls,
            timeout,
            retry: Retry::default(),
            https_only: true,
        })
    }

    /// A client for a cloud metadata server (EC2 IMDS, ECS, Azure IMDS, GCP metadata):
    /// plain HTTP allowed (those servers speak nothing else, on link-local addresses),
    /// no proxy (a proxy must not see the credentials they hand out), no redirects.
    pub(crate) fn metadata(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Self {
            client,
            tls: TlsOptions::new(),
            timeout,
            retry: Retry::default(),
            https_only: false,
        })
    }

    /// The timeout of each attempt.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same client with another timeout.
    pub(crate) fn with_timeout(self, timeout: Duration) -> Result<Self, String> {
        let client = if self.https_only {
            self.tls.client(timeout)?
        } else {
            Self::metadata(timeout)?.client
        };
        Ok(Self {
            client,
            timeout,
            ..self
        })
    }

    /// The same client with other TLS settings.
    pub(crate) fn with_tls(self, tls: TlsOptions) -> Result<Self, String> {
        Ok(Self {
            client: tls.client(self.timeout)?,
            tls,
            ..self
        })
    }

    /// The same client retrying (the default) or not.
    pub(crate) fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }

    /// The retry policy.
    pub(crate) fn retry(&self) -> Retry {
        self.retry
    }

    /// `POST`s `body` to `url` with `headers` (see [`HttpClient::send`]).
    pub(crate) async fn post(
        &self,
        provider: &str,
        target: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Zeroizing<Vec<u8>>,
    ) -> Result<Reply> {
        self.send(Request {
            provider,
            target,
            method: Method::Post,
            url,
            headers,
            body,
        })
        .await
    }

    /// `GET`s `url` with `headers` (see [`HttpClient::send`]).
    pub(crate) async fn get(
        &self,
        provider: &str,
        target: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        self.send(Request {
            provider,
            target,
            method: Method::Get,
            url,
            headers,
            body: Zeroizing::new(Vec::new()),
        })
        .await
    }

    /// Sends `request` and reads its reply, retrying network errors, timeouts, HTTP 429
    /// and 5xx as the retry policy says (never a 4xx). Each attempt is a
    /// `kms_request` span with its attempt number.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`]: [`KmsErrorKind::Unreachable`], [`KmsErrorKind::TimedOut`] or
    /// [`KmsErrorKind::Tls`] (the transport error as its source) once the attempts are
    /// spent; [`KmsErrorKind::MalformedReply`] for a reply longer than
    /// [`MAX_KMS_REPLY_BYTES`]; [`KmsErrorKind::Configuration`] for a URL that does not
    /// parse. An HTTP error status is not an error here: it is the [`Reply`].
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<Reply> {
        let Request {
            provider,
            target,
            method,
            url,
            headers,
            body,
        } = request;
        let parsed = reqwest::Url::parse(url).map_err(|_| {
            Error::kms(
                provider,
                KmsErrorKind::Configuration,
                format!("`{url}` is not a URL"),
            )
        })?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let port = parsed.port_or_known_default().unwrap_or_default();
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        // Shared by the attempts without a copy; the owner (zeroizing) is dropped with
        // the last reference.
        let body = bytes::Bytes::from_owner(body);
        let attempts = self.retry.attempts();
        let mut attempt = 1;
        loop {
            let trace = Operation::kms_request(provider, target, &host, port, attempt);
            let mut status = None;
            let outcome = trace
                .run(self.attempt(
                    provider,
                    method,
                    &parsed,
                    &authority,
                    headers,
                    body.clone(),
                    &mut status,
                ))
                .await;
            match &outcome {
                // An error status is an answer here, but a failed call in the trace.
                Ok(reply) if !reply.is_success() => trace.done(
                    &Err::<(), _>(reply.status_error(provider, None, "")),
                    status,
                ),
                _ => trace.done(&outcome, status),
            }
            let again = attempt < attempts
                && match &outcome {
                    Ok(reply) => retry::retries_status(reply.status),
                    Err(Error::Kms { kind, .. }) => {
                        matches!(kind, KmsErrorKind::Unreachable | KmsErrorKind::TimedOut)
                    }
                    Err(_) => false,
                };
            if !again {
                return match outcome {
                    Ok(reply) => Ok(Reply {
                        attempts: attempt,
                        ..reply
                    }),
                    Err(error) if attempt > 1 => Err(with_attempts(error, attempt)),
                    Err(error) => Err(error),
                };
            }
            tokio::time::sleep(self.retry.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// One attempt; `status` is set once there is one.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        provider: &str,
        method: Method,
        url: &reqwest::Url,
        host: &str,
        headers: &[(&str, &str)],
        body: bytes::Bytes,
        status: &mut Option<u16>,
    ) -> Result<Reply> {
        let mut request = self.client.request(method.reqwest(), url.clone());
        for (name, value) in headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
        {
            request = request.header(*name, *value);
        }
        if !matches!(method, Method::Get) || !body.is_empty() {
            request = request.body(body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| transport_error(provider, error, host))?;
        let code = response.status().as_u16();
        *status = Some(code);
        let body = read_reply(provider, &mut response, host).await?;
        Ok(Reply {
            status: code,
            body,
            attempts: 1,
        })
    }
}

/// `error` with the number of attempts made added to its message.
fn with_attempts(error: Error, attempts: u32) -> Error {
    with_message(error, |message| {
        format!("{message} (after {attempts} attempts)")
    })
}

/// An [`Error::Kms`] with its message rewritten by `rewrite` (context added); any other
/// error unchanged.
pub(crate) fn with_message(error: Error, rewrite: impl FnOnce(String) -> String) -> Error {
    match error {
        Error::Kms {
            provider,
            kind,
            message,
            source,
        } => Error::Kms {
            provider,
            kind,
            message: rewrite(message),
            source,
        },
        other => other,
    }
}

/// The body of `response`, at most [`MAX_KMS_REPLY_BYTES`] of it, read chunk by chunk
/// into one buffer allocated once (no regrowth leaving copies behind) and zeroized on
/// drop. A longer reply is refused as soon as it is announced or exceeded.
async fn read_reply(
    provider: &str,
    response: &mut reqwest::Response,
    host: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let too_long = || {
        Error::kms(
            provider,
            KmsErrorKind::MalformedReply,
            format!("the reply from {host} is longer than {MAX_KMS_REPLY_BYTES} bytes: refused"),
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_KMS_REPLY_BYTES as u64)
    {
        return Err(too_long());
    }
    let mut reply = Zeroizing::new(Vec::with_capacity(MAX_KMS_REPLY_BYTES));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| transport_error(provider, error, host))?
    {
        if chunk.len() > MAX_KMS_REPLY_BYTES - reply.len() {
            return Err(too_long());
        }
        reply.extend_from_slice(&chunk);
    }
    Ok(reply)
}

/// A transport error as an [`Error::Kms`] of the right kind, naming the host; the
/// error itself is the source (its chain says why), not repeated in the message.
fn transport_error(provider: &str, error: reqwest::Error, host: &str) -> Error {
    let (kind, message) = if error.is_timeout() {
        (
            KmsErrorKind::TimedOut,
            format!("no answer from {host} in time"),
        )
    } else if is_tls(&error) {
        (KmsErrorKind::Tls, format!("TLS with {host} failed"))
    } else if error.is_connect() {
        (
            KmsErrorKind::Unreachable,
            format!("cannot connect to {host}"),
        )
    } else {
        (
            KmsErrorKind::Unreachable,
            format!("request to {host} failed"),
        )
    };
    // reqwest's own message repeats the URL the message names already; its cause is
    // what a reader needs. Keep the reqwest error itself when it has no cause.
    Error::kms(provider, kind, message).with_kms_source(error.without_url())
}

/// Whether a rustls error is somewhere in `error`'s chain (a handshake failure: an
/// untrusted certificate, a refused client certificate).
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if error.is::<rustls::Error>() {
            return true;
        }
        // `io::Error` hides a custom inner error from `source()` (it returns the inner
        // error's source), so look inside it.
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && (inner.is::<rustls::Error>() || is_tls(inner))
        {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_rustls_error_inside_an_io_error() {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::General("bad certificate".to_owned()),
        );
        assert!(is_tls(&tls));
        assert!(!is_tls(&std::io::Error::other("refused")));
    }

    #[test]
    fn a_retried_error_says_how_many_attempts() {
        let error = with_attempts(Error::kms("aws", KmsErrorKind::Unreachable, "down"), 3);
        assert_eq!(
            error.to_string(),
            "KMS provider `aws` failed: down (after 3 attempts)"
        );
    }

    #[test]
    fn a_status_error_carries_the_status_and_code() {
        let reply = Reply {
            status: 400,
            body: Zeroizing::new(Vec::new()),
            attempts: 1,
        };
        let error = reply.status_error("aws", Some("ValidationException".to_owned()), "no");
        assert!(matches!(
            error,
            Error::Kms {
                kind: KmsErrorKind::HttpStatus { status: 400, code: Some(ref code) },
                ..
            } if code == "ValidationException"
        ));
    }
}
