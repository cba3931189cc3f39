//! Issue 9, finding 1, for the command line: `encrypted-keys encrypt` refuses a value
//! it cannot encode without quoting the plaintext (moved from the library's
//! `tests/no_plaintext_in_errors.rs` with the command line). Needs `MONGODB_URI`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use test_support::server;

const SECRET: &str = "SSN 078-05-1120";
/// A part of the secret that no message has any other reason to contain.
const NEEDLE: &str = "078-05";

async fn drop_db(db: &str) {
    server::client().await.database(db).drop().await.unwrap();
}

#[tokio::test]
async fn finding_1_the_command_line_encrypt_does_not_quote_the_plaintext() {
    let db = server::unique_db("noquote_cli");
    let dir = std::env::temp_dir().join(format!("encrypted-keys-{db}"));
    std::fs::create_dir_all(&dir).unwrap();
    let master_key = dir.join("master-key.txt");
    let master_key = master_key.to_str().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_encrypted-keys"));
        command
            .env("MONGODB_URI", server::uri())
            .args(["--key-vault", &format!("{db}.__keyVault")])
            .args(["--local-master-key", master_key])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            std::io::Write::write_all(&mut input, text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    };
    let generated = Command::new(env!("CARGO_BIN_EXE_encrypted-keys"))
        .args(["master-key", "generate", master_key])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let created = run(&["keys", "create", "--provider", "local"], None);
    assert!(created.status.success(), "{created:?}");
    let id = String::from_utf8(created.stdout).unwrap().trim().to_owned();

    let values = [
        format!(r#"{{"{SECRET}\u0000": 1}}"#),
        format!(r#"{{"a": {{"{SECRET}\u0000": "{SECRET}"}}}}"#),
        format!(r#"[{{"{SECRET}\u0000": 1}}]"#),
    ];
    for value in &values {
        for (argument, stdin) in [(value.as_str(), None), ("-", Some(value.as_str()))] {
            let output = run(
                &["encrypt", "--key", &id, "--algorithm", "random", argument],
                stdin,
            );
            assert!(!output.status.success());
            assert!(output.stdout.is_empty());
            let stderr = String::from_utf8(output.stderr).unwrap();
            assert!(stderr.starts_with("error: "), "{stderr}");
            assert!(stderr.contains("NUL"), "{stderr}");
            assert!(
                !stderr.contains(NEEDLE),
                "the error quotes the plaintext: {stderr}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    drop_db(&db).await;
}
