//! The `local` KMS provider's master key: 96 bytes held by the application, which wrap
//! (encrypt) data keys into their `keyMaterial`.

use std::fmt;
use std::path::Path;

use bson::Uuid;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::crypto::aead::{AeadKey, KEY_LEN};
use crate::data_key::KeyBytes;
use crate::{DataKey, Error, Result};

/// A 96-byte local master key.
///
/// Data keys are wrapped with it exactly as libmongocrypt does for the `local` provider:
/// AEAD_AES_256_CBC_HMAC_SHA_512 with a random IV and no associated data, so the
/// `keyMaterial` of a key document is 160 bytes. Zeroized on drop, never printed.
///
/// ```
/// use encrypted_core::{DataKey, LocalMasterKey};
///
/// let master_key = LocalMasterKey::generate()?;
/// let data_key = DataKey::generate(bson::Uuid::new())?;
/// let key_material = master_key.wrap(&data_key)?;
/// assert_eq!(key_material.len(), 160);
/// let unwrapped = master_key.unwrap(data_key.id(), &key_material)?;
/// assert_eq!(unwrapped.id(), data_key.id());
/// # Ok::<(), encrypted_core::Error>(())
/// ```
pub struct LocalMasterKey {
    aead: AeadKey,
}

impl ZeroizeOnDrop for LocalMasterKey {}

impl LocalMasterKey {
    /// The length of a local master key in bytes.
    pub const LEN: usize = KEY_LEN;

    /// The longest master key file read: room for the base64 of a key with line breaks
    /// and stray whitespace. A longer file is refused before it is read whole.
    pub const MAX_FILE_LEN: usize = 512;

