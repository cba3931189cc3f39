//! The `masterKey` of a key document: which KMS master key wraps a data key.

use bson::{Document, doc};

/// Where the master key that wraps a data key lives, as recorded in the `masterKey`
/// field of its key vault document.
///
/// ```
/// use encrypted_core::MasterKey;
///
/// let local = MasterKey::local();
/// assert_eq!(local.provider(), "local");
/// assert_eq!(local.to_document(), bson::doc! { "provider": "local" });
///
/// let aws = MasterKey::aws("us-east-1", "arn:aws:kms:us-east-1:000000000000:key/example");
/// assert_eq!(aws.provider(), "aws");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MasterKey {
    /// A `local` master key held by the application; `name` is set for a named provider
    /// (`local:<name>`).
    #[non_exhaustive]
    Local {
        /// The provider's name after `local:`, if any.
        name: Option<String>,
    },
    /// An AWS KMS customer master key.
    #[non_exhaustive]
    Aws {
        /// The provider's name after `aws:`, if any.
        name: Option<String>,
        /// The AWS region, e.g. `us-east-1`.
        region: String,
        /// The key's ARN.
        key: String,
        /// Another endpoint than the region's default (`host[:port]`).
        endpoint: Option<String>,
    },
    /// An Azure Key Vault key (`azure`, `azure:<name>`).
    #[non_exhaustive]
    Azure {
        /// The provider's name after `azure:`, if any.
        name: Option<String>,
        /// The key vault's `host[:port]`, e.g. `my-vault.vault.azure.net`.
        key_vault_endpoint: String,
        /// The key's name in the vault.
        key_name: String,
        /// A version of the key; its current version if `None`.
        key_version: Option<String>,
    },
    /// A key on a KMIP server (`kmip`, `kmip:<name>`). Without `key_id`, creating a data
    /// key registers a new one on the server; `delegated` has the server encrypt and
    /// decrypt the data key instead of handing out the key.
    #[non_exhaustive]
    Kmip {
        /// The provider's name after `kmip:`, if any.
        name: Option<String>,
        /// The KMIP Unique Identifier of the key; set when the data key is created.
        key_id: Option<String>,
        /// Another endpoint than the provider's (`host[:port]`).
        endpoint: Option<String>,
        /// Whether the server encrypts and decrypts (KMIP `Encrypt`/`Decrypt`).
        delegated: bool,
    },
    /// A Google Cloud KMS key: `projects/{project_id}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{key_name}`.
    #[non_exhaustive]
    Gcp {
        /// The provider's name after `gcp:`, if any.
        name: Option<String>,
        /// The Google Cloud project.
        project_id: String,
        /// The key ring's location, e.g. `global` or `europe-west1`.
        location: String,
        /// The key ring.
        key_ring: String,
        /// The key.
        key_name: String,
        /// The key version wrapping new data keys (the primary version if unset).
        key_version: Option<String>,
        /// Another endpoint than `cloudkms.googleapis.com` (`host[:port]`).
        endpoint: Option<String>,
    },
    /// A master key of the application's own KMS provider (a
    /// [`KmsProvider`](crate::kms::KmsProvider) it implements), made with
    /// [`MasterKey::custom`]; every `masterKey` document whose provider kind is not one
    /// of the spec's five is read as this.
    #[non_exhaustive]
    Custom {
        /// The `provider` field: `kind` or `kind:name`, the provider's
        /// [`name`](crate::kms::KmsProvider::name).
        provider: String,
        /// The whole `masterKey` document, `provider` first.
        document: Document,
    },
    /// A provider kind of the spec whose document this crate could not use (kept as
    /// written, so that listing or copying such a key loses nothing).
    #[non_exhaustive]
    Unsupported {
        /// The `provider` field.
        provider: String,
        /// The whole `masterKey` document.
        document: Document,
    },
}

impl MasterKey {
    /// The unnamed `local` provider.
    pub fn local() -> Self {
        Self::Local { name: None }
    }

    /// A named `local:<name>` provider.
    pub fn local_named(name: impl Into<String>) -> Self {
        Self::Local {
            name: Some(name.into()),
        }
    }

    /// An AWS KMS key in `region` with the ARN `key`.
    pub fn aws(region: impl Into<String>, key: impl Into<String>) -> Self {
        Self::Aws {
            name: None,
            region: region.into(),
            key: key.into(),
            endpoint: None,
        }
    }

