//! The `aws` provider: AWS KMS `Encrypt`/`Decrypt` over HTTPS, signed with SigV4.

mod credentials;
pub(super) mod endpoint;
mod sigv4;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::Uuid;
use zeroize::Zeroizing;

use self::credentials::{OnDemand, Source};
use self::endpoint::Endpoint;
use super::TlsOptions;
use super::http::{HttpClient, Retry, with_message};
use crate::kms::{BoxFuture, KmsErrorKind, KmsProvider};
use crate::{DataKey, Error, MasterKey, Result};

/// How long one KMS request may take, connection included, unless set otherwise.
pub const DEFAULT_KMS_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest KMS reply read, in bytes. AWS KMS `Encrypt` and `Decrypt` replies are a
/// few hundred bytes; a longer reply is refused without being read further, so a
/// hostile or broken endpoint cannot make the process buffer without bound.
pub const MAX_KMS_REPLY_BYTES: usize = 64 * 1024;

/// AWS credentials. The secret is zeroized on drop and never printed.
///
/// ```
/// use encrypted_core::kms::AwsCredentials;
///
/// let credentials = AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
/// assert!(!format!("{credentials:?}").contains("EXAMPLEKEY"));
/// ```
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

impl AwsCredentials {
    /// An access key id and its secret.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            session_token: None,
        }
    }

    /// Adds a session token (temporary credentials).
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Zeroizing::new(token.into()));
        self
    }

    /// The standard environment variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// and, if set, `AWS_SESSION_TOKEN`.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] naming the missing variable.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                Error::kms(
                    "aws",
                    KmsErrorKind::Credentials,
                    format!("{name} is not set"),
                )
            })
        };
        let credentials = Self::new(var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?);
        Ok(match std::env::var("AWS_SESSION_TOKEN") {
            Ok(token) => credentials.with_session_token(token),
            Err(_) => credentials,
        })
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The `aws` KMS provider (or a named `aws:<name>` one): data keys are wrapped by an AWS
/// KMS key, whose region, ARN and optional endpoint the key document's `masterKey` names.
///
/// # Endpoint pinning
///
/// A key document is data that whoever can write the key vault can change. So the
/// provider sends its signed requests only to the official AWS KMS endpoints of the
/// master key's region (`kms.<region>.amazonaws.com` and `kms-fips.<region>.amazonaws.com`
/// on port 443; `amazonaws.com.cn` for `cn-` regions), and to endpoints the application
/// allows with [`AwsKms::with_allowed_endpoint`] (a VPC endpoint, an emulator). A master
/// key naming any other endpoint, or a malformed region, is refused with
/// [`Error::KmsEndpointRefused`] before anything is sent.
///
/// # Replies
///
/// A reply is read up to [`MAX_KMS_REPLY_BYTES`] (a longer one is refused without being
/// read further), and the timeout covers the whole exchange, the reply's body included.
///
/// # Retries
///
/// A request that fails on the network, times out, or is answered HTTP 429 or 5xx is
/// tried again after a jittered exponential backoff, up to 3 attempts in all (as
/// libmongocrypt's KMS retry); a 4xx is never retried. Retrying `Encrypt` is harmless
/// even if a first attempt did reach AWS: each wrap is a fresh ciphertext of the same
/// data key, and only the one received is stored. Turn it off with
/// [`AwsKms::with_retry`]. Errors are [`Error::Kms`] with a
/// [`KmsErrorKind`] saying what failed.
///
/// ```no_run
/// use std::time::Duration;
/// use encrypted_core::kms::{AwsCredentials, AwsKms, KmsProviders, TlsOptions};
///
/// let aws = AwsKms::new(AwsCredentials::from_env()?)?
///     .with_timeout(Duration::from_secs(5))?
///     .with_allowed_endpoint("kms.internal.example:8443")?
///     .with_tls(TlsOptions::new().with_ca_pem(std::fs::read("kms-ca.pem")?)?)?;
/// let providers = KmsProviders::new().with(aws);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AwsKms {
    name: String,
    credentials: Source,
    http: HttpClient,
    allowed_endpoints: BTreeSet<Endpoint>,
}

