//! Randomness from the operating system's CSPRNG.

use crate::{Error, Result};

/// Fills `dest` from the operating system's cryptographically secure generator.
pub(crate) fn fill(dest: &mut [u8]) -> Result<()> {
    getrandom::fill(dest).map_err(Error::Randomness)
}