    /// A master key of a custom KMS provider: `provider` is the provider's
    /// [`name`](crate::kms::KmsProvider::name) (`kind` or `kind:name`, letters, digits
    /// and `_`), `document` whatever else that provider needs to find its master key
    /// (stored in the key document as is, with `provider` set first). Keys created with
    /// it are unwrapped, later, by the provider configured under that name.
    ///
    /// ```
    /// use encrypted_core::MasterKey;
    ///
    /// let master_key = MasterKey::custom("vault:prod", bson::doc! { "keyName": "medco" })?;
    /// assert_eq!(master_key.provider(), "vault:prod");
    /// assert_eq!(
    ///     master_key.to_document(),
    ///     bson::doc! { "provider": "vault:prod", "keyName": "medco" }
    /// );
    /// // The spec's kinds are not custom.
    /// assert!(MasterKey::custom("aws:mine", bson::doc! {}).is_err());
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidProviderName`] for a malformed name,
    /// [`crate::Error::ReservedProviderName`] for a kind the spec defines.
    pub fn custom(provider: impl Into<String>, document: Document) -> crate::Result<Self> {
        let provider = provider.into();
        let (kind, name) = match provider.split_once(':') {
            Some((kind, name)) => (kind, Some(name)),
            None => (provider.as_str(), None),
        };
        if !valid_provider_name(kind) || name.is_some_and(|name| !valid_provider_name(name)) {
            return Err(crate::Error::InvalidProviderName { name: provider });
        }
        if BUILT_IN_KINDS.contains(&kind) {
            return Err(crate::Error::ReservedProviderName {
                kind: kind.to_owned(),
                name: provider,
            });
        }
        let mut full = doc! { "provider": &provider };
        full.extend(
            document
                .into_iter()
                .filter(|(field, _)| field != "provider"),
        );
        Ok(Self::Custom {
            provider,
            document: full,
        })
    }

    /// An Azure Key Vault key `key_name` in the vault at `key_vault_endpoint`
    /// (`my-vault.vault.azure.net`; an `https://` prefix and a trailing `/` are dropped,
    /// as libmongocrypt records only `host[:port]`).
    ///
    /// ```
    /// use encrypted_core::MasterKey;
    ///
    /// let key = MasterKey::azure("https://my-vault.vault.azure.net/", "data-keys").with_key_version("0123abcd");
    /// assert_eq!(
    ///     key.to_document(),
    ///     bson::doc! {
    ///         "provider": "azure",
    ///         "keyVaultEndpoint": "my-vault.vault.azure.net",
    ///         "keyName": "data-keys",
    ///         "keyVersion": "0123abcd",
    ///     }
    /// );
    /// ```
    pub fn azure(key_vault_endpoint: impl Into<String>, key_name: impl Into<String>) -> Self {
        let endpoint: String = key_vault_endpoint.into();
        let bare = endpoint.strip_prefix("https://").unwrap_or(&endpoint);
        Self::Azure {
            name: None,
            key_vault_endpoint: bare.strip_suffix('/').unwrap_or(bare).to_owned(),
            key_name: key_name.into(),
            key_version: None,
        }
    }

    /// A Google Cloud KMS key, wrapping with its primary version on Google's endpoint.
    ///
    /// ```
    /// use encrypted_core::MasterKey;
    ///
    /// let gcp = MasterKey::gcp("my-project", "global", "my-ring", "my-key").with_key_version("3");
    /// assert_eq!(
    ///     gcp.to_document(),
    ///     bson::doc! {
    ///         "provider": "gcp", "projectId": "my-project", "location": "global",
    ///         "keyRing": "my-ring", "keyName": "my-key", "keyVersion": "3",
    ///     }
    /// );
    /// ```
    pub fn gcp(
        project_id: impl Into<String>,
        location: impl Into<String>,
        key_ring: impl Into<String>,
        key_name: impl Into<String>,
    ) -> Self {
        Self::Gcp {
            name: None,
            project_id: project_id.into(),
            location: location.into(),
            key_ring: key_ring.into(),
            key_name: key_name.into(),
            key_version: None,
            endpoint: None,
        }
    }

