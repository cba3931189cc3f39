//! TLS settings of a KMS provider.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// TLS settings for one KMS provider: extra trusted CAs and a client certificate.
/// The web's usual roots are always trusted too.
///
/// ```
/// use encrypted_core::kms::TlsOptions;
///
/// let tls = TlsOptions::new(); // the default roots only
/// # let _ = tls;
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    ca_pem: Option<Vec<u8>>,
    client_identity_pem: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("custom_ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.client_identity_pem.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// The defaults: the web's usual roots, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the CA certificate(s) in this PEM.
    #[must_use]
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Presents this client certificate: a PEM holding the certificate chain and its
    /// private key. The bytes are zeroized on drop.
    #[must_use]
    pub fn with_client_identity_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_identity_pem = Some(Zeroizing::new(pem.into()));
        self
    }

    /// An HTTPS client with these settings and this per-request timeout.
    pub(crate) fn client(&self, timeout: Duration) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .timeout(timeout)
            .connect_timeout(timeout);
        if let Some(pem) = &self.ca_pem {
            for certificate in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|error| format!("the CA PEM does not parse: {error}"))?
            {
                builder = builder.add_root_certificate(certificate);
            }
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
