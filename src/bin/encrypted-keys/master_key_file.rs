//! `master-key generate`: a new local master key file.

use std::path::Path;

use encrypted::LocalMasterKey;

use crate::failure::Failure;

/// Writes 96 random bytes to `path`, readable by its owner only. Refuses to replace an
/// existing file unless `force`: the old master key would be lost, and with it every
/// data key it wraps.
///
/// # Errors
///
/// When the file exists (without `force`), cannot be written, or the operating
/// system's random generator fails.
pub fn generate(path: &Path, force: bool) -> Result<String, Failure> {
    match LocalMasterKey::create_file(path, force) {
        Ok(_) => Ok(format!(
            "wrote a new {}-byte local master key to {}",
            LocalMasterKey::LEN,
            path.display()
        )),
        Err(encrypted::Error::MasterKeyFile { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Err(Failure::new(format!(
                "{} already exists; pass --force to overwrite it (the data keys its master key wraps become unreadable)",
                path.display()
            )))
        }
        Err(error) => Err(Failure::caused_by(
            format!("cannot write {}", path.display()),
            error,
        )),
    }
}