    /// Sets the key version of an Azure or Google Cloud KMS key; other master keys are
    /// returned unchanged.
    ///
    /// ```
    /// use encrypted_core::MasterKey;
    ///
    /// let key = MasterKey::gcp("p", "global", "r", "k").with_key_version("2");
    /// assert_eq!(key.to_document().get_str("keyVersion").ok(), Some("2"));
    /// let key = MasterKey::azure("my-vault.vault.azure.net", "k").with_key_version("0a1b");
    /// assert_eq!(key.to_document().get_str("keyVersion").ok(), Some("0a1b"));
    /// ```
    #[must_use]
    pub fn with_key_version(mut self, new_version: impl Into<String>) -> Self {
        if let Self::Azure { key_version, .. } | Self::Gcp { key_version, .. } = &mut self {
            *key_version = Some(new_version.into());
        }
        self
    }

    /// A key on the `kmip` provider's KMIP server: a new one is registered when a data
    /// key is created, unless [`with_key_id`](Self::with_key_id) names one.
    ///
    /// ```
    /// use encrypted_core::MasterKey;
    ///
    /// let kmip = MasterKey::kmip().with_key_id("39").with_delegated(true);
    /// assert_eq!(kmip.provider(), "kmip");
    /// assert_eq!(
    ///     kmip.to_document(),
    ///     bson::doc! { "provider": "kmip", "delegated": true, "keyId": "39" }
    /// );
    /// ```
    pub fn kmip() -> Self {
        Self::Kmip {
            name: None,
            key_id: None,
            endpoint: None,
            delegated: false,
        }
    }

    /// Sets the KMIP Unique Identifier of a KMIP key; other master keys are returned
    /// unchanged.
    ///
    /// ```
    /// use encrypted_core::MasterKey;
    ///
    /// let existing = MasterKey::kmip().with_key_id("39");
    /// assert_eq!(existing.to_document(), bson::doc! { "provider": "kmip", "keyId": "39" });
    /// ```
    #[must_use]
    pub fn with_key_id(mut self, new_key_id: impl Into<String>) -> Self {
        if let Self::Kmip { key_id, .. } = &mut self {
            *key_id = Some(new_key_id.into());
        }
        self
    }

    /// Makes a KMIP key delegated (the server encrypts and decrypts data keys, as
    /// libmongocrypt 1.9+ does) or not; other master keys are returned unchanged.
    ///
    /// ```
    /// use encrypted_core::MasterKey;
    ///
    /// let delegated = MasterKey::kmip().with_delegated(true);
    /// assert_eq!(delegated.to_document(), bson::doc! { "provider": "kmip", "delegated": true });
    /// ```
    #[must_use]
    pub fn with_delegated(mut self, new_delegated: bool) -> Self {
        if let Self::Kmip { delegated, .. } = &mut self {
            *delegated = new_delegated;
        }
        self
    }

    /// Sets the endpoint (`host[:port]`) of an AWS, Google Cloud KMS or KMIP key; other
    /// master keys are returned unchanged.
    #[must_use]
    pub fn with_endpoint(mut self, new_endpoint: impl Into<String>) -> Self {
        if let Self::Aws { endpoint, .. }
        | Self::Gcp { endpoint, .. }
        | Self::Kmip { endpoint, .. } = &mut self
        {
            *endpoint = Some(new_endpoint.into());
        }
        self
    }

    /// Sets the provider name (`local:<name>`, `aws:<name>`); a custom or unsupported
    /// master key (whose name is part of its `provider`) is returned unchanged.
    #[must_use]
    pub fn with_provider_name(mut self, new_name: impl Into<String>) -> Self {
        if let Self::Local { name }
        | Self::Aws { name, .. }
        | Self::Azure { name, .. }
        | Self::Gcp { name, .. }
        | Self::Kmip { name, .. } = &mut self
        {
            *name = Some(new_name.into());
        }
        self
    }

    /// The value of the `provider` field: `local`, `local:name`, `aws`, …
    pub fn provider(&self) -> String {
        let (kind, name) = match self {
            Self::Local { name } => ("local", name),
            Self::Aws { name, .. } => ("aws", name),
            Self::Azure { name, .. } => ("azure", name),
            Self::Gcp { name, .. } => ("gcp", name),
            Self::Kmip { name, .. } => ("kmip", name),
            Self::Custom { provider, .. } | Self::Unsupported { provider, .. } => {
                return provider.clone();
            }
        };
        match name {
            Some(name) => format!("{kind}:{name}"),
            None => kind.to_owned(),
        }
    }

