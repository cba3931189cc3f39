//! The `gcp` provider: Google Cloud KMS `encrypt`/`decrypt` over HTTPS with an OAuth 2.0
//! access token, from a service account (JWT bearer flow, RS256), given, or fetched on
//! demand from the GCP metadata server.

mod jwt;
mod request;
mod token;

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bson::Uuid;
use zeroize::Zeroizing;

use self::request::{Call, KeyPath};
use self::token::{Token, TokenCache};
use super::aws::endpoint::Endpoint;
use super::http::{HttpClient, Reply, Retry};
use super::{DEFAULT_KMS_TIMEOUT, TlsOptions};
use crate::kms::{BoxFuture, KmsErrorKind, KmsProvider};
use crate::{DataKey, Error, MasterKey, Result};

/// Cloud KMS's endpoint, used when a master key names none.
const DEFAULT_KMS_HOST: &str = "cloudkms.googleapis.com";
/// Google's OAuth 2.0 token endpoint, used unless the application sets another.
const DEFAULT_OAUTH_HOST: &str = "oauth2.googleapis.com";
/// The GCP metadata server (plain HTTP, link-local; the name resolves only on GCP).
const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
/// The metadata server's token of the instance's default service account.
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The metadata server is link-local and answers at once: a longer wait means it is not
/// there (not on GCP), which should be said soon.
const MAX_METADATA_TIMEOUT: Duration = Duration::from_secs(2);
/// The scope of Cloud KMS on Google's endpoints.
const GOOGLE_SCOPE: &str = "https://www.googleapis.com/auth/cloudkms";

/// How the `gcp` provider gets its access token. Secrets are zeroized on drop and never
/// printed.
///
/// ```
/// use encrypted_core::kms::GcpCredentials;
///
/// let token = GcpCredentials::access_token("ya29.a0AfH6SMB-example");
/// assert!(!format!("{token:?}").contains("ya29"));
/// let on_demand = GcpCredentials::on_demand(); // the metadata server, when needed
/// # let _ = on_demand;
/// ```
pub struct GcpCredentials(Credentials);

enum Credentials {
    ServiceAccount {
        email: String,
        private_key: jwt::PrivateKey,
    },
    AccessToken(Zeroizing<String>),
    Metadata,
}

impl GcpCredentials {
    /// A service account: its email and its private key, as PKCS#8 PEM (the
    /// `private_key` of a JSON key file), the base64 of the PKCS#8 DER (libmongocrypt's
    /// `privateKey`), or the DER bytes. Access tokens are then fetched with a JWT signed
    /// RS256 (the OAuth 2.0 JWT bearer flow) and cached until shortly before they expire.
    ///
    /// ```no_run
    /// use encrypted_core::kms::GcpCredentials;
    ///
    /// let credentials = GcpCredentials::service_account(
    ///     "encryption@my-project.iam.gserviceaccount.com",
    ///     std::fs::read("service-account-key.pem")?,
    /// )?;
    /// # let _ = credentials;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] of kind [`KmsErrorKind::Credentials`] when the key is not an
    /// unencrypted PKCS#8 RSA key of 2048 to 4096 bits (the message never quotes it).
    pub fn service_account(
        email: impl Into<String>,
        private_key: impl AsRef<[u8]>,
    ) -> Result<Self> {
        let private_key = jwt::PrivateKey::parse(private_key.as_ref())
            .map_err(|message| Error::kms("gcp", KmsErrorKind::Credentials, message))?;
        Ok(Self(Credentials::ServiceAccount {
            email: email.into(),
            private_key,
        }))
    }

