//! `keys rewrap`: data keys moved under another master key, one at a time, with
//! progress.

use encrypted::bson::{Bson, doc};
use futures_util::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Connection, Provider, RewrapArgs};
use crate::extended_json;
use crate::failure::{Context, Failure};
use crate::key_vault::KeyVault;
use crate::kms_config::KmsConfig;

/// What a rewrap did so far.
#[derive(Debug, Default)]
struct Tally {
    rewrapped: usize,
    skipped: usize,
    /// Malformed key documents, left untouched: `id: problem`.
    malformed: Vec<String>,
}

/// Re-wraps every key the filter matches: lists their ids, then asks the library to
/// rewrap each on its own (`rewrap_many_data_key` on that `_id` and the filter), so the
/// progress bar moves as keys are done and a failure says how far it got.
///
/// # Errors
///
/// When the filter, the master key options, the key vault or a KMS fails. Keys
/// rewrapped before the failure keep their new material; rerunning completes the job.
pub async fn run(connection: &Connection, args: RewrapArgs) -> Result<String, Failure> {
    let filter = extended_json::parse_filter(&args.filter)?;
    let kms = KmsConfig::from_connection(connection);
    let new_local = args.new_local_master_key.as_deref();
    if new_local.is_some() && args.to != Provider::Local {
        return Err(Failure::new("--new-local-master-key goes with --to local"));
    }
    let master_key = kms.master_key(
        args.to,
        args.aws_key_arn.as_deref(),
        kms.has_local_master_key() || new_local.is_some(),
    )?;
    let vault = KeyVault::open(connection, kms.providers(new_local)?).await?;

    let ids: Vec<Bson> = vault
        .collection
        .find(filter.clone())
        .projection(doc! { "_id": 1 })
        .await
        .context("cannot find the data keys to rewrap")?
        .try_collect::<Vec<_>>()
        .await
        .context("cannot find the data keys to rewrap")?
        .into_iter()
        .filter_map(|mut document| document.remove("_id"))
        .collect();

    let total = ids.len();
    let progress = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} rewrapping [{bar:30}] {pos}/{len} keys ({eta})")
    {
        progress.set_style(style.progress_chars("=> "));
    }
    let mut tally = Tally::default();
    for id in ids {
        // The filter again: a key changed since it was listed is left alone.
        let one = doc! { "$and": [filter.clone(), { "_id": id.clone() }] };
        let result = vault
            .encryption
            .rewrap_many_data_key(one, Some(master_key.clone()))
            .await;
        match result {
            Ok(result) => {
                tally.rewrapped += result.rewrapped.len();
                tally.skipped += result.skipped.len();
                tally.malformed.extend(
                    result
                        .malformed
                        .iter()
                        .map(|bad| format!("{}: {}", bad.id, bad.problem)),
                );
                progress.inc(1);
            }
            Err(error) => {
                progress.abandon();
                return Err(Failure::caused_by(
                    format!(
                        "rewrap stopped after {} of {total} data keys (those keep their new master key; rerun to finish) at key {}",
                        tally.rewrapped + tally.skipped + tally.malformed.len(),
                        display_id(&id)
                    ),
                    error,
                ));
            }
        }
    }
    progress.finish_and_clear();
    Ok(summary(&tally, total, &master_key.provider()))
}

fn summary(tally: &Tally, total: usize, provider: &str) -> String {
    let mut line = format!(
        "rewrapped {} of {total} data keys to {provider}",
        tally.rewrapped
    );
    let unmatched = total.saturating_sub(tally.rewrapped + tally.skipped + tally.malformed.len());
    if !tally.malformed.is_empty() {
        line.push_str(&format!(
            "; {} malformed key documents were left untouched (repair or delete them): {}",
            tally.malformed.len(),
            tally.malformed.join("; ")
        ));
    }
    if tally.skipped > 0 {
        line.push_str(&format!(
            "; {} changed concurrently and were skipped (rerun to cover them)",
            tally.skipped
        ));
    }
    if unmatched > 0 {
        line.push_str(&format!(
            "; {unmatched} no longer matched the filter or were deleted"
        ));
    }
    line.push('\n');
    line
}

/// A key id for a message: the UUID, or the value as Extended JSON for a foreign `_id`.
fn display_id(id: &Bson) -> String {
    match id {
        Bson::Binary(binary) => match binary.to_uuid() {
            Ok(uuid) => uuid.to_string(),
            Err(_) => extended_json::canonical(id.clone()),
        },
        other => extended_json::canonical(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_say_what_happened() {
        let all = Tally {
            rewrapped: 3,
            ..Tally::default()
        };
        assert_eq!(
            summary(&all, 3, "local"),
            "rewrapped 3 of 3 data keys to local\n"
        );
        let some = Tally {
            rewrapped: 1,
            skipped: 1,
            ..Tally::default()
        };
        assert_eq!(
            summary(&some, 3, "aws"),
            "rewrapped 1 of 3 data keys to aws; 1 changed concurrently and were skipped (rerun to cover them); 1 no longer matched the filter or were deleted\n"
        );
    }

    #[test]
    fn finding_7_summaries_name_malformed_key_documents() {
        let tally = Tally {
            rewrapped: 2,
            malformed: vec!["0d7e…: malformed key document: field `keyMaterial` is missing".into()],
            ..Tally::default()
        };
        let line = summary(&tally, 3, "local");
        assert!(
            line.starts_with(
                "rewrapped 2 of 3 data keys to local; 1 malformed key documents were left untouched"
            ),
            "{line}"
        );
        assert!(line.contains("`keyMaterial` is missing"), "{line}");
        assert!(!line.contains("no longer matched"), "{line}");
    }
}
