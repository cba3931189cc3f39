//! Step A: the local master key file — 96 random bytes, readable by its owner only,
//! created once and reused, never replaced by accident.

use std::path::Path;

use encrypted::LocalMasterKey;

use crate::failure::{Context, Failure};

/// What step A did with the file.
pub enum Outcome {
    /// There was no file: a new key was written.
    Created,
    /// The file existed and `--force-new-master-key` replaced it.
    Replaced,
    /// The file existed and was kept.
    Reused,
}

/// Creates the master key file at `path` if it does not exist, replaces it when `force`,
/// and otherwise keeps it; in every case checks that it holds a valid master key.
///
/// # Errors
///
/// When the file cannot be written or read, or holds no valid 96-byte key.
pub fn create_or_reuse(path: &Path, force: bool) -> Result<Outcome, Failure> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .context(format!("cannot create the folder {}", parent.display()))?;
    }
    let exists = path.exists();
    let outcome = if exists && !force {
        Outcome::Reused
    } else {
        {
            // Created with mode 0600; a replacement is written beside the old file and
            // renamed over it, so the old key is replaced whole or not at all.
            // The library's error names the file and what failed (a missing folder,
            // or something else than a regular file where `--force-new-master-key`
            // would replace one).
            LocalMasterKey::create_file(path, exists)
                .context("step A cannot create the master key file")?;
            if exists {
                Outcome::Replaced
            } else {
                Outcome::Created
            }
        }
    };
    load(path)?;
    Ok(outcome)
}

/// The master key in the file.
///
/// # Errors
///
/// When the file cannot be read, is refused (not a regular file, readable by group or
/// others) or holds no valid key.
pub fn load(path: &Path) -> Result<LocalMasterKey, Failure> {
    LocalMasterKey::from_file(path)
        .context(format!("cannot use the master key file {}", path.display()))
}