    /// A service account from its JSON key file (what `gcloud iam service-accounts keys
    /// create` writes, and `GOOGLE_APPLICATION_CREDENTIALS` names): its `client_email`
    /// and `private_key`.
    ///
    /// ```no_run
    /// use encrypted_core::kms::GcpCredentials;
    ///
    /// let credentials =
    ///     GcpCredentials::from_service_account_json(&std::fs::read("service-account.json")?)?;
    /// # let _ = credentials;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] of kind [`KmsErrorKind::Credentials`] when the file is not a
    /// service account key or its key is not usable (the message never quotes it).
    pub fn from_service_account_json(json: &[u8]) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct KeyFile {
            #[serde(rename = "type")]
            kind: String,
            client_email: String,
            private_key: String,
        }
        let file: KeyFile = serde_json::from_slice(json).map_err(|error| {
            Error::kms(
                "gcp",
                KmsErrorKind::Credentials,
                format!(
                    "not a service account key file: {}",
                    // The position only: serde's message could quote the key.
                    format_args!("line {} column {}", error.line(), error.column())
                ),
            )
        })?;
        let private_key = Zeroizing::new(file.private_key);
        if file.kind != "service_account" {
            return Err(Error::kms(
                "gcp",
                KmsErrorKind::Credentials,
                format!(
                    "the key file is of type `{}`, not `service_account`",
                    file.kind
                ),
            ));
        }
        Self::service_account(file.client_email, private_key.as_bytes())
    }

    /// An access token the application got itself (libmongocrypt's `accessToken`); it
    /// is used as it is, never refreshed.
    ///
    /// ```
    /// use encrypted_core::kms::{GcpCredentials, GcpKms};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::access_token("ya29.a0AfH6SMB-example"))?;
    /// # let _ = gcp;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    pub fn access_token(token: impl Into<String>) -> Self {
        Self(Credentials::AccessToken(Zeroizing::new(token.into())))
    }

    /// On-demand credentials (the drivers' empty `gcp: {}` document): the access token of
    /// the instance's default service account, fetched from the GCP metadata server when
    /// needed and cached until shortly before it expires.
    ///
    /// ```
    /// use encrypted_core::kms::{GcpCredentials, GcpKms};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::on_demand())?;
    /// # let _ = gcp;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    pub fn on_demand() -> Self {
        Self(Credentials::Metadata)
    }
}

impl fmt::Debug for GcpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("GcpCredentials");
        match &self.0 {
            Credentials::ServiceAccount { email, .. } => debug.field("service_account", email),
            Credentials::AccessToken(_) => debug.field("access_token", &".."),
            Credentials::Metadata => debug.field("on_demand", &true),
        };
        debug.finish_non_exhaustive()
    }
}

/// The `gcp` KMS provider (or a named `gcp:<name>` one): data keys are wrapped by a
/// Google Cloud KMS key, which the key document's `masterKey` names.
///
/// # Endpoint pinning
///
/// A key document is data that whoever can write the key vault can change, and the
/// requests carry a bearer token. So the provider sends them only to Cloud KMS itself
/// (`cloudkms.googleapis.com`, or the regional `cloudkms.<location>.rep.googleapis.com`
/// of the key's location, on port 443), and to endpoints the application allows with
/// [`GcpKms::with_allowed_endpoint`] (Private Service Connect, an emulator). A master key
/// naming any other endpoint is refused with [`Error::KmsEndpointRefused`] before
/// anything is sent. The OAuth token endpoint and the metadata server are the
/// application's settings only ([`GcpKms::with_oauth_endpoint`],
/// [`GcpKms::with_metadata_endpoint`]); no key document can change them.
///
/// ```no_run
/// use encrypted_core::kms::{GcpCredentials, GcpKms, KmsProviders};
///
/// let gcp = GcpKms::new(GcpCredentials::service_account(
///     "encryption@my-project.iam.gserviceaccount.com",
///     std::fs::read("service-account-key.pem")?,
/// )?)?;
/// let providers = KmsProviders::new().with(gcp);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GcpKms {
    name: String,
    credentials: GcpCredentials,
    http: HttpClient,
    metadata_http: HttpClient,
    oauth_endpoint: Endpoint,
    metadata_endpoint: String,
    allowed_endpoints: BTreeSet<Endpoint>,
    tokens: TokenCache,
}

impl fmt::Debug for GcpKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpKms")
            .field("name", &self.name)
            .field("credentials", &self.credentials)
            .field("oauth_endpoint", &self.oauth_endpoint.to_string())
            .field("metadata_endpoint", &self.metadata_endpoint)
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

impl GcpKms {
    /// The unnamed `gcp` provider, trusting the usual web roots.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTP clients cannot be built.
    pub fn new(credentials: GcpCredentials) -> Result<Self> {
        let configuration = |message| Error::kms("gcp", KmsErrorKind::Configuration, message);
        let oauth_endpoint = Endpoint::parse(DEFAULT_OAUTH_HOST)
            .ok_or_else(|| configuration("the default OAuth endpoint".to_owned()))?;
        Ok(Self {
            name: "gcp".to_owned(),
            credentials,
            http: HttpClient::new(TlsOptions::new(), DEFAULT_KMS_TIMEOUT).map_err(configuration)?,
            metadata_http: HttpClient::metadata(DEFAULT_KMS_TIMEOUT.min(MAX_METADATA_TIMEOUT))
                .map_err(configuration)?,
            oauth_endpoint,
            metadata_endpoint: DEFAULT_METADATA_HOST.to_owned(),
            allowed_endpoints: BTreeSet::new(),
            tokens: TokenCache::default(),
        })
    }

