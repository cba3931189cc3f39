//! The codecs of `#[derive(Encrypted)]` models, without a server: encode + encrypt and
//! decrypt + decode of the MedcoMD guide's patient and of a 50-field document with 10
//! encrypted fields, against plain `bson` serialization of the same struct and against
//! plain serialization plus the cipher floor of its encrypted fields, in one run.
//!
//! `cargo bench --bench model`

#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

#[path = "../tests/common/medco.rs"]
mod medco;

#[path = "common/floor.rs"]
mod floor;

use std::hint::black_box;
use std::sync::Arc;

use bson::{RawBsonRef, RawDocumentBuf};
use criterion::{Criterion, criterion_group, criterion_main};
use encrypted::model::{self, FieldKind, Keys, ModelSpec};
use encrypted::{DataKey, Encrypted, KeyRef};
use floor::Floor;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[encrypted(key_alt_name = "wide-key")]
pub struct Wide {
    p01: i32,
    p02: String,
    p03: i64,
    p04: String,
    p05: i32,
    p06: String,
    p07: i64,
    p08: String,
    p09: i32,
    p10: String,
    p11: i64,
    p12: String,
    p13: i32,
    p14: String,
    p15: i64,
    p16: String,
    p17: i32,
    p18: String,
    p19: i64,
    p20: String,
    p21: i32,
    p22: String,
    p23: i64,
    p24: String,
    p25: i32,
    p26: String,
    p27: i64,
    p28: String,
    p29: i32,
    p30: String,
    p31: i64,
    p32: String,
    p33: i32,
    p34: String,
    p35: i64,
    p36: String,
    p37: i32,
    p38: String,
    p39: i64,
    p40: String,
    #[encrypt(deterministic)]
    d1: i32,
    #[encrypt(deterministic)]
    d2: String,
    #[encrypt(deterministic)]
    d3: i64,
    #[encrypt(deterministic)]
    d4: String,
    #[encrypt(deterministic)]
    d5: i32,
    #[encrypt(random)]
    r1: String,
    #[encrypt(random)]
    r2: Vec<i32>,
    #[encrypt(random)]
    r3: f64,
    #[encrypt(random)]
    r4: String,
    #[encrypt(random)]
    r5: bool,
}

fn wide() -> Wide {
    let s = |n: i32| format!("value number {n}");
    Wide {
        p01: 1,
        p02: s(2),
        p03: 3,
        p04: s(4),
        p05: 5,
        p06: s(6),
        p07: 7,
        p08: s(8),
        p09: 9,
        p10: s(10),
        p11: 11,
        p12: s(12),
        p13: 13,
        p14: s(14),
        p15: 15,
        p16: s(16),
        p17: 17,
        p18: s(18),
        p19: 19,
        p20: s(20),
        p21: 21,
        p22: s(22),
        p23: 23,
        p24: s(24),
        p25: 25,
        p26: s(26),
        p27: 27,
        p28: s(28),
        p29: 29,
        p30: s(30),
        p31: 31,
        p32: s(32),
        p33: 33,
        p34: s(34),
        p35: 35,
        p36: s(36),
        p37: 37,
        p38: s(38),
        p39: 39,
        p40: s(40),
        d1: 41,
        d2: s(42),
        d3: 43,
        d4: s(44),
        d5: 45,
        r1: s(46),
        r2: vec![1, 2, 3, 4],
        r3: 48.5,
        r4: s(49),
        r5: true,
    }
}

/// The bytes of each encrypted field of `plain` and whether it is deterministic: what the
/// floor encrypts.
fn encrypted_fields(spec: &ModelSpec, plain: &RawDocumentBuf, out: &mut Vec<(Vec<u8>, bool)>) {
    for element in plain {
        let (name, value) = element.unwrap();
        let Some(field) = spec.field(name.as_str()) else {
            continue;
        };
        match (field.kind, value) {
            (FieldKind::Encrypted(encrypted), value) => {
                let mut wrapper = RawDocumentBuf::new();
                wrapper.append(bson::raw::cstr!("v"), value);
                let bytes = wrapper.into_bytes();
                let deterministic = encrypted.algorithm == encrypted::Algorithm::Deterministic;
                out.push((bytes[7..bytes.len() - 1].to_vec(), deterministic));
            }
            (FieldKind::Nested { model, .. }, RawBsonRef::Document(nested)) => {
                encrypted_fields(model, &nested.to_owned(), out);
            }
            _ => {}
        }
    }
}

fn bench_model<T: Encrypted + Clone>(
    c: &mut Criterion,
    label: &str,
    value: T,
    keys: &Keys,
    floor: &Floor,
) {
    let plain = bson::serialize_to_raw_document_buf(&value).unwrap();
    let mut fields = Vec::new();
    encrypted_fields(T::SPEC, &plain, &mut fields);
    let stored = model::encode(&value, keys).unwrap();
    let sealed: Vec<Vec<u8>> = fields
        .iter()
        .map(|(bytes, deterministic)| {
            let mut buffer = Vec::new();
            let tag = floor.encrypt(bytes, *deterministic, &mut buffer);
            buffer.extend_from_slice(&tag[..32]);
            buffer
        })
        .collect();

    let mut encode = c.benchmark_group(format!("encode/{label}"));
    encode.bench_function("encrypted", |b| {
        b.iter(|| model::encode(black_box(&value), keys).unwrap())
    });
    encode.bench_function("plain", |b| {
        b.iter(|| bson::serialize_to_raw_document_buf(black_box(&value)).unwrap())
    });
    let mut buffer = Vec::new();
    encode.bench_function("plain+floor", |b| {
        b.iter(|| {
            let document = bson::serialize_to_raw_document_buf(black_box(&value)).unwrap();
            for (bytes, deterministic) in &fields {
                black_box(floor.encrypt(bytes, *deterministic, &mut buffer));
            }
            document
        })
    });
    encode.finish();

    let mut decode = c.benchmark_group(format!("decode/{label}"));
    decode.bench_function("encrypted", |b| {
        b.iter(|| model::decode::<T>(black_box(&stored), keys).unwrap())
    });
    decode.bench_function("plain", |b| {
        b.iter(|| bson::deserialize_from_slice::<T>(black_box(plain.as_bytes())).unwrap())
    });
    decode.bench_function("plain+floor", |b| {
        b.iter(|| {
            for sealed in &sealed {
                black_box(floor.decrypt(&sealed[..sealed.len() - 32], &mut buffer));
            }
            bson::deserialize_from_slice::<T>(black_box(plain.as_bytes())).unwrap()
        })
    });
    decode.finish();
}

fn bench(c: &mut Criterion) {
    let material = [0x11u8; 96];
    let key = Arc::new(DataKey::from_bytes(bson::Uuid::new(), &material).unwrap());
    let floor = Floor::new(&material);
    let keys = Keys::new()
        .with(KeyRef::AltName("medco-key".into()), Arc::clone(&key))
        .with(KeyRef::AltName("wide-key".into()), key);
    bench_model(c, "medcomd-patient", medco::jon_doe(), &keys, &floor);
    bench_model(c, "wide-50-fields-10-encrypted", wide(), &keys, &floor);
}

criterion_group!(benches, bench);
criterion_main!(benches);
