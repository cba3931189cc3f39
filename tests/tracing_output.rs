//! What the `tracing` feature records during a MedcoMD-like run (a data key under a
//! local master key, explicit encryption, typed insert and find, an eviction from the
//! key cache, a rewrap to AWS KMS, a decryption through AWS, a deletion): the key vault
//! and KMS spans are there with their fields, and no captured text holds a secret —
//! master key or data key bytes, AWS credentials, plaintext values, alternate names.
//!
//! Needs `MONGODB_URI` and the AWS KMS emulator
//! (`scripts/kms-emulator run -- scripts/local-server run -- cargo test --test tracing_output`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/medco.rs"]
mod medco;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{Bson, Document, doc};
use encrypted::kms::{AwsCredentials, AwsKms, KmsProviders, LocalKms, TlsOptions};
use encrypted::{
    Algorithm, ClientEncryption, Encrypted, EncryptedCollection, KeyRef, LocalMasterKey, MasterKey,
    Namespace, RewrapProgress,
};
use test_support::secrets::holds_no_key_bytes;
use test_support::server;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use medco::{Patient, jon_doe};

/// A span or an event as the recorder saw it.
#[derive(Clone, Debug)]
struct Captured {
    /// `span` or `event`.
    kind: &'static str,
    /// The span's name, or the event's message.
    name: String,
    level: tracing::Level,
    target: String,
    fields: BTreeMap<String, String>,
    /// The names of the spans it sits in, outermost first.
    scope: Vec<String>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} [{}] {} {:?}",
            self.level,
            self.kind,
            self.target,
            self.scope.join(">"),
            self.name,
            self.fields
        )
    }
}

#[derive(Default)]
struct State {
    spans: BTreeMap<u64, usize>,
    /// The entered spans, innermost last (one thread: a current-thread runtime).
    stack: Vec<u64>,
    captured: Vec<Captured>,
}

/// A subscriber that records every span (with the fields recorded later) and every
/// event, at every level. Installed for one test's thread only (`set_default`).
#[derive(Clone, Default)]
struct Recorder {
    next_id: Arc<AtomicU64>,
    state: Arc<Mutex<State>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").replace('"', ""),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Recorder {
    fn scope(state: &State) -> Vec<String> {
        state
            .stack
            .iter()
            .filter_map(|id| state.spans.get(id))
            .map(|&index| state.captured[index].name.clone())
            .collect()
    }

    fn captured(&self) -> Vec<Captured> {
        self.state.lock().unwrap().captured.clone()
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut state = self.state.lock().unwrap();
        let scope = Self::scope(&state);
        let metadata = attributes.metadata();
        state.captured.push(Captured {
            kind: "span",
            name: metadata.name().to_owned(),
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            fields,
            scope,
        });
        let index = state.captured.len() - 1;
        state.spans.insert(id, index);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut state = self.state.lock().unwrap();
        if let Some(&index) = state.spans.get(&span.into_u64()) {
            values.record(&mut Fields(&mut state.captured[index].fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let mut state = self.state.lock().unwrap();
        let scope = Self::scope(&state);
        let metadata = event.metadata();
        state.captured.push(Captured {
            kind: "event",
            name: fields.remove("message").unwrap_or_default(),
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            fields,
            scope,
        });
    }

    fn enter(&self, span: &Id) {
        self.state.lock().unwrap().stack.push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut state = self.state.lock().unwrap();
        if let Some(at) = state.stack.iter().rposition(|id| *id == span.into_u64()) {
            state.stack.remove(at);
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run `scripts/kms-emulator run -- scripts/local-server run -- \
             cargo test --test tracing_output`"
        )
    })
}

/// Credentials the emulator accepts (it checks none) and that appear nowhere else: the
/// emulator's own are `test`, which the database names hold too.
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/tracing+SECRET+q8Zx";
const AWS_TOKEN: &str = "FwoGZXIvYXdzEtracingSESSIONtoken/7Qm2";

fn aws() -> AwsKms {
    let credentials =
        AwsCredentials::new("AKIDTRACINGTEST", AWS_SECRET).with_session_token(AWS_TOKEN);
    AwsKms::new(credentials)
        .unwrap()
        .with_allowed_endpoint(&env("ENCRYPTED_TEST_AWS_ENDPOINT"))
        .unwrap()
        .with_tls(
            TlsOptions::new()
                .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_AWS_CA_FILE")).unwrap())
                .unwrap(),
        )
        .unwrap()
}

fn aws_master_key() -> MasterKey {
    MasterKey::aws(
        env("ENCRYPTED_TEST_AWS_REGION"),
        env("ENCRYPTED_TEST_AWS_KEY_ARN"),
    )
    .with_endpoint(env("ENCRYPTED_TEST_AWS_ENDPOINT"))
}

/// The captured records matching `kind` and `name` whose fields include `fields`.
fn find<'a>(
    captured: &'a [Captured],
    kind: &str,
    name: &str,
    fields: &[(&str, &str)],
) -> Vec<&'a Captured> {
    captured
        .iter()
        .filter(|c| c.kind == kind && c.name == name)
        .filter(|c| fields.iter().all(|(k, v)| c.field(k) == Some(*v)))
        .collect()
}

