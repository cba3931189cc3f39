//! The README's quick start is the crate docs' front page, compiled: `src/quickstart.md`
//! is included into `src/lib.rs`'s docs, where its code block is a doctest (`no_run`: it
//! needs a server), and the README shows the same code without rustdoc's hidden `# `
//! lines. These tests keep the two equal, so neither can rot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

/// The lines of the first code block whose fence line starts with `fence` after the line
/// `heading`, fences excluded.
fn code_block<'a>(text: &'a str, heading: &str, fence: &str) -> Vec<&'a str> {
    let mut lines = text
        .lines()
        .skip_while(|line| *line != heading)
        .skip_while(|line| !line.starts_with(fence));
    assert!(
        lines.next().is_some(),
        "no ```{fence} block after `{heading}`"
    );
    let block: Vec<&str> = lines.take_while(|line| *line != "```").collect();
    assert!(!block.is_empty(), "empty code block after `{heading}`");
    block
}

/// A line rustdoc hides from the rendered example (`# code` or a lone `#`).
fn hidden(line: &str) -> bool {
    line.trim_start().starts_with("# ") || line.trim() == "#"
}

#[test]
fn readme_quick_start_is_the_compiled_doc_quick_start() {
    let doc = read("src/quickstart.md");
    let doc_block = code_block(&doc, "# Quick start", "```rust,no_run");
    let shown: Vec<&str> = doc_block.iter().copied().filter(|l| !hidden(l)).collect();
    let readme = read("README.md");
    let readme_block = code_block(&readme, "## Quick start", "```rust");
    assert_eq!(
        readme_block.join("\n"),
        shown.join("\n"),
        "README.md's quick start differs from src/quickstart.md without its hidden lines: \
         change both"
    );
    // The doc block really is the compiled one: it runs inside an async main.
    assert!(doc_block.iter().any(|l| l.contains("async fn main")));
}

#[test]
fn crate_docs_front_page_includes_the_quick_start() {
    let lib = read("src/lib.rs");
    let include = "#![doc = include_str!(\"quickstart.md\")]";
    let position = lib
        .find(include)
        .expect("src/lib.rs does not include src/quickstart.md in its docs");
    // It comes first, after the crate's one-paragraph summary: nothing but `//!` lines
    // (the summary) before it.
    assert!(
        lib[..position]
            .lines()
            .all(|line| line.starts_with("//!") || line.is_empty()),
        "the quick start is not the first section of the crate docs"
    );
}
