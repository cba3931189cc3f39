//! The service account's private key and the signed JWT of the OAuth 2.0 JWT bearer flow
//! (RFC 7523), as libmongocrypt's kms-message builds it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use zeroize::Zeroizing;

/// How long a signed assertion is valid (kms-message: five minutes).
const ASSERTION_LIFETIME_SECS: u64 = 5 * 60;

/// The base64url of `{"alg":"RS256","typ":"JWT"}`, kms-message's header byte for byte.
const HEADER: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9";

/// A PKCS#8 DER RSA private key, checked once, zeroized on drop. Parsed again for each
/// signature (one per token fetch) so that no long-lived parsed copy of it exists in a
/// type that does not zeroize.
pub(super) struct PrivateKey(Zeroizing<Vec<u8>>);

impl PrivateKey {
    /// Reads a private key as libmongocrypt and Google's tools hand it out: PKCS#8 PEM
    /// (`-----BEGIN PRIVATE KEY-----`, as in a service account's JSON key file), the
    /// base64 of the PKCS#8 DER (libmongocrypt's `privateKey` string), or the DER itself.
    /// The reason it is refused never quotes the key.
    pub(super) fn parse(input: &[u8]) -> Result<Self, String> {
        let der = to_der(input)?;
        RsaKeyPair::from_pkcs8(&der).map_err(|rejected| {
            format!("the private key is not a PKCS#8 RSA key of 2048 to 4096 bits ({rejected})")
        })?;
        Ok(Self(der))
    }

    /// `header.claims.signature`, the signed assertion for `email` asking for `scope`
    /// from the token endpoint `audience`, issued at `now` (seconds since the epoch).
    pub(super) fn assertion(
        &self,
        email: &str,
        audience: &str,
        scope: &str,
        now: u64,
    ) -> Result<Zeroizing<String>, String> {
        let pair = RsaKeyPair::from_pkcs8(&self.0)
            .map_err(|rejected| format!("the private key is not usable ({rejected})"))?;
        let claims = claims(email, audience, scope, now);
        let mut assertion = Zeroizing::new(format!("{HEADER}.{}", BASE64URL.encode(claims)));
        let mut signature = vec![0_u8; pair.public().modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            assertion.as_bytes(),
            &mut signature,
        )
        .map_err(|_| "cannot sign the OAuth assertion".to_owned())?;
        assertion.push('.');
        BASE64URL.encode_string(&signature, &mut assertion);
        Ok(assertion)
    }
}

/// The claims exactly as kms-message writes them (spaces included); the strings are
/// JSON-escaped, which leaves the usual emails and URLs as they are.
fn claims(email: &str, audience: &str, scope: &str, now: u64) -> String {
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    format!(
        "{{\"iss\": {}, \"aud\": {}, \"scope\": {}, \"iat\": {now}, \"exp\": {}}}",
        quote(email),
        quote(audience),
        quote(scope),
        now.saturating_add(ASSERTION_LIFETIME_SECS)
    )
}

/// The PKCS#8 DER in `input` (PEM, base64 or DER), in a buffer zeroized on drop.
fn to_der(input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = std::str::from_utf8(input).ok();
    if let Some(text) = text.filter(|text| text.contains("-----BEGIN")) {
        return from_pem(text);
    }
    match text {
        // DER starts with a SEQUENCE tag (0x30 0x82 …), which is not UTF-8.
        None => Ok(Zeroizing::new(input.to_vec())),
        Some(text) => decode_base64(text)
            .ok_or_else(|| "the private key is neither PEM, base64 nor DER".to_owned()),
    }
}

fn from_pem(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let Some((_, rest)) = text.split_once(BEGIN) else {
        let hint = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            ": it is a PKCS#1 key; convert it with `openssl pkcs8 -topk8 -nocrypt`"
        } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            ": it is encrypted; an unencrypted PKCS#8 key is needed"
        } else {
            ""
        };
        return Err(format!(
            "the private key PEM holds no `PRIVATE KEY` section{hint}"
        ));
    };
    let (body, _) = rest
        .split_once(END)
        .ok_or_else(|| "the private key PEM has no end line".to_owned())?;
    decode_base64(body).ok_or_else(|| "the private key PEM is not valid base64".to_owned())
}

/// Standard base64 with any whitespace (PEM lines) skipped, zeroized on drop.
fn decode_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    if compact.is_empty() {
        return None;
    }
    let mut der = Zeroizing::new(vec![0_u8; base64::decoded_len_estimate(compact.len())]);
    let length = BASE64
        .decode_slice(compact.as_bytes(), der.as_mut_slice())
        .ok()?;
    der.truncate(length);
    Some(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_claims_as_kms_message_does() {
        assert_eq!(
            claims(
                "sa@p.iam.gserviceaccount.com",
                "https://oauth2.googleapis.com/token",
                "https://www.googleapis.com/auth/cloudkms",
                1_000
            ),
            "{\"iss\": \"sa@p.iam.gserviceaccount.com\", \"aud\": \"https://oauth2.googleapis.com/token\", \"scope\": \"https://www.googleapis.com/auth/cloudkms\", \"iat\": 1000, \"exp\": 1300}"
        );
        assert_eq!(
            BASE64URL.decode(HEADER).unwrap(),
            br#"{"alg":"RS256","typ":"JWT"}"#
        );
    }

    #[test]
    fn refuses_what_is_not_a_pkcs8_rsa_key_without_quoting_it() {
        for (input, expected) in [
            (
                &b"-----BEGIN RSA PRIVATE KEY-----\nQUJD\n-----END RSA PRIVATE KEY-----\n"[..],
                "PKCS#1",
            ),
            (b"-----BEGIN PRIVATE KEY-----\nQUJD\n", "no end line"),
            (b"not base64 at all!", "neither PEM"),
            (b"QUJDRA==", "not a PKCS#8 RSA key"),
            (&[0x30, 0x82, 0x01, 0x00][..], "not a PKCS#8 RSA key"),
        ] {
            let message = PrivateKey::parse(input).err().unwrap();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("QUJD"), "{message}");
        }
    }
}
