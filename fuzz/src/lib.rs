//! Fuzz targets of `encrypted`: see `README.md` next to this crate's `Cargo.toml`.

// The command line's Extended JSON, as the binary compiles it.
#[allow(dead_code)]
#[path = "../../encrypted-cli/src/extended_json.rs"]
mod extended_json;
#[allow(dead_code)]
#[path = "../../encrypted-cli/src/failure.rs"]
mod failure;

pub mod targets;
