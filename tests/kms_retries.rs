//! Retries and typed errors of the HTTP KMS providers (issue 12, point 5), against a
//! TLS server on loopback that answers as each test scripts it: a KMS answering 503
//! twice then 200 (retried, succeeds, each attempt traced), 429 then 200, 400 (not
//! retried, typed with the status and AWS's error code), a refused connection
//! (`Unreachable` after 3 attempts), a silent one (`TimedOut`), an untrusted certificate
//! (`Tls`, not retried), retries turned off, and error chains printing each cause once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/http_server.rs"]
mod http_server;
#[path = "common/report.rs"]
mod report;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::Uuid;
use encrypted::kms::{AwsCredentials, AwsKms, KmsErrorKind, KmsProvider, TlsOptions};
use encrypted::{DataKey, Error, MasterKey};
use http_server::{Pki, Request, Response, TestServer};
use report::report;
use serde_json::json;

const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000";

fn aws(pki: &Pki, server: &TestServer) -> AwsKms {
    AwsKms::new(AwsCredentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    ))
    .unwrap()
    .with_timeout(Duration::from_secs(5))
    .unwrap()
    .with_allowed_endpoint(&server.authority)
    .unwrap()
    .with_tls(TlsOptions::new().with_ca_pem(pki.ca_pem()).unwrap())
    .unwrap()
}

fn master_key(server: &TestServer) -> MasterKey {
    MasterKey::aws("us-east-1", ARN).with_endpoint(server.authority.clone())
}

/// Answers the `n`th request (from 0) with `script(n)`.
fn scripted(
    script: impl Fn(usize) -> Response + Send + Sync + 'static,
) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    let count = AtomicUsize::new(0);
    move |_| script(count.fetch_add(1, Ordering::SeqCst))
}

fn encrypted_ok() -> Response {
    // Base64 of 183 bytes 0x07.
    let blob = "BwcH".repeat(61);
    Response::json(200, json!({ "CiphertextBlob": blob, "KeyId": ARN }))
}

fn aws_error(status: u16, kind: &str) -> Response {
    Response::json(status, json!({ "__type": kind, "message": "scripted" }))
}

