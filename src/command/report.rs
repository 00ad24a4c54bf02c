//! `drydock report merge`: shard reports as one verdict, JSON, JUnit and markdown; with
//! `--rerun-flaky`, the few units that failed named for one more pass.

use super::output::reported;
use super::{json, Outcome};
use crate::cli::{Cli, MergeArgs, ReportAction, ReportCommand};
use crate::error::Error;
use crate::report::{merge, RunReport};

/// `drydock report`.
pub fn report(cli: &Cli, args: &ReportCommand) -> Result<Outcome, Error> {
    match &args.action {
        ReportAction::Merge(merge) => merge_reports(cli, merge),
    }
}

fn merge_reports(cli: &Cli, args: &MergeArgs) -> Result<Outcome, Error> {
    let mut reports = Vec::new();
    for path in &args.reports {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("{shown}: {e}")))?;
        let report: RunReport = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "{shown}: not a drydock JSON report ({e}); merge the output of `drydock run --format json`"
            ))
        })?;
        reports.push((shown, report));
    }
    let merged =
        merge::merge(reports, args.fail_on_flaky).map_err(|e| Error::Usage(e.to_string()))?;
    let mut notes = Vec::new();
    if let Some(file) = &args.rerun_flaky {
        let units = merge::rerun(&merged, args.rerun_threshold);
        let list: String = units.iter().map(|u| format!("{u}\n")).collect();
        std::fs::write(file, &list)
            .map_err(|e| Error::Usage(format!("writing {}: {e}", file.display())))?;
        if !units.is_empty() {
            let flags: Vec<String> = units.iter().map(|u| format!("--unit {u}")).collect();
            notes.push(format!(
                "{} unit(s) failed, few enough to be run once more for flakiness: drydock run {} --json rerun.json, then merge again with rerun.json last",
                units.len(),
                flags.join(" ")
            ));
        } else if !merged.failed_units.is_empty() {
            notes.push(format!(
                "{} unit(s) failed, more than {:.0}% of the units: not a flake; nothing to rerun",
                merged.failed_units.len(),
                args.rerun_threshold * 100.0
            ));
        }
    }
    let verdict = merged.report.verdict;
    let mut outcome = reported(merged.report, verdict, &args.reports_out, None);
    if !notes.is_empty() {
        let note = notes.join("\n");
        if json(cli) {
            outcome.error = Some(note);
        } else {
            outcome.text = Some(note);
        }
    }
    Ok(outcome)
}
