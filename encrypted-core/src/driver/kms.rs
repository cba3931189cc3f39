//! KMS providers that talk to a remote service over HTTPS, re-exported from
//! [`crate::kms`] next to the providers of the core.

pub(crate) mod aws;
mod azure;
mod gcp;
pub(crate) mod http;
mod kmip;
mod tls;

pub use aws::{AwsCredentials, AwsKms, DEFAULT_KMS_TIMEOUT, MAX_KMS_REPLY_BYTES};
pub use azure::{AzureCredentials, AzureKms};
pub use gcp::{GcpCredentials, GcpKms};
pub use kmip::KmipKms;
pub use tls::TlsOptions;