impl fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKms")
            .field("name", &self.name)
            .field("credentials", &self.credentials)
            .field("timeout", &self.http.timeout())
            .field("retry", &self.http.retry().is_enabled())
            .field(
                "allowed_endpoints",
                &self
                    .allowed_endpoints
                    .iter()
                    .map(Endpoint::to_string)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Which field of a KMS reply holds the answer.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    /// `Encrypt`: the wrapped key.
    CiphertextBlob,
    /// `Decrypt`: the data key.
    Plaintext,
}

impl Answer {
    fn field(self) -> &'static str {
        match self {
            Self::CiphertextBlob => "CiphertextBlob",
            Self::Plaintext => "Plaintext",
        }
    }
}

/// The fields of a KMS reply we read, borrowed from the (zeroized) reply buffer so that
/// the base64 of a data key is not copied. Base64 needs no JSON escapes and AWS writes
/// none; a reply that escapes these fields is refused rather than unescaped into a copy.
#[derive(serde::Deserialize)]
struct Reply<'a> {
    #[serde(rename = "CiphertextBlob", borrow, default)]
    ciphertext_blob: Option<&'a str>,
    #[serde(rename = "Plaintext", borrow, default)]
    plaintext: Option<&'a str>,
}

impl AwsKms {
    /// The unnamed `aws` provider, trusting the usual web roots.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTPS client cannot be built.
    pub fn new(credentials: AwsCredentials) -> Result<Self> {
        let http = HttpClient::new(TlsOptions::new(), DEFAULT_KMS_TIMEOUT)
            .map_err(|message| provider_error("aws", message))?;
        Ok(Self {
            name: "aws".to_owned(),
            credentials: Source::Static(Arc::new(credentials)),
            http,
            allowed_endpoints: BTreeSet::new(),
        })
    }

    /// The unnamed `aws` provider with on-demand credentials (the spec's automatic
    /// credentials, `aws: {}`), fetched when a request needs them, in the order the
    /// drivers use:
    ///
    /// 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, if set,
    ///    `AWS_SESSION_TOKEN` (read at each request);
    /// 2. a web identity (EKS IRSA): the token in the file `AWS_WEB_IDENTITY_TOKEN_FILE`
    ///    names, exchanged with STS `AssumeRoleWithWebIdentity` for credentials of
    ///    `AWS_ROLE_ARN` (session name `AWS_ROLE_SESSION_NAME`, or a random one);
    /// 3. ECS: the task's credentials at `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on
    ///    `169.254.170.2`;
    /// 4. EC2: the instance role's credentials through IMDSv2 on `169.254.169.254`.
    ///
    /// Fetched credentials are cached and fetched again 5 minutes before they expire;
    /// concurrent requests share one fetch. The secret and the session token are
    /// zeroized on drop and never printed. Metadata requests do not go through a proxy.
    /// As in the drivers, only the unnamed provider fetches credentials on demand.
    ///
    /// ```no_run
    /// use encrypted_core::kms::{AwsKms, KmsProviders};
    ///
    /// let providers = KmsProviders::new().with(AwsKms::on_demand()?);
    /// # let _ = providers;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTP clients cannot be built. Missing or refused
    /// credentials are reported when a request needs them, as [`Error::Kms`] of kind
    /// [`KmsErrorKind::Credentials`] (or the network error's kind).
    pub fn on_demand() -> Result<Self> {
        let on_demand =
            OnDemand::new(DEFAULT_KMS_TIMEOUT).map_err(|message| provider_error("aws", message))?;
        let http = HttpClient::new(TlsOptions::new(), DEFAULT_KMS_TIMEOUT)
            .map_err(|message| provider_error("aws", message))?;
        Ok(Self {
            name: "aws".to_owned(),
            credentials: Source::OnDemand(Box::new(on_demand)),
            http,
            allowed_endpoints: BTreeSet::new(),
        })
    }

