//! The `azure` provider: Azure Key Vault `wrapkey`/`unwrapkey` (RSA-OAEP-256) over
//! HTTPS, with a bearer token from the identity platform (client credentials), given by
//! the application, or fetched on demand from the instance metadata service.

mod oauth;
mod wire;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use bson::Uuid;
use zeroize::Zeroizing;

use self::oauth::Token;
use super::aws::endpoint::Endpoint;
use super::http::{HttpClient, Reply, Retry, with_message};
use super::{DEFAULT_KMS_TIMEOUT, TlsOptions};
use crate::kms::{BoxFuture, KmsErrorKind, KmsProvider};
use crate::{DataKey, Error, MasterKey, Result};

/// Where the `azure` provider gets its bearer tokens. Secrets are zeroized on drop and
/// never printed.
///
/// ```
/// use encrypted_core::kms::AzureCredentials;
///
/// let credentials = AzureCredentials::client_credentials(
///     "00000000-0000-0000-0000-00000000000a", // tenant
///     "00000000-0000-0000-0000-00000000000b", // client (application) id
///     "the-client-secret~",
/// );
/// assert!(!format!("{credentials:?}").contains("the-client-secret"));
/// ```
pub struct AzureCredentials {
    source: Source,
}

enum Source {
    ClientCredentials {
        tenant_id: String,
        client_id: String,
        client_secret: Zeroizing<String>,
        identity_platform_endpoint: Option<String>,
    },
    AccessToken(Zeroizing<String>),
    InstanceMetadata,
}

impl AzureCredentials {
    /// An application registered in Microsoft Entra ID (`tenantId`, `clientId`,
    /// `clientSecret`): the provider asks the identity platform
    /// (`login.microsoftonline.com`) for a token with the OAuth 2.0 client-credentials
    /// grant, caches it until a minute before it expires, and asks again then.
    pub fn client_credentials(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            source: Source::ClientCredentials {
                tenant_id: tenant_id.into(),
                client_id: client_id.into(),
                client_secret: Zeroizing::new(client_secret.into()),
                identity_platform_endpoint: None,
            },
        }
    }

    /// Another identity platform host (`host[:port]`) than `login.microsoftonline.com`:
    /// `login.chinacloudapi.cn`, `login.microsoftonline.us`, or one the application
    /// allows with [`AzureKms::with_allowed_endpoint`]. Only for client credentials;
    /// other credentials are returned unchanged.
    ///
    /// ```
    /// use encrypted_core::kms::AzureCredentials;
    ///
    /// let credentials = AzureCredentials::client_credentials("tenant", "client", "secret")
    ///     .with_identity_platform_endpoint("login.microsoftonline.us");
    /// # let _ = credentials;
    /// ```
    #[must_use]
    pub fn with_identity_platform_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        if let Source::ClientCredentials {
            identity_platform_endpoint,
            ..
        } = &mut self.source
        {
            *identity_platform_endpoint = Some(endpoint.into());
        }
        self
    }

    /// An access token obtained elsewhere (`accessToken`), used as it is: when it
    /// expires, Key Vault refuses it and the application must give a new provider one.
    ///
    /// ```
    /// use encrypted_core::kms::AzureCredentials;
    ///
    /// let credentials = AzureCredentials::access_token("eyJ0eXAi...");
    /// assert!(!format!("{credentials:?}").contains("eyJ0"));
    /// ```
    pub fn access_token(token: impl Into<String>) -> Self {
        Self {
            source: Source::AccessToken(Zeroizing::new(token.into())),
        }
    }

    /// On-demand credentials (the spec's empty `azure: {}` document): the managed
    /// identity of the Azure VM, container or function the application runs on, whose
    /// tokens the instance metadata service (IMDS, `http://169.254.169.254`) gives. The
    /// token is fetched when first needed and again a minute before it expires.
    ///
    /// ```
    /// use encrypted_core::kms::{AzureCredentials, AzureKms};
    ///
    /// let azure = AzureKms::new(AzureCredentials::instance_metadata())?;
    /// # let _ = azure;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    pub fn instance_metadata() -> Self {
        Self {
            source: Source::InstanceMetadata,
        }
    }
}

