//! The `local` KMS provider's master key: 96 bytes held by the application, which wrap
//! (encrypt) data keys into their `keyMaterial`.

use std::fmt;
use std::path::Path;

use bson::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMasterKeyEncoding`] when the text is not base64, and
    /// [`Error::InvalidKeyLength`] unless it decodes to 96 bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        let mut binary = bson::Binary::from_base64(text.trim(), None)
            .map_err(|_| Error::InvalidMasterKeyEncoding)?;
        let key = Self::from_bytes(&binary.bytes);
        binary.bytes.zeroize();
        key
    }

    /// Reads a master key file: either exactly 96 raw bytes (the guide's
    /// `master-key.txt`) or the base64 of 96 bytes.
    ///
    /// # Errors
    ///
    /// [`Error::MasterKeyFile`] when the file cannot be read; [`Error::InvalidKeyLength`]
    /// when it holds neither 96 bytes nor the base64 of 96 bytes.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let contents =
            Zeroizing::new(std::fs::read(path).map_err(|source| Error::MasterKeyFile {
                path: path.to_owned(),
                source,
            })?);
        if contents.len() == KEY_LEN {
            return Self::from_bytes(&contents);
        }
        // Not 96 raw bytes: base64 text, or else a raw key of the wrong length.
        match std::str::from_utf8(&contents).map(Self::from_base64) {
            Ok(Err(Error::InvalidMasterKeyEncoding)) | Err(_) => Err(length_error(contents.len())),
            Ok(parsed) => parsed,
        }
    }

    /// Generates a new master key from the operating system's CSPRNG, returning the key
    /// and its bytes (to be stored by the caller, for example in a key file).
    ///
    /// # Errors
    ///
    /// [`Error::Randomness`] if the operating system's generator fails.
    pub fn generate_bytes() -> Result<Zeroizing<[u8; KEY_LEN]>> {
        let mut bytes = Zeroizing::new([0; KEY_LEN]);
        crate::crypto::random::fill(bytes.as_mut())?;
        Ok(bytes)
    }

    /// Generates a new master key and stores its 96 raw bytes (the format of MongoDB's
    /// guide, `master-key.txt`) in a new file at `path`, readable by its owner only (mode
    /// 0600 on Unix, from the moment the file exists).
    ///
    /// An existing file is refused unless `replace`: its key may wrap data keys that
    /// would become unreadable. With `replace` the new key is written beside it and
    /// renamed over it, so the old key is replaced whole or not at all.
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
    /// [`Error::MasterKeyFile`] when the file exists (without `replace`; its `source` is
    /// of kind [`AlreadyExists`](std::io::ErrorKind::AlreadyExists)) or cannot be written;
    /// [`Error::Randomness`] if the operating system's generator fails.
    pub fn create_file(path: impl AsRef<Path>, replace: bool) -> Result<Self> {
        let path = path.as_ref();
        let bytes = Self::generate_bytes()?;
        let file_error = |source| Error::MasterKeyFile {
            path: path.to_owned(),
            source,
        };
        if replace {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".{}.tmp", Uuid::new()));
            let staging = path.with_file_name(name);
            write_new_file(&staging, bytes.as_ref()).map_err(file_error)?;
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
            Err(Error::MasterKeyFile { source, .. }) => {
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

    #[test]
    fn reads_raw_and_base64_files_and_names_bad_lengths() {
        let dir = std::env::temp_dir().join(format!("encrypted-core-test-{}", Uuid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("raw");
        std::fs::write(&raw, [7u8; 96]).unwrap();
        let b64 = dir.join("b64");
        // base64 of 96 bytes of 0x07, with the newline an editor adds.
        std::fs::write(&b64, format!("{}\n", "BwcH".repeat(32))).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, [7u8; 95]).unwrap();

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
