//! The KMS providers and master keys the command line options describe.

use std::path::{Path, PathBuf};

use encrypted::kms::{
    AwsCredentials, AwsKms, AzureCredentials, AzureKms, GcpCredentials, GcpKms, KmipKms,
    KmsProviders, LocalKms, TlsOptions,
};
use encrypted::{LocalMasterKeyFormat, MasterKey};

use crate::args::{Connection, Provider};
use crate::failure::{Context, Failure};
use crate::master_key_file;
use crate::rotating_local_kms::RotatingLocalKms;

/// The master key options of `keys create` and `keys rewrap`: which cloud key wraps.
#[derive(Clone, Copy, Debug, Default)]
pub struct MasterKeyArgs<'a> {
    /// `--aws-key-arn`.
    pub aws_key_arn: Option<&'a str>,
    /// `--azure-key-name` and `--azure-key-version`.
    pub azure_key: Option<(&'a str, Option<&'a str>)>,
    /// `--gcp-key`: a Cloud KMS key's resource name.
    pub gcp_key: Option<&'a str>,
}

/// The KMS options: which local master key file, and how to reach AWS KMS and Google
/// Cloud KMS.
#[derive(Debug)]
pub struct KmsConfig {
    local_master_key: Option<PathBuf>,
    local_master_key_format: LocalMasterKeyFormat,
    aws_region: Option<String>,
    aws_endpoint: Option<String>,
    aws_ca_file: Option<PathBuf>,
    azure_key_vault_endpoint: Option<String>,
    azure_identity_platform_endpoint: Option<String>,
    azure_managed_identity: bool,
    azure_ca_file: Option<PathBuf>,
    gcp_endpoint: Option<String>,
    gcp_oauth_endpoint: Option<String>,
    gcp_on_demand: bool,
    gcp_ca_file: Option<PathBuf>,
    kmip: KmipConfig,
}

/// The kmip provider's options.
#[derive(Debug)]
struct KmipConfig {
    endpoint: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    key_id: Option<String>,
    delegated: bool,
}

impl KmsConfig {
    /// The KMS options of the command line.
    pub fn from_connection(connection: &Connection) -> Self {
        Self {
            local_master_key: connection.local_master_key.clone(),
            local_master_key_format: connection.local_master_key_format.into(),
            aws_region: connection.aws_region.clone(),
            aws_endpoint: connection.aws_endpoint.clone(),
            aws_ca_file: connection.aws_ca_file.clone(),
            azure_key_vault_endpoint: connection.azure_key_vault_endpoint.clone(),
            azure_identity_platform_endpoint: connection.azure_identity_platform_endpoint.clone(),
            azure_managed_identity: connection.azure_managed_identity,
            azure_ca_file: connection.azure_ca_file.clone(),
            gcp_endpoint: connection.gcp_endpoint.clone(),
            gcp_oauth_endpoint: connection.gcp_oauth_endpoint.clone(),
            gcp_on_demand: connection.gcp_on_demand,
            gcp_ca_file: connection.gcp_ca_file.clone(),
            kmip: KmipConfig {
                endpoint: connection.kmip_endpoint.clone(),
                ca_file: connection.kmip_ca_file.clone(),
                cert_file: connection.kmip_cert_file.clone(),
                key_file: connection.kmip_key_file.clone(),
                key_id: connection.kmip_key_id.clone(),
                delegated: connection.kmip_delegated,
            },
        }
    }

    /// The configured providers: `local` when a master key file is given, `aws` when
    /// AWS credentials are in the environment, `gcp` when Google Cloud credentials are
    /// (or `--gcp-on-demand` is given). With `new_local_master_key`, `local`
    /// rotates from the old master key to the new one.
    ///
    /// # Errors
    ///
    /// When a master key file or the CA file cannot be read or is not valid.
    pub fn providers(&self, new_local_master_key: Option<&Path>) -> Result<KmsProviders, Failure> {
        let mut providers = KmsProviders::new();
        let current = self
            .local_master_key
            .as_deref()
            .map(|path| master_key_file::load(path, self.local_master_key_format))
            .transpose()?;
        let next = new_local_master_key
            .map(|path| master_key_file::load(path, self.local_master_key_format))
            .transpose()?;
        providers = match (current, next) {
            (Some(current), Some(next)) => providers.with(RotatingLocalKms::new(
                LocalKms::new(current),
                LocalKms::new(next),
            )),
            (Some(key), None) | (None, Some(key)) => providers.with(LocalKms::new(key)),
            (None, None) => providers,
        };
        if let Ok(credentials) = AwsCredentials::from_env() {
            providers = providers.with(self.aws(credentials)?);
        }
        if let Some(credentials) = self.azure_credentials() {
            providers = providers.with(self.azure(credentials)?);
        }
        if let Some(kmip) = self.kmip.provider()? {
            providers = providers.with(kmip);
        }
        if let Some(credentials) = self.gcp_credentials()? {
            providers = providers.with(self.gcp(credentials)?);
        }
        Ok(providers)
    }