#[track_caller]
fn expect<'a>(
    captured: &'a [Captured],
    kind: &str,
    name: &str,
    fields: &[(&str, &str)],
) -> &'a Captured {
    let found = find(captured, kind, name, fields);
    let Some(first) = found.first() else {
        let all: Vec<String> = captured.iter().map(ToString::to_string).collect();
        panic!(
            "no {kind} `{name}` with {fields:?} among:\n{}",
            all.join("\n")
        );
    };
    first
}

#[tokio::test]
async fn tracing_shows_key_vault_and_kms_spans_with_no_secret_in_them() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());

    let dir = std::env::temp_dir().join(format!("tracing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let master_bytes = LocalMasterKey::generate_bytes().unwrap();
    let master_file = dir.join("master-key.bin");
    std::fs::write(&master_file, master_bytes.as_slice()).unwrap();
    // The data key's bytes, chosen here so that the test knows them.
    let data_key_bytes: Vec<u8> = (0..96u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
    let data_key_file = dir.join("data-key.bin");
    std::fs::write(&data_key_file, &data_key_bytes).unwrap();

    let db_name = server::unique_db("tracing");
    let client = server::client().await;
    let namespace = Namespace::new(&db_name, "__keyVault");
    let local = LocalKms::new(LocalMasterKey::from_bytes(master_bytes.as_slice()).unwrap());
    let encryption =
        ClientEncryption::builder(client.clone(), KmsProviders::new().with(local).with(aws()))
            .key_vault_namespace(namespace.clone())
            .key_cache_ttl(Duration::from_millis(300))
            .build();

    // B: the data key, under the local master key.
    let id = encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["medco-key"])
        .key_material(data_key_bytes.clone())
        .await
        .unwrap();

    // Explicit encryption by alternate name, decryption by id.
    let ssn = encryption
        .encrypt(
            Bson::Int32(241_014_209),
            KeyRef::AltName("medco-key".into()),
            Algorithm::Deterministic,
        )
        .await
        .unwrap();
    assert_eq!(
        encryption.decrypt(&ssn).await.unwrap(),
        Bson::Int32(241_014_209)
    );

    // E: typed insert and find.
    let patients = EncryptedCollection::<Patient>::new(
        &client.database(&db_name).collection::<Document>("patients"),
        &encryption,
    );
    patients.insert_one(jon_doe()).await.unwrap();
    let found = patients
        .find_one(Patient::fields().ssn().eq(241_014_209))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, jon_doe());

    // The cached key expires; the next miss evicts it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    encryption.decrypt(&ssn).await.unwrap();

    // F: the data key moves to AWS KMS.
    let mut progress = Vec::new();
    let result = encryption
        .rewrap_many_data_key(doc! {}, Some(aws_master_key()))
        .on_progress(|event| progress.push(event))
        .await
        .unwrap();
    assert_eq!(result.rewrapped, vec![id]);
    assert_eq!(progress.len(), 2, "{progress:?}");
    assert!(matches!(
        progress[0],
        RewrapProgress::Started { total: 1, .. }
    ));
    assert!(
        matches!(&progress[1], RewrapProgress::Rewrapped { id: done, from, to, .. }
            if *done == id && from == "local" && to == "aws"),
        "{progress:?}"
    );

    // A fresh handle with AWS alone reads the value: an unwrap through AWS KMS.
    let aws_only = ClientEncryption::builder(client.clone(), KmsProviders::new().with(aws()))
        .key_vault_namespace(namespace.clone())
        .build();
    assert_eq!(
        aws_only.decrypt(&ssn).await.unwrap(),
        Bson::Int32(241_014_209)
    );
    assert!(aws_only.delete_key(id).await.unwrap());

    drop(_default);
    let captured = recorder.captured();
    let id_text = id.to_string();
    let ns = namespace.to_string();
    let endpoint = env("ENCRYPTED_TEST_AWS_ENDPOINT");
    let (host, port) = endpoint.rsplit_once(':').unwrap();

    // Key vault reads: by alternate name (the name itself is not recorded) and by id,
    // with the namespace, what was found and how long it took.
    let by_name = expect(
        &captured,
        "span",
        "key_vault_read",
        &[
            ("db.operation", "getKeyByAltName"),
            ("filter", "alt_name"),
            ("db.namespace", &ns),
            ("db.system", "mongodb"),
            ("key.id", &id_text),
        ],
    );
    assert_eq!(by_name.target, "encrypted_core::key_vault");
    assert_eq!(by_name.level, tracing::Level::DEBUG);
    expect(
        &captured,
        "span",
        "key_vault_read",
        &[
            ("db.operation", "getKey"),
            ("filter", "id"),
            ("key.id", &id_text),
        ],
    );
    let read = expect(&captured, "event", "key vault read", &[("found", "true")]);
    assert!(read.fields.contains_key("duration_ms"), "{read}");
    assert_eq!(read.scope, ["key_vault_read"], "{read}");
    expect(
        &captured,
        "span",
        "key_vault_read",
        &[("db.operation", "rewrapManyDataKey"), ("filter", "query")],
    );

    // KMS calls: provider, operation, key id; the AWS ones with their endpoint host and
    // HTTP status, nested in the call's span; outcomes and durations.
    for (provider, operation) in [
        ("local", "wrap"),
        ("local", "unwrap"),
        ("aws", "wrap"),
        ("aws", "unwrap"),
    ] {
        expect(
            &captured,
            "span",
            "kms",
            &[
                ("kms.provider", provider),
                ("kms.operation", operation),
                ("key.id", &id_text),
            ],
        );
    }
    for target in ["TrentService.Encrypt", "TrentService.Decrypt"] {
        let request = expect(
            &captured,
            "span",
            "kms_request",
            &[
                ("kms.provider", "aws"),
                ("rpc.method", target),
                ("server.address", host),
                ("server.port", port),
            ],
        );
        assert_eq!(request.target, "encrypted_core::kms");
        assert_eq!(request.scope.last().map(String::as_str), Some("kms"));
    }
    let http = expect(
        &captured,
        "event",
        "kms call",
        &[("outcome", "ok"), ("http.response.status_code", "200")],
    );
    assert_eq!(http.scope.last().map(String::as_str), Some("kms_request"));
    let call = expect(&captured, "event", "kms call", &[("outcome", "ok")]);
    assert!(call.fields.contains_key("duration_ms"), "{call}");

    // The key cache: misses, loads and the eviction of the expired key, by key id.
    expect(
        &captured,
        "event",
        "key cache miss: loading",
        &[("key.id", &id_text)],
    );
    expect(
        &captured,
        "event",
        "key cache load",
        &[("key.id", &id_text)],
    );
    expect(
        &captured,
        "event",
        "key cache eviction: expired",
        &[("key.id", &id_text)],
    );

    // The key's lifecycle and the rewrap, at INFO for lifecycle and the summary.
    let created = expect(
        &captured,
        "event",
        "data key created",
        &[("key.id", &id_text), ("kms.provider", "local")],
    );
    assert_eq!(created.level, tracing::Level::INFO);
    expect(
        &captured,
        "event",
        "rewrap key",
        &[
            ("key.id", &id_text),
            ("from", "local"),
            ("to", "aws"),
            ("outcome", "rewrapped"),
        ],
    );
    let summary = expect(&captured, "event", "rewrap done", &[("rewrapped", "1")]);
    assert_eq!(summary.level, tracing::Level::INFO);
    let deleted = expect(
        &captured,
        "event",
        "data key deleted",
        &[("key.id", &id_text), ("deleted", "true")],
    );
    assert_eq!(deleted.level, tracing::Level::INFO);

    // Nothing at TRACE (no record per cache hit or per value), nothing at ERROR (the
    // caller decides what an error is worth).
    let ours: Vec<&Captured> = captured
        .iter()
        .filter(|c| c.target.starts_with("encrypted_core"))
        .collect();
    assert!(
        ours.iter()
            .all(|c| c.level != tracing::Level::TRACE && c.level != tracing::Level::ERROR),
        "{ours:?}"
    );

    // No secret anywhere in what was recorded.
    let text: String = captured.iter().map(|c| format!("{c}\n")).collect();
    holds_no_key_bytes(&text, &master_file);
    holds_no_key_bytes(&text, &data_key_file);
    for secret in [AWS_SECRET, AWS_TOKEN, "tracing+SECRET", "SESSIONtoken"] {
        assert!(!text.contains(secret), "an AWS secret was recorded");
    }
    for plaintext in [
        "241014209",
        "AB+",
        "120/80",
        "123142",
        "medco-key",
        "keyMaterial",
    ] {
        assert!(
            !text.contains(plaintext),
            "`{plaintext}` was recorded:\n{text}"
        );
    }

    client.database(&db_name).drop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
