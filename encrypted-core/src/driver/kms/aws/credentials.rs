//! On-demand AWS credentials (the spec's "Automatic Credentials" for `aws: {}`),
//! fetched the way the drivers' MONGODB-AWS authentication does, in this order:
//!
//! 1. `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, if set, `AWS_SESSION_TOKEN`;
//! 2. a web identity (EKS IRSA): the token in `AWS_WEB_IDENTITY_TOKEN_FILE` exchanged for
//!    credentials of `AWS_ROLE_ARN` with STS `AssumeRoleWithWebIdentity`;
//! 3. ECS container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on
//!    `169.254.170.2`;
//! 4. EC2 instance credentials through IMDSv2 (a session token first, then the role
//!    and its credentials, each request carrying the token).
//!
//! Fetched credentials are cached and fetched again 5 minutes before they expire; the
//! cache is a lock held during the fetch, so concurrent callers share one fetch.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use super::AwsCredentials;
use crate::driver::kms::http::{HttpClient, Method, Reply, Request, with_message};
use crate::kms::KmsErrorKind;
use crate::{Error, Result};

/// STS, for `AssumeRoleWithWebIdentity`.
pub(crate) const DEFAULT_STS_ENDPOINT: &str = "https://sts.amazonaws.com";
/// The ECS task metadata endpoint.
pub(crate) const DEFAULT_ECS_ENDPOINT: &str = "http://169.254.170.2";
/// The EC2 instance metadata service.
pub(crate) const DEFAULT_EC2_ENDPOINT: &str = "http://169.254.169.254";

/// Credentials are fetched again this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The longest wait for a metadata server (ECS, EC2): they are link-local and answer in
/// milliseconds, and where there is none (off AWS) a request may hang until its
/// timeout, so that failing takes seconds rather than three times the KMS timeout.
const MAX_METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an IMDSv2 session token is asked to live: long enough for the two reads
/// that follow it.
const IMDS_TOKEN_TTL_SECONDS: &str = "30";

/// Where the `aws` provider's credentials come from.
pub(crate) enum Source {
    /// Given by the application.
    Static(Arc<AwsCredentials>),
    /// Fetched when needed.
    OnDemand(Box<OnDemand>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(credentials) => credentials.fmt(f),
            Self::OnDemand(on_demand) => on_demand.fmt(f),
        }
    }
}

/// The on-demand source: where to look, and the cache.
pub(crate) struct OnDemand {
    /// The variables to read instead of the process environment, if the application
    /// gave them. Values may be secrets: zeroized on drop, never printed.
    environment: Option<BTreeMap<String, Zeroizing<String>>>,
    pub(crate) sts_endpoint: String,
    pub(crate) ecs_endpoint: String,
    pub(crate) ec2_endpoint: String,
    metadata: HttpClient,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl fmt::Debug for OnDemand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnDemand")
            .field(
                "environment",
                &self
                    .environment
                    .as_ref()
                    .map(|variables| variables.keys().map(String::as_str).collect::<Vec<_>>()),
            )
            .field("sts_endpoint", &self.sts_endpoint)
            .field("ecs_endpoint", &self.ecs_endpoint)
            .field("ec2_endpoint", &self.ec2_endpoint)
            .finish_non_exhaustive()
    }
}

/// Fetched credentials and when they expire (if they say).
struct Cached {
    credentials: Arc<AwsCredentials>,
    expiration: Option<bson::DateTime>,
}

impl Cached {
    fn is_fresh(&self, now: bson::DateTime) -> bool {
        self.expiration
            .is_none_or(|expiration| now.saturating_add_duration(REFRESH_MARGIN) < expiration)
    }
}

