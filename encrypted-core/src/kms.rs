//! KMS providers: what wraps and unwraps data keys with a master key.
//!
//! A provider is anything implementing [`KmsProvider`]; [`KmsProviders`] maps the
//! provider names of key documents (`local`, `local:name`, `aws`, …) to them. The
//! built-in providers are [`LocalKms`] and [`AwsKms`]; new ones (Azure, GCP, KMIP) are added as
//! implementations of the trait without touching the code that calls them.

mod error_kind;
pub(crate) mod kmip;
mod local;
mod provider;
mod providers;

pub use error_kind::KmsErrorKind;
pub use local::LocalKms;
pub use provider::{BoxFuture, KmsProvider};
pub use providers::KmsProviders;

// AWS KMS talks HTTPS: it is part of the driver layer (`src/driver/kms/`).
#[cfg(feature = "driver")]
pub use crate::driver::kms::{
    AwsCredentials, AwsKms, AzureCredentials, AzureKms, DEFAULT_KMS_TIMEOUT, GcpCredentials,
    GcpKms, KmipKms, MAX_KMS_REPLY_BYTES, TlsOptions,
};