    /// The master key that wraps new (or re-wrapped) keys for `provider`.
    ///
    /// # Errors
    ///
    /// When the provider cannot be used with these options: no local master key file,
    /// no ARN or region, or no AWS credentials.
    pub fn master_key(
        &self,
        provider: Provider,
        key: MasterKeyArgs<'_>,
        local_master_key_given: bool,
    ) -> Result<MasterKey, Failure> {
        match provider {
            Provider::Local => {
                if !local_master_key_given {
                    return Err(Failure::new(
                        "the local provider needs a master key: pass --local-master-key FILE",
                    ));
                }
                Ok(MasterKey::local())
            }
            Provider::Aws => {
                let arn = key.aws_key_arn.ok_or_else(|| {
                    Failure::new("the aws provider needs a KMS key: pass --aws-key-arn ARN")
                })?;
                AwsCredentials::from_env().context("AWS KMS needs credentials")?;
                let region = match (&self.aws_region, region_of_arn(arn)) {
                    (Some(region), _) => region.clone(),
                    (None, Some(region)) => region.to_owned(),
                    (None, None) => {
                        return Err(Failure::new(format!(
                            "no AWS region: pass --aws-region (the key `{arn}` is not an ARN that names one)"
                        )));
                    }
                };
                let master_key = MasterKey::aws(region, arn);
                Ok(match &self.aws_endpoint {
                    Some(endpoint) => master_key.with_endpoint(endpoint),
                    None => master_key,
                })
            }
            Provider::Azure => {
                let (name, version) = key.azure_key.ok_or_else(|| {
                    Failure::new("the azure provider needs a key: pass --azure-key-name NAME")
                })?;
                let endpoint = self.azure_key_vault_endpoint.as_deref().ok_or_else(|| {
                    Failure::new(
                        "the azure provider needs a key vault: pass --azure-key-vault-endpoint HOST",
                    )
                })?;
                if self.azure_credentials().is_none() {
                    return Err(Failure::new(
                        "Azure Key Vault needs credentials: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or AZURE_ACCESS_TOKEN, or pass --azure-managed-identity",
                    ));
                }
                let master_key = MasterKey::azure(endpoint, name);
                Ok(match version {
                    Some(version) => master_key.with_key_version(version),
                    None => master_key,
                })
            }
            Provider::Kmip => {
                if self.kmip.endpoint.is_none() {
                    return Err(Failure::new(
                        "the kmip provider needs a server: pass --kmip-endpoint HOST[:PORT]",
                    ));
                }
                let master_key = MasterKey::kmip().with_delegated(self.kmip.delegated);
                Ok(match &self.kmip.key_id {
                    Some(key_id) => master_key.with_key_id(key_id),
                    None => master_key,
                })
            }
            Provider::Gcp => {
                let name = key.gcp_key.ok_or_else(|| {
                    Failure::new(
                        "the gcp provider needs a Cloud KMS key: pass --gcp-key RESOURCE_NAME",
                    )
                })?;
                if self.gcp_credentials()?.is_none() {
                    return Err(Failure::new(
                        "Google Cloud KMS needs credentials: set GOOGLE_APPLICATION_CREDENTIALS (a service account key file) or GOOGLE_OAUTH_ACCESS_TOKEN, or pass --gcp-on-demand",
                    ));
                }
                let master_key = gcp_master_key(name).ok_or_else(|| {
                    Failure::new(format!(
                        "`{name}` is not a Cloud KMS key name: expected projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]"
                    ))
                })?;
                Ok(match &self.gcp_endpoint {
                    Some(endpoint) => master_key.with_endpoint(endpoint),
                    None => master_key,
                })
            }
        }
    }