impl OnDemand {
    /// Looking in the process environment and at the usual endpoints; metadata
    /// requests limited to `timeout` each (at most 2 seconds).
    pub(crate) fn new(timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            environment: None,
            sts_endpoint: DEFAULT_STS_ENDPOINT.to_owned(),
            ecs_endpoint: DEFAULT_ECS_ENDPOINT.to_owned(),
            ec2_endpoint: DEFAULT_EC2_ENDPOINT.to_owned(),
            metadata: HttpClient::metadata(timeout.min(MAX_METADATA_TIMEOUT))?,
            cache: tokio::sync::Mutex::new(None),
        })
    }

    /// Reads these variables instead of the process environment.
    pub(crate) fn set_environment(&mut self, variables: BTreeMap<String, Zeroizing<String>>) {
        self.environment = Some(variables);
        *self.cache.get_mut() = None;
    }

    /// Metadata requests limited to `timeout` each (at most 2 seconds).
    pub(crate) fn set_timeout(&mut self, timeout: Duration) -> Result<(), String> {
        self.metadata = HttpClient::metadata(timeout.min(MAX_METADATA_TIMEOUT))?;
        Ok(())
    }

    /// Forgets the cached credentials (an endpoint changed).
    pub(crate) fn forget(&mut self) {
        *self.cache.get_mut() = None;
    }

    /// A variable, empty counting as unset.
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        match &self.environment {
            Some(variables) => variables.get(name).cloned(),
            None => std::env::var(name).ok().map(Zeroizing::new),
        }
        .filter(|value| !value.is_empty())
    }

    /// The credentials to sign with now. `sts` is the provider's HTTPS client (its TLS
    /// settings and retries).
    pub(crate) async fn credentials(
        &self,
        provider: &str,
        sts: &HttpClient,
    ) -> Result<Arc<AwsCredentials>> {
        let fail = |message: String| Error::kms(provider, KmsErrorKind::Credentials, message);
        // 1. The environment: read each time, never cached (the application owns it).
        match (
            self.var("AWS_ACCESS_KEY_ID"),
            self.var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(id), Some(secret)) => {
                let mut credentials = AwsCredentials::new(id.as_str(), secret.as_str());
                if let Some(token) = self.var("AWS_SESSION_TOKEN") {
                    credentials = credentials.with_session_token(token.as_str());
                }
                return Ok(Arc::new(credentials));
            }
            (Some(_), None) => {
                return Err(fail(
                    "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(fail(
                    "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".to_owned(),
                ));
            }
            (None, None) => {}
        }
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref().filter(|c| c.is_fresh(bson::DateTime::now())) {
            return Ok(cached.credentials.clone());
        }
        let fetched = if let Some(token_file) = self.var("AWS_WEB_IDENTITY_TOKEN_FILE") {
            self.web_identity(provider, sts, &token_file).await?
        } else if let Some(relative) = self.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            self.ecs(provider, &relative).await?
        } else {
            self.ec2(provider).await?
        };
        let credentials = fetched.credentials.clone();
        *cache = Some(fetched);
        Ok(credentials)
    }

    /// STS `AssumeRoleWithWebIdentity` with the token in `token_file`.
    async fn web_identity(
        &self,
        provider: &str,
        sts: &HttpClient,
        token_file: &str,
    ) -> Result<Cached> {
        let fail = |message: String| Error::kms(provider, KmsErrorKind::Credentials, message);
        let role_arn = self.var("AWS_ROLE_ARN").ok_or_else(|| {
            fail("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not".to_owned())
        })?;
        let session_name = self.var("AWS_ROLE_SESSION_NAME").map_or_else(
            || format!("encrypted-{}", bson::Uuid::new()),
            |name| name.to_string(),
        );
        let token = Zeroizing::new(std::fs::read_to_string(token_file).map_err(|error| {
            fail(format!(
                "cannot read the web identity token file `{token_file}`"
            ))
            .with_kms_source(error)
        })?);
        let mut body = Zeroizing::new(String::with_capacity(256 + 3 * token.len()));
        body.push_str("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
        percent_encode(&role_arn, &mut body);
        body.push_str("&RoleSessionName=");
        percent_encode(&session_name, &mut body);
        body.push_str("&WebIdentityToken=");
        percent_encode(token.trim(), &mut body);
        let body = Zeroizing::new(std::mem::take(&mut *body).into_bytes());
        let url = format!("{}/", self.sts_endpoint.trim_end_matches('/'));
        let reply = sts
            .send(Request {
                provider,
                target: "AssumeRoleWithWebIdentity",
                method: Method::Post,
                url: &url,
                headers: &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("accept", "application/json"),
                ],
                body,
            })
            .await
            .map_err(|error| context(error, "STS AssumeRoleWithWebIdentity"))?;
        if !reply.is_success() {
            return Err(refused(
                provider,
                &reply,
                format!("STS AssumeRoleWithWebIdentity answered {}", reply.status),
            ));
        }
        // STS answers JSON when asked to; some STS-compatible services (moto) answer
        // their XML whatever is asked.
        let wire = if reply.body.trim_ascii_start().starts_with(b"<") {
            sts_xml_credentials(&reply.body)
        } else {
            serde_json::from_slice::<StsReply>(&reply.body)
                .ok()
                .map(|reply| reply.response.result.credentials)
        };
        wire.and_then(WireCredentials::into_cached)
            .ok_or_else(|| fail("STS answered no usable Credentials".to_owned()))
    }

    /// The ECS task's credentials.
    async fn ecs(&self, provider: &str, relative: &str) -> Result<Cached> {
        let fail = |message: String| Error::kms(provider, KmsErrorKind::Credentials, message);
        if !relative.starts_with('/') || relative.contains("://") || relative.contains('@') {
            return Err(fail(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not a path".to_owned(),
            ));
        }
        let url = format!("{}{relative}", self.ecs_endpoint.trim_end_matches('/'));
        let reply = self
            .metadata
            .get(provider, "ecs_credentials", &url, &[])
            .await
            .map_err(|error| context(error, "the ECS credentials endpoint"))?;
        if !reply.is_success() {
            return Err(refused(
                provider,
                &reply,
                format!("the ECS credentials endpoint answered {}", reply.status),
            ));
        }
        serde_json::from_slice::<WireCredentials>(&reply.body)
            .ok()
            .and_then(WireCredentials::into_cached)
            .ok_or_else(|| {
                fail("the ECS credentials endpoint answered no usable credentials".to_owned())
            })
    }

    /// The EC2 instance's role credentials through IMDSv2.
    async fn ec2(&self, provider: &str) -> Result<Cached> {
        let fail = |message: String| Error::kms(provider, KmsErrorKind::Credentials, message);
        let base = self.ec2_endpoint.trim_end_matches('/');
        let where_ = "the EC2 instance metadata service";
        let token_url = format!("{base}/latest/api/token");
        let reply = self
            .metadata
            .send(Request {
                provider,
                target: "imds_token",
                method: Method::Put,
                url: &token_url,
                headers: &[(
                    "x-aws-ec2-metadata-token-ttl-seconds",
                    IMDS_TOKEN_TTL_SECONDS,
                )],
                body: Zeroizing::new(Vec::new()),
            })
            .await
            .map_err(|error| context(error, where_))?;
        if !reply.is_success() {
            return Err(refused(
                provider,
                &reply,
                format!(
                    "{where_} answered {} to the session token request",
                    reply.status
                ),
            ));
        }
        let token = std::str::from_utf8(&reply.body)
            .ok()
            .map(str::trim)
            .filter(|token| !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()))
            .map(|token| Zeroizing::new(token.to_owned()))
            .ok_or_else(|| fail(format!("{where_} answered an unusable session token")))?;
        let headers = [("x-aws-ec2-metadata-token", token.as_str())];
        let roles_url = format!("{base}/latest/meta-data/iam/security-credentials/");
        let reply = self
            .metadata
            .get(provider, "imds_role", &roles_url, &headers)
            .await
            .map_err(|error| context(error, where_))?;
        if !reply.is_success() {
            return Err(refused(
                provider,
                &reply,
                format!(
                    "{where_} answered {} for the instance's role (is an IAM role attached?)",
                    reply.status
                ),
            ));
        }
        // The role name goes into a URL path: only what IAM allows in a role name.
        let role = std::str::from_utf8(&reply.body)
            .ok()
            .and_then(|text| text.lines().next())
            .map(str::trim)
            .filter(|role| {
                !role.is_empty()
                    && role.len() <= 64
                    && role
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            })
            .ok_or_else(|| fail(format!("{where_} answered no usable role name")))?
            .to_owned();
        let reply = self
            .metadata
            .get(
                provider,
                "imds_credentials",
                &format!("{roles_url}{role}"),
                &headers,
            )
            .await
            .map_err(|error| context(error, where_))?;
        if !reply.is_success() {
            return Err(refused(
                provider,
                &reply,
                format!(
                    "{where_} answered {} for the credentials of role `{role}`",
                    reply.status
                ),
            ));
        }
        let wire = serde_json::from_slice::<WireCredentials>(&reply.body)
            .map_err(|_| fail(format!("{where_} answered no usable credentials")))?;
        if wire.code.as_deref().is_some_and(|code| code != "Success") {
            return Err(fail(format!(
                "{where_} did not hand out the credentials of role `{role}`"
            )));
        }
        wire.into_cached()
            .ok_or_else(|| fail(format!("{where_} answered no usable credentials")))
    }
}

