//! Key Vault's `wrapkey`/`unwrapkey` requests and replies as libmongocrypt sends and
//! reads them, without I/O, and which hosts are Azure's own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use super::super::aws::endpoint::Endpoint;

/// The Key Vault API version libmongocrypt (1.21) sends.
pub(crate) const API_VERSION: &str = "7.1";

/// The DNS suffixes of Key Vault and Managed HSM in Azure's clouds (public, China,
/// US Government, Germany).
const KEY_VAULT_DOMAINS: [&str; 7] = [
    "vault.azure.net",
    "vault.azure.cn",
    "vault.usgovcloudapi.net",
    "vault.microsoftazure.de",
    "managedhsm.azure.net",
    "managedhsm.azure.cn",
    "managedhsm.usgovcloudapi.net",
];

/// The identity platform's hosts in Azure's clouds.
const IDENTITY_PLATFORMS: [&str; 4] = [
    "login.microsoftonline.com",
    "login.chinacloudapi.cn",
    "login.microsoftonline.us",
    "login.microsoftonline.de",
];

/// Whether `endpoint` is a key vault of Azure's own: one label (the vault's name) under
/// one of Key Vault's domains, on port 443.
pub(crate) fn is_official_key_vault(endpoint: &Endpoint) -> bool {
    endpoint.port() == 443
        && endpoint
            .host()
            .split_once('.')
            .is_some_and(|(name, domain)| !name.is_empty() && KEY_VAULT_DOMAINS.contains(&domain))
}

/// Whether `endpoint` is one of the identity platform's own hosts, on port 443.
pub(crate) fn is_official_identity_platform(endpoint: &Endpoint) -> bool {
    endpoint.port() == 443 && IDENTITY_PLATFORMS.contains(&endpoint.host())
}

/// `/keys/{name}/{version}/{operation}?api-version=7.1`, libmongocrypt's path (with an
/// empty version segment for the current version, as it writes it). `None` unless the
/// name is what Key Vault allows (letters, digits, `-`, at most 127) and the version
/// letters and digits: a key document is data, and must not reshape the path.
pub(crate) fn key_path(name: &str, version: Option<&str>, operation: &str) -> Option<String> {
    let name_ok = !name.is_empty()
        && name.len() <= 127
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let version = version.unwrap_or("");
    let version_ok = version.len() <= 64 && version.bytes().all(|b| b.is_ascii_alphanumeric());
    (name_ok && version_ok)
        .then(|| format!("/keys/{name}/{version}/{operation}?api-version={API_VERSION}"))
}

/// `{"alg": "RSA-OAEP-256", "value": "<base64url>"}`, byte for byte as libmongocrypt
/// writes it (base64url keeping its `=` padding), into a buffer of its exact size (no
/// regrowth leaving copies of a data key behind), zeroized on drop.
pub(crate) fn request_body(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    const HEAD: &str = r#"{"alg": "RSA-OAEP-256", "value": ""#;
    const TAIL: &str = r#""}"#;
    let encoded_len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    let mut body = Zeroizing::new(String::with_capacity(HEAD.len() + encoded_len + TAIL.len()));
    body.push_str(HEAD);
    URL_SAFE.encode_string(bytes, &mut body);
    body.push_str(TAIL);
    Zeroizing::new(std::mem::take(&mut *body).into_bytes())
}

/// The `value` of a reply, borrowed from the (zeroized) reply buffer: base64url needs
/// no JSON escapes, and a reply that escapes it is refused rather than copied.
#[derive(serde::Deserialize)]
struct Reply<'a> {
    #[serde(borrow, default)]
    value: Option<&'a str>,
}