    /// The unnamed `gcp` provider with on-demand credentials (the drivers' empty
    /// `gcp: {}`): `GcpKms::new(GcpCredentials::on_demand())`, as
    /// [`AwsKms::on_demand`](crate::kms::AwsKms::on_demand) is for AWS.
    ///
    /// ```
    /// use encrypted_core::kms::{GcpKms, KmsProviders};
    ///
    /// let providers = KmsProviders::new().with(GcpKms::on_demand()?);
    /// # let _ = providers;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTP clients cannot be built. A metadata server that
    /// cannot be reached or refuses is reported when a request needs a token.
    pub fn on_demand() -> Result<Self> {
        Self::new(GcpCredentials::on_demand())
    }

    /// A named `gcp:<name>` provider.
    ///
    /// ```
    /// use encrypted_core::kms::{GcpCredentials, GcpKms, KmsProvider};
    ///
    /// let gcp = GcpKms::named("eu", GcpCredentials::access_token("ya29.example"))?;
    /// assert_eq!(gcp.name(), "gcp:eu");
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProviderName`] unless `name` is letters, digits and `_`;
    /// [`Error::Kms`] when the HTTP clients cannot be built.
    pub fn named(name: &str, credentials: GcpCredentials) -> Result<Self> {
        let name = crate::master_key::named_provider("gcp", name)?;
        Ok(Self {
            name,
            ..Self::new(credentials)?
        })
    }

    /// Limits each request (to Cloud KMS, the token endpoint, the metadata server) to
    /// `timeout`: connection, TLS handshake, sending, and reading the whole answer. A
    /// metadata server request waits 2 seconds at most.
    ///
    /// ```
    /// use std::time::Duration;
    /// use encrypted_core::kms::{GcpCredentials, GcpKms};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::on_demand())?.with_timeout(Duration::from_secs(3))?;
    /// # let _ = gcp;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTP clients cannot be built with it.
    pub fn with_timeout(self, timeout: Duration) -> Result<Self> {
        let configuration = |message| Error::kms(&self.name, KmsErrorKind::Configuration, message);
        let http = self.http.with_timeout(timeout).map_err(configuration)?;
        let metadata_http = self
            .metadata_http
            .with_timeout(timeout)
            .map_err(configuration)?;
        Ok(Self {
            http,
            metadata_http,
            ..self
        })
    }

    /// Uses these TLS settings (extra CA, client certificate) for Cloud KMS and the
    /// token endpoint.
    ///
    /// ```no_run
    /// use encrypted_core::kms::{GcpCredentials, GcpKms, TlsOptions};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::on_demand())?
    ///     .with_tls(TlsOptions::new().with_ca_pem(std::fs::read("kms-ca.pem")?)?)?;
    /// # let _ = gcp;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTPS client cannot be built with them.
    pub fn with_tls(self, tls: TlsOptions) -> Result<Self> {
        let configuration = |message| Error::kms(&self.name, KmsErrorKind::Configuration, message);
        let http = self.http.with_tls(tls).map_err(configuration)?;
        Ok(Self { http, ..self })
    }