/// A credentials endpoint's error status: a credentials error, unless it is one worth
/// trying again later (429, 5xx), which keeps its status.
fn refused(provider: &str, reply: &Reply, message: String) -> Error {
    if reply.status == 429 || reply.status >= 500 {
        reply.status_error(provider, None, message)
    } else {
        Error::kms(provider, KmsErrorKind::Credentials, message)
    }
}

/// `error` (from a credentials endpoint) with that endpoint named in its message.
fn context(error: Error, what: &str) -> Error {
    with_message(error, |message| {
        format!("fetching credentials from {what}: {message}")
    })
}

/// Temporary credentials as the endpoints write them (ECS and EC2 name the session
/// token `Token`, STS `SessionToken`). The secret and the token are read straight into
/// zeroizing strings, never into a JSON tree.
#[derive(serde::Deserialize)]
struct WireCredentials {
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
    #[serde(rename = "SecretAccessKey", deserialize_with = "secret")]
    secret_access_key: Zeroizing<String>,
    #[serde(rename = "Token", alias = "SessionToken", deserialize_with = "secret")]
    token: Zeroizing<String>,
    #[serde(rename = "Expiration")]
    expiration: Expiration,
    /// EC2's `Success` (or not).
    #[serde(rename = "Code", default)]
    code: Option<String>,
}

