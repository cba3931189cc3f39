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

pub mod python_peer;
pub mod secrets;
pub mod server;
