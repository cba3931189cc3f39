//! Why a command failed: a message saying what was being done, over the error that
//! caused it, printed as one line.

use std::error::Error;
use std::fmt;

/// The error of a command: what failed, and the underlying error if there is one.
///
/// Messages are written by this program from ids, names and paths; they never hold key
/// bytes or plaintext, and neither do the errors of `encrypted` they wrap.
#[derive(Debug)]
pub struct Failure {
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl Failure {
    /// A failure with no underlying error.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A failure caused by `source`.
    pub fn caused_by(
        message: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}

/// Adds what was being done to an error.
pub trait Context<T> {
    /// Wraps the error in a [`Failure`] with this message.
    fn context(self, message: impl Into<String>) -> Result<T, Failure>;

    /// As [`Context::context`], building the message only on failure.
    fn with_context<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T, Failure>;
}

impl<T, E: Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn context(self, message: impl Into<String>) -> Result<T, Failure> {
        self.map_err(|error| Failure::caused_by(message, error))
    }

    fn with_context<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T, Failure> {
        self.map_err(|error| Failure::caused_by(message(), error))
    }
}

/// The error and its chain of causes on one line, `outer: inner: innermost`.
///
/// Each error's message says only what it adds (the `std::error::Error` convention, which
/// `encrypted`'s errors follow), so every cause is printed, once. Line breaks inside a
/// message (the driver's) become spaces.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let text = error.to_string();
        if !text.is_empty() {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = error.source();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_each_cause_of_the_chain_once() {
        let nested = encrypted::Error::Field {
            path: "insurance".to_owned(),
            source: Box::new(encrypted::Error::Field {
                path: "policyNumber".to_owned(),
                source: Box::new(encrypted::Error::KeyNotFound {
                    key: "alt name `billing`".to_owned(),
                }),
            }),
        };
        let failure = Failure::caused_by("cannot decrypt\nthe value", nested);
        assert_eq!(
            one_line(&failure),
            "cannot decrypt the value: field `insurance`: field `policyNumber`: no data key alt name `billing` in the key vault"
        );
    }
}