    /// With on-demand credentials: asks this STS endpoint (`https://host[:port]`)
    /// instead of `https://sts.amazonaws.com` for web identity credentials (a regional
    /// STS endpoint, a VPC endpoint). Requests to it use this provider's TLS settings.
    ///
    /// ```
    /// use encrypted_core::kms::AwsKms;
    ///
    /// let aws = AwsKms::on_demand()?.with_sts_endpoint("https://sts.eu-west-1.amazonaws.com")?;
    /// # let _ = aws;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] unless `url` is `https://host[:port]`, or when the credentials are
    /// not on demand.
    pub fn with_sts_endpoint(self, url: &str) -> Result<Self> {
        self.with_metadata_endpoint(url, true, |on_demand, url| on_demand.sts_endpoint = url)
    }

    /// With on-demand credentials: asks this ECS credentials endpoint
    /// (`http[s]://host[:port]`) instead of `http://169.254.170.2`.
    ///
    /// ```
    /// use encrypted_core::kms::AwsKms;
    ///
    /// let aws = AwsKms::on_demand()?.with_ecs_endpoint("http://127.0.0.1:8080")?;
    /// # let _ = aws;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] unless `url` is `http[s]://host[:port]`, or when the credentials
    /// are not on demand.
    pub fn with_ecs_endpoint(self, url: &str) -> Result<Self> {
        self.with_metadata_endpoint(url, false, |on_demand, url| on_demand.ecs_endpoint = url)
    }

    /// With on-demand credentials: asks this EC2 instance metadata service
    /// (`http[s]://host[:port]`) instead of `http://169.254.169.254`.
    ///
    /// ```
    /// use encrypted_core::kms::AwsKms;
    ///
    /// let aws = AwsKms::on_demand()?.with_ec2_metadata_endpoint("http://[fd00:ec2::254]")?;
    /// # let _ = aws;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] unless `url` is `http[s]://host[:port]`, or when the credentials
    /// are not on demand.
    pub fn with_ec2_metadata_endpoint(self, url: &str) -> Result<Self> {
        self.with_metadata_endpoint(url, false, |on_demand, url| on_demand.ec2_endpoint = url)
    }

    /// With on-demand credentials: reads these variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`, …) instead of the process environment, for an
    /// application that keeps its configuration elsewhere. The values are zeroized on
    /// drop and never printed.
    ///
    /// ```
    /// use encrypted_core::kms::AwsKms;
    ///
    /// let aws = AwsKms::on_demand()?.with_credentials_environment([
    ///     ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
    ///     ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks/token"),
    /// ])?;
    /// # let _ = aws;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the credentials are not on demand.
    pub fn with_credentials_environment<K, V>(
        mut self,
        variables: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let Source::OnDemand(on_demand) = &mut self.credentials else {
            return Err(not_on_demand(&self.name));
        };
        on_demand.set_environment(
            variables
                .into_iter()
                .map(|(name, value)| (name.into(), Zeroizing::new(value.into())))
                .collect::<BTreeMap<_, _>>(),
        );
        Ok(self)
    }

    fn with_metadata_endpoint(
        mut self,
        url: &str,
        https_only: bool,
        set: impl FnOnce(&mut OnDemand, String),
    ) -> Result<Self> {
        let name = self.name.clone();
        let Source::OnDemand(on_demand) = &mut self.credentials else {
            return Err(not_on_demand(&name));
        };
        let parsed = reqwest::Url::parse(url).ok().filter(|parsed| {
            (parsed.scheme() == "https" || (!https_only && parsed.scheme() == "http"))
                && parsed.host_str().is_some()
                && parsed.username().is_empty()
                && parsed.password().is_none()
                && parsed.path() == "/"
                && parsed.query().is_none()
                && parsed.fragment().is_none()
        });
        let Some(parsed) = parsed else {
            let expected = if https_only {
                "https://host[:port]"
            } else {
                "http[s]://host[:port]"
            };
            return Err(Error::kms(
                name,
                KmsErrorKind::Configuration,
                format!("`{url}` is not an endpoint: expected {expected}"),
            ));
        };
        set(on_demand, parsed.as_str().trim_end_matches('/').to_owned());
        on_demand.forget();
        Ok(self)
    }