/// RFC 3339 text (ECS, EC2, STS's XML), or seconds since the epoch (STS's JSON).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Expiration {
    Text(String),
    Seconds(f64),
}

impl Expiration {
    fn date(&self) -> Option<bson::DateTime> {
        match self {
            Self::Text(text) => bson::DateTime::parse_rfc3339_str(text).ok(),
            Self::Seconds(seconds) => {
                let millis = seconds * 1000.0;
                if !millis.is_finite() || !(0.0..=1.0e15).contains(&millis) {
                    return None;
                }
                #[allow(clippy::cast_possible_truncation)]
                Some(bson::DateTime::from_millis(millis as i64))
            }
        }
    }
}

impl WireCredentials {
    /// Usable credentials: every field non-empty and a valid expiration.
    fn into_cached(mut self) -> Option<Cached> {
        let expiration = self.expiration.date()?;
        if self.access_key_id.is_empty()
            || self.secret_access_key.is_empty()
            || self.token.is_empty()
        {
            return None;
        }
        // The strings move into the credentials: no copy of the secret is left.
        let credentials = AwsCredentials::new(
            self.access_key_id,
            std::mem::take(&mut *self.secret_access_key),
        )
        .with_session_token(std::mem::take(&mut *self.token));
        Some(Cached {
            credentials: Arc::new(credentials),
            expiration: Some(expiration),
        })
    }
}

fn secret<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Zeroizing<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(deserializer).map(Zeroizing::new)
}

/// `{"AssumeRoleWithWebIdentityResponse":{"AssumeRoleWithWebIdentityResult":{"Credentials":…}}}`
#[derive(serde::Deserialize)]
struct StsReply {
    #[serde(rename = "AssumeRoleWithWebIdentityResponse")]
    response: StsResponse,
}

#[derive(serde::Deserialize)]
struct StsResponse {
    #[serde(rename = "AssumeRoleWithWebIdentityResult")]
    result: StsResult,
}

#[derive(serde::Deserialize)]
struct StsResult {
    #[serde(rename = "Credentials")]
    credentials: WireCredentials,
}

