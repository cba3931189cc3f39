//! Why the demo stopped: what it was doing, and the error that stopped it, as one line.

use std::error::Error;
use std::fmt;

/// The demo's error. Its messages are built from names, ids and paths, and the errors of
/// `encrypted` never hold key bytes or plaintext, so printing it leaks nothing.
pub struct Failure {
    message: String,
}

impl Failure {
    /// A failure with nothing underneath.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// A failure caused by `source`: `message: source: its source …` on one line.
    pub fn caused_by(message: impl fmt::Display, source: &(dyn Error + 'static)) -> Self {
        Self::new(format!("{message}: {}", one_line(source)))
    }
}

/// `main` returns this: `Debug` is what Rust prints after `Error: `, so it is the
/// readable message, not a struct dump.
impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// An error and its causes on one line, `outer: inner: innermost`: each error's message
/// says only what it adds (as `encrypted`'s errors do), so every cause is printed once.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        line.push_str(": ");
        line.push_str(&error.to_string());
        cause = error.source();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Adds what was being done to an error.
pub trait Context<T> {
    /// Wraps the error in a [`Failure`] that starts with `message`.
    fn context(self, message: impl fmt::Display) -> Result<T, Failure>;
}

impl<T, E: Error + 'static> Context<T> for Result<T, E> {
    fn context(self, message: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|error| Failure::caused_by(message, &error))
    }
}
