//! `ClientEncryption` on a live server (`MONGODB_URI`): explicit encryption with a cached
//! key from 1, 8 and 64 concurrent tasks, and the latency of a cold key (key vault read,
//! unwrap, encrypt).
//!
//! `scripts/local-server run -- cargo bench --bench key_vault`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use bson::Bson;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::{Algorithm, ClientEncryption, KeyRef, LocalMasterKey, MasterKey, Namespace};

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
    runtime
        .block_on(client.database(&db).drop().into_future())
        .unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
