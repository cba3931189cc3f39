//! Step C: the JSON Schema `#[derive(Encrypted)]` generates for `Patient`, and the
//! server-side validator built from it.

use encrypted::{EncryptedCollection, Error};

use crate::failure::{Context, Failure};
use crate::output::{block, json, line};
use crate::patient::Patient;

/// Prints the schema and creates the collection with the validator where the server
/// supports validators.
///
/// # Errors
///
/// When the key vault or the server fails (a server without validators is not an
/// error).
pub async fn define(patients: &EncryptedCollection<Patient>) -> Result<(), Failure> {
    let schema = patients
        .json_schema()
        .await
        .context("cannot build the JSON Schema")?;
    line(
        "the schema is derived from the `Patient` struct at compile time; the key's UUID comes \
         from the key vault (what a libmongocrypt driver takes in its schemaMap):",
    );
    block(json(&schema));
    match patients.create_with_validator().await {
        Ok(()) => line(
            "created the patients collection with this schema as its validator: the server \
             itself refuses a document whose encrypted fields are not ciphertexts",
        ),
        Err(Error::UnsupportedByServer { operation, .. }) => {
            line(format!(
                "this server does not support validators: its `{operation}` command refused the validator"
            ));
            line(
                "going on without one: this crate never writes those fields in plaintext, but \
                 a client without it could; on MongoDB 4.2+ the validator stops that",
            );
        }
        Err(error) => {
            return Err(Failure::caused_by(
                "cannot create the patients collection with its validator",
                &error,
            ));
        }
    }
    Ok(())
}