    /// Makes a master key from its 96 bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKeyLength`] unless `bytes` is exactly 96 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: Zeroizing<[u8; KEY_LEN]> =
            Zeroizing::new(bytes.try_into().map_err(|_| length_error(bytes.len()))?);
        Ok(Self {
            aead: AeadKey::new(&bytes),
        })
    }

    /// Makes a master key from standard base64 (as the drivers' `kms_providers` take it).
    /// Whitespace is ignored wherever it is, so text wrapped at 76 columns (what the
    /// `base64` command writes) reads as well as one line.
    ///
    /// ```
    /// use encrypted_core::LocalMasterKey;
    ///
    /// let wrapped = format!("{}\n{}\n", "A".repeat(76), "A".repeat(52));
    /// assert!(LocalMasterKey::from_base64(&wrapped).is_ok());
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMasterKeyEncoding`] when the text is not base64, and
    /// [`Error::InvalidKeyLength`] unless it decodes to 96 bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        Self::from_base64_bytes(text.as_bytes())
    }

    fn from_base64_bytes(text: &[u8]) -> Result<Self> {
        use base64::Engine;
        // Both buffers are sized up front so that no key byte is left behind by a
        // reallocation, and both are erased on drop.
        let mut compact = Zeroizing::new(Vec::with_capacity(text.len()));
        compact.extend(text.iter().filter(|byte| !byte.is_ascii_whitespace()));
        let mut decoded = Zeroizing::new(vec![0; base64::decoded_len_estimate(compact.len())]);
        let len = base64::engine::general_purpose::STANDARD
            .decode_slice(compact.as_slice(), decoded.as_mut_slice())
            .map_err(|_| Error::InvalidMasterKeyEncoding)?;
        let decoded = decoded.get(..len).ok_or(Error::InvalidMasterKeyEncoding)?;
        Self::from_bytes(decoded).map_err(|_| Error::InvalidKeyLength {
            what: "a local master key decoded from base64",
            expected: KEY_LEN,
            actual: len,
        })
    }

    /// Reads a master key file in the [`Auto`](LocalMasterKeyFormat::Auto) format
    /// (96 raw bytes, the guide's `master-key.txt`, or their base64), refusing a file
    /// that group or others may access: as
    /// [`from_file_with`](Self::from_file_with) with the default
    /// [`LocalMasterKeyFileOptions`].
    ///
    /// ```no_run
    /// use encrypted_core::LocalMasterKey;
    ///
    /// let master_key = LocalMasterKey::from_file("master-key.txt")?;
    /// # let _ = master_key;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_file_with`](Self::from_file_with).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_file_with(path, &LocalMasterKeyFileOptions::default())
    }

    /// Reads a master key file as `options` say.
    ///
    /// Only a regular file is read (symbolic links to one are followed), and at most
    /// [`MAX_FILE_LEN`](Self::MAX_FILE_LEN) bytes of it: a device, a FIFO or a huge
    /// file is refused, not read until memory runs out or a writer shows up. The checks
    /// are made on the opened file, so the file read is the file checked.
    ///
    /// ```no_run
    /// use encrypted_core::{LocalMasterKey, LocalMasterKeyFileOptions, LocalMasterKeyFormat};
    ///
    /// let options = LocalMasterKeyFileOptions::new().format(LocalMasterKeyFormat::Base64);
    /// let master_key = LocalMasterKey::from_file_with("master-key.b64", &options)?;
    /// # let _ = master_key;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::MasterKeyFile`] when the file cannot be opened or read;
    /// - [`Error::MasterKeyFileRefused`] when it is not a regular file, is longer than
    ///   [`MAX_FILE_LEN`](Self::MAX_FILE_LEN), may be accessed by group or others (on Unix,
    ///   unless allowed), or, in the `Auto` format, reads both as 96 raw bytes and as
    ///   base64 text;
    /// - [`Error::InvalidKeyLength`] or [`Error::InvalidMasterKeyEncoding`] when it holds
    ///   no 96-byte key in the format asked for.
    pub fn from_file_with(
        path: impl AsRef<Path>,
        options: &LocalMasterKeyFileOptions,
    ) -> Result<Self> {
        use std::io::Read as _;
        let path = path.as_ref();
        let read_error = |source| Error::MasterKeyFile {
            path: path.to_owned(),
            source,
        };
        let refused = |problem| Error::MasterKeyFileRefused {
            path: path.to_owned(),
            problem,
        };
        // Opening a FIFO waits for a writer, so what the path names is checked before
        // opening it; what counts is the check of the opened file below.
        let named = std::fs::metadata(path).map_err(read_error)?;
        not_regular_file(&named).map_or(Ok(()), |found| {
            Err(refused(MasterKeyFileProblem::NotRegularFile { found }))
        })?;
        let file = std::fs::File::open(path).map_err(read_error)?;
        let opened = file.metadata().map_err(read_error)?;
        not_regular_file(&opened).map_or(Ok(()), |found| {
            Err(refused(MasterKeyFileProblem::NotRegularFile { found }))
        })?;
        if !options.allow_group_or_other_access {
            check_private(&opened).map_err(refused)?;
        }
        let mut contents = Zeroizing::new([0; Self::MAX_FILE_LEN + 1]);
        let mut len = 0;
        let mut file = file;
        while let Some(rest) = contents.get_mut(len..)
            && !rest.is_empty()
        {
            match file.read(rest) {
                Ok(0) => break,
                Ok(read) => len += read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(read_error(error)),
            }
        }
        if len > Self::MAX_FILE_LEN {
            return Err(refused(MasterKeyFileProblem::TooLong {
                limit: Self::MAX_FILE_LEN,
            }));
        }
        let contents = contents.get(..len).unwrap_or_default();
        match options.format {
            LocalMasterKeyFormat::Raw => Self::from_bytes(contents),
            LocalMasterKeyFormat::Base64 => Self::from_base64_bytes(contents),
            LocalMasterKeyFormat::Auto => {
                match (contents.len() == KEY_LEN, looks_like_base64(contents)) {
                    (true, false) => Self::from_bytes(contents),
                    (true, true) => Err(refused(MasterKeyFileProblem::AmbiguousFormat)),
                    (false, true) => match Self::from_base64_bytes(contents) {
                        // Text in the base64 alphabet that is no base64: most likely a raw
                        // key of the wrong length, so say which length.
                        Err(Error::InvalidMasterKeyEncoding) => Err(length_error(contents.len())),
                        decoded => decoded,
                    },
                    (false, false) => Err(length_error(contents.len())),
                }
            }
        }
    }

    /// Generates a new master key from the operating system's CSPRNG, returning its
    /// bytes (to be stored by the caller, for example in a key file).
    ///
    /// The bytes are never all base64 text, so a file holding them can never be read as
    /// base64 (see [`LocalMasterKeyFormat::Auto`]); drawing again when they are (a
    /// chance below 2^-180) leaves the key unpredictable.
    ///
    /// # Errors
    ///
    /// [`Error::Randomness`] if the operating system's generator fails.
    pub fn generate_bytes() -> Result<Zeroizing<[u8; KEY_LEN]>> {
        let mut bytes = Zeroizing::new([0; KEY_LEN]);
        for _ in 0..16 {
            crate::crypto::random::fill(bytes.as_mut())?;
            if !looks_like_base64(bytes.as_ref()) {
                return Ok(bytes);
            }
        }
        // Sixteen draws in a row of nothing but base64 characters: the generator is broken.
        Err(Error::Randomness {
            source: crate::error::RandomnessError::implausible(
                "sixteen draws in a row were all base64 characters",
            ),
        })
    }

    /// Generates a new master key and stores its 96 raw bytes (the format of MongoDB's
    /// guide, `master-key.txt`) in a new file at `path`, readable by its owner only (mode
    /// 0600 on Unix, from the moment the file exists). The bytes are never all base64
    /// text (see [`generate_bytes`](Self::generate_bytes)), so the file reads the same
    /// in every [`LocalMasterKeyFormat`] but `Base64`.
    ///
    /// An existing file is refused unless `replace`: its key may wrap data keys that
    /// would become unreadable. With `replace` the new key is written beside it and
    /// renamed over it, so the old key is replaced whole or not at all; only a regular
    /// file is replaced, never a symbolic link, a device or a directory.
    ///
    /// ```no_run
    /// use encrypted_core::LocalMasterKey;
    ///
    /// let master_key = LocalMasterKey::create_file("master-key.txt", false)?;
    /// # let _ = master_key;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::MasterKeyFileWrite`] when the file exists (without `replace`; its
    /// `source` is of kind [`AlreadyExists`](std::io::ErrorKind::AlreadyExists)) or cannot
    /// be created or written (its folder is missing, for example);
    /// [`Error::MasterKeyFileRefused`] when `replace` would replace something else than a
    /// regular file; [`Error::Randomness`] if the operating system's generator fails.
    pub fn create_file(path: impl AsRef<Path>, replace: bool) -> Result<Self> {
        let path = path.as_ref();
        let file_error = |source| Error::MasterKeyFileWrite {
            path: path.to_owned(),
            source,
        };
        if replace {
            match std::fs::symlink_metadata(path) {
                Ok(existing) => {
                    if let Some(found) = not_regular_file(&existing) {
                        return Err(Error::MasterKeyFileRefused {
                            path: path.to_owned(),
                            problem: MasterKeyFileProblem::NotRegularFile { found },
                        });
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(file_error(error)),
            }
        }
        let bytes = Self::generate_bytes()?;
        if replace {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".{}.tmp", Uuid::new()));
            let staging = path.with_file_name(name);
            write_new_file(&staging, bytes.as_ref()).map_err(file_error)?;
            // `rename` replaces a link itself, never what it points to; a link made
            // since the check above is replaced by the new file, not followed.
            std::fs::rename(&staging, path).map_err(|error| {
                let _ = std::fs::remove_file(&staging);
                file_error(error)
            })?;
        } else {
            write_new_file(path, bytes.as_ref()).map_err(file_error)?;
        }
        Self::from_bytes(bytes.as_ref())
    }

    /// Generates a new master key that exists only in memory (tests, demos).
    ///
    /// # Errors
    ///
    /// [`Error::Randomness`] if the operating system's generator fails.
    pub fn generate() -> Result<Self> {
        Self::from_bytes(Self::generate_bytes()?.as_ref())
    }

    /// Wraps a data key: the `keyMaterial` to store in its key document.
    ///
    /// # Errors
    ///
    /// [`Error::Randomness`] if the operating system's generator fails.
    pub fn wrap(&self, data_key: &DataKey) -> Result<Vec<u8>> {
        let iv = AeadKey::random_iv()?;
        let mut key_material = Vec::with_capacity(AeadKey::ciphertext_len(KEY_LEN));
        self.aead
            .seal_into(&iv, &[], data_key.material(), &mut key_material);
        Ok(key_material)
    }

    /// Unwraps the `keyMaterial` of the key document whose `_id` is `key_id`.
    ///
    /// # Errors
    ///
    /// [`Error::KeyUnwrap`] when the material was not wrapped by this master key, was
    /// altered, or does not hold a 96-byte key.
    pub fn unwrap(&self, key_id: Uuid, key_material: &[u8]) -> Result<DataKey> {
        let failed = || Error::KeyUnwrap {
            key_id,
            provider: "local".to_owned(),
        };
        let plaintext = self.aead.open(&[], key_material).map_err(|_| failed())?;
        let bytes: [u8; KEY_LEN] = plaintext.as_slice().try_into().map_err(|_| failed())?;
        Ok(DataKey::from_key_bytes(key_id, Box::new(KeyBytes(bytes))))
    }
}

