//! On-demand AWS credentials (issue 12, point 4): each way of getting them, against
//! local servers that speak the documented protocols strictly: an EC2 instance
//! metadata service that only answers IMDSv2 (a session token from `PUT
//! /latest/api/token`, then every read carrying it), an ECS credentials endpoint, and
//! STS `AssumeRoleWithWebIdentity` checking the role and the token from the file. A
//! loopback KMS accepts a request only when it is signed with credentials the servers
//! issued, carries their session token, and arrives before they stop working: so
//! caching, refresh before expiry, and the order of the sources are all checked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/http_server.rs"]
mod http_server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::Uuid;
use encrypted::kms::{AwsCredentials, AwsKms, KmsErrorKind, KmsProvider, TlsOptions};
use encrypted::{DataKey, Error, MasterKey};
use http_server::{Pki, Request, Response, TestServer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000";
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/kms-user";
const ROLE: &str = "kms-user";

/// Credentials the metadata servers hand out, and until when the KMS accepts each.
#[derive(Clone, Default)]
struct Issuer {
    /// session token → (access key id, accepted until)
    issued: Arc<Mutex<BTreeMap<String, Grant>>>,
    count: Arc<AtomicUsize>,
}

type Grant = (String, Instant);

struct Issued {
    id: String,
    secret: String,
    token: String,
    /// What the endpoint announces: RFC 3339.
    expiration: String,
    /// Seconds since the epoch (STS's JSON).
    expiration_seconds: f64,
}

impl Issuer {
    /// New credentials announced to expire in `announced`, accepted by the KMS for
    /// `accepted` (shorter: the client must refresh early, not at the last moment).
    fn issue(&self, announced: Duration, accepted: Duration) -> Issued {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        let issued = Issued {
            id: format!("ASIATEST{n:08}"),
            secret: format!("secret-{}", Uuid::new()),
            token: format!("token-{}", Uuid::new()),
            expiration: bson::DateTime::now()
                .saturating_add_duration(announced)
                .try_to_rfc3339_string()
                .unwrap(),
            expiration_seconds: (bson::DateTime::now()
                .saturating_add_duration(announced)
                .timestamp_millis() as f64)
                / 1000.0,
        };
        self.issued.lock().unwrap().insert(
            issued.token.clone(),
            (issued.id.clone(), Instant::now() + accepted),
        );
        issued
    }

    /// Registers credentials the application has (the environment's).
    fn register(&self, id: &str, token: &str) {
        self.issued.lock().unwrap().insert(
            token.to_owned(),
            (id.to_owned(), Instant::now() + Duration::from_secs(3600)),
        );
    }

    fn issued(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// A KMS answering `Encrypt` only for requests with a live issued session token, signed
/// with that token's access key id.
async fn kms(pki: &Pki, issuer: &Issuer) -> TestServer {
    let issuer = issuer.clone();
    TestServer::tls(pki, move |request: &Request| {
        let refuse = |kind: &str| Response::json(400, json!({ "__type": kind }));
        let Some(token) = request.header("x-amz-security-token") else {
            return refuse("MissingAuthenticationTokenException");
        };
        let issued = issuer.issued.lock().unwrap();
        let Some((id, until)) = issued.get(token) else {
            return refuse("UnrecognizedClientException");
        };
        if Instant::now() >= *until {
            return refuse("ExpiredTokenException");
        }
        let signed_by = format!("Credential={id}/");
        if !request
            .header("authorization")
            .is_some_and(|authorization| authorization.contains(&signed_by))
        {
            return refuse("IncompleteSignatureException");
        }
        Response::json(
            200,
            json!({ "CiphertextBlob": "BwcH".repeat(61), "KeyId": ARN }),
        )
    })
    .await
}

/// An EC2 instance metadata service that speaks IMDSv2 only, as EC2's does when
/// IMDSv1 is off: no session token, no answer.
struct Imds {
    server: TestServer,
    credential_reads: Arc<AtomicUsize>,
}

async fn imds(issuer: &Issuer, announced: Duration, accepted: Duration) -> Imds {
    let issuer = issuer.clone();
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let credential_reads = Arc::new(AtomicUsize::new(0));
    let reads = credential_reads.clone();
    let server = TestServer::plain(move |request: &Request| {
        // EC2 refuses what came through a proxy.
        if request.header("x-forwarded-for").is_some() {
            return Response::text(403, "Forbidden");
        }
        if request.target == "/latest/api/token" {
            let ttl_ok = request
                .header("x-aws-ec2-metadata-token-ttl-seconds")
                .and_then(|ttl| ttl.parse::<u32>().ok())
                .is_some_and(|ttl| (1..=21_600).contains(&ttl));
            return if request.method != "PUT" {
                Response::text(405, "Method Not Allowed")
            } else if !ttl_ok {
                Response::text(400, "Bad Request")
            } else {
                let token = format!("imds-{}", Uuid::new());
                tokens.lock().unwrap().push(token.clone());
                Response::text(200, &token)
            };
        }
        let authorized = request
            .header("x-aws-ec2-metadata-token")
            .is_some_and(|token| tokens.lock().unwrap().iter().any(|t| t == token));
        if request.method != "GET" {
            return Response::text(405, "Method Not Allowed");
        }
        if !authorized {
            return Response::text(401, "Unauthorized");
        }
        match request.target.as_str() {
            "/latest/meta-data/iam/security-credentials/" => Response::text(200, ROLE),
            path if path == format!("/latest/meta-data/iam/security-credentials/{ROLE}") => {
                reads.fetch_add(1, Ordering::SeqCst);
                let issued = issuer.issue(announced, accepted);
                Response::json(
                    200,
                    json!({
                        "Code": "Success",
                        "LastUpdated": "2026-01-01T00:00:00Z",
                        "Type": "AWS-HMAC",
                        "AccessKeyId": issued.id,
                        "SecretAccessKey": issued.secret,
                        "Token": issued.token,
                        "Expiration": issued.expiration,
                    }),
                )
            }
            _ => Response::text(404, "Not Found"),
        }
    })
    .await;
    Imds {
        server,
        credential_reads,
    }
}

const ECS_PATH: &str = "/v2/credentials/5f0b3c2e-0000-4000-8000-000000000000";

async fn ecs(issuer: &Issuer) -> TestServer {
    let issuer = issuer.clone();
    TestServer::plain(move |request: &Request| {
        if request.method != "GET" || request.target != ECS_PATH {
            return Response::text(404, "Not Found");
        }
        let issued = issuer.issue(Duration::from_secs(3600), Duration::from_secs(3600));
        Response::json(
            200,
            json!({
                "RoleArn": ROLE_ARN,
                "AccessKeyId": issued.id,
                "SecretAccessKey": issued.secret,
                "Token": issued.token,
                "Expiration": issued.expiration,
            }),
        )
    })
    .await
}

/// STS `AssumeRoleWithWebIdentity`, as a form POST answered in JSON.
async fn sts(pki: &Pki, issuer: &Issuer, web_token: &str) -> TestServer {
    let issuer = issuer.clone();
    let web_token = web_token.to_owned();
    TestServer::tls(pki, move |request: &Request| {
        let form: BTreeMap<String, String> = std::str::from_utf8(&request.body)
            .unwrap()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let field = |name: &str| form.get(name).map(String::as_str);
        let error = |code: &str| {
            Response::json(400, json!({ "Error": { "Code": code, "Type": "Sender" } }))
        };
        if request.method != "POST"
            || request.header("content-type") != Some("application/x-www-form-urlencoded")
            || request.header("accept") != Some("application/json")
            || field("Action") != Some("AssumeRoleWithWebIdentity")
            || field("Version") != Some("2011-06-15")
            || field("RoleSessionName").is_none_or(str::is_empty)
        {
            return error("InvalidAction");
        }
        if field("RoleArn") != Some(ROLE_ARN) {
            return error("AccessDenied");
        }
        if field("WebIdentityToken") != Some(web_token.as_str()) {
            return error("InvalidIdentityToken");
        }
        let issued = issuer.issue(Duration::from_secs(3600), Duration::from_secs(3600));
        Response::json(
            200,
            json!({ "AssumeRoleWithWebIdentityResponse": {
                "AssumeRoleWithWebIdentityResult": {
                    "Credentials": {
                        "AccessKeyId": issued.id,
                        "SecretAccessKey": issued.secret,
                        "SessionToken": issued.token,
                        "Expiration": issued.expiration_seconds,
                    },
                    "SubjectFromWebIdentityToken": "system:serviceaccount:default:app",
                },
                "ResponseMetadata": { "RequestId": "00000000-0000-0000-0000-000000000000" },
            }}),
        )
    })
    .await
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// An on-demand provider reading `environment`, trusting `pki`, allowed to reach `kms`.
fn on_demand(pki: &Pki, kms: &TestServer, environment: &[(&str, &str)]) -> AwsKms {
    AwsKms::on_demand()
        .unwrap()
        .with_timeout(Duration::from_secs(5))
        .unwrap()
        .with_credentials_environment(environment.iter().copied())
        .unwrap()
        .with_allowed_endpoint(&kms.authority)
        .unwrap()
        .with_tls(TlsOptions::new().with_ca_pem(pki.ca_pem()).unwrap())
        .unwrap()
}

fn master_key(kms: &TestServer) -> MasterKey {
    MasterKey::aws("us-east-1", ARN).with_endpoint(kms.authority.clone())
}

async fn wrap(aws: &AwsKms, kms: &TestServer) -> encrypted::Result<Vec<u8>> {
    let key = DataKey::generate(Uuid::new()).unwrap();
    aws.wrap(&master_key(kms), &key).await
}

fn kind_of(error: &Error) -> KmsErrorKind {
    match error {
        Error::Kms { kind, .. } => kind.clone(),
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

#[tokio::test]
async fn ec2_instance_credentials_come_from_imdsv2() {
    let (pki, issuer) = (Pki::new("ec2"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    let imds = imds(
        &issuer,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await;
    let aws = on_demand(&pki, &kms, &[])
        .with_ec2_metadata_endpoint(&imds.server.http_url())
        .unwrap();
    wrap(&aws, &kms).await.unwrap();
    let requests = imds.server.requests();
    let steps: Vec<_> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        steps,
        [
            "PUT /latest/api/token".to_owned(),
            "GET /latest/meta-data/iam/security-credentials/".to_owned(),
            format!("GET /latest/meta-data/iam/security-credentials/{ROLE}"),
        ]
    );
    assert_eq!(
        kms.requests().len(),
        1,
        "the KMS accepted the issued credentials"
    );
}

#[tokio::test]
async fn the_test_imds_refuses_a_read_without_its_session_token() {
    let imds = imds(
        &Issuer::default(),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(&imds.server.authority)
        .await
        .unwrap();
    stream
        .write_all(
            b"GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nhost: imds\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(imds.credential_reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn ecs_container_credentials_come_from_the_relative_uri() {
    let (pki, issuer) = (Pki::new("ecs"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    let ecs = ecs(&issuer).await;
    let imds = imds(
        &issuer,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await;
    let aws = on_demand(
        &pki,
        &kms,
        &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ECS_PATH)],
    )
    .with_ecs_endpoint(&ecs.http_url())
    .unwrap()
    .with_ec2_metadata_endpoint(&imds.server.http_url())
    .unwrap();
    wrap(&aws, &kms).await.unwrap();
    assert_eq!(ecs.requests().len(), 1);
    assert!(imds.server.requests().is_empty(), "ECS comes before EC2");
}

#[tokio::test]
async fn web_identity_credentials_come_from_sts() {
    let (pki, issuer) = (Pki::new("sts"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    let web_token = format!("eyJhbGciOiJSUzI1NiJ9.{}.sig+/=", Uuid::new());
    let sts = sts(&pki, &issuer, &web_token).await;
    let ecs = ecs(&issuer).await;
    let token_file = std::env::temp_dir().join(format!("web-identity-{}", Uuid::new()));
    std::fs::write(&token_file, format!("{web_token}\n")).unwrap();
    let aws = on_demand(
        &pki,
        &kms,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_ARN", ROLE_ARN),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ECS_PATH),
        ],
    )
    .with_sts_endpoint(&sts.https_url())
    .unwrap()
    .with_ecs_endpoint(&ecs.http_url())
    .unwrap();
    let result = wrap(&aws, &kms).await;
    result.unwrap();
    assert_eq!(sts.requests().len(), 1);
    assert!(ecs.requests().is_empty(), "web identity comes before ECS");

    // A role STS does not grant is a credentials error, typed and without the token.
    let aws = on_demand(
        &pki,
        &kms,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_ARN", "arn:aws:iam::000000000000:role/other"),
        ],
    )
    .with_sts_endpoint(&sts.https_url())
    .unwrap();
    let result = wrap(&aws, &kms).await;
    std::fs::remove_file(&token_file).unwrap();
    let error = result.unwrap_err();
    assert_eq!(kind_of(&error), KmsErrorKind::Credentials);
    assert!(!format!("{error:?}").contains(&web_token), "{error:?}");
    assert_eq!(sts.requests().len(), 2, "a 4xx is not retried");

    // So is a token file that cannot be read.
    let aws = on_demand(
        &pki,
        &kms,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
            ("AWS_ROLE_ARN", ROLE_ARN),
        ],
    )
    .with_sts_endpoint(&sts.https_url())
    .unwrap();
    let error = wrap(&aws, &kms).await.unwrap_err();
    assert_eq!(kind_of(&error), KmsErrorKind::Credentials);
}

#[tokio::test]
async fn environment_credentials_come_first() {
    let (pki, issuer) = (Pki::new("env"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    let ecs = ecs(&issuer).await;
    issuer.register("AKIAENVIRONMENT", "env-session-token");
    let aws = on_demand(
        &pki,
        &kms,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SESSION_TOKEN", "env-session-token"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ECS_PATH),
        ],
    )
    .with_ecs_endpoint(&ecs.http_url())
    .unwrap();
    wrap(&aws, &kms).await.unwrap();
    assert!(ecs.requests().is_empty());
    assert_eq!(
        kms.requests()[0].header("x-amz-security-token"),
        Some("env-session-token")
    );
    // Neither the secret nor the session token is printed.
    let debug = format!("{aws:?}");
    assert!(
        !debug.contains("env-secret") && !debug.contains("env-session-token"),
        "{debug}"
    );
}

#[tokio::test]
async fn an_access_key_without_its_secret_is_a_credentials_error() {
    let (pki, issuer) = (Pki::new("half"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    let aws = on_demand(&pki, &kms, &[("AWS_ACCESS_KEY_ID", "AKIAHALF")]);
    let error = wrap(&aws, &kms).await.unwrap_err();
    assert_eq!(kind_of(&error), KmsErrorKind::Credentials);
    assert!(
        error.to_string().contains("AWS_SECRET_ACCESS_KEY"),
        "{error}"
    );
    assert!(kms.requests().is_empty());
}

#[tokio::test]
async fn concurrent_requests_share_one_credentials_fetch() {
    let (pki, issuer) = (Pki::new("shared"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    let imds = imds(
        &issuer,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await;
    let aws = on_demand(&pki, &kms, &[])
        .with_ec2_metadata_endpoint(&imds.server.http_url())
        .unwrap();
    let results = futures_util::future::join_all((0..8).map(|_| wrap(&aws, &kms))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    wrap(&aws, &kms).await.unwrap();
    assert_eq!(imds.credential_reads.load(Ordering::SeqCst), 1);
    assert_eq!(kms.requests().len(), 9);
}

#[tokio::test]
async fn credentials_are_refreshed_before_they_expire_mid_run() {
    let (pki, issuer) = (Pki::new("refresh"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    // Announced to expire in 5 minutes and 1 second; the KMS takes them for 2 seconds:
    // a client that refreshes less than 5 minutes early fails after 2 seconds.
    let imds = imds(&issuer, Duration::from_secs(301), Duration::from_secs(2)).await;
    let aws = on_demand(&pki, &kms, &[])
        .with_ec2_metadata_endpoint(&imds.server.http_url())
        .unwrap();
    wrap(&aws, &kms).await.unwrap();
    wrap(&aws, &kms).await.unwrap();
    assert_eq!(
        imds.credential_reads.load(Ordering::SeqCst),
        1,
        "cached while fresh"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    wrap(&aws, &kms).await.unwrap();
    assert_eq!(imds.credential_reads.load(Ordering::SeqCst), 2, "refreshed");
    let tokens: Vec<_> = kms
        .requests()
        .iter()
        .map(|r| r.header("x-amz-security-token").unwrap().to_owned())
        .collect();
    assert_eq!(tokens[0], tokens[1]);
    assert_ne!(tokens[1], tokens[2]);
    assert_eq!(issuer.issued(), 2);
}

#[tokio::test]
async fn an_unreachable_metadata_service_is_a_typed_error_naming_it() {
    let (pki, issuer) = (Pki::new("no-imds"), Issuer::default());
    let kms = kms(&pki, &issuer).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let aws = on_demand(&pki, &kms, &[])
        .with_ec2_metadata_endpoint(&format!("http://127.0.0.1:{port}"))
        .unwrap();
    let error = wrap(&aws, &kms).await.unwrap_err();
    assert_eq!(kind_of(&error), KmsErrorKind::Unreachable);
    assert!(
        error.to_string().contains("EC2 instance metadata service"),
        "{error}"
    );
    assert!(kms.requests().is_empty());
}

#[tokio::test]
async fn credentials_endpoints_are_set_only_by_the_application_and_only_as_endpoints() {
    let aws = AwsKms::on_demand().unwrap();
    for bad in [
        "http://sts.example",
        "https://sts.example/path",
        "https://user@sts.example",
        "sts.example",
    ] {
        assert!(
            AwsKms::on_demand().unwrap().with_sts_endpoint(bad).is_err(),
            "{bad}"
        );
    }
    assert!(
        aws.with_ec2_metadata_endpoint("http://169.254.169.254/latest")
            .is_err()
    );
    // Static credentials have no endpoints to set.
    let fixed = AwsKms::new(AwsCredentials::new("AKID", "secret")).unwrap();
    assert!(matches!(
        fixed.with_ecs_endpoint("http://127.0.0.1:1"),
        Err(Error::Kms {
            kind: KmsErrorKind::Configuration,
            ..
        })
    ));
}

/// moto's STS (the AWS emulator the other AWS tests use), which answers
/// `AssumeRoleWithWebIdentity` in its XML: the credentials it hands out wrap and unwrap
/// a data key with moto's KMS.
#[tokio::test]
async fn web_identity_credentials_from_moto_sts_work_with_moto_kms() {
    use test_support::kms_emulator::env;
    let endpoint = env("ENCRYPTED_TEST_AWS_ENDPOINT");
    let token_file = std::env::temp_dir().join(format!("web-identity-{}", Uuid::new()));
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").unwrap();
    let aws = AwsKms::on_demand()
        .unwrap()
        .with_credentials_environment([
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/kms-user"),
        ])
        .unwrap()
        .with_sts_endpoint(&format!("https://{endpoint}"))
        .unwrap()
        .with_allowed_endpoint(&endpoint)
        .unwrap()
        .with_tls(
            TlsOptions::new()
                .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_AWS_CA_FILE")).unwrap())
                .unwrap(),
        )
        .unwrap();
    let master_key = MasterKey::aws(
        env("ENCRYPTED_TEST_AWS_REGION"),
        env("ENCRYPTED_TEST_AWS_KEY_ARN"),
    )
    .with_endpoint(endpoint);
    let key = DataKey::generate(Uuid::new()).unwrap();
    let wrapped = aws.wrap(&master_key, &key).await;
    std::fs::remove_file(&token_file).unwrap();
    let unwrapped = aws
        .unwrap(&master_key, key.id(), &wrapped.unwrap())
        .await
        .unwrap();
    // The same key: it encrypts deterministically to the same ciphertext.
    let value = bson::Bson::String("moto".to_owned());
    assert_eq!(
        unwrapped
            .encrypt(&value, encrypted::Algorithm::Deterministic)
            .unwrap(),
        key.encrypt(&value, encrypted::Algorithm::Deterministic)
            .unwrap()
    );
}
