//! The server every server test runs against: `MONGODB_URI` (a real MongoDB, Atlas, or
//! the local FerretDB that `scripts/local-server run` starts and exports).

#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::fail;

use mongodb::Client;
use mongodb::event::command::CommandEvent;
use mongodb::options::{ClientOptions, ConnectionString, HostInfo, ServerAddress};

/// How to get a server, the end of every "no server" failure.
const HOW_TO_GET_A_SERVER: &str = "start one with `bash scripts/local-server run -- cargo test` \
     (a local FerretDB), or set MONGODB_URI to a MongoDB server";

/// How long a server named by `MONGODB_URI` may take to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `MONGODB_URI`, checked once per test binary: a server test never skips, and without a
/// server it fails at once (no 30 s server selection) with one line saying how to get one.
pub fn uri() -> String {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    match CHECKED.get_or_init(|| checked_uri(std::env::var("MONGODB_URI").ok())) {
        Ok(uri) => uri.clone(),
        Err(why) => fail(why),
    }
}

/// `uri` for a given value of `MONGODB_URI`: the URI if it parses and one of its hosts
/// accepts a TCP connection within `CONNECT_TIMEOUT`, else the one-line reason. The URI
/// itself is never quoted (it may hold a password); its hosts are.
pub fn checked_uri(var: Option<String>) -> Result<String, String> {
    let Some(uri) = var.filter(|uri| !uri.trim().is_empty()) else {
        return Err(format!(
            "this test needs a MongoDB server and MONGODB_URI is not set: {HOW_TO_GET_A_SERVER}"
        ));
    };
    let parsed = ConnectionString::parse(&uri).map_err(|error| {
        format!("MONGODB_URI is not a MongoDB connection string ({error}): {HOW_TO_GET_A_SERVER}")
    })?;
    let hosts = match parsed.host_info {
        HostInfo::HostIdentifiers(hosts) => hosts,
        // A `mongodb+srv://` URI names its hosts in DNS: the driver resolves and reports them.
        _ => return Ok(uri),
    };
    let mut failures = Vec::new();
    for host in &hosts {
        match connect(host) {
            Ok(()) => return Ok(uri),
            Err(why) => failures.push(format!("{host}: {why}")),
        }
    }
    Err(format!(
        "the MongoDB server in MONGODB_URI is unreachable ({}): {HOW_TO_GET_A_SERVER}",
        failures.join("; ")
    ))
}

/// Whether `host` accepts a TCP connection within `CONNECT_TIMEOUT` (any of its addresses).
fn connect(host: &ServerAddress) -> Result<(), String> {
    let ServerAddress::Tcp { host, port } = host else {
        // A Unix socket: let the driver try it.
        return Ok(());
    };
    let addresses = (host.as_str(), port.unwrap_or(27017))
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve: {error}"))?;
    let mut last = String::from("no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(error) => last = error.to_string(),
        }
    }
    Err(last)
}

/// A client for the test server.
pub async fn client() -> Client {
    Client::with_uri_str(uri()).await.unwrap()
}

/// A client that counts the `find` commands it sends.
pub async fn counting_client() -> (Client, Arc<AtomicUsize>) {
    let finds = Arc::new(AtomicUsize::new(0));
    let mut options = ClientOptions::parse(uri()).await.unwrap();
    let counter = Arc::clone(&finds);
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event
            && started.command_name == "find"
        {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }));
    (Client::with_options(options).unwrap(), finds)
}

/// A database name no other test uses.
pub fn unique_db(purpose: &str) -> String {
    format!(
        "test_{purpose}_{}",
        bson::Uuid::new().to_string().replace('-', "")[..12].to_owned()
    )
}

/// Whether the test server is FerretDB (it says so in `buildInfo`).
pub async fn is_ferretdb() -> bool {
    let info = client()
        .await
        .database("admin")
        .run_command(bson::doc! { "buildInfo": 1 })
        .await
        .unwrap();
    info.contains_key("ferretdbVersion") || info.contains_key("ferretdb")
}