impl fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::ClientCredentials {
                tenant_id,
                client_id,
                identity_platform_endpoint,
                ..
            } => f
                .debug_struct("AzureCredentials::ClientCredentials")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("identity_platform_endpoint", identity_platform_endpoint)
                .finish_non_exhaustive(),
            Source::AccessToken(_) => f
                .debug_struct("AzureCredentials::AccessToken")
                .finish_non_exhaustive(),
            Source::InstanceMetadata => f.write_str("AzureCredentials::InstanceMetadata"),
        }
    }
}

/// The `azure` KMS provider (or a named `azure:<name>` one): data keys are wrapped by an
/// RSA key in Azure Key Vault (or Managed HSM) with RSA-OAEP-256, the key document's
/// `masterKey` naming the vault (`keyVaultEndpoint`), the key and optionally its version.
/// Requests are the ones libmongocrypt sends, so keys created by either are used by the
/// other.
///
/// # Endpoint pinning
///
/// A key document is data that whoever can write the key vault can change, and the
/// provider sends a bearer token with every request. So it sends requests only to Azure's
/// own key vaults (one name under `vault.azure.net`, `vault.azure.cn`,
/// `vault.usgovcloudapi.net`, `vault.microsoftazure.de` or `managedhsm.azure.net`, on
/// port 443), and to endpoints the application allows with
/// [`AzureKms::with_allowed_endpoint`]. The identity platform host, which only the
/// application configures, is held to the same rule (`login.microsoftonline.com` and
/// the other clouds' logins, or allowed). Anything else is refused with
/// [`Error::KmsEndpointRefused`] before anything is sent.
///
/// # Tokens
///
/// Tokens are cached per OAuth scope until a minute before they expire; concurrent
/// operations wait for one fetch rather than each fetching. A token that Key Vault
/// refuses as expired or revoked (HTTP 401) is dropped and fetched again, once.
///
/// ```no_run
/// use encrypted_core::MasterKey;
/// use encrypted_core::kms::{AzureCredentials, AzureKms, KmsProviders};
///
/// let azure = AzureKms::new(AzureCredentials::client_credentials(
///     std::env::var("AZURE_TENANT_ID")?,
///     std::env::var("AZURE_CLIENT_ID")?,
///     std::env::var("AZURE_CLIENT_SECRET")?,
/// ))?;
/// let providers = KmsProviders::new().with(azure);
/// let master_key = MasterKey::azure("my-vault.vault.azure.net", "data-keys");
/// # let _ = (providers, master_key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AzureKms {
    name: String,
    credentials: AzureCredentials,
    /// Key Vault and the identity platform (HTTPS).
    http: HttpClient,
    /// The instance metadata service (plain HTTP, no proxy).
    metadata: HttpClient,
    allowed_endpoints: BTreeSet<Endpoint>,
    imds: Endpoint,
    /// Cached tokens (and the last failed fetch) by OAuth scope; the lock is held while
    /// one is fetched, so that concurrent callers share that fetch, failed or not.
    tokens: tokio::sync::Mutex<TokenCache>,
}

impl fmt::Debug for AzureKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureKms")
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
            .field("imds", &self.imds.to_string())
            .finish_non_exhaustive()
    }
}

/// Tokens by cache key, and when and how the last fetch for a key failed.
#[derive(Default)]
struct TokenCache {
    tokens: BTreeMap<String, Token>,
    failures: BTreeMap<String, (Instant, KmsErrorKind, String)>,
}

/// Which Key Vault operation.
#[derive(Clone, Copy)]
enum KeyOperation {
    Wrap,
    Unwrap,
}

impl KeyOperation {
    fn path_segment(self) -> &'static str {
        match self {
            Self::Wrap => "wrapkey",
            Self::Unwrap => "unwrapkey",
        }
    }
}

impl AzureKms {
    /// The unnamed `azure` provider, trusting the usual web roots.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the credentials' identity platform endpoint is not
    /// `host[:port]`, or the HTTP clients cannot be built.
    pub fn new(credentials: AzureCredentials) -> Result<Self> {
        let configuration =
            |message: String| Error::kms("azure", KmsErrorKind::Configuration, message);
        let http =
            HttpClient::new(TlsOptions::new(), DEFAULT_KMS_TIMEOUT).map_err(configuration)?;
        let metadata = HttpClient::metadata(DEFAULT_KMS_TIMEOUT).map_err(configuration)?;
        if let Source::ClientCredentials {
            identity_platform_endpoint: Some(endpoint),
            ..
        } = &credentials.source
            && Endpoint::parse(endpoint).is_none()
        {
            return Err(configuration(format!(
                "the identity platform endpoint `{endpoint}` is not host[:port]"
            )));
        }
        let imds = Endpoint::parse(oauth::DEFAULT_IMDS)
            .ok_or_else(|| configuration("the IMDS address does not parse".to_owned()))?;
        Ok(Self {
            name: "azure".to_owned(),
            credentials,
            http,
            metadata,
            allowed_endpoints: BTreeSet::new(),
            imds,
            tokens: tokio::sync::Mutex::new(TokenCache::default()),
        })
    }

