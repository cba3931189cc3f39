//! The `kmip` provider: a KMIP server over mutual TLS (KMIP 1.0/1.2 TTLV messages, as
//! libmongocrypt sends them; see [`crate::kms::kmip`] for the flows).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bson::Uuid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use zeroize::Zeroizing;

use super::aws::endpoint::Endpoint as HttpsEndpoint;
use super::http::with_message;
use super::{DEFAULT_KMS_TIMEOUT, TlsOptions};
use crate::driver::trace::Operation as Trace;
use crate::kms::kmip::ReplyError;
use crate::kms::kmip::ttlv::{self, HEADER_LEN};
use crate::kms::kmip::{self as messages, DEFAULT_PORT, IV_LEN, Operation, Reply, SECRET_DATA_LEN};
use crate::kms::{BoxFuture, KmsErrorKind, KmsProvider};
use crate::{DataKey, Error, LocalMasterKey, MasterKey, Result};

/// The `kmip` KMS provider (or a named `kmip:<name>` one): data keys are protected by a
/// key on a KMIP server, reached over mutual TLS.
///
/// Creating a data key with [`MasterKey::kmip()`] registers a new 96-byte secret on the
/// server (KMIP `Register` + `Activate`) and wraps the data key with it locally, as the
/// `local` provider does; decrypting `Get`s the secret. With
/// [`with_delegated(true)`](MasterKey::with_delegated) the server creates an AES-256 key
/// and encrypts and decrypts data keys itself (KMIP `Encrypt`/`Decrypt`): the key never
/// leaves it. Key documents are those libmongocrypt writes, in both modes.
///
/// # Endpoint pinning
///
/// The provider talks to its configured endpoint. A master key naming another endpoint
/// (its `endpoint` field is data anyone who can write the key vault can change) is
/// refused with [`Error::KmsEndpointRefused`] before anything is sent, unless the
/// application allowed that endpoint with [`KmipKms::with_allowed_endpoint`].
///
/// # Replies and timeouts
///
/// A reply is read up to 64 KiB (a longer one is refused from its header) and decoded
/// strictly. The timeout covers each whole exchange: connection, TLS handshake and every
/// request and reply of the operation.
///
/// ```no_run
/// use encrypted_core::kms::{KmipKms, KmsProviders, TlsOptions};
///
/// let tls = TlsOptions::new()
///     .with_ca_pem(std::fs::read("kmip-ca.pem")?)?
///     .with_client_identity_pem(std::fs::read("kmip-client.pem")?)?;
/// let kmip = KmipKms::new("kmip.internal.example:5696", tls)?;
/// let providers = KmsProviders::new().with(kmip);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KmipKms {
    name: String,
    endpoint: Endpoint,
    allowed_endpoints: BTreeSet<Endpoint>,
    timeout: Duration,
    connector: TlsConnector,
}

impl fmt::Debug for KmipKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmipKms")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint.authority())
            .field(
                "allowed_endpoints",
                &self
                    .allowed_endpoints
                    .iter()
                    .map(Endpoint::authority)
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A KMIP server's address, normalised (host in lower case, port explicit) so that
/// equal endpoints compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    /// A DNS name, an IPv4 address or a bracketed IPv6 address.
    host: String,
    port: u16,
}

