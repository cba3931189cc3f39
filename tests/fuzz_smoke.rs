//! The fuzz targets on stable: every seed of `fuzz/corpus/<target>/` and a few thousand
//! deterministic mutations of each (bit flips, interesting bytes, truncations, deletions,
//! duplications, splices with another seed, BSON length fields off by a little or a lot)
//! through the same target bodies as the libFuzzer binaries (`fuzz/src/targets.rs`).
//!
//! Besides "no panic", it checks what the targets cannot check alone: no mutated
//! ciphertext or wrapped key is ever accepted (every byte of both is authenticated), and
//! the unmutated seeds do reach decryption.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[allow(dead_code)]
#[path = "../encrypted-cli/src/extended_json.rs"]
mod extended_json;
#[allow(dead_code)]
#[path = "../encrypted-cli/src/failure.rs"]
mod failure;
#[allow(dead_code)]
#[path = "../fuzz/src/targets.rs"]
mod targets;

/// Mutations per seed (and per target at least `MUTATIONS * seeds`).
const MUTATIONS: usize = 10_000;

type Target = fn(&[u8]) -> targets::Accepted;

const TARGETS: [(&str, Target); 5] = [
    ("stored_document", targets::stored_document),
    ("ciphertext", targets::ciphertext),
    ("key_document", targets::key_document),
    ("kms_reply", targets::kms_reply),
    ("extended_json", targets::extended_json),
];

/// SplitMix64: a seeded generator, so that a failure is reproduced by rerunning.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Applies one to four mutations to `input`; `others` are the target's other seeds.
fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(9) {
            // One bit.
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            // An interesting byte.
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = [0x00, 0x01, 0x7f, 0x80, 0xff, b'"', b'{', b'\\'][rng.below(8)];
            }
            // Truncation.
            2 => data.truncate(rng.below(len + 1)),
            // A deleted range.
            3 if len > 0 => {
                let start = rng.below(len);
                let end = start + 1 + rng.below((len - start).min(32));
                data.drain(start..end);
            }
            // A duplicated range.
            4 if len > 0 => {
                let start = rng.below(len);
                let end = start + 1 + rng.below((len - start).min(32));
                let copy = data[start..end].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            // A splice: this input's head, another seed's tail.
            5 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            // Another seed's bytes over this one's, at the same place.
            6 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let start = rng.below(len.min(other.len()) + 1);
                let end = (start + 1 + rng.below(64)).min(len).min(other.len());
                if start < end {
                    data[start..end].copy_from_slice(&other[start..end]);
                }
            }
            // A 32-bit little-endian length field, off by a little or a lot.
            7 if len >= 4 => {
                let at = rng.below(len - 3);
                let old = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
                let new = match rng.below(6) {
                    0 => old.wrapping_add(1),
                    1 => old.wrapping_sub(1),
                    2 => old.wrapping_add(1 + rng.below(16) as u32),
                    3 => 0,
                    4 => u32::MAX,
                    _ => i32::MAX as u32,
                };
                data[at..at + 4].copy_from_slice(&new.to_le_bytes());
            }
            // Random bytes appended.
            _ => {
                for _ in 0..=rng.below(8) {
                    data.push(rng.next() as u8);
                }
            }
        }
    }
    data
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", directory.display());
    seeds
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Runs a target on one input; a panic becomes a failure naming the input.
fn run(name: &str, target: Target, input: &[u8], what: &str) -> targets::Accepted {
    catch_unwind(AssertUnwindSafe(|| target(input))).unwrap_or_else(|_| {
        panic!(
            "fuzz target `{name}` panicked on {what} (input as hex, to add under fuzz/corpus/{name}/): {}",
            hex(input)
        )
    })
}

#[test]
fn fuzz_targets_survive_mutated_seeds() {
    // The blobs of the unmutated seeds: the only ones any input may have accepted.
    let mut authentic = HashSet::new();
    for (name, target) in TARGETS {
        let mut accepted = 0;
        for (seed, input) in seeds(name) {
            let blobs = run(name, target, &input, &format!("seed `{seed}`"));
            accepted += blobs.len();
            authentic.extend(blobs);
        }
        if name != "kms_reply" {
            assert!(
                accepted > 0,
                "no seed of `{name}` reaches an authenticated decryption"
            );
        }
    }

    for (name, target) in TARGETS {
        let seeds = seeds(name);
        let inputs: Vec<Vec<u8>> = seeds.iter().map(|(_, input)| input.clone()).collect();
        let mut rng = Rng(0x5eed ^ name.len() as u64);
        let mut rejected = 0;
        let started = std::time::Instant::now();
        for (seed, input) in &seeds {
            for round in 0..MUTATIONS {
                let mutated = mutate(&mut rng, input, &inputs);
                let what = format!("mutation {round} of seed `{seed}`");
                let accepted = run(name, target, &mutated, &what);
                if accepted.is_empty() {
                    rejected += 1;
                }
                for blob in accepted {
                    assert!(
                        authentic.contains(&blob),
                        "fuzz target `{name}` accepted a mutated authenticated blob ({what}): {}",
                        hex(&mutated)
                    );
                }
            }
        }
        let runs = seeds.len() * MUTATIONS;
        eprintln!(
            "{name}: {runs} mutated inputs in {:.2?}, {} with an authenticated blob accepted",
            started.elapsed(),
            runs - rejected
        );
        // The mutations do change what is decoded.
        assert!(rejected > 0, "no mutation of `{name}` was rejected");
    }
}

#[test]
fn the_mutations_are_reproducible() {
    let seed = b"\x10\x00\x00\x00\x02a\x00\x02\x00\x00\x00b\x00\x00".to_vec();
    let others = vec![seed.clone()];
    let run = || {
        let mut rng = Rng(7);
        (0..64)
            .map(|_| mutate(&mut rng, &seed, &others))
            .collect::<Vec<_>>()
    };
    let first = run();
    assert_eq!(first, run());
    assert!(first.iter().any(|mutated| *mutated != seed));
}