/// Creates `path`, which must not exist, with mode 0600 from the start, writes `bytes`
/// and syncs them to disk; removes the file again if writing fails.
fn write_new_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let written = restrict_permissions(&file)
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Mode 0600 whatever the umask did to the mode asked for at creation.
#[cfg(unix)]
fn restrict_permissions(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// Elsewhere the file keeps the permissions its folder gives it.
#[cfg(not(unix))]
fn restrict_permissions(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// What a file is when it is not a regular file, in words for an error message.
fn not_regular_file(metadata: &std::fs::Metadata) -> Option<&'static str> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    if kind.is_symlink() {
        return Some("a symbolic link");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a FIFO");
        }
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// On Unix, refuses a file whose mode lets its group or others read, write or run it.
#[cfg(unix)]
fn check_private(metadata: &std::fs::Metadata) -> std::result::Result<(), MasterKeyFileProblem> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        Ok(())
    } else {
        Err(MasterKeyFileProblem::AccessibleByOthers { mode })
    }
}

/// Elsewhere permissions are not Unix modes; the file's folder decides who reads it.
#[cfg(not(unix))]
fn check_private(_metadata: &std::fs::Metadata) -> std::result::Result<(), MasterKeyFileProblem> {
    Ok(())
}

/// Whether `bytes` read as base64 text: only the base64 alphabet, padding and
/// whitespace.
fn looks_like_base64(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.iter().all(|&byte| {
            byte.is_ascii_alphanumeric()
                || matches!(byte, b'+' | b'/' | b'=')
                || byte.is_ascii_whitespace()
        })
}

