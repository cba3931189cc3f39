//! The `aws` provider: AWS KMS `Encrypt`/`Decrypt` over HTTPS, signed with SigV4.

mod sigv4;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::Uuid;
use zeroize::Zeroizing;

use super::{BoxFuture, KmsProvider, TlsOptions};
use crate::{DataKey, Error, MasterKey, Result};

/// How long one KMS request may take, connection included, unless set otherwise.
pub const DEFAULT_KMS_TIMEOUT: Duration = Duration::from_secs(10);

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
            std::env::var(name).map_err(|_| Error::Kms {
                provider: "aws".to_owned(),
                message: format!("{name} is not set"),
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
/// ```no_run
/// use std::time::Duration;
/// use encrypted_core::kms::{AwsCredentials, AwsKms, KmsProviders, TlsOptions};
///
/// let aws = AwsKms::new(AwsCredentials::from_env()?)
///     .with_timeout(Duration::from_secs(5))
///     .with_tls(TlsOptions::new().with_ca_pem(std::fs::read("kms-ca.pem").unwrap()))?;
/// let providers = KmsProviders::new().with(aws);
/// # Ok::<(), encrypted_core::Error>(())
/// ```
pub struct AwsKms {
    name: String,
    credentials: AwsCredentials,
    timeout: Duration,
    tls: TlsOptions,
    client: reqwest::Client,
}

impl fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKms")
            .field("name", &self.name)
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AwsKms {
    /// The unnamed `aws` provider, trusting the usual web roots.
    pub fn new(credentials: AwsCredentials) -> Self {
        let tls = TlsOptions::new();
        let client = tls
            .client(DEFAULT_KMS_TIMEOUT)
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            name: "aws".to_owned(),
            credentials,
            timeout: DEFAULT_KMS_TIMEOUT,
            tls,
            client,
        }
    }

    /// A named `aws:<name>` provider.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProviderName`] unless `name` is letters, digits and `_`.
    pub fn named(name: &str, credentials: AwsCredentials) -> Result<Self> {
        Ok(Self {
            name: crate::master_key::named_provider("aws", name)?,
            ..Self::new(credentials)
        })
    }

    /// Limits each KMS request (connection, TLS handshake and answer) to `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        if let Ok(client) = self.tls.client(timeout) {
            self.client = client;
        }
        self
    }

    /// Uses these TLS settings (extra CA, client certificate) for this provider.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when a certificate or key does not parse.
    pub fn with_tls(mut self, tls: TlsOptions) -> Result<Self> {
        self.client = tls
            .client(self.timeout)
            .map_err(|message| self.error(message))?;
        self.tls = tls;
        Ok(self)
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Kms {
            provider: self.name.clone(),
            message: message.into(),
        }
    }

    /// Sends one KMS JSON request and returns the named base64 field of the answer.
    async fn call(
        &self,
        master_key: &MasterKey,
        target: &str,
        body: Zeroizing<String>,
        field: &str,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let MasterKey::Aws {
            region, endpoint, ..
        } = master_key
        else {
            return Err(self.error(format!(
                "the master key is for `{}`, not AWS",
                master_key.provider()
            )));
        };
        let host = endpoint
            .clone()
            .unwrap_or_else(|| format!("kms.{region}.amazonaws.com"));
        let amz_date = amz_date(bson::DateTime::now());
        let token = self
            .credentials
            .session_token
            .as_deref()
            .map(String::as_str);
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.1"),
            ("host", host.as_str()),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-target", target),
        ];
        if let Some(token) = token {
            headers.push(("x-amz-security-token", token));
        }
        let authorization = sigv4::authorization(
            &sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                payload: body.as_bytes(),
            },
            &sigv4::Scope {
                access_key_id: &self.credentials.access_key_id,
                secret_access_key: &self.credentials.secret_access_key,
                region,
                service: "kms",
                amz_date: &amz_date,
            },
        );
        let mut request = self
            .client
            .post(format!("https://{host}/"))
            .header("authorization", authorization);
        for (name, value) in headers.iter().filter(|(name, _)| *name != "host") {
            request = request.header(*name, *value);
        }
        let response = request
            .body(body.as_bytes().to_vec())
            .send()
            .await
            .map_err(|error| self.error(describe(&error, &host)))?;
        let status = response.status();
        let text = Zeroizing::new(
            response
                .text()
                .await
                .map_err(|error| self.error(describe(&error, &host)))?,
        );
        if !status.is_success() {
            return Err(self.error(format!("{target} answered {status}: {}", aws_error(&text))));
        }
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| self.error(format!("{target} answered with no JSON")))?;
        let encoded = json
            .get(field)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| self.error(format!("{target} answered without {field}")))?;
        BASE64
            .decode(encoded)
            .map(Zeroizing::new)
            .map_err(|_| self.error(format!("{target} answered {field} that is not base64")))
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
                return Err(self.error("the master key is not an AWS key"));
            };
            let plaintext = Zeroizing::new(BASE64.encode(key.material()));
            let body = Zeroizing::new(
                serde_json::json!({ "KeyId": arn, "Plaintext": plaintext.as_str() }).to_string(),
            );
            let blob = self
                .call(master_key, "TrentService.Encrypt", body, "CiphertextBlob")
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
                return Err(self.error("the master key is not an AWS key"));
            };
            let body = Zeroizing::new(
                serde_json::json!({ "KeyId": arn, "CiphertextBlob": BASE64.encode(key_material) })
                    .to_string(),
            );
            let plaintext = self
                .call(master_key, "TrentService.Decrypt", body, "Plaintext")
                .await
                .map_err(|error| match error {
                    Error::Kms { provider, message } => Error::Kms {
                        provider,
                        message: format!("cannot unwrap data key {key_id}: {message}"),
                    },
                    other => other,
                })?;
            DataKey::from_bytes(key_id, &plaintext).map_err(|_| Error::KeyUnwrap {
                key_id,
                provider: self.name.clone(),
            })
        })
    }
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

/// A transport error in words, naming what timed out or could not be reached.
fn describe(error: &reqwest::Error, host: &str) -> String {
    if error.is_timeout() {
        format!("no answer from {host} in time")
    } else if error.is_connect() {
        format!("cannot connect to {host}: {}", source_chain(error))
    } else {
        format!("request to {host} failed: {}", source_chain(error))
    }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// AWS's error type and message, from its JSON error body.
fn aws_error(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let kind = json
        .get("__type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("unknown error");
    let message = json
        .get("message")
        .or_else(|| json.get("Message"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    format!("{kind} {message}").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_amz_date() {
        let date = bson::DateTime::from_millis(1_440_938_160_000); // 2015-08-30T12:36:00Z
        assert_eq!(amz_date(date), "20150830T123600Z");
    }
}
