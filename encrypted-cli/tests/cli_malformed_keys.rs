//! `encrypted-keys` with malformed documents in the key vault (finding 7): listing,
//! deleting and rewrapping go on past them and name them. Runs the binary as a process
//! against `MONGODB_URI`, as `tests/cli.rs` does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use std::path::PathBuf;
use std::process::{Command, Output};

use bson::{Bson, Uuid, doc};

const BINARY: &str = env!("CARGO_BIN_EXE_encrypted-keys");

fn run(db: &str, args: &[&str]) -> Output {
    Command::new(BINARY)
        .env("MONGODB_URI", server::uri())
        .args(["--key-vault", &format!("{db}.__keyVault")])
        .args(args)
        .output()
        .unwrap()
}

fn ok(db: &str, args: &[&str]) -> String {
    let output = run(db, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn finding_7_cli_lists_deletes_and_rewraps_past_malformed_key_documents() {
    let db = server::unique_db("cli_malformed");
    let dir: PathBuf = std::env::temp_dir().join(format!("encrypted-keys-{db}"));
    std::fs::create_dir_all(&dir).unwrap();
    let master = dir.join("master.key").to_str().unwrap().to_owned();
    ok(&db, &["master-key", "generate", &master]);
    let local = |args: &[&str]| ok(&db, &[&["--local-master-key", &master][..], args].concat());
    let good = local(&[
        "keys",
        "create",
        "--provider",
        "local",
        "--alt-name",
        "good",
    ]);
    let good = good.trim().to_owned();
    let int64_status = local(&["keys", "create", "--provider", "local"]);
    let int64_status = int64_status.trim().to_owned();

    // An int64 `status` (valid, as for libmongocrypt) and a document without keyMaterial.
    let vault = server::client()
        .await
        .database(&db)
        .collection::<bson::Document>("__keyVault");
    vault
        .update_one(
            doc! { "_id": int64_status.parse::<Uuid>().unwrap() },
            doc! { "$set": { "status": Bson::Int64(0) } },
        )
        .await
        .unwrap();
    let mut broken = vault
        .find_one(doc! { "_id": good.parse::<Uuid>().unwrap() })
        .await
        .unwrap()
        .unwrap();
    let bad = Uuid::new();
    broken.insert("_id", bad);
    broken.remove("keyMaterial");
    broken.remove("keyAltNames");
    vault.insert_one(broken).await.unwrap();

    // `keys list`: the valid keys on standard output, the bad one named on standard
    // error, and a failing exit status.
    for json in [false, true] {
        let args: &[&str] = if json {
            &["keys", "list", "--json"]
        } else {
            &["keys", "list"]
        };
        let output = run(&db, args);
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success(), "{args:?}: {stdout}");
        if json {
            assert_eq!(stdout.lines().count(), 2, "{stdout}");
        } else {
            assert!(
                stdout.contains(&good) && stdout.contains(&int64_status),
                "{stdout}"
            );
            assert!(!stdout.contains(&bad.to_string()), "{stdout}");
        }
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: 1 of 3 documents"), "{stderr}");
        assert!(
            stderr.contains(&bad.to_string()) && stderr.contains("keyMaterial"),
            "{stderr}"
        );
    }

    // `keys rewrap`: the valid keys are rewrapped, the bad one reported and left alone.
    let summary = local(&["keys", "rewrap", "--to", "local"]);
    assert!(
        summary.starts_with(
            "rewrapped 2 of 3 data keys to local; 1 malformed key documents were left untouched"
        ),
        "{summary}"
    );
    assert!(summary.contains(&bad.to_string()), "{summary}");

    // `keys delete <id>` works without reading the document.
    assert_eq!(
        ok(&db, &["keys", "delete", &bad.to_string()]),
        format!("deleted data key {bad}\n")
    );
    let listed = ok(&db, &["keys", "list"]);
    assert_eq!(listed.lines().count(), 3, "{listed}"); // header and two keys
    // By alternate name still works as before.
    assert_eq!(
        ok(&db, &["keys", "delete", "good"]),
        format!("deleted data key {good}\n")
    );

    server::client().await.database(&db).drop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