fn length_error(actual: usize) -> Error {
    Error::InvalidKeyLength {
        what: "a local master key",
        expected: KEY_LEN,
        actual,
    }
}

impl fmt::Debug for LocalMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalMasterKey { .. }")
    }
}

/// How a master key file holds its 96 bytes.
///
/// [`Auto`](Self::Auto) tells raw bytes from base64 text by their content, which is
/// safe because the two cannot be confused except in one case it refuses: a file of
/// exactly 96 bytes that are all base64 text (the base64 of a 72-byte key, say, or a
/// hex string) would be a valid raw key and also base64 of a key of the wrong length,
/// so it is refused with [`MasterKeyFileProblem::AmbiguousFormat`] rather than guessed.
/// Keys from [`LocalMasterKey::create_file`] and [`LocalMasterKey::generate_bytes`]
/// are never all base64 text, so `Auto` reads them.
///
/// ```
/// use encrypted_core::{LocalMasterKeyFileOptions, LocalMasterKeyFormat};
///
/// let options = LocalMasterKeyFileOptions::new().format(LocalMasterKeyFormat::Raw);
/// assert_eq!(options.format_of(), LocalMasterKeyFormat::Raw);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocalMasterKeyFormat {
    /// Raw bytes when the file is 96 bytes that are not all base64 text, base64 when
    /// it is base64 text of another length; refused when it is 96 bytes of base64 text.
    #[default]
    Auto,
    /// Exactly 96 raw bytes, as MongoDB's guide writes `master-key.txt`.
    Raw,
    /// The standard base64 of the 96 bytes (128 characters); whitespace and line
    /// breaks anywhere are ignored.
    Base64,
}

