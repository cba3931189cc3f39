//! The AWS KMS emulator (moto's server over TLS, `scripts/kms-emulator`) as tests see it:
//! the environment variables it sets for the command it runs.

use crate::fail;

/// The value of `name`, set by `scripts/kms-emulator run -- …`; without it the test fails
/// with one line saying how to start the emulator.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        fail(&format!(
            "this test needs the AWS KMS emulator and {name} is not set: start it with `bash scripts/kms-emulator run -- cargo test`, or run `bash scripts/test`"
        ))
    })
}
