//! Per-value FLE1 encryption and decryption: encrypted-core, libmongocrypt (through the
//! `mongocrypt` crate and Debian's libmongocrypt0, with a local KMS key fed to its state
//! machine: no server) and the raw floor (one AES-256-CBC pass and the HMAC-SHA-512
//! passes over the same bytes, with the keys already expanded), in one run.
//!
//! `cargo bench -p libmongocrypt-peer --bench fle1`

#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use encrypted_core::{Algorithm, Ciphertext, DataKey, KeyDocument, LocalMasterKey, MasterKey};
use libmongocrypt_peer::Peer;

#[path = "../../../benches/common/floor.rs"]
mod floor;
use floor::Floor;

fn values() -> Vec<(&'static str, Bson)> {
    let binary = |len: usize| {
        Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: (0..len).map(|i| i as u8).collect(),
        })
    };
    vec![
        ("int32", Bson::Int32(123_456_789)),
        ("string32", Bson::String("a".repeat(32))),
        ("binary1KiB", binary(1024)),
        ("binary64KiB", binary(64 * 1024)),
    ]
}

fn value_bytes(value: &Bson) -> Vec<u8> {
    let mut document = bson::Document::new();
    document.insert("v", value.clone());
    let mut bytes = Vec::new();
    document.to_writer(&mut bytes).unwrap();
    bytes[7..bytes.len() - 1].to_vec()
}

fn bench(c: &mut Criterion) {
    let master_bytes = [0x5au8; 96];
    let master_key = LocalMasterKey::from_bytes(&master_bytes).unwrap();
    let peer = Peer::new(&master_bytes).unwrap();
    // One data key, whose bytes all three use; libmongocrypt gets it as a key document.
    let raw_key: [u8; 96] = std::array::from_fn(|i| (i * 7 + 3) as u8);
    let ours = DataKey::from_bytes(bson::Uuid::new(), &raw_key).unwrap();
    let key_document = KeyDocument::new(
        ours.id(),
        master_key.wrap(&ours).unwrap(),
        MasterKey::local(),
    )
    .to_document();
    let floor = Floor::new(&raw_key);

    for (algorithm, deterministic) in [(Algorithm::Deterministic, true), (Algorithm::Random, false)]
    {
        let name = if deterministic {
            "deterministic"
        } else {
            "random"
        };
        let mut encrypt = c.benchmark_group(format!("encrypt/{name}"));
        for (label, value) in values() {
            let bytes = value_bytes(&value);
            encrypt.throughput(Throughput::Bytes(bytes.len() as u64));
            encrypt.bench_with_input(BenchmarkId::new("encrypted-core", label), &value, |b, v| {
                b.iter(|| ours.encrypt(black_box(v), algorithm).unwrap())
            });
            encrypt.bench_with_input(BenchmarkId::new("libmongocrypt", label), &value, |b, v| {
                b.iter(|| {
                    peer.encrypt(&key_document, black_box(v), deterministic)
                        .unwrap()
                })
            });
            let mut buffer = Vec::new();
            encrypt.bench_with_input(BenchmarkId::new("floor", label), &bytes, |b, p| {
                b.iter(|| floor.encrypt(black_box(p), deterministic, &mut buffer))
            });
        }
        encrypt.finish();

        let mut decrypt = c.benchmark_group(format!("decrypt/{name}"));
        for (label, value) in values() {
            let bytes = value_bytes(&value);
            decrypt.throughput(Throughput::Bytes(bytes.len() as u64));
            let ciphertext = ours.encrypt(&value, algorithm).unwrap();
            let binary = ciphertext.as_bytes().to_vec();
            decrypt.bench_with_input(
                BenchmarkId::new("encrypted-core", label),
                &binary,
                |b, c| {
                    b.iter(|| {
                        let parsed = Ciphertext::from_bytes(black_box(c).clone()).unwrap();
                        ours.decrypt(&parsed).unwrap()
                    })
                },
            );
            decrypt.bench_with_input(BenchmarkId::new("libmongocrypt", label), &binary, |b, c| {
                b.iter(|| peer.decrypt(&key_document, black_box(c)).unwrap())
            });
            let mut sealed = Vec::new();
            floor.encrypt(&bytes, deterministic, &mut sealed);
            let mut buffer = Vec::new();
            decrypt.bench_with_input(BenchmarkId::new("floor", label), &sealed, |b, s| {
                b.iter(|| floor.decrypt(black_box(s), &mut buffer))
            });
        }
        decrypt.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