    /// Azure credentials: the managed identity with `--azure-managed-identity`, else
    /// client credentials (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
    /// the names Azure's own tools use), else `AZURE_ACCESS_TOKEN`.
    fn azure_credentials(&self) -> Option<AzureCredentials> {
        if self.azure_managed_identity {
            return Some(AzureCredentials::instance_metadata());
        }
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if let (Some(tenant), Some(client), Some(secret)) = (
            var("AZURE_TENANT_ID"),
            var("AZURE_CLIENT_ID"),
            var("AZURE_CLIENT_SECRET"),
        ) {
            let credentials = AzureCredentials::client_credentials(tenant, client, secret);
            return Some(match &self.azure_identity_platform_endpoint {
                Some(endpoint) => credentials.with_identity_platform_endpoint(endpoint),
                None => credentials,
            });
        }
        var("AZURE_ACCESS_TOKEN").map(AzureCredentials::access_token)
    }

    /// The `azure` provider: `--azure-key-vault-endpoint` and
    /// `--azure-identity-platform-endpoint` are the operator's choice, so they are
    /// allowed besides Azure's own; `--azure-ca-file` is trusted besides the web roots.
    fn azure(&self, credentials: AzureCredentials) -> Result<AzureKms, Failure> {
        let mut azure = AzureKms::new(credentials).context("cannot set up Azure Key Vault")?;
        for endpoint in [
            &self.azure_key_vault_endpoint,
            &self.azure_identity_platform_endpoint,
        ]
        .into_iter()
        .flatten()
        {
            azure = azure
                .with_allowed_endpoint(endpoint)
                .with_context(|| format!("cannot use the Azure endpoint `{endpoint}`"))?;
        }
        match &self.azure_ca_file {
            None => Ok(azure),
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read the Azure CA file {}", path.display()))?;
                TlsOptions::new()
                    .with_ca_pem(pem)
                    .and_then(|tls| azure.with_tls(tls))
                    .with_context(|| format!("cannot use the Azure CA file {}", path.display()))
            }
        }
    }

    /// Whether `--local-master-key` was given.
    pub fn has_local_master_key(&self) -> bool {
        self.local_master_key.is_some()
    }

    /// The `aws` provider: `--aws-endpoint` is the operator's choice, so it is allowed
    /// besides AWS's own endpoints; `--aws-ca-file` is trusted besides the web roots.
    fn aws(&self, credentials: AwsCredentials) -> Result<AwsKms, Failure> {
        let mut aws = AwsKms::new(credentials).context("cannot set up AWS KMS")?;
        if let Some(endpoint) = &self.aws_endpoint {
            aws = aws
                .with_allowed_endpoint(endpoint)
                .with_context(|| format!("cannot use the AWS endpoint `{endpoint}`"))?;
        }
        match &self.aws_ca_file {
            None => Ok(aws),
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read the AWS CA file {}", path.display()))?;
                TlsOptions::new()
                    .with_ca_pem(pem)
                    .and_then(|tls| aws.with_tls(tls))
                    .with_context(|| format!("cannot use the AWS CA file {}", path.display()))
            }
        }
    }
}

impl KmipConfig {
    /// The `kmip` provider, when `--kmip-endpoint` is given.
    fn provider(&self) -> Result<Option<KmipKms>, Failure> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(None);
        };
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .with_context(|| format!("cannot read the KMIP {what} {}", path.display()))
        };
        let mut tls = TlsOptions::new();
        if let Some(path) = &self.ca_file {
            tls = tls
                .with_ca_pem(read(path, "CA file")?)
                .with_context(|| format!("cannot use the KMIP CA file {}", path.display()))?;
        }
        if let Some(path) = &self.cert_file {
            let mut identity = zeroize::Zeroizing::new(read(path, "certificate file")?);
            if let Some(key) = &self.key_file {
                let key = zeroize::Zeroizing::new(read(key, "key file")?);
                identity.reserve(key.len() + 1);
                identity.push(b'\n');
                identity.extend_from_slice(&key);
            }
            tls = tls
                .with_client_identity_pem(std::mem::take(&mut *identity))
                .with_context(|| {
                    format!("cannot use the KMIP client certificate {}", path.display())
                })?;
        }
        KmipKms::new(endpoint, tls)
            .map(Some)
            .with_context(|| format!("cannot use the KMIP endpoint `{endpoint}`"))
    }
}

