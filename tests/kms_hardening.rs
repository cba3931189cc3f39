//! The AWS KMS provider against hostile input, with no emulator and no database: key
//! documents pointing at endpoints the application did not allow (issue 9, finding 2),
//! KMS replies that are too long or never end (finding 3), and TLS settings that are not
//! what they claim to be (finding 12). The hostile KMS is a TLS server on loopback, with
//! a CA made by `openssl` for the run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bson::Uuid;
use encrypted::kms::{AwsCredentials, AwsKms, KmsProvider, MAX_KMS_REPLY_BYTES, TlsOptions};
use encrypted::{DataKey, Error, MasterKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000";

fn credentials() -> AwsCredentials {
    AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .with_session_token("session-token-of-the-application")
}

/// A loopback listener that counts the connections it receives and never answers.
struct Recorder {
    endpoint: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self {
            endpoint,
            connections,
            task,
        }
    }

    /// The connections received, after giving a stray one time to arrive.
    async fn connections(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn assert_refused<T: std::fmt::Debug>(
    result: encrypted::Result<T>,
    key_id: Uuid,
    refused_endpoint: &str,
) {
    match result {
        Err(Error::KmsEndpointRefused {
            ref provider,
            key_id: id,
            ref endpoint,
        }) => {
            assert_eq!(provider, "aws");
            assert_eq!(id, key_id);
            assert_eq!(endpoint, refused_endpoint);
            let message = result.unwrap_err().to_string();
            assert!(
                message.contains("aws")
                    && message.contains(&key_id.to_string())
                    && message.contains(refused_endpoint),
                "{message}"
            );
        }
        other => panic!("expected the endpoint to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn finding_2_a_key_document_cannot_point_an_aws_key_at_another_endpoint() {
    let attacker = Recorder::start().await;
    let kms = AwsKms::new(credentials()).unwrap();
    let master_key = MasterKey::aws("us-east-1", ARN).with_endpoint(attacker.endpoint.clone());
    let key_id = Uuid::new();
    // Unwrapping a key whose document was altered to name the attacker's server.
    assert_refused(
        kms.unwrap(&master_key, key_id, &[0x01; 184]).await,
        key_id,
        &attacker.endpoint,
    );
    // Wrapping a new data key under such a master key.
    let key = DataKey::generate(Uuid::new()).unwrap();
    assert_refused(
        kms.wrap(&master_key, &key).await,
        key.id(),
        &attacker.endpoint,
    );
    assert_eq!(attacker.connections().await, 0, "a request reached it");
}

#[tokio::test]
async fn finding_2_a_region_cannot_smuggle_in_a_host() {
    let kms = AwsKms::new(credentials()).unwrap();
    let key_id = Uuid::new();
    for region in [
        "evil.example#",
        "evil.example/",
        "us-east-1.evil.example",
        "user@evil.example",
        "evil.example:443",
        "",
    ] {
        let result = kms
            .unwrap(&MasterKey::aws(region, ARN), key_id, &[0x01; 184])
            .await;
        assert_refused(result, key_id, &format!("kms.{region}.amazonaws.com"));
    }
    // An official endpoint of another region, or on another port, is not the key's.
    for endpoint in [
        "kms.eu-west-1.amazonaws.com",
        "kms.us-east-1.amazonaws.com:8443",
        "kms.us-east-1.amazonaws.com.evil.example",
        "https://kms.us-east-1.amazonaws.com/",
    ] {
        let master_key = MasterKey::aws("us-east-1", ARN).with_endpoint(endpoint);
        assert_refused(
            kms.unwrap(&master_key, key_id, &[1; 184]).await,
            key_id,
            endpoint,
        );
    }
}

#[tokio::test]
async fn finding_2_only_the_application_allows_other_endpoints() {
    let allowed = Recorder::start().await;
    let other = Recorder::start().await;
    let kms = AwsKms::new(credentials())
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap()
        .with_allowed_endpoint(&allowed.endpoint)
        .unwrap();
    let key_id = Uuid::new();
    // The allowed endpoint is reached (and, never answering, times out) ...
    let master_key = MasterKey::aws("us-east-1", ARN).with_endpoint(allowed.endpoint.clone());
    match kms.unwrap(&master_key, key_id, &[1; 184]).await {
        Err(Error::Kms { message, .. }) => assert!(message.contains("in time"), "{message}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(allowed.connections().await >= 1);
    // ... another loopback port is not.
    let master_key = MasterKey::aws("us-east-1", ARN).with_endpoint(other.endpoint.clone());
    assert_refused(
        kms.unwrap(&master_key, key_id, &[1; 184]).await,
        key_id,
        &other.endpoint,
    );
    assert_eq!(other.connections().await, 0);
    // The allow-list takes `host[:port]` only.
    for bad in [
        "https://kms.example",
        "kms.example/path",
        "a@kms.example",
        "",
    ] {
        match AwsKms::new(credentials())
            .unwrap()
            .with_allowed_endpoint(bad)
        {
            Err(Error::Kms {
                provider, message, ..
            }) => {
                assert_eq!(provider, "aws");
                assert!(message.contains(bad), "{message}");
            }
            other => panic!("expected `{bad}` to be refused, got {other:?}"),
        }
    }
}

/// A CA and a certificate it signs for 127.0.0.1, made with `openssl` for this test.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("encrypted-kms-hardening-{name}-{}", Uuid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .current_dir(&dir)
                .args(args)
                .output()
                .expect("openssl is needed to make the test's certificates");
            assert!(output.status.success(), "openssl {args:?}: {output:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-days",
                    "2",
                    "-subj",
                    "/CN=kms hardening CA",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"],
                &ec[..],
                &[
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ]);
        Self { dir }
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    fn acceptor(&self) -> TlsAcceptor {
        let certificates = CertificateDer::pem_slice_iter(&self.read("server.pem"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(&self.read("server.key")).unwrap();
        let config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the hostile KMS answers.
#[derive(Clone, Copy)]
enum Reply {
    /// Announces a body of 1 GiB, and sends it.
    AnnouncedHuge,
    /// Sends a chunked body that never ends.
    EndlessChunks,
    /// Announces a small body, then sends one byte every 100 ms.
    Trickle,
}

/// A TLS server on loopback answering every request with `reply`; counts the body
/// bytes it managed to send.
async fn hostile_kms(pki: &Pki, reply: Reply) -> (String, Arc<AtomicUsize>) {
    let acceptor = pki.acceptor();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                // The request: headers, then (whatever) body; answer once the headers are in.
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head: &[u8] = match reply {
                    Reply::AnnouncedHuge => b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 1073741824\r\n\r\n",
                    Reply::EndlessChunks => b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ntransfer-encoding: chunked\r\n\r\n",
                    Reply::Trickle => b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 100\r\n\r\n",
                };
                if tls.write_all(head).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 16 * 1024];
                loop {
                    let written = match reply {
                        Reply::AnnouncedHuge => tls.write_all(&chunk).await.map(|()| chunk.len()),
                        Reply::EndlessChunks => {
                            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                            framed.extend_from_slice(&chunk);
                            framed.extend_from_slice(b"\r\n");
                            tls.write_all(&framed).await.map(|()| chunk.len())
                        }
                        Reply::Trickle => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            tls.write_all(b" ").await.map(|()| 1)
                        }
                    };
                    match written.and(tls.flush().await) {
                        Ok(()) => {
                            counter.fetch_add(written_len(reply, chunk.len()), Ordering::SeqCst)
                        }
                        Err(_) => return,
                    };
                }
            });
        }
    });
    (endpoint, sent)
}

fn written_len(reply: Reply, chunk: usize) -> usize {
    match reply {
        Reply::Trickle => 1,
        Reply::AnnouncedHuge | Reply::EndlessChunks => chunk,
    }
}

fn kms_for(pki: &Pki, endpoint: &str, timeout: Duration) -> AwsKms {
    AwsKms::new(credentials())
        .unwrap()
        .with_timeout(timeout)
        .unwrap()
        .with_allowed_endpoint(endpoint)
        .unwrap()
        .with_tls(TlsOptions::new().with_ca_pem(pki.read("ca.pem")).unwrap())
        .unwrap()
}

/// Unwraps through the hostile KMS; returns the KMS error's message and how long it took.
async fn unwrap_through(kms: &AwsKms, endpoint: &str) -> (String, Duration) {
    let master_key = MasterKey::aws("us-east-1", ARN).with_endpoint(endpoint);
    let started = Instant::now();
    let result = kms.unwrap(&master_key, Uuid::new(), &[1; 184]).await;
    let elapsed = started.elapsed();
    match result {
        Err(Error::Kms {
            provider, message, ..
        }) => {
            assert_eq!(provider, "aws");
            (message, elapsed)
        }
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

#[tokio::test]
async fn finding_3_an_announced_oversized_kms_reply_is_refused_unread() {
    let pki = Pki::new("huge");
    let (endpoint, sent) = hostile_kms(&pki, Reply::AnnouncedHuge).await;
    let kms = kms_for(&pki, &endpoint, Duration::from_secs(20));
    let (message, elapsed) = unwrap_through(&kms, &endpoint).await;
    assert!(
        message.contains(&format!("longer than {MAX_KMS_REPLY_BYTES} bytes")),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    // The server could push at most what the sockets buffer, never the gigabyte.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sent.load(Ordering::SeqCst) < 64 * 1024 * 1024);
}

#[tokio::test]
async fn finding_3_an_endless_kms_reply_is_cut_at_the_cap() {
    let pki = Pki::new("endless");
    let (endpoint, _) = hostile_kms(&pki, Reply::EndlessChunks).await;
    let timeout = Duration::from_secs(20);
    let kms = kms_for(&pki, &endpoint, timeout);
    let (message, elapsed) = unwrap_through(&kms, &endpoint).await;
    assert!(
        message.contains(&format!("longer than {MAX_KMS_REPLY_BYTES} bytes")),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn finding_3_a_trickled_kms_reply_times_out() {
    let pki = Pki::new("trickle");
    let (endpoint, sent) = hostile_kms(&pki, Reply::Trickle).await;
    let kms = kms_for(&pki, &endpoint, Duration::from_millis(800));
    let (message, elapsed) = unwrap_through(&kms, &endpoint).await;
    assert!(message.contains("in time"), "{message}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // The headers came at once and some body bytes followed: the body was timed out.
    assert!(sent.load(Ordering::SeqCst) >= 1);
}

#[test]
fn finding_12_tls_pem_that_holds_no_certificate_is_refused() {
    let pki = Pki::new("pem");
    for not_a_ca in [
        b"this is not a certificate".to_vec(),
        Vec::new(),
        pki.read("server.key"),
        [pki.read("ca.pem"), pki.read("server.key")].concat(),
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec(),
    ] {
        assert!(
            matches!(
                TlsOptions::new().with_ca_pem(&not_a_ca),
                Err(Error::KmsTls { .. })
            ),
            "{}",
            String::from_utf8_lossy(&not_a_ca)
        );
    }
    // A bundle with comments between certificates is fine.
    let bundle = [
        b"# our CA\n".to_vec(),
        pki.read("ca.pem"),
        b"# the server\n".to_vec(),
        pki.read("server.pem"),
    ]
    .concat();
    TlsOptions::new().with_ca_pem(bundle).unwrap();

    let identity = [pki.read("server.pem"), pki.read("server.key")].concat();
    TlsOptions::new()
        .with_client_identity_pem(identity)
        .unwrap();
    for not_an_identity in [
        b"this is not a certificate".to_vec(),
        pki.read("server.pem"),
        pki.read("server.key"),
        [
            pki.read("server.pem"),
            pki.read("server.key"),
            pki.read("ca.key"),
        ]
        .concat(),
    ] {
        match TlsOptions::new().with_client_identity_pem(not_an_identity) {
            Err(Error::KmsTls { reason }) => {
                assert!(!reason.contains("PRIVATE KEY-----"), "{reason}");
            }
            other => panic!("expected a TLS settings error, got {other:?}"),
        }
    }
}