    /// The `masterKey` document, with fields in libmongocrypt's order.
    pub fn to_document(&self) -> Document {
        match self {
            Self::Local { .. } => doc! { "provider": self.provider() },
            Self::Aws {
                region,
                key,
                endpoint,
                ..
            } => {
                let mut document =
                    doc! { "provider": self.provider(), "region": region, "key": key };
                if let Some(endpoint) = endpoint {
                    document.insert("endpoint", endpoint);
                }
                document
            }
            Self::Azure {
                key_vault_endpoint,
                key_name,
                key_version,
                ..
            } => {
                let mut document = doc! {
                    "provider": self.provider(),
                    "keyVaultEndpoint": key_vault_endpoint,
                    "keyName": key_name,
                };
                if let Some(version) = key_version {
                    document.insert("keyVersion", version);
                }
                document
            }
            Self::Kmip {
                key_id,
                endpoint,
                delegated,
                ..
            } => {
                // libmongocrypt's order (_mongocrypt_kek_append): `delegated` only when set.
                let mut document = doc! { "provider": self.provider() };
                if let Some(endpoint) = endpoint {
                    document.insert("endpoint", endpoint);
                }
                if *delegated {
                    document.insert("delegated", true);
                }
                if let Some(key_id) = key_id {
                    document.insert("keyId", key_id);
                }
                document
            }
            Self::Gcp {
                project_id,
                location,
                key_ring,
                key_name,
                key_version,
                endpoint,
                ..
            } => {
                let mut document = doc! {
                    "provider": self.provider(), "projectId": project_id, "location": location,
                    "keyRing": key_ring, "keyName": key_name,
                };
                if let Some(key_version) = key_version {
                    document.insert("keyVersion", key_version);
                }
                if let Some(endpoint) = endpoint {
                    document.insert("endpoint", endpoint);
                }
                document
            }
            Self::Custom { document, .. } | Self::Unsupported { document, .. } => document.clone(),
        }
    }

    /// Parses a `masterKey` document. The error names the offending field.
    pub(crate) fn from_document(document: &Document) -> Result<Self, (&'static str, String)> {
        let provider = document
            .get_str("provider")
            .map_err(|_| ("masterKey.provider", "must be a string".to_owned()))?;
        let (kind, name) = match provider.split_once(':') {
            Some((kind, name)) => (kind, Some(name)),
            None => (provider, None),
        };
        if name.is_some_and(|name| !valid_provider_name(name)) {
            return Err((
                "masterKey.provider",
                format!("`{provider}` has an invalid name (letters, digits and `_` only)"),
            ));
        }
        let name = name.map(str::to_owned);
        let string = |field: &'static str, path: &'static str| {
            document
                .get_str(field)
                .map(str::to_owned)
                .map_err(|_| (path, "must be a string".to_owned()))
        };
        let optional = |field: &'static str, path: &'static str| match document.get(field) {
            None => Ok(None),
            Some(_) => string(field, path).map(Some),
        };
        Ok(match kind {
            "local" => Self::Local { name },
            "gcp" => Self::Gcp {
                name,
                project_id: string("projectId", "masterKey.projectId")?,
                location: string("location", "masterKey.location")?,
                key_ring: string("keyRing", "masterKey.keyRing")?,
                key_name: string("keyName", "masterKey.keyName")?,
                key_version: optional("keyVersion", "masterKey.keyVersion")?,
                endpoint: optional("endpoint", "masterKey.endpoint")?,
            },
            "aws" => Self::Aws {
                name,
                region: string("region", "masterKey.region")?,
                key: string("key", "masterKey.key")?,
                endpoint: optional("endpoint", "masterKey.endpoint")?,
            },
            "azure" => Self::Azure {
                name,
                key_vault_endpoint: string("keyVaultEndpoint", "masterKey.keyVaultEndpoint")?,
                key_name: string("keyName", "masterKey.keyName")?,
                key_version: match document.get("keyVersion") {
                    None => None,
                    Some(_) => Some(string("keyVersion", "masterKey.keyVersion")?),
                },
            },
            "kmip" => {
                if let Some(field) = document.keys().find(|field| {
                    !["provider", "keyId", "endpoint", "delegated"].contains(&field.as_str())
                }) {
                    return Err((
                        "masterKey",
                        format!("has a field `{field}` a kmip key has not"),
                    ));
                }
                let optional = |field: &'static str, path: &'static str| match document.get(field) {
                    None => Ok(None),
                    Some(_) => string(field, path).map(Some),
                };
                Self::Kmip {
                    name,
                    key_id: optional("keyId", "masterKey.keyId")?,
                    endpoint: optional("endpoint", "masterKey.endpoint")?,
                    delegated: match document.get("delegated") {
                        None => false,
                        Some(bson::Bson::Boolean(delegated)) => *delegated,
                        Some(_) => {
                            return Err(("masterKey.delegated", "must be a boolean".to_owned()));
                        }
                    },
                }
            }
            kind if BUILT_IN_KINDS.contains(&kind) => Self::Unsupported {
                provider: provider.to_owned(),
                document: document.clone(),
            },
            _ => Self::Custom {
                provider: provider.to_owned(),
                document: document.clone(),
            },
        })
    }
}

