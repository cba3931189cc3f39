//! Cloud KMS `encrypt`/`decrypt` requests and replies as libmongocrypt's kms-message
//! writes and reads them, and Google's error replies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

/// `encrypt` or `decrypt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    Encrypt,
    Decrypt,
}

impl Call {
    /// The method name after `:` in the path.
    pub(super) fn method(self) -> &'static str {
        match self {
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
        }
    }

    /// The request's field.
    fn input(self) -> &'static str {
        match self {
            Self::Encrypt => "plaintext",
            Self::Decrypt => "ciphertext",
        }
    }

    /// The reply's field.
    pub(super) fn output(self) -> &'static str {
        match self {
            Self::Encrypt => "ciphertext",
            Self::Decrypt => "plaintext",
        }
    }
}

/// A key's resource name parts, checked as kms-message checks them (letters, digits,
/// `-`, `.`, `_`, `~`): they are written into a URL path.
pub(super) struct KeyPath<'a> {
    pub(super) project_id: &'a str,
    pub(super) location: &'a str,
    pub(super) key_ring: &'a str,
    pub(super) key_name: &'a str,
    pub(super) key_version: Option<&'a str>,
}

impl KeyPath<'_> {
    /// The path of `call`: `/v1/projects/…/cryptoKeys/{key}[/cryptoKeyVersions/{v}]:call`.
    /// Like libmongocrypt, a decryption never names the version (Cloud KMS finds it in
    /// the ciphertext). The error names the invalid field.
    pub(super) fn path(&self, call: Call) -> Result<String, &'static str> {
        for (field, value) in [
            ("projectId", self.project_id),
            ("location", self.location),
            ("keyRing", self.key_ring),
            ("keyName", self.key_name),
            ("keyVersion", self.key_version.unwrap_or("1")),
        ] {
            if !valid_identifier(value) {
                return Err(field);
            }
        }
        let mut path = format!(
            "/v1/projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}",
            self.project_id, self.location, self.key_ring, self.key_name
        );
        if let (Call::Encrypt, Some(version)) = (call, self.key_version) {
            path.push_str("/cryptoKeyVersions/");
            path.push_str(version);
        }
        path.push(':');
        path.push_str(call.method());
        Ok(path)
    }
}