impl Endpoint {
    fn host(&self) -> &str {
        &self.host
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// `host[:port]`, port 5696 (KMIP's) if omitted; validated as the HTTPS providers'
/// endpoints are (no scheme, user, path or anything else).
fn parse_endpoint(text: &str) -> Option<Endpoint> {
    let has_port = match text.strip_prefix('[') {
        Some(rest) => rest.contains("]:"),
        None => text.contains(':'),
    };
    let parsed = if has_port {
        HttpsEndpoint::parse(text)
    } else {
        HttpsEndpoint::parse(&format!("{text}:{DEFAULT_PORT}"))
    }?;
    let normalised = parsed.to_string();
    let (host, port) = normalised.rsplit_once(':')?;
    Some(Endpoint {
        host: host.to_owned(),
        port: port.parse().ok()?,
    })
}

impl KmipKms {
    /// The unnamed `kmip` provider, talking to the KMIP server at `endpoint`
    /// (`host[:port]`, port 5696 if omitted) with these TLS settings: the server's CA
    /// and the client certificate KMIP servers require.
    ///
    /// ```
    /// use encrypted_core::kms::{KmipKms, KmsProvider, TlsOptions};
    ///
    /// let kmip = KmipKms::new("127.0.0.1:5696", TlsOptions::new())?;
    /// assert_eq!(kmip.name(), "kmip");
    /// assert!(KmipKms::new("https://kmip.example/", TlsOptions::new()).is_err());
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]` or the TLS settings cannot be
    /// used.
    pub fn new(endpoint: &str, tls: TlsOptions) -> Result<Self> {
        Self::build("kmip".to_owned(), endpoint, &tls)
    }

    /// A named `kmip:<name>` provider.
    ///
    /// ```
    /// use encrypted_core::kms::{KmipKms, KmsProvider, TlsOptions};
    ///
    /// let kmip = KmipKms::named("hsm", "127.0.0.1:5696", TlsOptions::new())?;
    /// assert_eq!(kmip.name(), "kmip:hsm");
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProviderName`] unless `name` is letters, digits and `_`; as
    /// [`KmipKms::new`] otherwise.
    pub fn named(name: &str, endpoint: &str, tls: TlsOptions) -> Result<Self> {
        Self::build(
            crate::master_key::named_provider("kmip", name)?,
            endpoint,
            &tls,
        )
    }

    fn build(name: String, endpoint: &str, tls: &TlsOptions) -> Result<Self> {
        let parsed = parse_endpoint(endpoint).ok_or_else(|| {
            Error::kms(
                &name,
                KmsErrorKind::Configuration,
                format!("`{endpoint}` is not an endpoint: expected host[:port]"),
            )
        })?;
        let config = tls
            .rustls_config()
            .map_err(|message| Error::kms(&name, KmsErrorKind::Configuration, message))?;
        Ok(Self {
            name,
            endpoint: parsed,
            allowed_endpoints: BTreeSet::new(),
            timeout: DEFAULT_KMS_TIMEOUT,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Limits each KMIP exchange to `timeout`: connection, TLS handshake and every
    /// request and reply of one wrap or unwrap.
    ///
    /// ```
    /// use std::time::Duration;
    /// use encrypted_core::kms::{KmipKms, TlsOptions};
    ///
    /// let kmip = KmipKms::new("127.0.0.1", TlsOptions::new())?.with_timeout(Duration::from_secs(3));
    /// # let _ = kmip;
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Also lets master keys name this endpoint (`host[:port]`, port 5696 if omitted).
    /// Only the application decides this; a key document cannot.
    ///
    /// ```
    /// use encrypted_core::kms::{KmipKms, TlsOptions};
    ///
    /// let kmip = KmipKms::new("kmip-a.example", TlsOptions::new())?
    ///     .with_allowed_endpoint("kmip-b.example:5696")?;
    /// assert!(kmip.with_allowed_endpoint("kmip://evil.example").is_err());
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when `endpoint` is not `host[:port]`.
    pub fn with_allowed_endpoint(mut self, endpoint: &str) -> Result<Self> {
        let parsed = parse_endpoint(endpoint).ok_or_else(|| {
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

    /// A request this provider could not even write (an absurdly long key id).
    fn unwritable(&self, message: String) -> Error {
        self.error(KmsErrorKind::Configuration, message)
    }

    /// A reply that is malformed or reports a failure.
    fn reply_error(&self, error: ReplyError, context: impl FnOnce(String) -> String) -> Error {
        let kind = match &error {
            ReplyError::Malformed(_) => KmsErrorKind::MalformedReply,
            // Authentication Not Successful, Permission Denied.
            ReplyError::Failed {
                reason: Some(0x03 | 0x0c),
                ..
            } => KmsErrorKind::Credentials,
            ReplyError::Failed { .. } => KmsErrorKind::Other,
        };
        self.error(kind, context(error.to_string()))
    }

    /// The key's fields, and where requests about data key `key_id` may go.
    fn target<'k>(
        &self,
        master_key: &'k MasterKey,
        key_id: Uuid,
    ) -> Result<(Option<&'k str>, bool, Endpoint)> {
        let MasterKey::Kmip {
            key_id: kmip_id,
            endpoint,
            delegated,
            ..
        } = master_key
        else {
            return Err(self.error(
                KmsErrorKind::Configuration,
                format!(
                    "the master key is for `{}`, not KMIP",
                    master_key.provider()
                ),
            ));
        };
        let endpoint = match endpoint {
            None => self.endpoint.clone(),
            Some(text) => {
                let refused = || Error::KmsEndpointRefused {
                    provider: self.name.clone(),
                    key_id,
                    endpoint: text.clone(),
                };
                let parsed = parse_endpoint(text).ok_or_else(refused)?;
                if parsed != self.endpoint && !self.allowed_endpoints.contains(&parsed) {
                    return Err(refused());
                }
                parsed
            }
        };
        Ok((kmip_id.as_deref(), *delegated, endpoint))
    }

    /// Runs `exchange` on a new connection to `endpoint`, all within the timeout.
    async fn session<T>(
        &self,
        endpoint: &Endpoint,
        what: &str,
        exchange: impl AsyncFnOnce(&mut Session<'_>) -> Result<T>,
    ) -> Result<T> {
        let trace = Trace::kms_request(&self.name, what, endpoint.host(), endpoint.port(), 1);
        let result = trace
            .run(async {
                match tokio::time::timeout(self.timeout, async {
                    let mut session = self.connect(endpoint).await?;
                    let result = exchange(&mut session).await;
                    // A polite close; the answer is already in hand either way.
                    let _ = session.stream.shutdown().await;
                    result
                })
                .await
                {
                    Ok(result) => result,
                    Err(_) => Err(self.error(
                        KmsErrorKind::TimedOut,
                        format!(
                            "no answer from {} in time ({:?}) for {what}",
                            endpoint.authority(),
                            self.timeout
                        ),
                    )),
                }
            })
            .await;
        trace.done(&result, None);
        result
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<Session<'_>> {
        let authority = endpoint.authority();
        let host = endpoint.host();
        let host = host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(host);
        let server_name = ServerName::try_from(host.to_owned()).map_err(|_| {
            self.error(
                KmsErrorKind::Configuration,
                format!("`{host}` is not a TLS server name"),
            )
        })?;
        let tcp = TcpStream::connect((host, endpoint.port()))
            .await
            .map_err(|error| {
                self.error(
                    KmsErrorKind::Unreachable,
                    format!("cannot connect to {authority}"),
                )
                .with_kms_source(error)
            })?;
        let stream = self
            .connector
            .connect(server_name, tcp)
            .await
            .map_err(|error| {
                self.error(KmsErrorKind::Tls, format!("TLS with {authority} failed"))
                    .with_kms_source(error)
            })?;
        Ok(Session {
            kms: self,
            authority,
            stream,
        })
    }

    /// Registers (or, delegated, creates) and activates a new key; returns its id.
    async fn create_key(&self, session: &mut Session<'_>, delegated: bool) -> Result<String> {
        let (request, operation) = if delegated {
            (messages::create_aes_key(), Operation::Create)
        } else {
            let secret = LocalMasterKey::generate_bytes()?;
            (messages::register_secret_data(&secret), Operation::Register)
        };
        let request = request.map_err(|message| self.unwritable(message))?;
        let uid = session
            .call(&request, operation)
            .await?
            .unique_identifier()
            .map_err(|error| session.reply_error(error, operation))?;
        let activate = messages::activate(&uid).map_err(|message| self.unwritable(message))?;
        session.call(&activate, Operation::Activate).await?;
        Ok(uid)
    }

    /// The 96-byte secret `uid`, as a local master key.
    async fn secret(&self, session: &mut Session<'_>, uid: &str) -> Result<LocalMasterKey> {
        let request = messages::get(uid).map_err(|message| self.unwritable(message))?;
        let reply = session.call(&request, Operation::Get).await?;
        let secret = reply
            .secret_data()
            .map_err(|error| session.reply_error(error, Operation::Get))?;
        LocalMasterKey::from_bytes(secret)
    }

    fn key_id<'k>(&self, kmip_id: Option<&'k str>) -> Result<&'k str> {
        kmip_id
            .ok_or_else(|| self.error(KmsErrorKind::Configuration, "the master key has no keyId"))
    }
}

/// One TLS connection to a KMIP server, carrying a sequence of requests.
struct Session<'a> {
    kms: &'a KmipKms,
    authority: String,
    stream: TlsStream<TcpStream>,
}

impl Session<'_> {
    /// Sends one request and reads its reply: a header announcing at most 64 KiB, then
    /// exactly that much, into one buffer allocated once and zeroized on drop.
    /// `error` in a reply from this session's server to `operation`.
    fn reply_error(&self, error: ReplyError, operation: Operation) -> Error {
        self.kms.reply_error(error, |message| {
            format!("KMIP {} at {}: {message}", operation.name(), self.authority)
        })
    }

