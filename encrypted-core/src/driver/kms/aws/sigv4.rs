//! AWS Signature Version 4 (HMAC-SHA256), for the requests the AWS KMS provider sends.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// What is signed: one HTTP request.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// Already URI-encoded `name=value` pairs joined by `&` (empty for none).
    pub(crate) query: &'a str,
    /// Every header to sign (`host` and `x-amz-date` included), any case and order.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) payload: &'a [u8],
}

/// Who signs, where, when.
pub(crate) struct Scope<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    /// `YYYYMMDDTHHMMSSZ`, the value of the signed `x-amz-date` header.
    pub(crate) amz_date: &'a str,
}

/// The `Authorization` header value for `request`.
pub(crate) fn authorization(request: &Request<'_>, scope: &Scope<'_>) -> String {
    let (canonical, signed_headers) = canonical_request(request);
    let date = scope.amz_date.get(..8).unwrap_or(scope.amz_date);
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{credential_scope}\n{}",
        scope.amz_date,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let secret = Zeroizing::new(format!("AWS4{}", scope.secret_access_key));
    let mut key = Zeroizing::new(hmac(secret.as_bytes(), date.as_bytes()));
    for part in [scope.region, scope.service, "aws4_request"] {
        key = Zeroizing::new(hmac(key.as_slice(), part.as_bytes()));
    }
    let signature = hex(&hmac(key.as_slice(), string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        scope.access_key_id
    )
}

/// The canonical request and the `SignedHeaders` list.
fn canonical_request(request: &Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                value.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut query: Vec<&str> = request
        .query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .collect();
    query.sort_unstable();
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method.to_ascii_uppercase(),
        request.path,
        query.join("&"),
        hex(&Sha256::digest(request.payload))
    );
    (canonical, signed_headers)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    //! The AWS Signature Version 4 test suite (AWS General Reference; the same vectors
    //! ship with aws-c-auth and the AWS SDKs): `encrypted-core/tests/data/aws-sigv4-test-suite.json`.

    use super::*;

    #[derive(serde::Deserialize)]
    struct Suite {
        credentials: Credentials,
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Credentials {
        access_key_id: String,
        secret_access_key: String,
        region: String,
        service: String,
        amz_date: String,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        method: String,
        query: String,
        headers: Vec<(String, String)>,
        body: String,
        authorization: String,
        #[serde(default)]
        must_fail: bool,
    }

    #[test]
    fn aws_sigv4_test_suite() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/aws-sigv4-test-suite.json"
        );
        let suite: Suite = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let c = &suite.credentials;
        let scope = Scope {
            access_key_id: &c.access_key_id,
            secret_access_key: &c.secret_access_key,
            region: &c.region,
            service: &c.service,
            amz_date: &c.amz_date,
        };
        assert!(suite.cases.iter().any(|case| case.must_fail));
        for case in &suite.cases {
            let headers: Vec<(&str, &str)> = case
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let request = Request {
                method: &case.method,
                path: "/",
                query: &case.query,
                headers: &headers,
                payload: case.body.as_bytes(),
            };
            let signed = authorization(&request, &scope);
            if case.must_fail {
                assert_ne!(signed, case.authorization, "{}", case.name);
            } else {
                assert_eq!(signed, case.authorization, "{}", case.name);
            }
        }
    }
}
