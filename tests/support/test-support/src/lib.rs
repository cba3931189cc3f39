//! Test-only helpers shared by the integration tests of the workspace's packages
//! (unpublished): each package's tests use them as a dev-dependency, so every package's
//! tests are self-contained.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod kms_emulator;
pub mod python_peer;
pub mod secrets;
pub mod server;

/// Fails the calling test with `why` as its only output: `resume_unwind` unwinds like a
/// panic (the harness reports the test as failed) without running the panic hook, so there
/// is no "panicked at" line or backtrace around the one line that matters.
pub fn fail(why: &str) -> ! {
    eprintln!("{why}");
    std::panic::resume_unwind(Box::new(why.to_owned()))
}