/// The provider kinds the Client Side Encryption spec defines: never custom.
const BUILT_IN_KINDS: [&str; 5] = ["local", "aws", "azure", "gcp", "kmip"];

/// `kind:name`, when `name` is a valid provider name.
pub(crate) fn named_provider(kind: &str, name: &str) -> crate::Result<String> {
    if valid_provider_name(name) {
        Ok(format!("{kind}:{name}"))
    } else {
        Err(crate::Error::InvalidProviderName {
            name: format!("{kind}:{name}"),
        })
    }
}

/// Named KMS providers: `[a-zA-Z0-9_]+` (the drivers' spec).
pub(crate) fn valid_provider_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_named_providers() {
        for document in [
            doc! { "provider": "local" },
            doc! { "provider": "local:clinic_1" },
            doc! { "provider": "aws", "region": "us-east-1", "key": "arn", "endpoint": "localhost:4566" },
            doc! { "provider": "aws:prod", "region": "eu-west-1", "key": "arn" },
            doc! { "provider": "azure", "keyVaultEndpoint": "kv.vault.azure.net", "keyName": "k" },
            doc! { "provider": "azure:prod", "keyVaultEndpoint": "kv.vault.azure.net:8443", "keyName": "k", "keyVersion": "v1" },
            doc! { "provider": "kmip", "keyId": "1" },
            doc! { "provider": "kmip:hsm", "endpoint": "127.0.0.1:5696", "delegated": true, "keyId": "2" },
            doc! { "provider": "gcp", "projectId": "p", "location": "l", "keyRing": "r", "keyName": "n" },
            doc! {
                "provider": "gcp:eu", "projectId": "p", "location": "l", "keyRing": "r",
                "keyName": "n", "keyVersion": "2", "endpoint": "cloudkms.googleapis.com:443",
            },
        ] {
            let parsed = MasterKey::from_document(&document).unwrap();
            assert_eq!(parsed.to_document(), document);
        }
    }

    #[test]
    fn gcp_keys_are_written_in_libmongocrypts_field_order() {
        let key = MasterKey::gcp("p", "l", "r", "n")
            .with_endpoint("kms.example:8443")
            .with_key_version("7")
            .with_provider_name("eu");
        assert_eq!(key.provider(), "gcp:eu");
        let document = key.to_document();
        let fields: Vec<&str> = document.keys().map(String::as_str).collect();
        // mongocrypt-kek.c appends keyVersion before endpoint.
        assert_eq!(
            fields,
            [
                "provider",
                "projectId",
                "location",
                "keyRing",
                "keyName",
                "keyVersion",
                "endpoint"
            ]
        );
        assert!(matches!(
            MasterKey::from_document(&key.to_document()).unwrap(),
            MasterKey::Gcp { key_version: Some(v), .. } if v == "7"
        ));
    }

    #[test]
    fn azure_keys_record_host_and_port_only() {
        let key = MasterKey::azure("https://kv.vault.azure.net/", "k").with_provider_name("prod");
        assert_eq!(
            key.to_document(),
            doc! { "provider": "azure:prod", "keyVaultEndpoint": "kv.vault.azure.net", "keyName": "k" }
        );
        assert_eq!(MasterKey::local().with_key_version("v"), MasterKey::local());
    }

    #[test]
    fn custom_master_keys_round_trip_and_never_take_a_built_in_kind() {
        let custom = MasterKey::custom(
            "vault:prod",
            doc! { "keyName": "medco", "provider": "ignored" },
        )
        .unwrap();
        assert_eq!(
            custom.to_document(),
            doc! { "provider": "vault:prod", "keyName": "medco" }
        );
        assert_eq!(
            MasterKey::from_document(&custom.to_document()).unwrap(),
            custom
        );
        for kind in BUILT_IN_KINDS {
            assert!(matches!(
                MasterKey::custom(kind, doc! {}),
                Err(crate::Error::ReservedProviderName { .. })
            ));
            assert!(matches!(
                MasterKey::custom(format!("{kind}:x"), doc! {}),
                Err(crate::Error::ReservedProviderName { .. })
            ));
        }
        for bad in ["", "bad-kind", "vault:", "vault:bad-name", "a:b:c"] {
            assert!(matches!(
                MasterKey::custom(bad, doc! {}),
                Err(crate::Error::InvalidProviderName { .. })
            ));
        }
        // A spec kind is read as its own variant, never as a custom one.
        assert!(matches!(
            MasterKey::from_document(&doc! { "provider": "kmip" }).unwrap(),
            MasterKey::Kmip { .. }
        ));
        assert!(matches!(
            MasterKey::from_document(&doc! { "provider": "vault:prod", "keyName": "k" }).unwrap(),
            MasterKey::Custom { .. }
        ));
    }

    #[test]
    fn provider_names_are_letters_digits_and_underscores() {
        assert_eq!(
            named_provider("local", "clinic_1").unwrap(),
            "local:clinic_1"
        );
        for bad in ["", "bad-name", "a:b", "é"] {
            assert!(matches!(
                named_provider("aws", bad),
                Err(crate::Error::InvalidProviderName { .. })
            ));
        }
    }

    #[test]
    fn writes_kmip_keys_in_libmongocrypts_field_order() {
        let key = MasterKey::kmip()
            .with_provider_name("hsm")
            .with_key_id("7")
            .with_delegated(true)
            .with_endpoint("kmip.example:5696");
        let fields: Vec<_> = key.to_document().keys().cloned().collect();
        assert_eq!(fields, ["provider", "endpoint", "delegated", "keyId"]);
        assert_eq!(key.provider(), "kmip:hsm");
        // `delegated: false` is not written, as libmongocrypt does not.
        let parsed = MasterKey::from_document(
            &doc! { "provider": "kmip", "keyId": "1", "delegated": false },
        )
        .unwrap();
        assert_eq!(
            parsed.to_document(),
            doc! { "provider": "kmip", "keyId": "1" }
        );
        for (bad, field) in [
            (doc! { "provider": "kmip", "keyId": 1 }, "masterKey.keyId"),
            (
                doc! { "provider": "kmip", "delegated": "yes" },
                "masterKey.delegated",
            ),
            (doc! { "provider": "kmip", "region": "r" }, "masterKey"),
        ] {
            assert_eq!(MasterKey::from_document(&bad).unwrap_err().0, field);
        }
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(
            MasterKey::from_document(&doc! {}).unwrap_err().0,
            "masterKey.provider"
        );
        assert_eq!(
            MasterKey::from_document(
                &doc! { "provider": "gcp", "projectId": "p", "location": "l", "keyRing": "r" }
            )
            .unwrap_err()
            .0,
            "masterKey.keyName"
        );
        assert_eq!(
            MasterKey::from_document(&doc! { "provider": "aws", "region": "r" })
                .unwrap_err()
                .0,
            "masterKey.key"
        );
        assert_eq!(
            MasterKey::from_document(
                &doc! { "provider": "azure", "keyVaultEndpoint": "kv.vault.azure.net" }
            )
            .unwrap_err()
            .0,
            "masterKey.keyName"
        );
        assert_eq!(
            MasterKey::from_document(&doc! { "provider": "local:bad-name" })
                .unwrap_err()
                .0,
            "masterKey.provider"
        );
    }
}