impl KmsConfig {
    /// Google Cloud credentials from the environment: the service account key file
    /// `GOOGLE_APPLICATION_CREDENTIALS` names, else `GOOGLE_OAUTH_ACCESS_TOKEN`, else the
    /// metadata server with `--gcp-on-demand`; `None` without any.
    fn gcp_credentials(&self) -> Result<Option<GcpCredentials>, Failure> {
        if let Some(path) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
            let path = PathBuf::from(path);
            let json = zeroize::Zeroizing::new(std::fs::read(&path).with_context(|| {
                format!(
                    "cannot read the GCP service account key file {}",
                    path.display()
                )
            })?);
            return GcpCredentials::from_service_account_json(&json)
                .map(Some)
                .with_context(|| {
                    format!(
                        "cannot use the GCP service account key file {}",
                        path.display()
                    )
                });
        }
        if let Ok(token) = std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN") {
            return Ok(Some(GcpCredentials::access_token(token)));
        }
        Ok(self.gcp_on_demand.then(GcpCredentials::on_demand))
    }

    /// The `gcp` provider: `--gcp-endpoint` is allowed besides Google's own endpoints,
    /// `--gcp-oauth-endpoint` replaces the token endpoint, `GCE_METADATA_HOST` the
    /// metadata server, and `--gcp-ca-file` is trusted besides the web roots.
    fn gcp(&self, credentials: GcpCredentials) -> Result<GcpKms, Failure> {
        let mut gcp = GcpKms::new(credentials).context("cannot set up Google Cloud KMS")?;
        if let Some(endpoint) = &self.gcp_endpoint {
            gcp = gcp
                .with_allowed_endpoint(endpoint)
                .with_context(|| format!("cannot use the GCP endpoint `{endpoint}`"))?;
        }
        if let Some(endpoint) = &self.gcp_oauth_endpoint {
            gcp = gcp
                .with_oauth_endpoint(endpoint)
                .with_context(|| format!("cannot use the GCP OAuth endpoint `{endpoint}`"))?;
        }
        if let Ok(host) = std::env::var("GCE_METADATA_HOST") {
            gcp = gcp
                .with_metadata_endpoint(&host)
                .with_context(|| format!("cannot use GCE_METADATA_HOST `{host}`"))?;
        }
        match &self.gcp_ca_file {
            None => Ok(gcp),
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read the GCP CA file {}", path.display()))?;
                TlsOptions::new()
                    .with_ca_pem(pem)
                    .and_then(|tls| gcp.with_tls(tls))
                    .with_context(|| format!("cannot use the GCP CA file {}", path.display()))
            }
        }
    }
}

/// The master key a Cloud KMS resource name names:
/// `projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]`.
fn gcp_master_key(name: &str) -> Option<MasterKey> {
    let parts: Vec<&str> = name.split('/').collect();
    let key = match parts.as_slice() {
        [
            "projects",
            project,
            "locations",
            location,
            "keyRings",
            ring,
            "cryptoKeys",
            key,
            rest @ ..,
        ] => {
            let key = MasterKey::gcp(*project, *location, *ring, *key);
            match rest {
                [] => key,
                ["cryptoKeyVersions", version] => key.with_key_version(*version),
                _ => return None,
            }
        }
        _ => return None,
    };
    (!parts.iter().any(|part| part.is_empty())).then_some(key)
}

/// The region of a KMS key ARN, `arn:aws:kms:<region>:<account>:key/<id>`.
fn region_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cloud_kms_key_names() {
        assert_eq!(
            gcp_master_key("projects/p/locations/global/keyRings/r/cryptoKeys/k"),
            Some(MasterKey::gcp("p", "global", "r", "k"))
        );
        assert_eq!(
            gcp_master_key("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3"),
            Some(MasterKey::gcp("p", "l", "r", "k").with_key_version("3"))
        );
        for bad in [
            "projects/p/locations/l/keyRings/r",
            "projects//locations/l/keyRings/r/cryptoKeys/k",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k/versions/3",
            "k",
        ] {
            assert_eq!(gcp_master_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_the_region_of_an_arn() {
        assert_eq!(
            region_of_arn("arn:aws:kms:eu-west-3:000000000000:key/abc"),
            Some("eu-west-3")
        );
        assert_eq!(region_of_arn("alias/medco"), None);
        assert_eq!(region_of_arn("arn:aws:s3:::bucket"), None);
    }
}
