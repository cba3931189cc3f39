//! The key vault a command works on: the server connection, the `ClientEncryption`
//! handle, and finding a key by id or alternate name.

use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use encrypted::bson::{Uuid, doc};
use encrypted::kms::KmsProviders;
use encrypted::{ClientEncryption, KeyDocument, Namespace};
use mongodb::Client;
use mongodb::error::{Error as DriverError, ErrorKind};
use mongodb::options::ClientOptions;

use crate::args::Connection;
use crate::failure::{Context, Failure};

/// An open key vault.
#[derive(Debug)]
pub struct KeyVault {
    /// The handle for data keys and explicit encryption.
    pub encryption: ClientEncryption,
    /// Where the key vault is.
    pub namespace: Namespace,
}

impl KeyVault {
    /// Connects to the key vault `connection` names, with these KMS providers, and
    /// checks that the server answers: within `--server-selection-timeout` seconds (5 by
    /// default) or the URI's `serverSelectionTimeoutMS`, rather than the driver's 30 s.
    ///
    /// # Errors
    ///
    /// When no URI is given, it is not a valid connection string, or the server cannot
    /// be reached or refuses the connection.
    pub async fn open(connection: &Connection, kms: KmsProviders) -> Result<Self, Failure> {
        let uri = connection
            .uri
            .as_deref()
            .ok_or_else(|| Failure::new("no MongoDB server: pass --uri or set MONGODB_URI"))?;
        // The driver's own message may quote the connection string, password included.
        let mut options = ClientOptions::parse(uri).await.map_err(|error| {
            Failure::new(match *error.kind {
                ErrorKind::DnsResolve { .. } => {
                    "cannot resolve the hosts of the MongoDB URI (--uri or MONGODB_URI)"
                }
                _ => "the MongoDB URI (--uri or MONGODB_URI) is not a valid connection string",
            })
        })?;
        let timeout = *options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(connection.server_selection_timeout));
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let password = options
            .credential
            .as_ref()
            .and_then(|credential| credential.password.clone());
        let client = Client::with_options(options).map_err(|_| {
            Failure::new("the MongoDB URI (--uri or MONGODB_URI) is not a valid connection string")
        })?;
        // The driver connects lazily: without this a server that is down would fail the
        // command's first operation, with the driver's long topology description.
        if let Err(error) = client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await
        {
            return Err(unreachable(&hosts, timeout, &error, password.as_deref()));
        }
        OPENED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(client.clone());
        let namespace = connection.key_vault.clone();
        let encryption = ClientEncryption::builder(client, kms)
            .key_vault_namespace(namespace.clone())
            .build();
        Ok(Self {
            encryption,
            namespace,
        })
    }

    /// The key `reference` names: a UUID (`_id`), or else an alternate name. Text that
    /// reads as a UUID but is no key's id is tried as an alternate name too.
    ///
    /// # Errors
    ///
    /// When there is no such key or the key vault fails.
    pub async fn find(&self, reference: &str) -> Result<KeyDocument, Failure> {
        if let Ok(id) = Uuid::from_str(reference)
            && let Some(key) = self
                .encryption
                .get_key(id)
                .await
                .with_context(|| format!("cannot look up data key {id}"))?
        {
            return Ok(key);
        }
        self.encryption
            .get_key_by_alt_name(reference)
            .await
            .with_context(|| format!("cannot look up data key `{reference}`"))?
            .ok_or_else(|| {
                Failure::new(format!(
                    "no data key with the id or alternate name `{reference}` in the key vault {}",
                    self.namespace
                ))
            })
    }
}

/// The clients this process opened, shut down by [`close_all`] before the runtime stops.
static OPENED: Mutex<Vec<Client>> = Mutex::new(Vec::new());

/// Shuts down every client [`KeyVault::open`] made. The driver's background tasks
/// (connection pools, monitors) then end while the runtime still runs them; dropped
/// with the runtime instead, one of them can panic and print a backtrace after the
/// command's output.
pub async fn close_all() {
    let clients = std::mem::take(&mut *OPENED.lock().unwrap_or_else(PoisonError::into_inner));
    for client in clients {
        client.shutdown().immediate(true).await;
    }
}

/// The failure of the first contact with the server at `hosts` (as the URI names
/// them, without its credentials).
fn unreachable(
    hosts: &str,
    timeout: Duration,
    error: &DriverError,
    password: Option<&str>,
) -> Failure {
    if matches!(*error.kind, ErrorKind::ServerSelection { .. }) {
        // The driver's message is a whole topology description: the hosts and the
        // time say what matters on one line.
        return Failure::new(format!(
            "cannot reach the MongoDB server at {hosts} (from the URI) within {} s; is it running, and is the URI right? (--server-selection-timeout or the URI's serverSelectionTimeoutMS wait longer)",
            timeout.as_secs_f64()
        ));
    }
    // Authentication and TLS errors: the driver's text, never the URI's password.
    let mut text = error.to_string();
    if let Some(password) = password.filter(|password| !password.is_empty()) {
        text = text.replace(password, "<password>");
    }
    Failure::new(format!(
        "cannot use the MongoDB server at {hosts} (from the URI): {text}"
    ))
}