/// The `<Credentials>` of STS's XML answer. Only the five character entities are
/// unescaped; any other `&` is refused.
fn sts_xml_credentials(body: &[u8]) -> Option<WireCredentials> {
    let xml = std::str::from_utf8(body).ok()?;
    let credentials = element(xml, "Credentials")?;
    let text = |tag: &str| element(credentials, tag).and_then(unescape);
    Some(WireCredentials {
        access_key_id: text("AccessKeyId")?.to_string(),
        secret_access_key: text("SecretAccessKey")?,
        token: text("SessionToken")?,
        expiration: Expiration::Text(text("Expiration")?.to_string()),
        code: None,
    })
}

/// The content of the first `<tag>…</tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let rest = xml.get(start..)?;
    rest.get(..rest.find(&format!("</{tag}>"))?)
}

/// XML text with its five character entities unescaped, zeroized on drop.
fn unescape(text: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at)?);
        let after = rest.get(at..)?;
        let (entity, character) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&apos;", '\''),
        ]
        .into_iter()
        .find(|(entity, _)| after.starts_with(entity))?;
        out.push(character);
        rest = after.get(entity.len()..)?;
    }
    if rest.contains('<') {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// `text` percent-encoded for a form body (everything but unreserved characters).
fn percent_encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encodes_all_but_unreserved_characters() {
        let mut out = String::new();
        percent_encode("arn:aws:iam::1:role/a b~", &mut out);
        assert_eq!(out, "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b~");
    }

    fn read(json: serde_json::Value) -> Option<Cached> {
        serde_json::from_value::<WireCredentials>(json)
            .ok()
            .and_then(WireCredentials::into_cached)
    }

    #[test]
    fn reads_credentials_with_either_form_of_expiration() {
        let cached = read(serde_json::json!({
            "AccessKeyId": "AKID", "SecretAccessKey": "s", "Token": "t",
            "Expiration": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            cached.expiration,
            Some(bson::DateTime::parse_rfc3339_str("2030-01-01T00:00:00Z").unwrap())
        );
        assert!(
            read(serde_json::json!({
                "AccessKeyId": "AKID", "SecretAccessKey": "s", "SessionToken": "t",
                "Expiration": 1.8934272e9
            }))
            .is_some()
        );
        // No token, no expiration, an empty secret, or a wrong type: refused.
        for bad in [
            serde_json::json!({"AccessKeyId": "A", "SecretAccessKey": "s", "Expiration": "2030-01-01T00:00:00Z"}),
            serde_json::json!({"AccessKeyId": "A", "SecretAccessKey": "s", "Token": "t"}),
            serde_json::json!({"AccessKeyId": "A", "SecretAccessKey": "", "Token": "t", "Expiration": 1}),
            serde_json::json!({"AccessKeyId": 1, "SecretAccessKey": "s", "Token": "t", "Expiration": 1}),
        ] {
            assert!(read(bad.clone()).is_none(), "{bad}");
        }
    }

    #[test]
    fn reads_the_credentials_of_an_sts_xml_answer() {
        let xml = br#"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>
            <Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>a+b/c</SecretAccessKey>
            <SessionToken>x&amp;y</SessionToken><Expiration>2030-01-01T00:00:00.123456Z</Expiration>
            </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"#;
        let wire = sts_xml_credentials(xml).unwrap();
        assert_eq!(wire.access_key_id, "ASIA1");
        assert_eq!(wire.secret_access_key.as_str(), "a+b/c");
        assert_eq!(wire.token.as_str(), "x&y");
        assert!(wire.into_cached().is_some());
        let bogus = b"<Credentials><AccessKeyId>A&bogus;</AccessKeyId></Credentials>";
        assert!(sts_xml_credentials(bogus).is_none());
    }

    #[test]
    fn refreshes_five_minutes_before_expiry() {
        let now = bson::DateTime::from_millis(1_000_000_000);
        let expiring = |seconds: i64| Cached {
            credentials: Arc::new(AwsCredentials::new("A", "s")),
            expiration: Some(now.saturating_add_millis(seconds * 1000)),
        };
        assert!(expiring(301).is_fresh(now));
        assert!(!expiring(300).is_fresh(now));
        assert!(!expiring(-1).is_fresh(now));
    }
}
