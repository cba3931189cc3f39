//! The OAuth 2.0 parts of the `azure` provider, without I/O: the client-credentials
//! token request as libmongocrypt writes it, the IMDS token request, token replies, and
//! how long a token is used.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// The identity platform's host when the credentials name none.
pub(crate) const DEFAULT_IDENTITY_PLATFORM: &str = "login.microsoftonline.com";

/// The instance metadata service's address (plain HTTP, link-local, port 80).
pub(crate) const DEFAULT_IMDS: &str = "169.254.169.254:80";

/// The IMDS managed-identity token request's path and query: API version 2018-02-01,
/// resource `https://vault.azure.net/` (the spec's "Obtaining an Access Token for Azure
/// Key Vault").
pub(crate) const IMDS_PATH: &str = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net%2F";

/// The most a token is used before its expiry: the spec refreshes a cached token with
/// less than a minute left.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The OAuth scope for a key vault at `host`: `https://<domain>/.default`, the domain
/// being the host after its first label (`vault.azure.net` for `my-kv.vault.azure.net`),
/// as libmongocrypt derives it.
pub(crate) fn scope_for(host: &str) -> String {
    let domain = host.split_once('.').map_or(host, |(_, domain)| domain);
    format!("https://{domain}/.default")
}

/// The client-credentials grant's form body, in libmongocrypt's field order:
/// `client_id=…&scope=…&client_secret=…&grant_type=client_credentials`. Values are
/// form-encoded (libmongocrypt writes them as they are, which is the same for the
/// unreserved characters Azure's ids and secrets are made of). Zeroized on drop.
pub(crate) fn client_credentials_body(
    client_id: &str,
    scope: &str,
    client_secret: &str,
) -> Zeroizing<String> {
    let mut body = Zeroizing::new(String::with_capacity(
        64 + 3 * (client_id.len() + scope.len() + client_secret.len()),
    ));
    body.push_str("client_id=");
    form_encode(&mut body, client_id);
    body.push_str("&scope=");
    form_encode(&mut body, scope);
    body.push_str("&client_secret=");
    form_encode(&mut body, client_secret);
    body.push_str("&grant_type=client_credentials");
    body
}

/// Appends `value` percent-encoded: unreserved characters (RFC 3986) as they are,
/// every other byte as `%XX`.
fn form_encode(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            for nibble in [byte >> 4, byte & 0x0f] {
                out.push(
                    char::from_digit(u32::from(nibble), 16)
                        .map_or('0', |digit| digit.to_ascii_uppercase()),
                );
            }
        }
    }
}

/// An access token and when to stop using it.
pub(crate) struct Token {
    pub(crate) value: Zeroizing<String>,
    refresh_at: Instant,
}

impl Token {
    /// A token obtained at `obtained` that expires `lifetime` later. It is used until a
    /// minute before its expiry, or half its lifetime for tokens shorter than two minutes.
    pub(crate) fn new(value: Zeroizing<String>, obtained: Instant, lifetime: Duration) -> Self {
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        Self {
            value,
            refresh_at: obtained + (lifetime - margin),
        }
    }