    async fn call(&mut self, request: &[u8], operation: Operation) -> Result<Reply> {
        let failed = |error: std::io::Error| {
            self.kms
                .error(
                    KmsErrorKind::Unreachable,
                    format!("KMIP {} with {} failed", operation.name(), self.authority),
                )
                .with_kms_source(error)
        };
        self.stream.write_all(request).await.map_err(failed)?;
        self.stream.flush().await.map_err(failed)?;
        let mut header = [0_u8; HEADER_LEN];
        self.stream.read_exact(&mut header).await.map_err(failed)?;
        let len = ttlv::message_len(&header).map_err(|error| {
            self.reply_error(ReplyError::Malformed(error.to_string()), operation)
        })?;
        let mut message = Zeroizing::new(vec![0_u8; len]);
        let (head, body) = message.split_at_mut(HEADER_LEN.min(len));
        head.copy_from_slice(header.get(..head.len()).unwrap_or_default());
        self.stream.read_exact(body).await.map_err(failed)?;
        Reply::parse(&message, operation).map_err(|error| self.reply_error(error, operation))
    }
}

impl KmsProvider for KmipKms {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete_master_key<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
    ) -> BoxFuture<'a, Result<MasterKey>> {
        Box::pin(async move {
            // The master key is checked (and its endpoint pinned) before anything is sent.
            let (kmip_id, delegated, endpoint) = self.target(master_key, key_id)?;
            if kmip_id.is_some() {
                return Ok(master_key.clone());
            }
            let what = if delegated {
                "KMIP Create"
            } else {
                "KMIP Register"
            };
            let uid = self
                .session(&endpoint, what, async |session| {
                    self.create_key(session, delegated).await
                })
                .await?;
            Ok(master_key.clone().with_key_id(uid))
        })
    }

    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let (kmip_id, delegated, endpoint) = self.target(master_key, key.id())?;
            let uid = self.key_id(kmip_id)?;
            if delegated {
                let request = messages::encrypt(uid, key.material())
                    .map_err(|message| self.unwritable(message))?;
                self.session(&endpoint, "KMIP Encrypt", async |session| {
                    let reply = session.call(&request, Operation::Encrypt).await?;
                    let invalid = |error| session.reply_error(error, Operation::Encrypt);
                    let iv = reply.iv().map_err(invalid)?;
                    let data = reply.data().map_err(invalid)?;
                    // libmongocrypt's keyMaterial: the IV, then the ciphertext.
                    let mut material = Vec::with_capacity(iv.len() + data.len());
                    material.extend_from_slice(iv);
                    material.extend_from_slice(data);
                    Ok(material)
                })
                .await
            } else {
                let secret = self
                    .session(&endpoint, "KMIP Get", async |session| {
                        self.secret(session, uid).await
                    })
                    .await?;
                secret.wrap(key)
            }
        })
    }

    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey>> {
        Box::pin(async move {
            let (kmip_id, delegated, endpoint) = self.target(master_key, key_id)?;
            let uid = self.key_id(kmip_id)?;
            let unwrap_failed = || Error::KeyUnwrap {
                key_id,
                provider: self.name.clone(),
            };
            let context = |error: Error| {
                with_message(error, |message| {
                    format!("cannot unwrap data key {key_id}: {message}")
                })
            };
            if delegated {
                let (iv, ciphertext) = key_material
                    .split_at_checked(IV_LEN)
                    .filter(|(_, ciphertext)| !ciphertext.is_empty())
                    .ok_or_else(unwrap_failed)?;
                let request = messages::decrypt(uid, ciphertext, iv)
                    .map_err(|message| self.unwritable(message))?;
                let plaintext = self
                    .session(&endpoint, "KMIP Decrypt", async |session| {
                        let reply = session.call(&request, Operation::Decrypt).await?;
                        let data = reply
                            .data()
                            .map_err(|error| session.reply_error(error, Operation::Decrypt))?;
                        Ok(Zeroizing::new(data.to_vec()))
                    })
                    .await
                    .map_err(context)?;
                DataKey::from_bytes(key_id, &plaintext).map_err(|_| unwrap_failed())
            } else {
                let secret = self
                    .session(&endpoint, "KMIP Get", async |session| {
                        self.secret(session, uid).await
                    })
                    .await
                    .map_err(context)?;
                secret
                    .unwrap(key_id, key_material)
                    .map_err(|_| unwrap_failed())
            }
        })
    }
}

