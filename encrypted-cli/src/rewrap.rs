//! `keys rewrap`: data keys moved under another master key by the library's
//! `rewrap_many_data_key`, with a progress bar fed by its progress reports.

use encrypted::RewrapProgress;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Connection, Provider, RewrapArgs};
use crate::extended_json;
use crate::failure::Failure;
use crate::key_vault::KeyVault;
use crate::kms_config::{KmsConfig, MasterKeyArgs};

/// What a rewrap did so far.
#[derive(Debug, Default)]
struct Tally {
    /// How many documents matched, once the key vault was read.
    total: Option<usize>,
    rewrapped: usize,
    skipped: usize,
    /// Malformed key documents, left untouched: `id: problem`.
    malformed: Vec<String>,
    /// The key whose rewrap failed, if one did.
    failed_at: Option<String>,
}

impl Tally {
    fn done(&self) -> usize {
        self.rewrapped + self.skipped + self.malformed.len()
    }
}

/// Re-wraps every key the filter matches with `rewrap_many_data_key`, which rewraps
/// and reports each key on its own, so the progress bar moves as keys are done and a
/// failure says how far it got.
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
        MasterKeyArgs {
            aws_key_arn: args.aws_key_arn.as_deref(),
            azure_key: args
                .azure_key_name
                .as_deref()
                .map(|name| (name, args.azure_key_version.as_deref())),
            gcp_key: args.gcp_key.as_deref(),
        },
        kms.has_local_master_key() || new_local.is_some(),
    )?;
    let vault = KeyVault::open(connection, kms.providers(new_local)?).await?;

    let progress = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} rewrapping [{bar:30}] {pos}/{len} keys ({eta})")
    {
        progress.set_style(style.progress_chars("=> "));
    }
    let mut tally = Tally::default();
    let result = vault
        .encryption
        .rewrap_many_data_key(filter, Some(master_key.clone()))
        .on_progress(|event| record(&mut tally, &progress, event))
        .await;
    let Err(error) = result else {
        progress.finish_and_clear();
        let total = tally.total.unwrap_or_default();
        return Ok(summary(&tally, total, &master_key.provider()));
    };
    progress.abandon();
    Err(match tally.total {
        // The key vault was not even read.
        None => Failure::caused_by("cannot find the data keys to rewrap", error),
        Some(total) => Failure::caused_by(
            format!(
                "rewrap stopped after {} of {total} data keys (those keep their new master key; rerun to finish) at key {}",
                tally.done(),
                tally.failed_at.as_deref().unwrap_or("(unknown)")
            ),
            error,
        ),
    })
}

/// One progress report, into the tally and the bar.
fn record(tally: &mut Tally, progress: &ProgressBar, event: RewrapProgress) {
    match event {
        RewrapProgress::Started { total, .. } => {
            tally.total = Some(total);
            progress.set_length(total as u64);
            return;
        }
        RewrapProgress::Rewrapped { .. } => tally.rewrapped += 1,
        RewrapProgress::Skipped { .. } => tally.skipped += 1,
        RewrapProgress::Malformed(bad) => {
            tally.malformed.push(format!("{}: {}", bad.id, bad.problem));
        }
        RewrapProgress::Failed { id, .. } => {
            tally.failed_at = Some(id.to_string());
            return;
        }
        // A report this version does not know: it moves nothing.
        _ => return,
    }
    progress.inc(1);
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
