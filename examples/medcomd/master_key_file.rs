//! Step A: the local master key file — 96 random bytes, readable by its owner only,
//! created once and reused, never replaced by accident.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use encrypted::LocalMasterKey;
use encrypted::bson::Uuid;

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
    let outcome = match (path.exists(), force) {
        (false, _) => {
            write_new(path)?;
            Outcome::Created
        }
        (true, true) => {
            // Written beside the old file, then renamed over it: the old key is replaced
            // whole or not at all.
            let staging = staging_path(path);
            write_new(&staging)?;
            std::fs::rename(&staging, path).map_err(|error| {
                let _ = std::fs::remove_file(&staging);
                Failure::caused_by(format!("cannot replace {}", path.display()), &error)
            })?;
            Outcome::Replaced
        }
        (true, false) => Outcome::Reused,
    };
    load(path)?;
    Ok(outcome)
}

/// The master key in the file.
///
/// # Errors
///
/// When the file cannot be read or holds no valid key.
pub fn load(path: &Path) -> Result<LocalMasterKey, Failure> {
    LocalMasterKey::from_file(path)
        .context(format!("cannot use the master key file {}", path.display()))
}

/// Creates `path`, which must not exist, with mode 0600 from the start, and writes a new
/// master key to it.
fn write_new(path: &Path) -> Result<(), Failure> {
    let bytes = LocalMasterKey::generate_bytes().context("cannot generate a master key")?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == ErrorKind::AlreadyExists {
            Failure::new(format!(
                "{} appeared meanwhile; not overwriting it",
                path.display()
            ))
        } else {
            Failure::caused_by(format!("cannot create {}", path.display()), &error)
        }
    })?;
    restrict_permissions(&file)
        .and_then(|()| file.write_all(bytes.as_ref()))
        .and_then(|()| file.sync_all())
        .map_err(|error| {
            drop(file);
            let _ = std::fs::remove_file(path);
            Failure::caused_by(format!("cannot write {}", path.display()), &error)
        })
}

/// A fresh name beside `path`.
fn staging_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", Uuid::new()));
    path.with_file_name(name)
}

/// Mode 0600 whatever the umask did to the mode asked for at creation.
#[cfg(unix)]
fn restrict_permissions(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// Elsewhere the file keeps the permissions its folder gives it.
#[cfg(not(unix))]
fn restrict_permissions(_file: &File) -> std::io::Result<()> {
    Ok(())
}