// The secret of a non-delegated key is a local master key: 96 bytes.
const _: () = assert!(SECRET_DATA_LEN == 96);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_the_kmip_port() {
        assert_eq!(parse_endpoint("kmip.example").unwrap().port(), 5696);
        assert_eq!(parse_endpoint("kmip.example:7000").unwrap().port(), 7000);
        assert_eq!(parse_endpoint("[::1]").unwrap().port(), 5696);
        assert_eq!(parse_endpoint("[::1]:7000").unwrap().port(), 7000);
        assert!(parse_endpoint("https://kmip.example").is_none());
    }

    #[tokio::test]
    async fn refuses_a_master_key_naming_another_endpoint_before_connecting() {
        // Nothing listens on the provider's endpoint: a connection attempt would be an
        // error of another kind.
        let kmip = KmipKms::new("127.0.0.1:9", TlsOptions::new())
            .unwrap()
            .with_allowed_endpoint("127.0.0.1:10")
            .unwrap();
        let key = DataKey::generate(Uuid::new()).unwrap();
        let elsewhere = MasterKey::kmip()
            .with_key_id("1")
            .with_endpoint("evil.example:5696");
        let refused = kmip.wrap(&elsewhere, &key).await.unwrap_err();
        assert!(
            matches!(&refused, Error::KmsEndpointRefused { endpoint, .. } if endpoint == "evil.example:5696"),
            "{refused:?}"
        );
        let refused = kmip
            .unwrap(&elsewhere, key.id(), &[0; 128])
            .await
            .unwrap_err();
        assert!(matches!(refused, Error::KmsEndpointRefused { .. }));
        let refused = kmip
            .complete_master_key(&MasterKey::kmip().with_endpoint("evil.example"), key.id())
            .await
            .unwrap_err();
        assert!(matches!(refused, Error::KmsEndpointRefused { .. }));
        // An allowed endpoint passes the check (and then finds no server).
        let allowed = MasterKey::kmip()
            .with_key_id("1")
            .with_endpoint("127.0.0.1:10");
        assert!(matches!(
            kmip.wrap(&allowed, &key).await.unwrap_err(),
            Error::Kms {
                kind: KmsErrorKind::Unreachable,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn refuses_delegated_key_material_too_short_to_hold_an_iv() {
        let kmip = KmipKms::new("127.0.0.1:9", TlsOptions::new()).unwrap();
        let key = MasterKey::kmip().with_key_id("1").with_delegated(true);
        let refused = kmip.unwrap(&key, Uuid::new(), &[0; 16]).await.unwrap_err();
        assert!(matches!(refused, Error::KeyUnwrap { .. }));
    }
}