    /// Retries failed requests (network errors, timeouts, HTTP 429 and 5xx; up to 3
    /// attempts with jittered exponential backoff), the default, or not (`false`: one
    /// attempt, every failure reported at once). Token fetches are retried the same way.
    ///
    /// ```
    /// use encrypted_core::kms::{GcpCredentials, GcpKms};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::on_demand())?.with_retry(false);
    /// # let _ = gcp;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_retry(self, retry: bool) -> Self {
        Self {
            http: self.http.with_retry(Retry::enabled(retry)),
            metadata_http: self.metadata_http.with_retry(Retry::enabled(retry)),
            ..self
        }
    }

    /// Also lets master keys name this Cloud KMS endpoint (`host[:port]`, port 443 if
    /// omitted): a Private Service Connect endpoint, a proxy or an emulator the
    /// application trusts. Only the application decides this; a key document cannot.
    ///
    /// ```
    /// use encrypted_core::kms::{GcpCredentials, GcpKms};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::on_demand())?
    ///     .with_allowed_endpoint("127.0.0.1:8443")?;
    /// assert!(gcp.with_allowed_endpoint("https://evil.example/").is_err());
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]` (no scheme, path or user).
    pub fn with_allowed_endpoint(mut self, endpoint: &str) -> Result<Self> {
        let parsed = self.parse_endpoint(endpoint)?;
        self.allowed_endpoints.insert(parsed);
        Ok(self)
    }

    /// Fetches service-account tokens from this OAuth endpoint (`host[:port]`) instead
    /// of `oauth2.googleapis.com` (libmongocrypt's `gcp.endpoint`). The JWT's audience
    /// is `https://<host>/token`, as libmongocrypt writes it.
    ///
    /// ```
    /// use encrypted_core::kms::{GcpCredentials, GcpKms};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::on_demand())?
    ///     .with_oauth_endpoint("oauth2.internal.example:8443")?;
    /// # let _ = gcp;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]`.
    pub fn with_oauth_endpoint(mut self, endpoint: &str) -> Result<Self> {
        self.oauth_endpoint = self.parse_endpoint(endpoint)?;
        Ok(self)
    }

    /// Asks this metadata server (`host[:port]`, plain HTTP) for on-demand tokens instead
    /// of `metadata.google.internal` (as Google's libraries do with `GCE_METADATA_HOST`).
    ///
    /// ```
    /// use encrypted_core::kms::{GcpCredentials, GcpKms};
    ///
    /// let gcp = GcpKms::new(GcpCredentials::on_demand())?
    ///     .with_metadata_endpoint("169.254.169.254")?;
    /// # let _ = gcp;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]`.
    pub fn with_metadata_endpoint(mut self, endpoint: &str) -> Result<Self> {
        self.parse_endpoint(endpoint)?;
        self.metadata_endpoint = endpoint.to_owned();
        Ok(self)
    }

    fn parse_endpoint(&self, endpoint: &str) -> Result<Endpoint> {
        Endpoint::parse(endpoint).ok_or_else(|| {
            self.error(
                KmsErrorKind::Configuration,
                format!("`{endpoint}` is not an endpoint: expected host[:port]"),
            )
        })
    }

    fn error(&self, kind: KmsErrorKind, message: impl Into<String>) -> Error {
        Error::kms(&self.name, kind, message)
    }

    /// Where and what to ask about data key `key_id` under `master_key`: the URL and
    /// the OAuth scope, or why not.
    fn target(&self, master_key: &MasterKey, key_id: Uuid, call: Call) -> Result<(String, String)> {
        let MasterKey::Gcp {
            project_id,
            location,
            key_ring,
            key_name,
            key_version,
            endpoint,
            ..
        } = master_key
        else {
            return Err(self.error(
                KmsErrorKind::Configuration,
                format!(
                    "the master key is for `{}`, not Google Cloud KMS",
                    master_key.provider()
                ),
            ));
        };
        let refused = |endpoint: &str| Error::KmsEndpointRefused {
            provider: self.name.clone(),
            key_id,
            endpoint: endpoint.to_owned(),
        };
        let text = endpoint.as_deref().unwrap_or(DEFAULT_KMS_HOST);
        let parsed = Endpoint::parse(text).ok_or_else(|| refused(text))?;
        if !is_official(&parsed, location) && !self.allowed_endpoints.contains(&parsed) {
            return Err(refused(text));
        }
        let path = KeyPath {
            project_id,
            location,
            key_ring,
            key_name,
            key_version: key_version.as_deref(),
        }
        .path(call)
        .map_err(|field| {
            self.error(
                KmsErrorKind::Configuration,
                format!("masterKey.{field} of data key {key_id} is not a Cloud KMS name (letters, digits, `-._~`)"),
            )
        })?;
        let scope = scope(endpoint.as_ref().map(|_| parsed.host()));
        Ok((format!("https://{}{path}", parsed.authority()), scope))
    }

    /// The access token to send with a request in `scope`, and under which key of the
    /// cache it is kept (`None`: a given token, which cannot be renewed).
    async fn token<'s>(&self, scope: &'s str) -> Result<(Zeroizing<String>, Option<&'s str>)> {
        match &self.credentials.0 {
            Credentials::AccessToken(token) => Ok((token.clone(), None)),
            Credentials::ServiceAccount { email, private_key } => {
                let token = self
                    .tokens
                    .get(scope, self.fetch_token(email, private_key, scope))
                    .await?;
                Ok((token, Some(scope)))
            }
            // The metadata server's token is the instance's, whatever the scope.
            Credentials::Metadata => {
                let token = self.tokens.get("", self.fetch_metadata_token()).await?;
                Ok((token, Some("")))
            }
        }
    }

    /// The OAuth 2.0 JWT bearer flow, as libmongocrypt does it.
    async fn fetch_token(&self, email: &str, key: &jwt::PrivateKey, scope: &str) -> Result<Token> {
        let host = self.oauth_endpoint.host();
        let audience = format!("https://{host}/token");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let assertion = key
            .assertion(email, &audience, scope, now)
            .map_err(|message| self.error(KmsErrorKind::Credentials, message))?;
        let mut body = Zeroizing::new(String::with_capacity(TOKEN_REQUEST.len() + assertion.len()));
        body.push_str(TOKEN_REQUEST);
        body.push_str(&assertion);
        let url = format!("https://{}/token", self.oauth_endpoint.authority());
        let reply = self
            .http
            .post(
                &self.name,
                "token",
                &url,
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("accept", "application/json"),
                ],
                Zeroizing::new(std::mem::take(&mut *body).into_bytes()),
            )
            .await?;
        self.read_token(
            &reply,
            &format!("the token endpoint {}", self.oauth_endpoint),
        )
    }

    /// The default service account's token from the metadata server.
    async fn fetch_metadata_token(&self) -> Result<Token> {
        let url = format!("http://{}{METADATA_TOKEN_PATH}", self.metadata_endpoint);
        let reply = self
            .metadata_http
            .get(
                &self.name,
                "metadata token",
                &url,
                &[("metadata-flavor", "Google")],
            )
            .await?;
        self.read_token(
            &reply,
            &format!("the metadata server {}", self.metadata_endpoint),
        )
    }

    fn read_token(&self, reply: &Reply, from: &str) -> Result<Token> {
        if !reply.is_success() {
            let (code, message) = request::google_error(&reply.body);
            let message = format!("{from} refused to issue a token: {message}");
            return Err(if reply.status == 429 || reply.status >= 500 {
                reply.status_error(&self.name, code, message)
            } else {
                let code = code.map_or_else(String::new, |code| format!(" ({code})"));
                self.error(
                    KmsErrorKind::Credentials,
                    format!("{message}{code}, HTTP {}", reply.status),
                )
            });
        }
        let (value, expires_in) = token::parse_reply(&reply.body).ok_or_else(|| {
            self.error(
                KmsErrorKind::MalformedReply,
                format!("{from} answered without a usable access_token"),
            )
        })?;
        Ok(Token::new(value, expires_in, Instant::now()))
    }

    /// Sends `call` about data key `key_id` and returns the decoded answer. A token the
    /// KMS no longer accepts (401) is replaced once, when another can be fetched.
    async fn call(
        &self,
        master_key: &MasterKey,
        key_id: Uuid,
        call: Call,
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (url, scope) = self.target(master_key, key_id, call)?;
        let body = request::body(call, input);
        let mut renewed = false;
        loop {
            let (token, cached_as) = self.token(&scope).await?;
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(self.error(
                    KmsErrorKind::Credentials,
                    "the access token holds characters a header cannot carry",
                ));
            }
            let authorization = Zeroizing::new(format!("Bearer {}", token.as_str()));
            let reply = self
                .http
                .post(
                    &self.name,
                    call.method(),
                    &url,
                    &[
                        ("authorization", authorization.as_str()),
                        ("content-type", "application/json"),
                        ("accept", "application/json"),
                    ],
                    body.clone(),
                )
                .await?;
            if let (401, Some(cached_as), false) = (reply.status, cached_as, renewed) {
                self.tokens.forget(cached_as, &token).await;
                renewed = true;
                continue;
            }
            if !reply.is_success() {
                let (code, message) = request::google_error(&reply.body);
                return Err(reply.status_error(
                    &self.name,
                    code,
                    format!(
                        "{} of data key {key_id} answered {}: {message}",
                        call.method(),
                        reply.status
                    ),
                ));
            }
            return request::answer(call, &reply.body).map_err(|message| {
                self.error(
                    KmsErrorKind::MalformedReply,
                    format!("data key {key_id}: {message}"),
                )
            });
        }
    }
}