/// What a `wrapkey`/`unwrapkey` reply says.
#[derive(Debug, PartialEq)]
pub(crate) enum ReplyError {
    /// An HTTP error status, with Key Vault's error code and message (shortened).
    Status {
        status: u16,
        code: Option<String>,
        text: String,
    },
    /// A success status and a reply without a base64url `value`.
    Malformed(&'static str),
}

/// The decoded `value` of a reply with HTTP status `status`.
pub(crate) fn parse_reply(status: u16, body: &[u8]) -> Result<Zeroizing<Vec<u8>>, ReplyError> {
    if !(200..300).contains(&status) {
        let (code, text) = error_text(body);
        return Err(ReplyError::Status { status, code, text });
    }
    let reply: Reply<'_> =
        serde_json::from_slice(body).map_err(|_| ReplyError::Malformed("no JSON reply"))?;
    let encoded = reply.value.ok_or(ReplyError::Malformed("no `value`"))?;
    // Key Vault writes base64url without padding; libmongocrypt's own encoder keeps it.
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut decoded = Zeroizing::new(vec![0_u8; base64::decoded_len_estimate(encoded.len())]);
    let length = LENIENT
        .decode_slice(encoded, decoded.as_mut_slice())
        .map_err(|_| ReplyError::Malformed("a `value` that is not base64url"))?;
    decoded.truncate(length);
    Ok(decoded)
}

/// The error code and text of an Azure error reply, shortened (a hostile endpoint writes
/// them, and they end up in an error message): Key Vault's
/// `{"error":{"code":…,"message":…}}` or the identity platform's
/// `{"error":"…","error_description":"…"}`.
pub(crate) fn error_text(body: &[u8]) -> (Option<String>, String) {
    let reply: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let string = |value: Option<&serde_json::Value>| {
        value
            .and_then(serde_json::Value::as_str)
            .map(|text| shorten(text, 100))
    };
    let (code, text) = match reply.get("error") {
        Some(error @ serde_json::Value::Object(_)) => {
            (string(error.get("code")), string(error.get("message")))
        }
        Some(code) => (string(Some(code)), string(reply.get("error_description"))),
        None => (None, None),
    };
    (
        code,
        text.map_or_else(
            || "no error description".to_owned(),
            |text| shorten(&text, 300),
        ),
    )
}

fn shorten(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(text: &str) -> Endpoint {
        Endpoint::parse(text).unwrap()
    }

    #[test]
    fn knows_azures_own_key_vaults_and_identity_platforms() {
        for official in [
            "my-kv.vault.azure.net",
            "MY-KV.vault.azure.net:443",
            "kv.vault.azure.cn",
            "kv.vault.usgovcloudapi.net",
            "kv.vault.microsoftazure.de",
            "hsm.managedhsm.azure.net",
        ] {
            assert!(is_official_key_vault(&endpoint(official)), "{official}");
        }
        for other in [
            "vault.azure.net",
            "my-kv.vault.azure.net:8443",
            "a.b.vault.azure.net",
            "my-kv.vault.azure.net.evil.example",
            "evil.example",
            "127.0.0.1",
            "login.microsoftonline.com",
        ] {
            assert!(!is_official_key_vault(&endpoint(other)), "{other}");
        }
        assert!(is_official_identity_platform(&endpoint(
            "login.microsoftonline.com"
        )));
        assert!(is_official_identity_platform(&endpoint(
            "login.chinacloudapi.cn:443"
        )));
        assert!(!is_official_identity_platform(&endpoint(
            "login.microsoftonline.com:8443"
        )));
        assert!(!is_official_identity_platform(&endpoint("evil.example")));
    }

    #[test]
    fn writes_libmongocrypts_paths_and_refuses_others() {
        assert_eq!(
            key_path("data-keys", Some("0123abcdef"), "wrapkey").unwrap(),
            "/keys/data-keys/0123abcdef/wrapkey?api-version=7.1"
        );
        assert_eq!(
            key_path("data-keys", None, "unwrapkey").unwrap(),
            "/keys/data-keys//unwrapkey?api-version=7.1"
        );
        for (name, version) in [
            ("", None),
            ("a/../../secrets", None),
            ("a?x=", None),
            ("a#", None),
            ("a", Some("v/../x")),
            ("a b", None),
        ] {
            assert_eq!(
                key_path(name, version, "wrapkey"),
                None,
                "{name} {version:?}"
            );
        }
    }

    #[test]
    fn writes_the_request_body_as_libmongocrypt_does() {
        let body = request_body(&[0xfb, 0xff, 0x00, 0x01]);
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"alg": "RSA-OAEP-256", "value": "-_8AAQ=="}"#
        );
        assert_eq!(body.len(), body.capacity());
    }

    #[test]
    fn reads_replies_padded_or_not() {
        let value = parse_reply(200, br#"{"kid":"https://kv/keys/k/v","value":"-_8AAQ"}"#);
        assert_eq!(value.unwrap().as_slice(), [0xfb, 0xff, 0, 1]);
        let value = parse_reply(200, br#"{"value":"-_8AAQ=="}"#);
        assert_eq!(value.unwrap().as_slice(), [0xfb, 0xff, 0, 1]);
        for bad in [
            &br#"{"kid":"k"}"#[..],
            br#"{"value":"+/8AAQ"}"#,
            b"nope",
            br#"{"value":"a\/b"}"#,
        ] {
            assert!(matches!(
                parse_reply(200, bad),
                Err(ReplyError::Malformed(_))
            ));
        }
        assert_eq!(
            parse_reply(404, br#"{"error":{"code":"KeyNotFound","message":"A key with (name/id) k was not found"}}"#)
                .unwrap_err(),
            ReplyError::Status {
                status: 404,
                code: Some("KeyNotFound".to_owned()),
                text: "A key with (name/id) k was not found".to_owned()
            }
        );
        let long = format!(
            r#"{{"error":{{"code":"X","message":"{}"}}}}"#,
            "y".repeat(10_000)
        );
        let (_, text) = error_text(long.as_bytes());
        assert!(text.chars().count() <= 301);
        assert_eq!(
            error_text(b"garbage"),
            (None, "no error description".to_owned())
        );
    }
}
