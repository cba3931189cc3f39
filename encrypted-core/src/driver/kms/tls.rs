//! TLS settings of a KMS provider.

mod pem;

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::{Error, Result};

/// TLS settings for one KMS provider: extra trusted CAs and a client certificate.
/// The web's usual roots are always trusted too.
///
/// PEM given here is checked at once, strictly: a CA PEM must hold at least one
/// certificate and nothing else, a client identity PEM certificates and one private key.
///
/// ```
/// use encrypted_core::Error;
/// use encrypted_core::kms::TlsOptions;
///
/// let tls = TlsOptions::new(); // the default roots only
/// # let _ = tls;
/// let refused = TlsOptions::new().with_ca_pem("this is not a certificate");
/// assert!(matches!(refused, Err(Error::KmsTls { .. })));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// DER certificates to trust besides the web roots.
    ca_certificates: Vec<Vec<u8>>,
    client_identity_pem: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("custom_cas", &self.ca_certificates.len())
            .field("client_certificate", &self.client_identity_pem.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// The defaults: the web's usual roots, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the CA certificate(s) in this PEM. Text between the certificates
    /// (comments of a bundle) is allowed; any other PEM section is not.
    ///
    /// ```no_run
    /// use encrypted_core::kms::TlsOptions;
    ///
    /// let tls = TlsOptions::new().with_ca_pem(std::fs::read("kms-ca.pem")?)?;
    /// # let _ = tls;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::KmsTls`] when the PEM holds no certificate, holds a section that is not
    /// a certificate (a private key, say), or a certificate that does not parse.
    pub fn with_ca_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self> {
        let sections = pem::sections(pem.as_ref()).map_err(|reason| Error::KmsTls {
            reason: format!("the CA PEM is not valid: {reason}"),
        })?;
        if sections.is_empty() {
            return Err(Error::KmsTls {
                reason: "the CA PEM holds no certificate".to_owned(),
            });
        }
        let mut certificates = Vec::with_capacity(sections.len());
        for section in sections {
            if section.label != "CERTIFICATE" {
                return Err(Error::KmsTls {
                    reason: format!(
                        "the CA PEM holds a `{}` section: only certificates belong there",
                        section.label
                    ),
                });
            }
            certificates.push(section.der.to_vec());
        }
        // rustls parses trust anchors when a client is built: build one that trusts
        // only these, so that a certificate it would refuse is an error now.
        let mut check = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false);
        for der in &certificates {
            let certificate =
                reqwest::Certificate::from_der(der).map_err(|error| Error::KmsTls {
                    reason: format!("a certificate of the CA PEM does not parse: {error}"),
                })?;
            check = check.add_root_certificate(certificate);
        }
        check.build().map_err(|error| Error::KmsTls {
            reason: format!("a certificate of the CA PEM is not usable: {error}"),
        })?;
        self.ca_certificates.extend(certificates);
        Ok(self)
    }

    /// Presents this client certificate: a PEM holding the certificate chain and its
    /// (unencrypted) private key. The bytes are zeroized on drop.
    ///
    /// ```no_run
    /// use encrypted_core::kms::TlsOptions;
    ///
    /// let tls = TlsOptions::new().with_client_identity_pem(std::fs::read("client.pem")?)?;
    /// # let _ = tls;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::KmsTls`] unless the PEM holds at least one certificate, exactly one
    /// private key and nothing else, all parseable.
    pub fn with_client_identity_pem(mut self, pem: impl Into<Vec<u8>>) -> Result<Self> {
        let pem = Zeroizing::new(pem.into());
        let invalid = |reason: String| Error::KmsTls {
            reason: format!("the client certificate PEM is not valid: {reason}"),
        };
        let sections = pem::sections(&pem).map_err(invalid)?;
        let (mut certificates, mut keys) = (0, 0);
        for section in &sections {
            match section.label.as_str() {
                "CERTIFICATE" => certificates += 1,
                "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => keys += 1,
                other => return Err(invalid(format!("it holds a `{other}` section"))),
            }
        }
        if certificates == 0 || keys != 1 {
            return Err(invalid(format!(
                "it must hold certificates and one private key, it holds {certificates} certificate(s) and {keys} key(s)"
            )));
        }
        reqwest::Identity::from_pem(&pem).map_err(|error| invalid(error.to_string()))?;
        self.client_identity_pem = Some(pem);
        Ok(self)
    }

    /// A rustls client configuration with these settings, for protocols other than
    /// HTTPS (KMIP): the web roots and the extra CAs, and the client certificate if any.
    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, String> {
        use tokio_rustls::rustls::pki_types::{
            CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer,
            PrivateSec1KeyDer,
        };
        use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

        let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in &self.ca_certificates {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|error| format!("a CA certificate is not usable: {error}"))?;
        }
        let builder = ClientConfig::builder_with_provider(std::sync::Arc::new(
            crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot configure TLS: {error}"))?
        .with_root_certificates(roots);
        let Some(pem) = &self.client_identity_pem else {
            return Ok(builder.with_no_client_auth());
        };
        let sections = pem::sections(pem)
            .map_err(|reason| format!("the client certificate PEM does not parse: {reason}"))?;
        let mut chain = Vec::new();
        let mut key = None;
        for section in sections {
            // `with_client_identity_pem` checked the labels: certificates and one key.
            let der = section.der.to_vec();
            match section.label.as_str() {
                "CERTIFICATE" => chain.push(CertificateDer::from(der)),
                "PRIVATE KEY" => key = Some(PrivateKeyDer::from(PrivatePkcs8KeyDer::from(der))),
                "RSA PRIVATE KEY" => key = Some(PrivateKeyDer::from(PrivatePkcs1KeyDer::from(der))),
                "EC PRIVATE KEY" => key = Some(PrivateKeyDer::from(PrivateSec1KeyDer::from(der))),
                _ => {}
            }
        }
        let key = key.ok_or("the client certificate PEM holds no private key")?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|error| format!("the client certificate is not usable: {error}"))
    }

    /// An HTTPS client with these settings and this timeout, which covers the whole
    /// request: connection, TLS handshake, sending, and reading the complete answer.
    /// Redirects are not followed (they would take the signed request elsewhere).
    pub(crate) fn client(&self, timeout: Duration) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout);
        for der in &self.ca_certificates {
            let certificate = reqwest::Certificate::from_der(der)
                .map_err(|error| format!("a CA certificate does not parse: {error}"))?;
            builder = builder.add_root_certificate(certificate);
        }
        if let Some(pem) = &self.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|error| format!("the client certificate PEM does not parse: {error}"))?;
            builder = builder.identity(identity);
        }
        builder
            .build()
            .map_err(|error| format!("cannot build the HTTPS client: {error}"))
    }
}