    /// Whether the token may still be used at `now`.
    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

/// What went wrong with a token reply.
#[derive(Debug, PartialEq)]
pub(crate) enum ReplyError {
    /// An HTTP error status, with the endpoint's error code and description (shortened).
    Status {
        status: u16,
        code: Option<String>,
        text: String,
    },
    /// A success status and a reply that is not a token reply.
    Malformed(&'static str),
}

/// The access token and its lifetime from a token reply (identity platform or IMDS):
/// `access_token`, and `expires_in` in seconds, a number (identity platform) or a
/// string of digits (IMDS).
pub(crate) fn parse_token_reply(
    status: u16,
    body: &[u8],
) -> Result<(Zeroizing<String>, Duration), ReplyError> {
    #[derive(serde::Deserialize)]
    struct Reply {
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    if status != 200 {
        let (code, text) = super::wire::error_text(body);
        return Err(ReplyError::Status { status, code, text });
    }
    let reply: Reply =
        serde_json::from_slice(body).map_err(|_| ReplyError::Malformed("no JSON token reply"))?;
    let token = Zeroizing::new(
        reply
            .access_token
            .filter(|token| !token.is_empty())
            .ok_or(ReplyError::Malformed("no `access_token`"))?,
    );
    let seconds = match reply.expires_in {
        Some(serde_json::Value::Number(number)) => number.as_u64(),
        Some(serde_json::Value::String(text))
            if !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
    .filter(|&seconds| seconds > 0)
    .ok_or(ReplyError::Malformed("no valid `expires_in`"))?;
    Ok((token, Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_scope_from_the_key_vault_host_as_libmongocrypt_does() {
        assert_eq!(
            scope_for("my-kv.vault.azure.net"),
            "https://vault.azure.net/.default"
        );
        assert_eq!(
            scope_for("hsm.managedhsm.azure.net"),
            "https://managedhsm.azure.net/.default"
        );
        assert_eq!(scope_for("127.0.0.1"), "https://0.0.1/.default");
    }

    #[test]
    fn writes_the_token_request_as_libmongocrypt_does() {
        // libmongocrypt: client_id=%s&scope=%s&client_secret=%s&grant_type=client_credentials,
        // with the scope https%3A%2F%2Fvault.azure.net%2F.default.
        let body = client_credentials_body(
            "5e8d1b7c-0000-4000-8000-000000000001",
            &scope_for("my-kv.vault.azure.net"),
            "s3cr3t~value.x_y-z",
        );
        assert_eq!(
            body.as_str(),
            "client_id=5e8d1b7c-0000-4000-8000-000000000001&scope=https%3A%2F%2Fvault.azure.net%2F.default&client_secret=s3cr3t~value.x_y-z&grant_type=client_credentials"
        );
        // What would change the form's meaning is encoded.
        let body = client_credentials_body("a", "b", "x&grant_type=password=%");
        assert!(body.ends_with(
            "client_secret=x%26grant_type%3Dpassword%3D%25&grant_type=client_credentials"
        ));
    }

    #[test]
    fn reads_token_replies_of_both_services() {
        let (token, lifetime) = parse_token_reply(
            200,
            br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"}"#,
        )
        .unwrap();
        assert_eq!((token.as_str(), lifetime.as_secs()), ("eyJ0", 3599));
        let (_, lifetime) = parse_token_reply(
            200,
            br#"{"access_token":"eyJ0","expires_in":"86400","resource":"https://vault.azure.net/"}"#,
        )
        .unwrap();
        assert_eq!(lifetime.as_secs(), 86_400);
        for bad in [
            &br#"{"expires_in":1}"#[..],
            br#"{"access_token":"","expires_in":1}"#,
            br#"{"access_token":"t"}"#,
            br#"{"access_token":"t","expires_in":"-1"}"#,
            br#"{"access_token":"t","expires_in":0}"#,
            b"<html>",
        ] {
            assert!(matches!(
                parse_token_reply(200, bad),
                Err(ReplyError::Malformed(_))
            ));
        }
        assert_eq!(
            parse_token_reply(
                401,
                br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#
            )
            .unwrap_err(),
            ReplyError::Status {
                status: 401,
                code: Some("invalid_client".to_owned()),
                text: "AADSTS7000215: Invalid client secret provided.".to_owned()
            }
        );
    }

    #[test]
    fn uses_a_token_until_a_minute_before_it_expires() {
        let start = Instant::now();
        let token = Token::new(Zeroizing::new("t".into()), start, Duration::from_secs(3600));
        assert!(token.is_fresh(start + Duration::from_secs(3539)));
        assert!(!token.is_fresh(start + Duration::from_secs(3540)));
        let short = Token::new(Zeroizing::new("t".into()), start, Duration::from_secs(4));
        assert!(short.is_fresh(start + Duration::from_millis(1900)));
        assert!(!short.is_fresh(start + Duration::from_secs(2)));
    }
}
