//! The server every server test runs against: `MONGODB_URI` (a real MongoDB, Atlas, or
//! the local FerretDB that `scripts/local-server run` starts and exports).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mongodb::Client;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;

/// `MONGODB_URI`, or a failure that says how to get one: a server test never skips.
pub fn uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| {
        panic!(
            "MONGODB_URI is not set: run the tests with `scripts/test`, or \
             `scripts/local-server run -- cargo test`, or point MONGODB_URI at a MongoDB server"
        )
    })
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
