//! Local master key files: `master-key generate`, and reading the files that
//! `--local-master-key` and `--new-local-master-key` name.

use std::path::Path;

use encrypted::{
    Error, LocalMasterKey, LocalMasterKeyFileOptions, LocalMasterKeyFormat, MasterKeyFileProblem,
};

use crate::failure::Failure;

/// Writes 96 random bytes to `path`, readable by its owner only. Refuses to replace an
/// existing file unless `force`, and even then replaces only a regular file: the old
/// master key would be lost, and with it every data key it wraps.
///
/// # Errors
///
/// When the file exists (without `force`), is not a regular file, cannot be created
/// or written, or the operating system's random generator fails.
pub fn generate(path: &Path, force: bool) -> Result<String, Failure> {
    match LocalMasterKey::create_file(path, force) {
        Ok(_) => Ok(format!(
            "wrote a new {}-byte local master key to {}",
            LocalMasterKey::LEN,
            path.display()
        )),
        Err(Error::MasterKeyFileWrite { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Err(Failure::new(format!(
                "{} already exists; pass --force to overwrite it (the data keys its master key wraps become unreadable)",
                path.display()
            )))
        }
        Err(Error::MasterKeyFileWrite { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let folder = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Err(Failure::new(format!(
                "cannot create the master key file {}: the folder {} does not exist",
                path.display(),
                folder.display()
            )))
        }
        Err(error @ Error::MasterKeyFileRefused { .. }) => Err(Failure::caused_by(
            "--force replaces only a regular file",
            error,
        )),
        // The library's message names the file and what failed.
        Err(error) => Err(Failure::caused_by("cannot generate a master key", error)),
    }
}

/// The master key in the file at `path`, read in `format`.
///
/// # Errors
///
/// When the file cannot be read, is refused (not a regular file, too long, readable by
/// group or others, ambiguous format) or holds no valid key.
pub fn load(path: &Path, format: LocalMasterKeyFormat) -> Result<LocalMasterKey, Failure> {
    let options = LocalMasterKeyFileOptions::new().format(format);
    LocalMasterKey::from_file_with(path, &options).map_err(|error| match error {
        Error::MasterKeyFileRefused {
            problem: MasterKeyFileProblem::AmbiguousFormat,
            ..
        } => Failure::caused_by(
            "cannot load the local master key (pass --local-master-key-format raw or base64)",
            error,
        ),
        // These name the file already.
        Error::MasterKeyFile { .. } | Error::MasterKeyFileRefused { .. } => {
            Failure::caused_by("cannot load the local master key", error)
        }
        _ => Failure::caused_by(
            format!("cannot load the local master key {}", path.display()),
            error,
        ),
    })
}
