//! Checks that output holds no secret bytes.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

/// Asserts that `text` holds none of the bytes of the key file `path`, raw, in hex or
/// in base64.
pub fn holds_no_key_bytes(text: &str, path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let binary = bson::Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: bytes.clone(),
    });
    let base64 = binary.into_canonical_extjson()["$binary"]["base64"]
        .as_str()
        .unwrap()
        .to_owned();
    for window in [&hex[..16], &base64[..12]] {
        assert!(!text.contains(window), "the output holds master key bytes");
    }
    assert!(
        !text
            .as_bytes()
            .windows(8)
            .any(|w| bytes.windows(8).any(|k| k == w)),
        "the output holds master key bytes"
    );
}
