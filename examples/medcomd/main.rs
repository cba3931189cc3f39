//! MedcoMD: MongoDB's client-side field level encryption guide, steps A to F, as a
//! program.
//!
//! MedcoMD keeps patients' records in `medicalRecords.patients`. Doctors read and write
//! everything; receptionists verify a patient with the name and the last four digits of
//! the SSN, see the insurance provider, and never see the SSN, the policy number or the
//! medical records. The sensitive fields are encrypted on the client, so the server, its
//! administrators, its backups and the network only ever see ciphertexts.
//!
//! A. create a local master key file; B. create the data key `medco-key` in the key
//! vault; C. print the JSON Schema derived from `Patient` and install it as the
//! collection's validator; D. build a doctor's client (with keys) and a receptionist's
//! (without); E. write, search and read as each; F. move the data key to an AWS KMS key
//! and show the local master key alone no longer decrypts anything.
//!
//! Run it with `scripts/medcomd` (a local server and a KMS emulator are started for it),
//! or `cargo run --example medcomd -- --help` against your own. It never prints the
//! connection string, master key bytes, data keys or their wrapped `keyMaterial`.

mod args;
mod aws;
mod data_key;
mod doctor;
mod failure;
mod master_key_file;
mod output;
mod patient;
mod receptionist;
mod remote_master_key;
mod schema;

use std::path::{Path, PathBuf};

use clap::Parser;
use encrypted::bson::Document;
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::{ClientEncryption, EncryptedCollection, Namespace};
use mongodb::Client;
use mongodb::options::ClientOptions;

use args::Args;
use aws::AwsKey;
use failure::{Context, Failure};
use master_key_file::Outcome;
use output::{heading, line, subheading};
use patient::Patient;

/// The server, the collections and the master key file of one run.
pub struct Demo {
    client: Client,
    key_vault: Namespace,
    patients: mongodb::Collection<Document>,
    master_key_file: PathBuf,
}

impl Demo {
    /// A client-side encryption handle over the key vault with these KMS providers.
    pub fn encryption(&self, kms: KmsProviders) -> ClientEncryption {
        ClientEncryption::builder(self.client.clone(), kms)
            .key_vault_namespace(self.key_vault.clone())
            .build()
    }

    /// The `local` provider with the master key of step A, read from its file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or holds no valid key.
    pub fn local_kms(&self) -> Result<LocalKms, Failure> {
        master_key_file::load(&self.master_key_file).map(LocalKms::new)
    }

    /// The patients collection of a client with key access through `encryption`.
    pub fn patients(&self, encryption: &ClientEncryption) -> EncryptedCollection<Patient> {
        EncryptedCollection::new(&self.patients, encryption)
    }

    /// The master key file of step A.
    pub fn master_key_file(&self) -> &Path {
        &self.master_key_file
    }
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    // `RUST_LOG=encrypted_core=debug` shows key vault reads, KMS calls, the key cache
    // and the rewrap on standard error (never a key or a plaintext).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let args = Args::parse();
    let count = run(args).await?;
    println!(
        "\nSummary: MedcoMD completed steps A to F: {count} patients encrypted, searched and read \
         by a doctor, verified by a receptionist who saw no secret, and their data key moved \
         from the local master key to AWS KMS."
    );
    Ok(())
}

/// The demo; returns how many patients it wrote.
async fn run(args: Args) -> Result<usize, Failure> {
    let uri = args.uri.clone().ok_or_else(|| {
        Failure::new(
            "no server: set MONGODB_URI or pass --uri (scripts/medcomd starts a local server)",
        )
    })?;
    let aws = AwsKey::from_args(&args)?;
    let options = ClientOptions::parse(&uri)
        .await
        .context("cannot use the connection string")?;
    let hosts: Vec<String> = options.hosts.iter().map(ToString::to_string).collect();
    let client = Client::with_options(options).context("cannot connect")?;
    let demo = Demo {
        patients: client.database(&args.database).collection("patients"),
        client,
        key_vault: args.key_vault.clone(),
        master_key_file: args.master_key_file.clone(),
    };

    println!("MedcoMD: MongoDB's client-side field level encryption guide, steps A to F");
    println!("  server:    {}", hosts.join(", "));
    println!("  patients:  {}.patients", args.database);
    println!("  key vault: {}", demo.key_vault);
    println!("  AWS KMS:   {}", aws.describe());

    let vault = demo.encryption(KmsProviders::new());
    if args.keep_key_vault {
        println!("  keeping the key vault's `medco-key` from an earlier run (--keep-key-vault)");
    } else if let Some(id) = data_key::delete_earlier(&vault).await? {
        println!(
            "  deleted `medco-key` ({id}) left by an earlier run, and only it, so this run starts \
             over from step A (pass --keep-key-vault to keep it)"
        );
    }

    heading("A. Create a master key");
    let path = demo.master_key_file.display();
    match master_key_file::create_or_reuse(&demo.master_key_file, args.force_new_master_key)? {
        Outcome::Created => line(format!(
            "wrote a new 96-byte local master key to {path} (readable by its owner only)"
        )),
        Outcome::Replaced => line(format!(
            "replaced the master key in {path} with a new 96-byte key (--force-new-master-key)"
        )),
        Outcome::Reused => line(format!(
            "reusing the 96-byte local master key in {path} (pass --force-new-master-key to replace it)"
        )),
    }
    line("in development it wraps the data keys; step F hands that job to AWS KMS");

    heading("B. Create a data encryption key");
    // The doctor's client can reach both master keys: the key vault document of each
    // data key says which one wraps it.
    let doctor = demo.encryption(
        KmsProviders::new()
            .with(demo.local_kms()?)
            .with(aws.provider()?),
    );
    data_key::create_or_reuse(&doctor).await?;

    heading("C. Define a JSON schema");
    let doctor_patients = demo.patients(&doctor);
    schema::define(&doctor_patients).await?;

    heading("D. Create the MongoDB clients");
    line(
        "doctor: EncryptedCollection::<Patient>::new over the collection and a ClientEncryption \
         with the key vault and the master keys: encrypts on write, decrypts on read",
    );
    line(
        "receptionist: EncryptedCollection::<Patient>::without_keys over the same collection: \
         no key vault, no master key; reads views whose encrypted fields stay sealed",
    );
    let receptionist_patients = EncryptedCollection::<Patient>::without_keys(&demo.patients);

    heading("E. Perform encrypted read and write operations");
    subheading("As a doctor");
    let stored = doctor::write_and_read(&doctor_patients).await?;
    subheading("As a receptionist");
    receptionist::verify(&receptionist_patients).await?;

    heading("F. Convert to a remote master key");
    remote_master_key::convert(&demo, &aws, &stored).await?;
    Ok(stored.len())
}
