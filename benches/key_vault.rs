//! `ClientEncryption` on a live server (`MONGODB_URI`): explicit encryption with a cached
//! key from 1, 8 and 64 concurrent tasks, the latency of a cold key (key vault read,
//! unwrap, encrypt), and a cold start with per-document keys: `insert_many` and `find` of
//! 1 000 documents under 100 data keys with an empty key cache each time.
//!
//! `scripts/local-server run -- cargo bench --bench key_vault` (`-- cold_start` for the
//! last alone)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use bson::{Bson, Document};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::model::Filter;
use encrypted::{
    Algorithm, ClientEncryption, Encrypted, EncryptedCollection, KeyRef, LocalMasterKey, MasterKey,
    Namespace,
};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

/// The cold start: this many documents, under this many per-document keys.
const DOCUMENTS: usize = 1_000;
const OWNERS: usize = 100;

/// A document encrypted under its owner's own data key (alternate name = `owner`).
#[derive(Serialize, Deserialize, Encrypted, Clone)]
struct Note {
    owner: String,
    #[encrypt(random, key_alt_name_field = "owner")]
    body: String,
}

fn handle(client: mongodb::Client, db: &str) -> ClientEncryption {
    let kms = KmsProviders::new().with(LocalKms::new(
        LocalMasterKey::from_bytes(&[0x42; 96]).unwrap(),
    ));
    ClientEncryption::builder(client, kms)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

fn bench(c: &mut Criterion) {
    let uri = std::env::var("MONGODB_URI").expect(
        "MONGODB_URI is not set: run `scripts/local-server run -- cargo bench --bench key_vault`",
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = format!("bench_{}", bson::Uuid::new().to_string().replace('-', ""));
    let client = runtime
        .block_on(mongodb::Client::with_uri_str(&uri))
        .unwrap();
    let encryption = handle(client.clone(), &db);
    let id = runtime
        .block_on(
            encryption
                .create_data_key(MasterKey::local())
                .key_alt_names(["bench"])
                .into_future(),
        )
        .unwrap();
    // Warm the cache.
    runtime
        .block_on(encryption.encrypt(Bson::Int32(0), KeyRef::Id(id), Algorithm::Deterministic))
        .unwrap();

    let mut group = c.benchmark_group("explicit_encrypt_cached_key");
    group.throughput(Throughput::Elements(1));
    for tasks in [1u64, 8, 64] {
        group.bench_with_input(BenchmarkId::new("tasks", tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iters| {
                let per_task = iters.div_ceil(tasks);
                runtime.block_on(async {
                    let start = Instant::now();
                    let handles: Vec<_> = (0..tasks)
                        .map(|t| {
                            let encryption = encryption.clone();
                            tokio::spawn(async move {
                                for i in 0..per_task {
                                    let value = Bson::Int32((t * per_task + i) as i32);
                                    encryption
                                        .encrypt(value, KeyRef::Id(id), Algorithm::Deterministic)
                                        .await
                                        .unwrap();
                                }
                            })
                        })
                        .collect();
                    for handle in handles {
                        handle.await.unwrap();
                    }
                    // Time per operation as criterion counts them.
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_task * tasks) as f64)
                })
            });
        });
    }
    group.finish();

    let mut cold = c.benchmark_group("cold_key");
    cold.bench_function("vault_read_unwrap_encrypt", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let fresh = handle(client.clone(), &db); // empty key cache
                    let start = Instant::now();
                    fresh
                        .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Deterministic)
                        .await
                        .unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    });
    cold.finish();

    cold_start(c, &runtime, &client, &db);
    runtime
        .block_on(client.database(&db).drop().into_future())
        .unwrap();
}

/// `insert_many` and `find` of `DOCUMENTS` notes under `OWNERS` keys, each iteration
/// through a new handle: every key is loaded from the key vault and unwrapped again.
fn cold_start(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    client: &mongodb::Client,
    db: &str,
) {
    let owners: Vec<String> = (0..OWNERS).map(|n| format!("owner-{n}")).collect();
    runtime.block_on(async {
        let setup = handle(client.clone(), db);
        for owner in &owners {
            setup
                .create_data_key(MasterKey::local())
                .key_alt_names([owner.as_str()])
                .await
                .unwrap();
        }
    });
    let notes: Vec<Note> = (0..DOCUMENTS)
        .map(|n| Note {
            owner: owners[n % OWNERS].clone(),
            body: format!("note {n}"),
        })
        .collect();
    let inserted = client.database(db).collection::<Document>("cold_insert");
    let read = client.database(db).collection::<Document>("cold_find");
    runtime.block_on(async {
        EncryptedCollection::<Note>::new(&read, &handle(client.clone(), db))
            .insert_many(notes.clone())
            .await
            .unwrap();
    });

    let mut group = c.benchmark_group("cold_start");
    group.sample_size(10);
    group.throughput(Throughput::Elements(DOCUMENTS as u64));
    group.bench_function("insert_many_1000_docs_100_keys", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    inserted.delete_many(bson::doc! {}).await.unwrap();
                    let fresh = handle(client.clone(), db); // empty key cache
                    let collection = EncryptedCollection::<Note>::new(&inserted, &fresh);
                    let start = Instant::now();
                    collection.insert_many(notes.clone()).await.unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    });
    group.bench_function("find_1000_docs_100_keys", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let fresh = handle(client.clone(), db); // empty key cache
                    let collection = EncryptedCollection::<Note>::new(&read, &fresh);
                    let start = Instant::now();
                    let found: Vec<Note> = collection
                        .find(Filter::all())
                        .await
                        .unwrap()
                        .try_collect()
                        .await
                        .unwrap();
                    total += start.elapsed();
                    assert_eq!(found.len(), DOCUMENTS);
                }
                total
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
