//! How the demo prints: a heading per step, indented lines, and documents as relaxed
//! extended JSON.

use encrypted::bson::{Bson, Document};

/// A step's heading, underlined.
pub fn heading(title: &str) {
    println!("\n{title}\n{}", "-".repeat(title.chars().count()));
}

/// A sub-heading inside a step.
pub fn subheading(title: &str) {
    println!("\n  {title}");
}

/// One line of a step.
pub fn line(text: impl AsRef<str>) {
    println!("    {}", text.as_ref());
}

/// A block of text (a document, a value's `Debug`), indented under the step's lines.
pub fn block(text: impl AsRef<str>) {
    for line in text.as_ref().lines() {
        println!("      {line}");
    }
}

/// A document as relaxed extended JSON, the form `mongosh` shows: one field a line in
/// the document's own order, each value that is not a document or an array on one line.
pub fn json(document: &Document) -> String {
    let mut out = String::new();
    write_json(&Bson::Document(document.clone()), 0, &mut out);
    out
}

fn write_json(value: &Bson, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent + 2);
    match value {
        Bson::Document(document) if !document.is_empty() => {
            out.push_str("{\n");
            for (index, (key, value)) in document.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push_str(": ");
                write_json(value, indent + 2, out);
                out.push_str(if index + 1 < document.len() {
                    ",\n"
                } else {
                    "\n"
                });
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
        Bson::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (index, item) in items.iter().enumerate() {
                out.push_str(&pad);
                write_json(item, indent + 2, out);
                out.push_str(if index + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        leaf => out.push_str(&leaf.clone().into_relaxed_extjson().to_string()),
    }
}