    /// A named `aws:<name>` provider.
    ///
    /// ```
    /// use encrypted_core::kms::{AwsCredentials, AwsKms, KmsProvider};
    ///
    /// let aws = AwsKms::named("prod", AwsCredentials::new("AKIDEXAMPLE", "secret"))?;
    /// assert_eq!(aws.name(), "aws:prod");
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProviderName`] unless `name` is letters, digits and `_`;
    /// [`Error::Kms`] when the HTTPS client cannot be built.
    pub fn named(name: &str, credentials: AwsCredentials) -> Result<Self> {
        let name = crate::master_key::named_provider("aws", name)?;
        Ok(Self {
            name,
            ..Self::new(credentials)?
        })
    }

    /// Limits each KMS request to `timeout`: connection, TLS handshake, sending, and
    /// reading the whole answer. The limit applies to each attempt when retrying.
    ///
    /// ```
    /// use std::time::Duration;
    /// use encrypted_core::kms::{AwsCredentials, AwsKms};
    ///
    /// let aws = AwsKms::new(AwsCredentials::new("AKIDEXAMPLE", "secret"))?
    ///     .with_timeout(Duration::from_secs(3))?;
    /// # let _ = aws;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTPS client cannot be built with it.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self> {
        if let Source::OnDemand(on_demand) = &mut self.credentials {
            on_demand
                .set_timeout(timeout)
                .map_err(|message| provider_error(&self.name, message))?;
        }
        let http = self
            .http
            .with_timeout(timeout)
            .map_err(|message| provider_error(&self.name, message))?;
        Ok(Self { http, ..self })
    }

    /// Uses these TLS settings (extra CA, client certificate) for this provider.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTPS client cannot be built with them.
    pub fn with_tls(self, tls: TlsOptions) -> Result<Self> {
        let http = self
            .http
            .with_tls(tls)
            .map_err(|message| provider_error(&self.name, message))?;
        Ok(Self { http, ..self })
    }

    /// Retries failed requests (network errors, timeouts, HTTP 429 and 5xx; up to 3
    /// attempts with jittered exponential backoff), the default, or not (`false`: one
    /// attempt, every failure reported at once).
    ///
    /// ```
    /// use encrypted_core::kms::{AwsCredentials, AwsKms};
    ///
    /// let aws = AwsKms::new(AwsCredentials::new("AKIDEXAMPLE", "secret"))?.with_retry(false);
    /// # let _ = aws;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_retry(self, retry: bool) -> Self {
        Self {
            http: self.http.with_retry(Retry::enabled(retry)),
            ..self
        }
    }

    /// Also lets master keys name this endpoint (`host[:port]`, port 443 if omitted):
    /// a VPC endpoint, a proxy or an emulator the application trusts. Only the
    /// application decides this; a key document cannot.
    ///
    /// ```
    /// use encrypted_core::kms::{AwsCredentials, AwsKms};
    ///
    /// let aws = AwsKms::new(AwsCredentials::new("AKIDEXAMPLE", "secret"))?
    ///     .with_allowed_endpoint("127.0.0.1:4566")?;
    /// assert!(aws.with_allowed_endpoint("https://evil.example/").is_err());
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]` (no scheme, path or user).
    pub fn with_allowed_endpoint(mut self, endpoint: &str) -> Result<Self> {
        let parsed = Endpoint::parse(endpoint).ok_or_else(|| {
            self.error(
                KmsErrorKind::Configuration,
                format!("`{endpoint}` is not an endpoint: expected host[:port]"),
            )
        })?;
        self.allowed_endpoints.insert(parsed);
        Ok(self)
    }

    fn error(&self, kind: KmsErrorKind, message: impl Into<String>) -> Error {
        Error::kms(&self.name, kind, message)
    }

    /// Where a request about `key_id` under `master_key` may go, if anywhere.
    fn endpoint(&self, master_key: &MasterKey, key_id: Uuid) -> Result<(Endpoint, String)> {
        let MasterKey::Aws {
            region, endpoint, ..
        } = master_key
        else {
            return Err(self.error(
                KmsErrorKind::Configuration,
                format!("the master key is for `{}`, not AWS", master_key.provider()),
            ));
        };
        let refused = |endpoint: String| Error::KmsEndpointRefused {
            provider: self.name.clone(),
            key_id,
            endpoint,
        };
        if !endpoint::valid_region(region) {
            let shown = endpoint
                .clone()
                .unwrap_or_else(|| format!("kms.{region}.amazonaws.com"));
            return Err(refused(shown));
        }
        let parsed = match endpoint {
            Some(text) => Endpoint::parse(text).ok_or_else(|| refused(text.clone()))?,
            None => Endpoint::default_for(region)
                .ok_or_else(|| refused(format!("kms.{region}.amazonaws.com")))?,
        };
        if parsed.is_official_for(region) || self.allowed_endpoints.contains(&parsed) {
            Ok((parsed, region.clone()))
        } else {
            Err(refused(
                endpoint.clone().unwrap_or_else(|| parsed.authority()),
            ))
        }
    }

    /// Sends one KMS JSON request about data key `key_id` and returns the decoded
    /// base64 `answer` field of the reply.
    async fn call(
        &self,
        master_key: &MasterKey,
        key_id: Uuid,
        target: &str,
        body: Zeroizing<Vec<u8>>,
        answer: Answer,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (endpoint, region) = self.endpoint(master_key, key_id)?;
        let host = endpoint.authority();
        let credentials = match &self.credentials {
            Source::Static(credentials) => credentials.clone(),
            Source::OnDemand(on_demand) => on_demand.credentials(&self.name, &self.http).await?,
        };
        let amz_date = amz_date(bson::DateTime::now());
        let token = credentials.session_token.as_deref().map(String::as_str);
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.1"),
            ("host", host.as_str()),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-target", target),
        ];
        if let Some(token) = token {
            headers.push(("x-amz-security-token", token));
        }
        // A retry resends the same signed request: AWS accepts a signature for 15
        // minutes, far longer than the attempts take.
        let authorization = sigv4::authorization(
            &sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                payload: &body,
            },
            &sigv4::Scope {
                access_key_id: &credentials.access_key_id,
                secret_access_key: &credentials.secret_access_key,
                region: &region,
                service: "kms",
                amz_date: &amz_date,
            },
        );
        headers.push(("authorization", authorization.as_str()));
        let reply = self
            .http
            .post(
                &self.name,
                target,
                &format!("https://{host}/"),
                &headers,
                body,
            )
            .await?;
        parse_reply(reply.status, &reply.body, target, answer).map_err(|failure| match failure {
            ReplyError::Status { code, message } => reply.status_error(&self.name, code, message),
            ReplyError::Malformed(message) => self.error(KmsErrorKind::MalformedReply, message),
        })
    }
}

impl KmsProvider for AwsKms {
    fn name(&self) -> &str {
        &self.name
    }

    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let MasterKey::Aws { key: arn, .. } = master_key else {
                return Err(self.error(
                    KmsErrorKind::Configuration,
                    "the master key is not an AWS key",
                ));
            };
            let body = request_body(arn, "Plaintext", key.material());
            let blob = self
                .call(
                    master_key,
                    key.id(),
                    "TrentService.Encrypt",
                    body,
                    Answer::CiphertextBlob,
                )
                .await?;
            Ok(blob.to_vec())
        })
    }

    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey>> {
        Box::pin(async move {
            let MasterKey::Aws { key: arn, .. } = master_key else {
                return Err(self.error(
                    KmsErrorKind::Configuration,
                    "the master key is not an AWS key",
                ));
            };
            let body = request_body(arn, "CiphertextBlob", key_material);
            let plaintext = self
                .call(
                    master_key,
                    key_id,
                    "TrentService.Decrypt",
                    body,
                    Answer::Plaintext,
                )
                .await
                .map_err(|error| {
                    with_message(error, |message| {
                        format!("cannot unwrap data key {key_id}: {message}")
                    })
                })?;
            DataKey::from_bytes(key_id, &plaintext).map_err(|_| Error::KeyUnwrap {
                key_id,
                provider: self.name.clone(),
            })
        })
    }
}

/// Why a KMS reply has no answer (never with the reply's key bytes).
pub(crate) enum ReplyError {
    /// An HTTP error status, with AWS's error type (`__type`) if the body names one.
    Status {
        code: Option<String>,
        message: String,
    },
    /// A success without a usable answer.
    Malformed(String),
}

impl ReplyError {
    /// As an [`Error::Kms`] of the `aws` provider, for a reply with HTTP `status`.
    pub(crate) fn into_error(self, provider: &str, status: u16) -> Error {
        match self {
            Self::Status { code, message } => {
                Error::kms(provider, KmsErrorKind::HttpStatus { status, code }, message)
            }
            Self::Malformed(message) => Error::kms(provider, KmsErrorKind::MalformedReply, message),
        }
    }
}

/// The answer in a KMS reply to `target` (`TrentService.Encrypt`/`Decrypt`) with HTTP
/// status `status`: the decoded `CiphertextBlob` or `Plaintext`, or what went wrong
/// (never the reply's key bytes).
pub(crate) fn parse_reply(
    status: u16,
    reply: &[u8],
    target: &str,
    answer: Answer,
) -> std::result::Result<Zeroizing<Vec<u8>>, ReplyError> {
    if !(200..300).contains(&status) {
        let (code, text) = aws_error(reply);
        return Err(ReplyError::Status {
            code,
            message: format!("{target} answered {status}: {text}"),
        });
    }
    let malformed = |message: String| ReplyError::Malformed(message);
    let parsed: Reply<'_> = serde_json::from_slice(reply)
        .map_err(|_| malformed(format!("{target} answered with no JSON")))?;
    let encoded = match answer {
        Answer::CiphertextBlob => parsed.ciphertext_blob,
        Answer::Plaintext => parsed.plaintext,
    }
    .ok_or_else(|| malformed(format!("{target} answered without {}", answer.field())))?;
    decode_base64(encoded).ok_or_else(|| {
        malformed(format!(
            "{target} answered {} that is not base64",
            answer.field()
        ))
    })
}

/// A builder for on-demand credentials used on a provider given static ones.
fn not_on_demand(provider: &str) -> Error {
    Error::kms(
        provider,
        KmsErrorKind::Configuration,
        "credentials endpoints apply only to on-demand credentials (`AwsKms::on_demand`)",
    )
}

/// A failure to set the provider up (its HTTPS client).
fn provider_error(provider: &str, message: impl Into<String>) -> Error {
    Error::kms(provider, KmsErrorKind::Configuration, message)
}

/// `{"KeyId":<arn>,"<field>":"<base64 of bytes>"}`, written once into a buffer of its
/// exact size (no regrowth leaving copies of the base64 of a data key behind), zeroized
/// on drop.
fn request_body(arn: &str, field: &str, bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    // The ARN is not secret; serde_json escapes it as a JSON string.
    let arn = serde_json::Value::from(arn).to_string();
    let encoded_len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    let mut body = Zeroizing::new(String::with_capacity(
        r#"{"KeyId":,"":""}"#.len() + arn.len() + field.len() + encoded_len,
    ));
    body.push_str(r#"{"KeyId":"#);
    body.push_str(&arn);
    body.push_str(r#",""#);
    body.push_str(field);
    body.push_str(r#"":""#);
    BASE64.encode_string(bytes, &mut body);
    body.push_str(r#""}"#);
    Zeroizing::new(std::mem::take(&mut *body).into_bytes())
}

/// Standard base64 decoded into a buffer allocated once and zeroized on drop.
fn decode_base64(encoded: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut decoded = Zeroizing::new(vec![0_u8; base64::decoded_len_estimate(encoded.len())]);
    let length = BASE64.decode_slice(encoded, decoded.as_mut_slice()).ok()?;
    decoded.truncate(length);
    Some(decoded)
}

/// `YYYYMMDDTHHMMSSZ` for `x-amz-date`.
fn amz_date(now: bson::DateTime) -> String {
    let rfc3339 = now.try_to_rfc3339_string().unwrap_or_default(); // 2015-08-30T12:36:00.000Z
    let digits: String = rfc3339
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{digits}Z")
}

/// AWS's error type (`__type`, the code callers can match on) and the error text (type
/// and message), from its JSON error body, shortened: a hostile endpoint writes this
/// text, and it ends up in an error message.
fn aws_error(body: &[u8]) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    struct ErrorReply {
        #[serde(rename = "__type", default)]
        kind: Option<String>,
        #[serde(alias = "Message", default)]
        message: Option<String>,
    }
    let reply: Option<ErrorReply> = serde_json::from_slice(body).ok();
    let (kind, message) = reply.map_or((None, None), |reply| (reply.kind, reply.message));
    let text = format!(
        "{} {}",
        kind.as_deref().unwrap_or("unknown error"),
        message.as_deref().unwrap_or("")
    );
    // The code goes into a typed field: shortened too, and only if it looks like one.
    let code = kind.filter(|kind| {
        !kind.is_empty()
            && kind.len() <= 128
            && kind
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '#' | ':' | '-'))
    });
    (code, shorten(text.trim()))
}

/// `text`, cut to [`MAX_ERROR_TEXT`] characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// The most characters of a KMS's own error text quoted in an error.
const MAX_ERROR_TEXT: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_amz_date() {
        let date = bson::DateTime::from_millis(1_440_938_160_000); // 2015-08-30T12:36:00Z
        assert_eq!(amz_date(date), "20150830T123600Z");
    }

    #[test]
    fn writes_the_request_body_once_at_its_exact_size() {
        let body = request_body("arn:\"x\"", "Plaintext", &[0xff; 3]);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "KeyId": "arn:\"x\"", "Plaintext": "////" })
        );
        // Allocated at its final size: no regrowth left a copy of the base64 behind.
        assert_eq!(body.len(), body.capacity());
    }

    #[test]
    fn reads_replies_without_copying_their_base64() {
        let reply: Reply<'_> =
            serde_json::from_slice(br#"{"KeyId":"k","Plaintext":"AAEC","Other":[1]}"#).unwrap();
        assert_eq!(reply.plaintext, Some("AAEC"));
        assert_eq!(reply.ciphertext_blob, None);
        assert_eq!(decode_base64("AAEC").unwrap().as_slice(), [0, 1, 2]);
        // An escaped value would need an unescaped copy: refused instead.
        assert!(serde_json::from_slice::<Reply<'_>>(br#"{"Plaintext":"AA\/C"}"#).is_err());
    }

    #[test]
    fn quotes_at_most_a_little_of_a_kms_error() {
        let long = format!(r#"{{"__type":"Bad","message":"{}"}}"#, "x".repeat(10_000));
        assert!(aws_error(long.as_bytes()).1.chars().count() <= MAX_ERROR_TEXT + 1);
        assert_eq!(
            aws_error(br#"{"__type":"NotFoundException","Message":"no key"}"#),
            (
                Some("NotFoundException".to_owned()),
                "NotFoundException no key".to_owned()
            )
        );
        assert_eq!(aws_error(b"garbage"), (None, "unknown error".to_owned()));
        // A code that is not one is not offered as one.
        assert_eq!(aws_error(br#"{"__type":"a b\nc"}"#).0, None);
    }
}
