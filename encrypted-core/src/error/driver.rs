//! The `mongodb` driver's error behind ours: its kind, labels and server code, for retry
//! loops (`TransientTransactionError`, `UnknownTransactionCommitResult`, retryable
//! writes) and for handling server codes (a duplicate key is 11000).

use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};

use super::Error;

impl Error {
    /// The driver's error behind this one, wherever it is in the chain: the `source` of
    /// [`Error::Collection`], [`Error::PartialInsert`] or [`Error::KeyVault`], also when
    /// it is wrapped further (in [`Error::Field`], say). `None` when no server or driver
    /// was involved (an encryption or schema error).
    ///
    /// Its [`kind`](mongodb::error::Error::kind) says what happened; its labels drive
    /// retries. (The variants hold it boxed: walking `source()` yourself, downcast to
    /// `Box<mongodb::error::Error>`; this method looks for both.)
    ///
    /// ```
    /// use encrypted_core::Error;
    /// use encrypted_core::mongodb::error::ErrorKind;
    ///
    /// # fn handle(error: &Error) {
    /// match error.driver_error().map(|driver| driver.kind.as_ref()) {
    ///     Some(ErrorKind::Io(_)) => eprintln!("the server could not be reached"),
    ///     Some(other) => eprintln!("the server or driver failed: {other}"),
    ///     None => eprintln!("not a server error: {error}"),
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn driver_error(&self) -> Option<&DriverError> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = cause {
            if let Some(
                Self::Collection { source, .. }
                | Self::PartialInsert { source, .. }
                | Self::KeyVault { source, .. },
            ) = error.downcast_ref::<Self>()
            {
                return Some(source);
            }
            if let Some(driver) = error.downcast_ref::<DriverError>() {
                return Some(driver);
            }
            if let Some(driver) = error.downcast_ref::<Box<DriverError>>() {
                return Some(driver);
            }
            cause = error.source();
        }
        None
    }

    /// Whether the driver's error behind this one carries the error label `label`:
    /// [`TRANSIENT_TRANSACTION_ERROR`](mongodb::error::TRANSIENT_TRANSACTION_ERROR) (run
    /// the whole transaction again),
    /// [`UNKNOWN_TRANSACTION_COMMIT_RESULT`](mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
    /// (commit again), [`RETRYABLE_WRITE_ERROR`](mongodb::error::RETRYABLE_WRITE_ERROR).
    /// `false` when there is no driver error (an encryption error is never transient).
    ///
    /// A `with_transaction`-style loop:
    ///
    /// ```no_run
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// use encrypted_core::mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
    /// # async fn run(client: mongodb::Client, patients: encrypted_core::EncryptedCollection<Patient>, jon: Patient) -> Result<(), encrypted_core::Error> {
    /// let mut session = client.start_session().await.map_err(|e| todo!("{e}"))?;
    /// 'transaction: loop {
    ///     session.start_transaction().await.map_err(|e| todo!("{e}"))?;
    ///     if let Err(error) = patients.insert_one(&jon).session(&mut session).await {
    ///         if error.contains_label(TRANSIENT_TRANSACTION_ERROR) {
    ///             continue 'transaction;
    ///         }
    ///         return Err(error);
    ///     }
    ///     loop {
    ///         match session.commit_transaction().await {
    ///             Ok(()) => return Ok(()),
    ///             Err(error) if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
    ///             Err(error) if error.contains_label(TRANSIENT_TRANSACTION_ERROR) => continue 'transaction,
    ///             Err(error) => todo!("{error}"),
    ///         }
    ///     }
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn contains_label(&self, label: &str) -> bool {
        self.driver_error()
            .is_some_and(|error| error.contains_label(label))
    }

    /// The server's error code behind this one: of a command error, a write error (the
    /// first one of an `insertMany` or a bulk write) or a write concern error. 11000 is a
    /// duplicate key. `None` when the server sent no code (a network error, an
    /// encryption error).
    ///
    /// ```
    /// # fn handle(error: &encrypted_core::Error) {
    /// const DUPLICATE_KEY: i32 = 11000;
    /// if error.code() == Some(DUPLICATE_KEY) {
    ///     eprintln!("this patient is already stored");
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn code(&self) -> Option<i32> {
        self.driver_error().and_then(driver_code)
    }
}

