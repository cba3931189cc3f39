//! `insert_many` of 10 000 MedcoMD patients and `find` of them back, through the typed
//! encrypted collection and through a plain driver collection of the same struct, on a
//! live server (`MONGODB_URI`), in one run.
//!
//! `scripts/local-server run -- cargo bench --bench collection`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../tests/common/medco.rs"]
mod medco;

use std::time::{Duration, Instant};

use bson::Document;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::model::Filter;
use encrypted::{ClientEncryption, EncryptedCollection, LocalMasterKey, MasterKey, Namespace};
use futures_util::TryStreamExt;
use medco::Patient;

const PATIENTS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let uri = std::env::var("MONGODB_URI").expect(
        "MONGODB_URI is not set: run `scripts/local-server run -- cargo bench --bench collection`",
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime
        .block_on(mongodb::Client::with_uri_str(&uri))
        .unwrap();
    let db_name = format!("bench_{}", bson::Uuid::new().to_string().replace('-', ""));
    let db = client.database(&db_name);
    let kms = KmsProviders::new().with(LocalKms::new(
        LocalMasterKey::from_bytes(&[0x42; 96]).unwrap(),
    ));
    let encryption = ClientEncryption::builder(client.clone(), kms)
        .key_vault_namespace(Namespace::new(&db_name, "__keyVault"))
        .build();
    runtime
        .block_on(async {
            encryption
                .create_data_key(MasterKey::local())
                .key_alt_names(["medco-key"])
                .await
        })
        .unwrap();
    let patients: Vec<Patient> = (0..PATIENTS as i32).map(medco::patient).collect();
    let encrypted =
        EncryptedCollection::<Patient>::new(&db.collection::<Document>("encrypted"), &encryption);
    let plain = db.collection::<Patient>("plain");

    let mut insert = c.benchmark_group("insert_many/10000-patients");
    insert
        .sample_size(10)
        .throughput(Throughput::Elements(PATIENTS as u64));
    insert.bench_function("encrypted", |b| {
        b.iter_custom(|iterations| {
            time_inserts(&runtime, iterations, &encrypted.plain(), async || {
                encrypted.insert_many(&patients).await.unwrap();
            })
        })
    });
    insert.bench_function("plaintext", |b| {
        b.iter_custom(|iterations| {
            time_inserts(&runtime, iterations, &plain, async || {
                plain.insert_many(&patients).await.unwrap();
            })
        })
    });
    // The same encrypted documents, encrypted beforehand and sent by the plain driver:
    // what storing the larger ciphertext documents costs the server, without our client.
    let encrypted_documents: Vec<bson::RawDocumentBuf> = runtime.block_on(async {
        let mut documents = Vec::new();
        for patient in &patients {
            documents.push(encrypted.encode(patient).await.unwrap());
        }
        documents
    });
    let raw = db.collection::<bson::RawDocumentBuf>("pre_encrypted");
    insert.bench_function("pre-encrypted-by-plain-driver", |b| {
        b.iter_custom(|iterations| {
            time_inserts(&runtime, iterations, &raw, async || {
                raw.insert_many(&encrypted_documents).await.unwrap();
            })
        })
    });
    insert.finish();

    // The find group reads what it stores itself, so that it also runs alone
    // (`cargo bench --bench collection -- find`).
    runtime.block_on(async {
        encrypted.plain().drop().await.unwrap();
        encrypted.insert_many(&patients).await.unwrap();
        plain.drop().await.unwrap();
        plain.insert_many(&patients).await.unwrap();
    });
    let mut find = c.benchmark_group("find/10000-patients");
    find.sample_size(10)
        .throughput(Throughput::Elements(PATIENTS as u64));
    find.bench_function("encrypted", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    let all: Vec<Patient> = encrypted
                        .find(Filter::all())
                        .await
                        .unwrap()
                        .try_collect()
                        .await
                        .unwrap();
                    assert_eq!(all.len(), PATIENTS);
                }
                start.elapsed()
            })
        })
    });
    find.bench_function("plaintext", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    let all: Vec<Patient> = plain
                        .find(Document::new())
                        .await
                        .unwrap()
                        .try_collect()
                        .await
                        .unwrap();
                    assert_eq!(all.len(), PATIENTS);
                }
                start.elapsed()
            })
        })
    });
    find.finish();
    runtime.block_on(async { db.drop().await }).unwrap();
}

/// Runs `insert` `iterations` times into an emptied `target`, timing the inserts only.
fn time_inserts<T: Send + Sync>(
    runtime: &tokio::runtime::Runtime,
    iterations: u64,
    target: &mongodb::Collection<T>,
    insert: impl AsyncFn(),
) -> Duration {
    runtime.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iterations {
            target.drop().await.unwrap();
            let start = Instant::now();
            insert().await;
            total += start.elapsed();
        }
        total
    })
}

criterion_group!(benches, bench);
criterion_main!(benches);
