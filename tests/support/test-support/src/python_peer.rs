//! Runs one of the Python peers in `interop/python/` (pymongo and pymongocrypt, in the
//! venv `scripts/install-prerequisites` makes) with one JSON request.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Runs `interop/python/<script>` with `request` on its standard input; returns its
/// reply, which must report no failures.
pub fn run(script: &str, request: &Value) -> Value {
    // This crate sits at tests/support/test-support of the workspace.
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.."));
    let python = root.join(".venv-interop/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-prerequisites (scripts/test does)",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(root.join("interop/python").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the pymongo peer failed");
    let reply: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reply["failures"], json!([]), "pymongo found mismatches");
    reply
}
