//! What a server test does when there is no server: it fails (never skips) with one line
//! saying how to get one, without a panic message or backtrace and without waiting for the
//! driver's 30 s server selection. Checked by running this binary's own server test in a
//! child process with `MONGODB_URI` unset or pointing at a closed port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A server test like every other: it needs `MONGODB_URI` (passes with a server).
#[tokio::test]
async fn the_test_server_answers_a_ping() {
    let reply = server::client()
        .await
        .database("admin")
        .run_command(bson::doc! { "ping": 1 })
        .await
        .unwrap();
    assert!(reply.contains_key("ok"), "{reply}");
}

/// Runs `the_test_server_answers_a_ping` in a child process with `uri` as `MONGODB_URI`
/// (unset if `None`) and backtraces on, as they are in many shells and CI set-ups.
fn run_the_server_test(uri: Option<&str>) -> (Output, Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "the_test_server_answers_a_ping",
            "--exact",
            "--test-threads=1",
        ])
        .env("RUST_BACKTRACE", "1");
    match uri {
        Some(uri) => child.env("MONGODB_URI", uri),
        None => child.env_remove("MONGODB_URI"),
    };
    let started = Instant::now();
    let output = child.output().unwrap();
    (output, started.elapsed())
}

/// The lines the harness printed for the failed test (between its `---- … ----` header
/// and the `failures:` list), with the child's whole output for assertion messages.
fn failure_lines(output: &Output) -> (Vec<String>, String) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the server test passed:\n{all}");
    let header = "---- the_test_server_answers_a_ping stdout ----";
    let after = all
        .split_once(header)
        .unwrap_or_else(|| panic!("no failure report:\n{all}"))
        .1;
    let report = after.split("\nfailures:").next().unwrap_or_default();
    let lines = report
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    (lines, all)
}

#[test]
fn without_mongodb_uri_a_server_test_fails_with_one_line_saying_how_to_start_a_server() {
    let (output, elapsed) = run_the_server_test(None);
    let (lines, all) = failure_lines(&output);
    assert_eq!(lines.len(), 1, "one line expected:\n{all}");
    assert!(lines[0].contains("MONGODB_URI is not set"), "{all}");
    assert!(
        lines[0].contains("scripts/local-server run -- cargo test"),
        "{all}"
    );
    assert!(!all.contains("panicked at"), "{all}");
    assert!(!all.contains("stack backtrace"), "{all}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn with_an_unreachable_mongodb_uri_a_server_test_fails_within_seconds_naming_the_host() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (output, elapsed) = run_the_server_test(Some(&format!(
        "mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=30000"
    )));
    let (lines, all) = failure_lines(&output);
    assert_eq!(lines.len(), 1, "one line expected:\n{all}");
    assert!(lines[0].contains("unreachable"), "{all}");
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(lines[0].contains("scripts/local-server"), "{all}");
    assert!(!all.contains("panicked at"), "{all}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn a_password_in_mongodb_uri_is_never_repeated_in_the_failure() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let why = server::checked_uri(Some(format!("mongodb://alice:s3cret-pw@127.0.0.1:{port}/")))
        .unwrap_err();
    assert!(why.contains(&format!("127.0.0.1:{port}")), "{why}");
    assert!(!why.contains("s3cret-pw"), "{why}");
}
