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
    /// A provider of the spec this crate does not implement yet (azure, gcp, kmip):
    /// kept as written so that listing or copying such a key loses nothing.
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

    /// Sets the endpoint (`host[:port]`) of an AWS key; other master keys are returned
    /// unchanged.
    #[must_use]
    pub fn with_endpoint(mut self, new_endpoint: impl Into<String>) -> Self {
        if let Self::Aws { endpoint, .. } = &mut self {
            *endpoint = Some(new_endpoint.into());
        }
        self
    }

    /// Sets the provider name (`local:<name>`, `aws:<name>`); a custom or unsupported
    /// master key (whose name is part of its `provider`) is returned unchanged.
    #[must_use]
    pub fn with_provider_name(mut self, new_name: impl Into<String>) -> Self {
        if let Self::Local { name } | Self::Aws { name, .. } = &mut self {
            *name = Some(new_name.into());
        }
        self
    }

    /// The value of the `provider` field: `local`, `local:name`, `aws`, …
    pub fn provider(&self) -> String {
        let (kind, name) = match self {
            Self::Local { name } => ("local", name),
            Self::Aws { name, .. } => ("aws", name),
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
        Ok(match kind {
            "local" => Self::Local { name },
            "aws" => Self::Aws {
                name,
                region: string("region", "masterKey.region")?,
                key: string("key", "masterKey.key")?,
                endpoint: match document.get("endpoint") {
                    None => None,
                    Some(_) => Some(string("endpoint", "masterKey.endpoint")?),
                },
            },
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
            doc! { "provider": "gcp", "projectId": "p", "location": "l", "keyRing": "r", "keyName": "n" },
        ] {
            let parsed = MasterKey::from_document(&document).unwrap();
            assert_eq!(parsed.to_document(), document);
        }
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
        // A spec kind not implemented yet stays unsupported, never custom.
        assert!(matches!(
            MasterKey::from_document(&doc! { "provider": "kmip" }).unwrap(),
            MasterKey::Unsupported { .. }
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
    fn names_the_bad_field() {
        assert_eq!(
            MasterKey::from_document(&doc! {}).unwrap_err().0,
            "masterKey.provider"
        );
        assert_eq!(
            MasterKey::from_document(&doc! { "provider": "aws", "region": "r" })
                .unwrap_err()
                .0,
            "masterKey.key"
        );
        assert_eq!(
            MasterKey::from_document(&doc! { "provider": "local:bad-name" })
                .unwrap_err()
                .0,
            "masterKey.provider"
        );
    }
}
