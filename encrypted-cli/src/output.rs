//! How data keys are shown: a table, a detail view, or Extended JSON — never their key
//! material.

use encrypted::bson::{Bson, DateTime};
use encrypted::{KeyDocument, MasterKey};

use crate::extended_json;

/// The columns of `keys list`.
const HEADER: [&str; 6] = [
    "ID",
    "ALT NAMES",
    "PROVIDER",
    "CREATED",
    "UPDATED",
    "STATUS",
];

/// `keys` as an aligned table, one key per row, with a header.
pub fn table(keys: &[KeyDocument]) -> String {
    let rows: Vec<[String; 6]> = keys
        .iter()
        .map(|key| {
            [
                key.id.to_string(),
                alt_names(key),
                key.master_key.provider(),
                date(key.creation_date),
                date(key.update_date),
                key.status.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One key, field by field.
pub fn details(key: &KeyDocument) -> String {
    let mut lines = vec![
        format!("id:          {}", key.id),
        format!("alt names:   {}", alt_names(key)),
        format!("provider:    {}", key.master_key.provider()),
    ];
    if let MasterKey::Aws {
        region,
        key: arn,
        endpoint,
        ..
    } = &key.master_key
    {
        lines.push(format!("aws region:  {region}"));
        lines.push(format!("aws key:     {arn}"));
        if let Some(endpoint) = endpoint {
            lines.push(format!("aws endpoint: {endpoint}"));
        }
    }
    if let MasterKey::Azure {
        key_vault_endpoint,
        key_name,
        key_version,
        ..
    } = &key.master_key
    {
        lines.push(format!("azure vault: {key_vault_endpoint}"));
        lines.push(format!("azure key:   {key_name}"));
        if let Some(version) = key_version {
            lines.push(format!("azure key version: {version}"));
        }
    }
    if let MasterKey::Kmip {
        key_id,
        endpoint,
        delegated,
        ..
    } = &key.master_key
    {
        lines.push(format!("kmip key id: {}", key_id.as_deref().unwrap_or("-")));
        if let Some(endpoint) = endpoint {
            lines.push(format!("kmip endpoint: {endpoint}"));
        }
        lines.push(format!("delegated:   {delegated}"));
    }
    if let MasterKey::Gcp {
        project_id,
        location,
        key_ring,
        key_name,
        key_version,
        endpoint,
        ..
    } = &key.master_key
    {
        let mut name = format!(
            "projects/{project_id}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{key_name}"
        );
        if let Some(version) = key_version {
            name.push_str(&format!("/cryptoKeyVersions/{version}"));
        }
        lines.push(format!("gcp key:     {name}"));
        if let Some(endpoint) = endpoint {
            lines.push(format!("gcp endpoint: {endpoint}"));
        }
    }
    lines.extend([
        format!("created:     {}", date(key.creation_date)),
        format!("updated:     {}", date(key.update_date)),
        format!("status:      {}", key.status),
    ]);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The key document as relaxed Extended JSON on one line, without `keyMaterial`.
pub fn json(key: &KeyDocument) -> String {
    let mut document = key.to_document();
    document.remove("keyMaterial");
    extended_json::relaxed(Bson::Document(document))
}

fn alt_names(key: &KeyDocument) -> String {
    if key.key_alt_names.is_empty() {
        "-".to_owned()
    } else {
        key.key_alt_names.join(",")
    }
}

fn date(date: DateTime) -> String {
    date.try_to_rfc3339_string()
        .unwrap_or_else(|_| date.timestamp_millis().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use encrypted::bson::Uuid;

    #[test]
    fn tables_align_and_hide_key_material() {
        let key = KeyDocument::new(Uuid::new(), vec![0xAB; 160], MasterKey::local())
            .with_key_alt_names(["a", "bb"]);
        let table = table(std::slice::from_ref(&key));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines
                .iter()
                .all(|line| line.find("ALT NAMES").is_none_or(|at| at == 38))
        );
        assert!(table.contains("a,bb") && table.contains("local"));
        assert!(!json(&key).contains("keyMaterial"));
        assert!(!details(&key).to_lowercase().contains("material"));
    }
}