/// The server code of a driver error, or of the driver error it wraps.
fn driver_code(error: &DriverError) -> Option<i32> {
    let code = match error.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        ErrorKind::Write(WriteFailure::WriteError(write)) => Some(write.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(concern)) => Some(concern.code),
        ErrorKind::InsertMany(insert) => insert
            .write_errors
            .as_ref()
            .and_then(|errors| errors.iter().min_by_key(|error| error.index))
            .map(|error| error.code)
            .or_else(|| insert.write_concern_error.as_ref().map(|error| error.code)),
        ErrorKind::BulkWrite(bulk) => bulk
            .write_errors
            .iter()
            .min_by_key(|(index, _)| **index)
            .map(|(_, error)| error.code)
            .or_else(|| bulk.write_concern_errors.first().map(|error| error.code)),
        _ => None,
    };
    code.or_else(|| {
        std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<DriverError>())
            .and_then(driver_code)
    })
}

#[cfg(test)]
mod tests {
    use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};

    use super::*;

    /// A driver error as the driver makes one from a server reply whose write concern
    /// failed with `labels` (the driver copies them onto the error): no server path of
    /// the local test server produces labels.
    fn labelled(code: i32, labels: &[&str]) -> DriverError {
        let reply = bson::doc! {
            "code": code,
            "codeName": "InterruptedDueToReplStateChange",
            "errmsg": "interrupted",
            "errorLabels": labels,
        };
        let concern = bson::deserialize_from_document(reply).unwrap();
        DriverError::from(ErrorKind::Write(WriteFailure::WriteConcernError(concern)))
    }

    fn collection(source: DriverError) -> Error {
        Error::Collection {
            operation: "insertOne",
            namespace: "medco.patients".to_owned(),
            source: Box::new(source),
        }
    }

    #[test]
    fn labels_and_code_of_the_driver_error_are_reachable_through_ours() {
        let error = collection(labelled(11602, &[TRANSIENT_TRANSACTION_ERROR]));
        assert!(error.contains_label(TRANSIENT_TRANSACTION_ERROR));
        assert!(!error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT));
        assert_eq!(error.code(), Some(11602));
        assert!(matches!(
            error.driver_error().map(|driver| driver.kind.as_ref()),
            Some(ErrorKind::Write(WriteFailure::WriteConcernError(_)))
        ));
    }

    #[test]
    fn the_driver_error_is_found_below_a_field_and_through_a_source_chain() {
        let inner = Error::KeyVault {
            operation: "getKeyByAltName",
            source: Box::new(labelled(91, &[UNKNOWN_TRANSACTION_COMMIT_RESULT])),
        };
        let error = Error::Field {
            path: "ssn".to_owned(),
            source: Box::new(inner),
        };
        assert!(error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT));
        assert_eq!(error.code(), Some(91));
        // A reporter walking `source()` meets the driver's error (boxed) right below ours.
        let boxed = std::error::Error::source(&collection(labelled(1, &[])))
            .and_then(|cause| cause.downcast_ref::<Box<DriverError>>())
            .map(|driver| driver.kind.to_string());
        assert!(boxed.is_some_and(|kind| kind.contains("interrupted")));
    }

    #[test]
    fn an_error_without_a_driver_error_has_no_labels_and_no_code() {
        for error in [
            Error::Decryption,
            Error::Field {
                path: "ssn".to_owned(),
                source: Box::new(Error::NoKeyAccess),
            },
            collection(DriverError::from(std::io::Error::other("reset"))),
        ] {
            assert_eq!(error.code(), None, "{error}");
            assert!(
                !error.contains_label(TRANSIENT_TRANSACTION_ERROR),
                "{error}"
            );
        }
        assert!(Error::Decryption.driver_error().is_none());
    }

    #[test]
    fn insert_many_codes_come_from_the_first_write_error() {
        let reply = bson::doc! { "writeErrors": [
            { "index": 3, "code": 121, "errmsg": "validation" },
            { "index": 1, "code": 11000, "errmsg": "duplicate" },
        ] };
        let insert: mongodb::error::InsertManyError =
            bson::deserialize_from_document(reply).unwrap();
        let error = Error::PartialInsert {
            namespace: "medco.patients".to_owned(),
            inserted: Some(1),
            total: 5,
            source: Box::new(DriverError::from(ErrorKind::InsertMany(insert))),
        };
        assert_eq!(error.code(), Some(11000));
    }
}