/// How [`LocalMasterKey::from_file_with`] reads a master key file: its
/// [`LocalMasterKeyFormat`], and whether a file that group or others may access is
/// used. By default the format is `Auto` and such a file is refused.
///
/// ```
/// use encrypted_core::LocalMasterKeyFileOptions;
///
/// // A Kubernetes secret mounted with mode 0440 for the pod's group.
/// let options = LocalMasterKeyFileOptions::new().allow_group_or_other_access(true);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LocalMasterKeyFileOptions {
    format: LocalMasterKeyFormat,
    allow_group_or_other_access: bool,
}

impl LocalMasterKeyFileOptions {
    /// The defaults: the `Auto` format, and a file group or others may access is refused.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the file in this format.
    #[must_use]
    pub fn format(mut self, format: LocalMasterKeyFormat) -> Self {
        self.format = format;
        self
    }

    /// The format the file is read in.
    #[must_use]
    pub fn format_of(&self) -> LocalMasterKeyFormat {
        self.format
    }

    /// Uses the file even when its Unix mode lets its group or others access it
    /// (`mode & 0o077 != 0`). Off by default: whoever reads the master key reads every
    /// data key it wraps. Turn it on only when the group is meant to read the key (a
    /// shared service group, a container's `fsGroup`). No effect on other systems.
    #[must_use]
    pub fn allow_group_or_other_access(mut self, allow: bool) -> Self {
        self.allow_group_or_other_access = allow;
        self
    }
}

