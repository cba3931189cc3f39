//! `master-key generate`: a new local master key file.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use encrypted::LocalMasterKey;
use encrypted::bson::Uuid;

use crate::failure::{Context, Failure};

/// Writes 96 random bytes to `path`, readable by its owner only. Refuses to replace an
/// existing file unless `force`: the old master key would be lost, and with it every
/// data key it wraps.
///
/// # Errors
///
/// When the file exists (without `force`), cannot be written, or the operating
/// system's random generator fails.
pub fn generate(path: &Path, force: bool) -> Result<String, Failure> {
    let bytes = LocalMasterKey::generate_bytes().context("cannot generate a master key")?;
    if force {
        // Written beside it, then renamed over it: the old key is replaced whole or not
        // at all.
        let staging = staging_path(path)?;
        write_new(&staging, bytes.as_ref())?;
        std::fs::rename(&staging, path).map_err(|error| {
            let _ = std::fs::remove_file(&staging);
            Failure::caused_by(format!("cannot replace {}", path.display()), error)
        })?;
    } else {
        write_new(path, bytes.as_ref())?;
    }
    Ok(format!(
        "wrote a new {}-byte local master key to {}",
        LocalMasterKey::LEN,
        path.display()
    ))
}

/// Creates `path`, which must not exist, with mode 0600 from the start (never readable
/// by others even for a moment), and writes `bytes` to disk.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == ErrorKind::AlreadyExists {
            Failure::new(format!(
                "{} already exists; pass --force to overwrite it (the data keys its master key wraps become unreadable)",
                path.display()
            ))
        } else {
            Failure::caused_by(format!("cannot create {}", path.display()), error)
        }
    })?;
    restrict_permissions(&file)
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all())
        .map_err(|error| {
            drop(file);
            let _ = std::fs::remove_file(path);
            Failure::caused_by(format!("cannot write {}", path.display()), error)
        })
}

/// A fresh file name in the directory of `path`.
fn staging_path(path: &Path) -> Result<PathBuf, Failure> {
    let name = path
        .file_name()
        .ok_or_else(|| Failure::new(format!("{} is not a file name", path.display())))?;
    let mut staging = name.to_os_string();
    staging.push(format!(".{}.tmp", Uuid::new()));
    Ok(path.with_file_name(staging))
}

/// Mode 0600 whatever the process's umask did to the mode asked for at creation.
#[cfg(unix)]
fn restrict_permissions(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// Elsewhere the file keeps the permissions its directory gives it.
#[cfg(not(unix))]
fn restrict_permissions(_file: &File) -> std::io::Result<()> {
    Ok(())
}