    /// A named `azure:<name>` provider.
    ///
    /// ```
    /// use encrypted_core::kms::{AzureCredentials, AzureKms, KmsProvider};
    ///
    /// let azure = AzureKms::named("eu", AzureCredentials::access_token("token"))?;
    /// assert_eq!(azure.name(), "azure:eu");
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProviderName`] unless `name` is letters, digits and `_`; as
    /// [`AzureKms::new`] otherwise.
    pub fn named(name: &str, credentials: AzureCredentials) -> Result<Self> {
        let name = crate::master_key::named_provider("azure", name)?;
        Ok(Self {
            name,
            ..Self::new(credentials)?
        })
    }

    /// Limits each request (to Key Vault, the identity platform, IMDS) to `timeout`:
    /// connection, TLS handshake, sending, and reading the whole answer. The limit
    /// applies to each attempt when retrying.
    ///
    /// ```
    /// use std::time::Duration;
    /// use encrypted_core::kms::{AzureCredentials, AzureKms};
    ///
    /// let azure = AzureKms::new(AzureCredentials::instance_metadata())?
    ///     .with_timeout(Duration::from_secs(3))?;
    /// # let _ = azure;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTP clients cannot be built with it.
    pub fn with_timeout(self, timeout: Duration) -> Result<Self> {
        let http = self
            .http
            .with_timeout(timeout)
            .map_err(|message| Error::kms(&self.name, KmsErrorKind::Configuration, message))?;
        let metadata = self
            .metadata
            .with_timeout(timeout)
            .map_err(|message| Error::kms(&self.name, KmsErrorKind::Configuration, message))?;
        Ok(Self {
            http,
            metadata,
            ..self
        })
    }

    /// Uses these TLS settings (extra CA, client certificate) for Key Vault and the
    /// identity platform.
    ///
    /// ```no_run
    /// use encrypted_core::kms::{AzureCredentials, AzureKms, TlsOptions};
    ///
    /// let azure = AzureKms::new(AzureCredentials::access_token("token"))?
    ///     .with_tls(TlsOptions::new().with_ca_pem(std::fs::read("proxy-ca.pem")?)?)?;
    /// # let _ = azure;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the HTTPS client cannot be built with them.
    pub fn with_tls(self, tls: TlsOptions) -> Result<Self> {
        let http = self
            .http
            .with_tls(tls)
            .map_err(|message| Error::kms(&self.name, KmsErrorKind::Configuration, message))?;
        Ok(Self { http, ..self })
    }