/// Why [`Error::MasterKeyFileRefused`] refused a master key file.
///
/// ```
/// use encrypted_core::MasterKeyFileProblem;
///
/// let problem = MasterKeyFileProblem::AccessibleByOthers { mode: 0o644 };
/// assert!(problem.to_string().contains("chmod 600"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyFileProblem {
    /// The path names a directory, device, FIFO, socket or (when replacing it) a
    /// symbolic link: reading one could hang or never end, replacing one would write
    /// somewhere else than the user meant.
    #[error("it is {found}, not a regular file")]
    NotRegularFile {
        /// What it is, in words ("a FIFO", "a symbolic link").
        found: &'static str,
    },

    /// The file is longer than any master key file, raw or base64.
    #[error("it is longer than {limit} bytes, so it holds neither 96 raw bytes nor their base64")]
    TooLong {
        /// The longest file read, [`LocalMasterKey::MAX_FILE_LEN`].
        limit: usize,
    },

    /// On Unix, the file's mode lets its group or others access it. Fixed by
    /// `chmod 600`, or allowed on purpose with
    /// [`LocalMasterKeyFileOptions::allow_group_or_other_access`].
    #[error(
        "its mode {mode:04o} lets its group or others access it; make it private with `chmod 600`"
    )]
    AccessibleByOthers {
        /// The file's permission bits.
        mode: u32,
    },

    /// In the `Auto` format, the file is exactly 96 bytes that are all base64 text:
    /// both a raw key and the base64 of a shorter one, two different keys.
    #[error(
        "its 96 bytes are both a raw key and base64 text, two different keys; state its format, raw or base64"
    )]
    AmbiguousFormat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_master_key_cannot_unwrap() {
        let a = LocalMasterKey::from_bytes(&[1; 96]).unwrap();
        let b = LocalMasterKey::from_bytes(&[2; 96]).unwrap();
        let data_key = DataKey::generate(Uuid::new()).unwrap();
        let material = a.wrap(&data_key).unwrap();
        assert!(matches!(
            b.unwrap(data_key.id(), &material),
            Err(Error::KeyUnwrap { .. })
        ));
        let mut altered = material.clone();
        altered[40] ^= 1;
        assert!(matches!(
            a.unwrap(data_key.id(), &altered),
            Err(Error::KeyUnwrap { .. })
        ));
        assert!(matches!(
            a.unwrap(data_key.id(), &material[..100]),
            Err(Error::KeyUnwrap { .. })
        ));
    }

    #[test]
    fn material_of_another_length_is_refused() {
        let master = LocalMasterKey::from_bytes(&[1; 96]).unwrap();
        let mut short = Vec::new();
        master.aead.seal_into(&[0; 16], &[], &[0; 64], &mut short);
        assert!(matches!(
            master.unwrap(Uuid::new(), &short),
            Err(Error::KeyUnwrap { .. })
        ));
    }

    #[test]
    fn created_files_are_private_refuse_overwrite_and_replace_whole() {
        let dir = std::env::temp_dir().join(format!("lmk-{}", Uuid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master-key.txt");
        let first = LocalMasterKey::create_file(&path, false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let data_key = DataKey::generate(Uuid::new()).unwrap();
        let wrapped = first.wrap(&data_key).unwrap();
        match LocalMasterKey::create_file(&path, false) {
            Err(Error::MasterKeyFileWrite { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
            }
            other => panic!("{other:?}"),
        }
        // Refused: the old key still reads and still unwraps.
        let reread = LocalMasterKey::from_file(&path).unwrap();
        assert!(reread.unwrap(data_key.id(), &wrapped).is_ok());
        LocalMasterKey::create_file(&path, true).unwrap();
        let replaced = LocalMasterKey::from_file(&path).unwrap();
        assert!(replaced.unwrap(data_key.id(), &wrapped).is_err());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no staging file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes a file only its owner may read, as a master key file must be.
    fn write_private(path: &Path, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[test]
    fn generated_bytes_are_never_base64_text() {
        for _ in 0..64 {
            assert!(!looks_like_base64(
                LocalMasterKey::generate_bytes().unwrap().as_ref()
            ));
        }
        assert!(looks_like_base64(b"QUJD\r\n=="));
        assert!(!looks_like_base64(b""));
        assert!(!looks_like_base64(b"QUJD-"));
    }

    #[test]
    fn reads_raw_and_base64_files_and_names_bad_lengths() {
        let dir = std::env::temp_dir().join(format!("encrypted-core-test-{}", Uuid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("raw");
        write_private(&raw, &[7u8; 96]);
        let b64 = dir.join("b64");
        // base64 of 96 bytes of 0x07, with the newline an editor adds.
        write_private(&b64, format!("{}\n", "BwcH".repeat(32)).as_bytes());
        let short = dir.join("short");
        write_private(&short, &[7u8; 95]);

        let data_key = DataKey::generate(Uuid::new()).unwrap();
        let wrapped = LocalMasterKey::from_file(&raw)
            .unwrap()
            .wrap(&data_key)
            .unwrap();
        assert!(LocalMasterKey::from_file(&b64).is_ok());
        assert!(
            LocalMasterKey::from_file(&raw)
                .unwrap()
                .unwrap(data_key.id(), &wrapped)
                .is_ok()
        );
        let err = LocalMasterKey::from_file(&short).unwrap_err();
        assert!(
            matches!(err, Error::InvalidKeyLength { actual: 95, .. }),
            "{err}"
        );
        assert!(matches!(
            LocalMasterKey::from_file(dir.join("missing")),
            Err(Error::MasterKeyFile { .. })
        ));
        assert!(matches!(
            LocalMasterKey::from_base64("not base64!"),
            Err(Error::InvalidMasterKeyEncoding)
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