fn valid_identifier(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `{"plaintext": "<base64>"}` or `{"ciphertext": "<base64>"}`, kms-message's bytes,
/// written once into a buffer of its exact size, zeroized on drop.
pub(super) fn body(call: Call, bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let field = call.input();
    let encoded_len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    let mut body = Zeroizing::new(String::with_capacity(
        r#"{"": ""}"#.len() + field.len() + encoded_len,
    ));
    body.push_str(r#"{""#);
    body.push_str(field);
    body.push_str(r#"": ""#);
    BASE64.encode_string(bytes, &mut body);
    body.push_str(r#""}"#);
    Zeroizing::new(std::mem::take(&mut *body).into_bytes())
}

/// The decoded `ciphertext` or `plaintext` of a successful reply, borrowed from the
/// (zeroized) reply and decoded into a buffer allocated once, zeroized on drop.
pub(super) fn answer(call: Call, reply: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    #[derive(serde::Deserialize)]
    struct Reply<'a> {
        #[serde(borrow, default)]
        ciphertext: Option<&'a str>,
        #[serde(borrow, default)]
        plaintext: Option<&'a str>,
    }
    let reply: Reply<'_> = serde_json::from_slice(reply)
        .map_err(|_| format!("{} answered with no JSON it can read", call.method()))?;
    let encoded = match call {
        Call::Encrypt => reply.ciphertext,
        Call::Decrypt => reply.plaintext,
    }
    .ok_or_else(|| format!("{} answered without {}", call.method(), call.output()))?;
    let mut decoded = Zeroizing::new(vec![0_u8; base64::decoded_len_estimate(encoded.len())]);
    let length = BASE64
        .decode_slice(encoded, decoded.as_mut_slice())
        .map_err(|_| {
            format!(
                "{} answered {} that is not base64",
                call.method(),
                call.output()
            )
        })?;
    decoded.truncate(length);
    Ok(decoded)
}

/// Google's error code and message from an error reply, shortened (a hostile endpoint
/// writes this text): Cloud KMS's `{"error": {"code", "message", "status"}}` or OAuth's
/// `{"error": "invalid_grant", "error_description": …}`.
pub(super) fn google_error(body: &[u8]) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Detail {
        Api {
            #[serde(default)]
            status: Option<String>,
            #[serde(default)]
            message: Option<String>,
        },
        OAuth(String),
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        error: Detail,
        #[serde(default)]
        error_description: Option<String>,
    }
    let (code, message) = match serde_json::from_slice::<Reply>(body) {
        Ok(Reply {
            error: Detail::Api { status, message },
            ..
        }) => (status, message),
        Ok(Reply {
            error: Detail::OAuth(code),
            error_description,
        }) => (Some(code), error_description),
        Err(_) => (None, None),
    };
    let shorten = |text: String| match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text,
    };
    (
        code.map(shorten),
        shorten(message.unwrap_or_else(|| "no error message".to_owned())),
    )
}

/// The most characters of a KMS's own error text quoted in an error.
const MAX_ERROR_TEXT: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: Option<&str>) -> KeyPath<'_> {
        KeyPath {
            project_id: "p",
            location: "global",
            key_ring: "r",
            key_name: "k",
            key_version: version,
        }
    }

    #[test]
    fn writes_paths_as_kms_message_does() {
        assert_eq!(
            key(None).path(Call::Encrypt).unwrap(),
            "/v1/projects/p/locations/global/keyRings/r/cryptoKeys/k:encrypt"
        );
        assert_eq!(
            key(Some("3")).path(Call::Encrypt).unwrap(),
            "/v1/projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3:encrypt"
        );
        assert_eq!(
            key(Some("3")).path(Call::Decrypt).unwrap(),
            "/v1/projects/p/locations/global/keyRings/r/cryptoKeys/k:decrypt"
        );
        let bad = KeyPath {
            key_ring: "r/../../x",
            ..key(None)
        };
        assert_eq!(bad.path(Call::Decrypt).unwrap_err(), "keyRing");
        assert_eq!(
            key(Some("1?x")).path(Call::Decrypt).unwrap_err(),
            "keyVersion"
        );
    }

    #[test]
    fn writes_bodies_at_their_exact_size() {
        let body = body(Call::Encrypt, &[0xff; 3]);
        assert_eq!(body.as_slice(), br#"{"plaintext": "////"}"#);
        assert_eq!(body.len(), body.capacity());
    }

    #[test]
    fn reads_answers_and_errors() {
        assert_eq!(
            answer(Call::Decrypt, br#"{"plaintext": "AAEC"}"#)
                .unwrap()
                .as_slice(),
            [0, 1, 2]
        );
        assert!(answer(Call::Decrypt, br#"{"ciphertext": "AAEC"}"#).is_err());
        assert!(answer(Call::Encrypt, br#"{"ciphertext": "!!"}"#).is_err());
        assert_eq!(
            google_error(
                br#"{"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}}"#
            ),
            (Some("PERMISSION_DENIED".to_owned()), "Permission denied".to_owned())
        );
        assert_eq!(
            google_error(br#"{"error": "invalid_grant", "error_description": "Invalid JWT"}"#),
            (Some("invalid_grant".to_owned()), "Invalid JWT".to_owned())
        );
        let long = format!(r#"{{"error": {{"message": "{}"}}}}"#, "x".repeat(10_000));
        assert!(google_error(long.as_bytes()).1.chars().count() <= MAX_ERROR_TEXT + 1);
        assert_eq!(
            google_error(b"<html>"),
            (None, "no error message".to_owned())
        );
    }
}