    /// Retries failed requests (network errors, timeouts, HTTP 429 and 5xx; up to 3
    /// attempts with jittered exponential backoff), the default, or not (`false`: one
    /// attempt, every failure reported at once). A 4xx is never retried.
    ///
    /// ```
    /// use encrypted_core::kms::{AzureCredentials, AzureKms};
    ///
    /// let azure = AzureKms::new(AzureCredentials::access_token("token"))?.with_retry(false);
    /// # let _ = azure;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_retry(self, retry: bool) -> Self {
        Self {
            http: self.http.with_retry(Retry::enabled(retry)),
            metadata: self.metadata.with_retry(Retry::enabled(retry)),
            ..self
        }
    }

    /// Also lets master keys name this key vault endpoint, and the credentials this
    /// identity platform endpoint (`host[:port]`, port 443 if omitted): a private
    /// endpoint, a proxy or a test server the application trusts. Only the application
    /// decides this; a key document cannot.
    ///
    /// ```
    /// use encrypted_core::kms::{AzureCredentials, AzureKms};
    ///
    /// let azure = AzureKms::new(AzureCredentials::access_token("token"))?
    ///     .with_allowed_endpoint("kv.internal.example:8443")?;
    /// assert!(azure.with_allowed_endpoint("https://evil.example/").is_err());
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]` (no scheme, path or user).
    pub fn with_allowed_endpoint(mut self, endpoint: &str) -> Result<Self> {
        let parsed = Endpoint::parse(endpoint).ok_or_else(|| {
            self.configuration(format!(
                "`{endpoint}` is not an endpoint: expected host[:port]"
            ))
        })?;
        self.allowed_endpoints.insert(parsed);
        Ok(self)
    }

    /// Asks this address (`host[:port]`, port 80 if omitted; plain HTTP) instead of
    /// `169.254.169.254` for on-demand tokens ([`AzureCredentials::instance_metadata`]):
    /// a metadata proxy, or a test server. Only the application decides this.
    ///
    /// ```
    /// use encrypted_core::kms::{AzureCredentials, AzureKms};
    ///
    /// let azure = AzureKms::new(AzureCredentials::instance_metadata())?
    ///     .with_imds_endpoint("127.0.0.1:8080")?;
    /// # let _ = azure;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]`.
    pub fn with_imds_endpoint(mut self, endpoint: &str) -> Result<Self> {
        let has_port = match endpoint.rsplit_once(':') {
            Some((host, _)) => {
                !host.is_empty() && (!endpoint.starts_with('[') || host.ends_with(']'))
            }
            None => false,
        };
        let with_port = if has_port {
            endpoint.to_owned()
        } else {
            format!("{endpoint}:80")
        };
        self.imds = Endpoint::parse(&with_port).ok_or_else(|| {
            self.configuration(format!(
                "`{endpoint}` is not an endpoint: expected host[:port]"
            ))
        })?;
        Ok(self)
    }

    fn configuration(&self, message: impl Into<String>) -> Error {
        Error::kms(&self.name, KmsErrorKind::Configuration, message)
    }

    fn refused(&self, key_id: Uuid, endpoint: impl Into<String>) -> Error {
        Error::KmsEndpointRefused {
            provider: self.name.clone(),
            key_id,
            endpoint: endpoint.into(),
        }
    }

    /// The key vault a request about `key_id` under `master_key` may go to, the key's
    /// name and version.
    fn key_vault<'k>(
        &self,
        master_key: &'k MasterKey,
        key_id: Uuid,
    ) -> Result<(Endpoint, &'k str, Option<&'k str>)> {
        let MasterKey::Azure {
            key_vault_endpoint,
            key_name,
            key_version,
            ..
        } = master_key
        else {
            return Err(self.configuration(format!(
                "the master key is for `{}`, not Azure",
                master_key.provider()
            )));
        };
        let endpoint = Endpoint::parse(key_vault_endpoint)
            .filter(|endpoint| {
                wire::is_official_key_vault(endpoint) || self.allowed_endpoints.contains(endpoint)
            })
            .ok_or_else(|| self.refused(key_id, key_vault_endpoint.clone()))?;
        Ok((endpoint, key_name, key_version.as_deref()))
    }

    /// The identity platform host the client credentials go to.
    fn identity_platform(&self, configured: Option<&str>, key_id: Uuid) -> Result<Endpoint> {
        let text = configured.unwrap_or(oauth::DEFAULT_IDENTITY_PLATFORM);
        Endpoint::parse(text)
            .filter(|endpoint| {
                wire::is_official_identity_platform(endpoint)
                    || self.allowed_endpoints.contains(endpoint)
            })
            .ok_or_else(|| self.refused(key_id, text))
    }

    /// Where a token for `scope` is cached: IMDS tokens are for one resource whatever
    /// the vault.
    fn cache_key<'s>(&self, scope: &'s str) -> &'s str {
        match self.credentials.source {
            Source::InstanceMetadata => "imds",
            _ => scope,
        }
    }

    /// A bearer token for `scope`: the cached one while it is fresh, else a new one.
    /// One fetch at a time: callers that waited for a fetch get its token, or, if it
    /// failed, its error (rather than each trying again, one timeout after another).
    async fn token(&self, scope: &str, key_id: Uuid) -> Result<Zeroizing<String>> {
        if let Source::AccessToken(token) = &self.credentials.source {
            return Ok(token.clone());
        }
        let asked = Instant::now();
        let key = self.cache_key(scope);
        let mut cache = self.tokens.lock().await;
        if let Some(token) = cache
            .tokens
            .get(key)
            .filter(|token| token.is_fresh(Instant::now()))
        {
            return Ok(token.value.clone());
        }
        if let Some((_, kind, message)) = cache.failures.get(key).filter(|(at, ..)| *at >= asked) {
            return Err(Error::kms(&self.name, kind.clone(), message.clone()));
        }
        let obtained = Instant::now();
        match self.fetch_token(scope, key_id).await {
            Ok((value, lifetime)) => {
                cache.failures.remove(key);
                cache.tokens.insert(
                    key.to_owned(),
                    Token::new(value.clone(), obtained, lifetime),
                );
                Ok(value)
            }
            Err(error) => {
                if let Error::Kms { kind, message, .. } = &error {
                    cache.failures.insert(
                        key.to_owned(),
                        (Instant::now(), kind.clone(), message.clone()),
                    );
                }
                Err(error)
            }
        }
    }

    /// Drops the cached token for `scope` if it is still `used` (Key Vault refused it).
    async fn forget_token(&self, scope: &str, used: &str) {
        let key = self.cache_key(scope);
        let mut cache = self.tokens.lock().await;
        if cache
            .tokens
            .get(key)
            .is_some_and(|token| token.value.as_str() == used)
        {
            cache.tokens.remove(key);
        }
    }

    /// Asks the identity platform or IMDS for a token.
    async fn fetch_token(
        &self,
        scope: &str,
        key_id: Uuid,
    ) -> Result<(Zeroizing<String>, Duration)> {
        let (reply, host) = match &self.credentials.source {
            Source::ClientCredentials {
                tenant_id,
                client_id,
                client_secret,
                identity_platform_endpoint,
            } => {
                let endpoint =
                    self.identity_platform(identity_platform_endpoint.as_deref(), key_id)?;
                if tenant_id.is_empty()
                    || !tenant_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    return Err(Error::kms(
                        &self.name,
                        KmsErrorKind::Credentials,
                        "the tenant id must be a GUID or a domain name (letters, digits, `-`, `.`)",
                    ));
                }
                let mut body = oauth::client_credentials_body(client_id, scope, client_secret);
                let body = Zeroizing::new(std::mem::take(&mut *body).into_bytes());
                let url = format!(
                    "https://{}/{tenant_id}/oauth2/v2.0/token",
                    endpoint.authority()
                );
                let headers = [
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("accept", "application/json"),
                ];
                let reply = self
                    .http
                    .post(&self.name, "oauth2 token", &url, &headers, body)
                    .await?;
                (reply, endpoint.host().to_owned())
            }
            Source::InstanceMetadata => {
                let url = format!("http://{}{}", self.imds, oauth::IMDS_PATH);
                let headers = [("metadata", "true"), ("accept", "application/json")];
                let reply = self
                    .metadata
                    .get(&self.name, "imds token", &url, &headers)
                    .await?;
                (reply, self.imds.host().to_owned())
            }
            Source::AccessToken(_) => {
                return Err(self.configuration("an access token given is not fetched"));
            }
        };
        oauth::parse_token_reply(reply.status, &reply.body).map_err(|error| match error {
            oauth::ReplyError::Status { status, code, text } if status < 500 => Error::kms(
                &self.name,
                KmsErrorKind::Credentials,
                format!(
                    "{host} refused to give a token: HTTP {status} {}: {text}",
                    code.as_deref().unwrap_or("")
                ),
            ),
            oauth::ReplyError::Status { status, code, text } => reply.status_error(
                &self.name,
                code.clone(),
                format!(
                    "{host} could not give a token: HTTP {status} {}: {text}",
                    code.as_deref().unwrap_or("")
                ),
            ),
            oauth::ReplyError::Malformed(what) => Error::kms(
                &self.name,
                KmsErrorKind::MalformedReply,
                format!("the token reply from {host} has {what}"),
            ),
        })
    }

    /// One `wrapkey`/`unwrapkey` about data key `key_id`: the decoded `value` of the reply.
    async fn call(
        &self,
        master_key: &MasterKey,
        key_id: Uuid,
        operation: KeyOperation,
        value: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (endpoint, key_name, key_version) = self.key_vault(master_key, key_id)?;
        let target = operation.path_segment();
        let path = wire::key_path(key_name, key_version, target).ok_or_else(|| {
            self.configuration(format!(
                "the master key's keyName or keyVersion is not a Key Vault name (letters, digits, `-`): data key {key_id}"
            ))
        })?;
        let url = format!("https://{}{path}", endpoint.authority());
        let scope = oauth::scope_for(endpoint.host());
        let mut refetched = false;
        loop {
            let token = self.token(&scope, key_id).await?;
            let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
            let headers = [
                ("authorization", bearer.as_str()),
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ];
            let reply = self
                .http
                .post(
                    &self.name,
                    target,
                    &url,
                    &headers,
                    wire::request_body(value),
                )
                .await?;
            match wire::parse_reply(reply.status, &reply.body) {
                Ok(value) => return Ok(value),
                Err(wire::ReplyError::Status { status: 401, .. })
                    if !refetched && self.refreshes() =>
                {
                    // Expired or revoked sooner than it said: fetch a new one, once.
                    self.forget_token(&scope, &token).await;
                    refetched = true;
                }
                Err(error) => return Err(self.reply_error(&reply, error, target, &endpoint)),
            }
        }
    }

    fn reply_error(
        &self,
        reply: &Reply,
        error: wire::ReplyError,
        target: &str,
        endpoint: &Endpoint,
    ) -> Error {
        match error {
            wire::ReplyError::Status { status, code, text } => reply.status_error(
                &self.name,
                code.clone(),
                format!(
                    "{target} at {} answered HTTP {status} {}: {text}",
                    endpoint.host(),
                    code.as_deref().unwrap_or("")
                ),
            ),
            wire::ReplyError::Malformed(what) => Error::kms(
                &self.name,
                KmsErrorKind::MalformedReply,
                format!("the {target} reply from {} has {what}", endpoint.host()),
            ),
        }
    }

    /// Whether tokens come from somewhere they can be fetched again.
    fn refreshes(&self) -> bool {
        !matches!(self.credentials.source, Source::AccessToken(_))
    }
}

