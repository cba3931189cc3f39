//! `encrypted-keys`: key management for MongoDB client-side field level encryption
//! (CSFLE) from the command line — local master keys, the data keys of a key vault
//! (create, list, show, delete, alternate names, rewrap under another master key), and
//! explicit encryption and decryption of single values.
//!
//! What it prints on purpose: key ids, alternate names, master key descriptions (provider,
//! region, ARN), ciphertexts, and the plaintext `decrypt` was asked for. What it never
//! prints: master key bytes, data key bytes or their wrapped `keyMaterial`, and, in
//! errors, plaintext. Errors are one line on standard error, `error: what failed: why`,
//! and the exit status is non-zero.

#![forbid(unsafe_code)]

mod args;
mod explicit;
mod extended_json;
mod failure;
mod key_vault;
mod keys;
mod kms_config;
mod master_key_file;
mod output;
mod rewrap;
mod rotating_local_kms;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, MasterKeyCommand};
use failure::{Context, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printed = run(cli).and_then(|text| {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .context("cannot write to standard output")
    });
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", failure::one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; returns what to print on standard output.
fn run(cli: Cli) -> Result<String, Failure> {
    let Cli {
        connection,
        command,
    } = cli;
    match command {
        Command::MasterKey(MasterKeyCommand::Generate { file, force }) => {
            master_key_file::generate(&file, force).map(|line| format!("{line}\n"))
        }
        Command::Keys(command) => block_on(keys::run(&connection, command)),
        Command::Encrypt(args) => block_on(explicit::encrypt(&connection, args)),
        Command::Decrypt(args) => block_on(explicit::decrypt(&connection, args)),
    }
}

/// Runs a command that talks to the server or a KMS on a Tokio runtime, then shuts down
/// the clients it opened.
fn block_on<T>(command: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async {
            let result = command.await;
            key_vault::close_all().await;
            result
        })
}
