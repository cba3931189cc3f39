//! `fle1-vectors check FILE…` checks vector files with encrypted-core;
//! `fle1-vectors write TEMPLATE OUT` writes encrypted-core's own file for libmongocrypt
//! to check.

use std::process::ExitCode;

use fle1_vectors::{VectorFile, check, write_from_template};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["check", files @ ..] if !files.is_empty() => run_check(files),
        ["write", template, out] => run_write(template, out),
        _ => Err("usage: fle1-vectors check FILE… | fle1-vectors write TEMPLATE OUT".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fle1-vectors: {message}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &str) -> Result<VectorFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn run_check(files: &[&str]) -> Result<(), String> {
    let (mut passed, mut failed) = (0, 0);
    for path in files {
        for outcome in check(&read(path)?)? {
            match outcome.failure {
                None => passed += 1,
                Some(failure) => {
                    failed += 1;
                    println!("FAILED {path}: {}: {failure}", outcome.description);
                }
            }
        }
    }
    println!("encrypted-core-interop: {passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        return Err("vector check failed".to_owned());
    }
    Ok(())
}

fn run_write(template: &str, out: &str) -> Result<(), String> {
    let description =
        format!("Written by encrypted-core (interop/fle1-vectors) from the cases of {template}");
    let file = write_from_template(&read(template)?, description)?;
    let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
    std::fs::write(out, text + "\n").map_err(|e| format!("{out}: {e}"))
}