impl KmsProvider for AzureKms {
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
                .call(master_key, key.id(), KeyOperation::Wrap, key.material())
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
                .call(master_key, key_id, KeyOperation::Unwrap, key_material)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_key_vaults_and_identity_platforms_not_allowed() {
        let key_id = Uuid::new();
        let azure = AzureKms::new(AzureCredentials::access_token("t"))
            .unwrap()
            .with_allowed_endpoint("127.0.0.1:8443")
            .unwrap();
        for refused in [
            "evil.example",
            "my-kv.vault.azure.net:8443",
            "my-kv.vault.azure.net.evil.example",
            "127.0.0.1:8444",
            "https://my-kv.vault.azure.net/",
        ] {
            let key = MasterKey::Azure {
                name: None,
                key_vault_endpoint: refused.to_owned(),
                key_name: "k".to_owned(),
                key_version: None,
            };
            assert!(
                matches!(
                    azure.key_vault(&key, key_id),
                    Err(Error::KmsEndpointRefused { .. })
                ),
                "{refused}"
            );
        }
        for allowed in ["my-kv.vault.azure.net", "127.0.0.1:8443"] {
            assert!(
                azure
                    .key_vault(&MasterKey::azure(allowed, "k"), key_id)
                    .is_ok()
            );
        }
        assert!(matches!(
            azure.identity_platform(Some("login.evil.example"), key_id),
            Err(Error::KmsEndpointRefused { .. })
        ));
        assert!(azure.identity_platform(None, key_id).is_ok());
        assert!(
            azure
                .identity_platform(Some("127.0.0.1:8443"), key_id)
                .is_ok()
        );
    }