fn kind_of(error: &Error) -> KmsErrorKind {
    match error {
        Error::Kms { kind, .. } => kind.clone(),
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

/// The `kms.attempt` of every `kms_request` span opened while it is the default
/// subscriber of the thread.
#[derive(Clone, Default)]
struct Attempts(Arc<Mutex<Vec<u64>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Attempts {
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit<'a>(&'a Mutex<Vec<u64>>);
        impl tracing::field::Visit for Visit<'_> {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "kms.attempt" {
                    self.0.lock().unwrap().push(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if attributes.metadata().name() == "kms_request" {
            attributes.record(&mut Visit(&self.0));
        }
    }
}

fn capture_attempts() -> (Attempts, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::layer::SubscriberExt as _;
    let attempts = Attempts::default();
    let subscriber = tracing_subscriber::registry()
        .with(attempts.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    (attempts, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn a_kms_answering_503_twice_then_200_is_retried_and_succeeds() {
    let pki = Pki::new("503");
    let server = TestServer::tls(
        &pki,
        scripted(|n| {
            if n < 2 {
                aws_error(503, "KMSInternalException")
            } else {
                encrypted_ok()
            }
        }),
    )
    .await;
    let kms = aws(&pki, &server);
    let key = DataKey::generate(Uuid::new()).unwrap();
    let (attempts, _guard) = capture_attempts();
    let wrapped = kms.wrap(&master_key(&server), &key).await.unwrap();
    assert_eq!(wrapped, vec![7_u8; 183]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "three attempts reached the KMS");
    // Every attempt is the same signed request.
    assert!(requests.iter().all(|r| r.body == requests[0].body
        && r.header("authorization") == requests[0].header("authorization")));
    assert_eq!(
        *attempts.0.lock().unwrap(),
        vec![1, 2, 3],
        "one span per attempt"
    );
}

#[tokio::test]
async fn a_kms_answering_429_then_200_is_retried() {
    let pki = Pki::new("429");
    let server = TestServer::tls(
        &pki,
        scripted(|n| {
            if n == 0 {
                aws_error(429, "ThrottlingException")
            } else {
                encrypted_ok()
            }
        }),
    )
    .await;
    let key = DataKey::generate(Uuid::new()).unwrap();
    aws(&pki, &server)
        .wrap(&master_key(&server), &key)
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_kms_answering_400_is_not_retried_and_is_typed_with_aws_error_code() {
    let pki = Pki::new("400");
    let server = TestServer::tls(&pki, |_: &Request| aws_error(400, "ValidationException")).await;
    let key_id = Uuid::new();
    let error = aws(&pki, &server)
        .unwrap(&master_key(&server), key_id, &[1; 184])
        .await
        .unwrap_err();
    assert_eq!(
        kind_of(&error),
        KmsErrorKind::HttpStatus {
            status: 400,
            code: Some("ValidationException".to_owned())
        }
    );
    assert!(!kind_of(&error).is_transient());
    assert_eq!(server.requests().len(), 1, "a 4xx is never retried");
    let text = error.to_string();
    assert!(text.contains(&key_id.to_string()), "{text}");
    assert!(!text.contains("attempts"), "{text}");
}

#[tokio::test]
async fn a_kms_failing_every_attempt_reports_the_last_status_after_three_attempts() {
    let pki = Pki::new("500");
    let server = TestServer::tls(&pki, |_: &Request| aws_error(500, "KMSInternalException")).await;
    let key = DataKey::generate(Uuid::new()).unwrap();
    let error = aws(&pki, &server)
        .wrap(&master_key(&server), &key)
        .await
        .unwrap_err();
    assert_eq!(
        kind_of(&error),
        KmsErrorKind::HttpStatus {
            status: 500,
            code: Some("KMSInternalException".to_owned())
        }
    );
    assert_eq!(server.requests().len(), 3, "at most three attempts");
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}

#[tokio::test]
async fn retries_turned_off_make_one_attempt() {
    let pki = Pki::new("off");
    let server = TestServer::tls(&pki, |_: &Request| aws_error(503, "KMSInternalException")).await;
    let key = DataKey::generate(Uuid::new()).unwrap();
    let error = aws(&pki, &server)
        .with_retry(false)
        .wrap(&master_key(&server), &key)
        .await
        .unwrap_err();
    assert!(matches!(
        kind_of(&error),
        KmsErrorKind::HttpStatus { status: 503, .. }
    ));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_after_three_attempts() {
    // A port nothing listens on any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("127.0.0.1:{port}");
    let kms = AwsKms::new(AwsCredentials::new("AKIDEXAMPLE", "secret"))
        .unwrap()
        .with_allowed_endpoint(&endpoint)
        .unwrap();
    let (attempts, _guard) = capture_attempts();
    let error = kms
        .unwrap(
            &MasterKey::aws("us-east-1", ARN).with_endpoint(endpoint.clone()),
            Uuid::new(),
            &[1; 184],
        )
        .await
        .unwrap_err();
    assert_eq!(kind_of(&error), KmsErrorKind::Unreachable);
    assert!(kind_of(&error).is_transient());
    let text = error.to_string();
    assert!(
        text.contains(&endpoint) && text.contains("after 3 attempts"),
        "{text}"
    );
    assert_eq!(*attempts.0.lock().unwrap(), vec![1, 2, 3]);
    assert!(
        std::error::Error::source(&error).is_some(),
        "the network error is the source"
    );
}

#[tokio::test]
async fn a_silent_kms_times_out_on_each_attempt() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream); // never answers
        }
    });
    let kms = AwsKms::new(AwsCredentials::new("AKIDEXAMPLE", "secret"))
        .unwrap()
        .with_timeout(Duration::from_millis(200))
        .unwrap()
        .with_allowed_endpoint(&endpoint)
        .unwrap();
    let started = Instant::now();
    let error = kms
        .unwrap(
            &MasterKey::aws("us-east-1", ARN).with_endpoint(endpoint.clone()),
            Uuid::new(),
            &[1; 184],
        )
        .await
        .unwrap_err();
    assert_eq!(kind_of(&error), KmsErrorKind::TimedOut);
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    // Three timeouts and two backoffs of at most 200 and 400 ms.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    server.abort();
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_and_not_retried() {
    let pki = Pki::new("untrusted");
    let server = TestServer::tls(&pki, |_: &Request| encrypted_ok()).await;
    let kms = AwsKms::new(AwsCredentials::new("AKIDEXAMPLE", "secret"))
        .unwrap()
        .with_allowed_endpoint(&server.authority)
        .unwrap();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let error = kms.wrap(&master_key(&server), &key).await.unwrap_err();
    assert_eq!(kind_of(&error), KmsErrorKind::Tls, "{}", report(&error));
    assert_eq!(server.connections(), 1, "a TLS failure is not retried");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn error_chains_print_each_cause_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("127.0.0.1:{port}");
    let kms = AwsKms::new(AwsCredentials::new("AKIDEXAMPLE", "secret"))
        .unwrap()
        .with_retry(false)
        .with_allowed_endpoint(&endpoint)
        .unwrap();
    let error = kms
        .unwrap(
            &MasterKey::aws("us-east-1", ARN).with_endpoint(endpoint.clone()),
            Uuid::new(),
            &[1; 184],
        )
        .await
        .unwrap_err();
    let mut parts = vec![error.to_string()];
    let mut cause = std::error::Error::source(&error);
    while let Some(error) = cause {
        parts.push(error.to_string());
        cause = error.source();
    }
    assert!(parts.len() >= 2, "{parts:?}");
    // No level repeats what a deeper one says (each cause printed once).
    for (i, outer) in parts.iter().enumerate() {
        for inner in &parts[i + 1..] {
            assert!(
                !outer.contains(inner.as_str()),
                "`{outer}` repeats `{inner}`"
            );
        }
    }
    let line = report(&error);
    assert_eq!(line.matches(&endpoint).count(), 1, "{line}");
    assert!(!line.contains("secret"), "{line}");
}
