//! An error as a user reads it: the whole chain of causes.

#![allow(dead_code)]

use std::error::Error;

/// `error` and its causes, `outer: cause: its cause`, each printed once (as `anyhow`'s
/// `{:#}` does): the errors of `encrypted` say only what they add to their source.
pub fn report(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        line.push_str(": ");
        line.push_str(&error.to_string());
        cause = error.source();
    }
    line
}