    #[test]
    fn reads_imds_endpoints_with_or_without_a_port() {
        let azure = || AzureKms::new(AzureCredentials::instance_metadata()).unwrap();
        assert_eq!(azure().imds.to_string(), "169.254.169.254:80");
        assert_eq!(
            azure()
                .with_imds_endpoint("127.0.0.1")
                .unwrap()
                .imds
                .to_string(),
            "127.0.0.1:80"
        );
        assert_eq!(
            azure()
                .with_imds_endpoint("127.0.0.1:8080")
                .unwrap()
                .imds
                .to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            azure()
                .with_imds_endpoint("[::1]")
                .unwrap()
                .imds
                .to_string(),
            "[::1]:80"
        );
        assert!(azure().with_imds_endpoint("http://127.0.0.1/").is_err());
    }

    #[test]
    fn never_prints_secrets() {
        let azure = AzureKms::new(
            AzureCredentials::client_credentials("tenant", "client", "hunter2-secret")
                .with_identity_platform_endpoint("login.microsoftonline.us"),
        )
        .unwrap();
        let shown = format!("{azure:?}");
        assert!(shown.contains("tenant") && !shown.contains("hunter2"));
        assert!(!format!("{:?}", AzureCredentials::access_token("eyJsecret")).contains("eyJ"));
    }
}