/// The start of a token request's form body; the assertion follows.
const TOKEN_REQUEST: &str =
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";

/// Cloud KMS's own endpoints: the global one and the key location's regional one, on 443.
fn is_official(endpoint: &Endpoint, location: &str) -> bool {
    if endpoint.port() != 443 {
        return false;
    }
    let regional = !location.is_empty()
        && location
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    endpoint.host() == DEFAULT_KMS_HOST
        || (regional && endpoint.host() == format!("cloudkms.{location}.rep.googleapis.com"))
}

/// The OAuth scope libmongocrypt asks for: Cloud KMS's on Google's endpoints, otherwise
/// `https://www.<domain>/auth/cloudkms` with the domain of the key's endpoint (its host
/// without the first label), so that both implementations ask a custom endpoint for the
/// same scope.
fn scope(custom_host: Option<&str>) -> String {
    match custom_host {
        Some(host) if !host.ends_with(".googleapis.com") => {
            let domain = host.split_once('.').map_or(host, |(_, domain)| domain);
            format!("https://www.{domain}/auth/cloudkms")
        }
        _ => GOOGLE_SCOPE.to_owned(),
    }
}

impl KmsProvider for GcpKms {
    fn name(&self) -> &str {
        &self.name
    }

    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let wrapped = self
                .call(master_key, key.id(), Call::Encrypt, key.material())
                .await?;
            Ok(wrapped.to_vec())
        })
    }

    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey>> {
        Box::pin(async move {
            let plaintext = self
                .call(master_key, key_id, Call::Decrypt, key_material)
                .await?;
            DataKey::from_bytes(key_id, &plaintext).map_err(|_| Error::KeyUnwrap {
                key_id,
                provider: self.name.clone(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms() -> GcpKms {
        GcpKms::new(GcpCredentials::access_token("token")).unwrap()
    }

    #[test]
    fn asks_for_libmongocrypts_scope() {
        assert_eq!(scope(None), GOOGLE_SCOPE);
        assert_eq!(scope(Some("cloudkms.googleapis.com")), GOOGLE_SCOPE);
        assert_eq!(scope(Some("127.0.0.1")), "https://www.0.0.1/auth/cloudkms");
        assert_eq!(
            scope(Some("kms.internal.example")),
            "https://www.internal.example/auth/cloudkms"
        );
    }

    #[test]
    fn sends_bearer_tokens_only_to_cloud_kms_or_allowed_endpoints() {
        let key = MasterKey::gcp("p", "europe-west1", "r", "k");
        let id = Uuid::new();
        let (url, _) = kms().target(&key, id, Call::Encrypt).unwrap();
        assert_eq!(
            url,
            "https://cloudkms.googleapis.com/v1/projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k:encrypt"
        );
        for official in [
            "cloudkms.googleapis.com:443",
            "cloudkms.europe-west1.rep.googleapis.com",
        ] {
            let key = key.clone().with_endpoint(official);
            assert!(kms().target(&key, id, Call::Decrypt).is_ok(), "{official}");
        }
        for refused in [
            "evil.example",
            "cloudkms.googleapis.com:8443",
            "cloudkms.googleapis.com.evil.example",
            "cloudkms.us-east1.rep.googleapis.com",
            "https://cloudkms.googleapis.com/",
        ] {
            let key = key.clone().with_endpoint(refused);
            assert!(
                matches!(
                    kms().target(&key, id, Call::Decrypt),
                    Err(Error::KmsEndpointRefused { endpoint, .. }) if endpoint == refused
                ),
                "{refused}"
            );
        }
        let allowed = kms().with_allowed_endpoint("127.0.0.1:9443").unwrap();
        let local = key.clone().with_endpoint("127.0.0.1:9443");
        let (url, scope) = allowed.target(&local, id, Call::Decrypt).unwrap();
        assert!(
            url.starts_with("https://127.0.0.1:9443/v1/projects/p/"),
            "{url}"
        );
        assert_eq!(scope, "https://www.0.0.1/auth/cloudkms");
    }

    #[test]
    fn reads_service_account_key_files_without_quoting_them() {
        for (json, expected) in [
            (&br#"{"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n"}"#[..], "not a PKCS#8 RSA key"),
            (br#"{"type": "authorized_user", "client_email": "a@b", "private_key": "QUJD"}"#, "authorized_user"),
            (br#"{"private_key": "QUJD""#, "not a service account key file"),
        ] {
            let Err(Error::Kms { kind, message, .. }) = GcpCredentials::from_service_account_json(json) else {
                panic!("accepted");
            };
            assert_eq!(kind, KmsErrorKind::Credentials);
            assert!(message.contains(expected) && !message.contains("QUJD"), "{message}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!(
            "{:?}",
            GcpKms::new(GcpCredentials::access_token("ya29.secret")).unwrap()
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("oauth2.googleapis.com"), "{text}");
    }
}
