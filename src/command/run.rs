//! `drydock run`: the policy around the pipeline — nothing selected is exit 4, `--locked`
//! needs a committed snapshot, `--fail-on-flaky` turns a flaky pass into a failure.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::output::{playbook_of, reported};
use super::watch::history_path;
use super::{connect, load_project, Outcome};
use crate::check::Selection;
use crate::cli::{Cli, RunArgs};
use crate::config;
use crate::error::Error;
use crate::event::{Events, Scope};
use crate::history::{self, History, RunRow};
use crate::outcome::Verdict;
use crate::pipeline::run::RunOptions;
use crate::report::{self, RunReport};
use crate::state::snapshot;

/// `drydock run`.
pub async fn run(
    cli: &Cli,
    args: &RunArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let mut project = load_project(cli)?;
    if args.reboot {
        if project.default_image.init != config::Init::Systemd {
            return Err(Error::Usage(format!(
                "--reboot: {}",
                config::REBOOT_NEEDS_SYSTEMD
            )));
        }
        project.reboot = true;
    }
    let checks = config::load_checks(&project)?;
    let selection = Selection::from(&args.select);
    if !checks.iter().any(|c| selection.selects(c)) {
        return Err(Error::NothingToRun(
            "the selection (--tag/--skip-tag/--filter) matches no check".into(),
        ));
    }
    let snapshot_file = project.root.join(snapshot::FILE_NAME);
    let snapshot = snapshot_file
        .is_file()
        .then_some((snapshot_file, args.locked));
    if args.locked && snapshot.is_none() {
        return Err(Error::Usage(format!(
            "--locked needs a committed {} in {}; write one with `drydock snapshot`",
            snapshot::FILE_NAME,
            project.root.display()
        )));
    }
    let engine = connect(cli, events, &cancel).await?;
    let playbook = playbook_of(&project);
    let history = history_path(&project, args.history.as_ref());
    let retention = project.watch.retention.unwrap_or(history::RETENTION);
    let options = RunOptions {
        project,
        checks,
        selection,
        keep: args.keep,
        retries: args.retries,
        snapshot,
        provision_timeout: args.provision_timeout,
    };
    let report = crate::pipeline::run::run(&engine, options, events, cancel).await?;
    record(&history, retention, &report, events);
    let verdict = verdict(&report, args.fail_on_flaky);
    Ok(reported(report, verdict, &args.reports, playbook))
}

/// Records the run in the history store, for `drydock serve`, keeping `retention` of runs.
/// A store that cannot take it costs the run nothing: the report is still printed and
/// written; a note says what failed.
fn record(path: &Path, retention: Duration, report: &RunReport, events: &Events) {
    let now = history::now_ms();
    let row = RunRow {
        run_id: report.run_id.clone(),
        at: now,
        project: report.project.clone(),
        command: "run".into(),
        verdict: report.verdict.as_str().into(),
        duration_ms: report.duration_ms as i64,
    };
    let keep_after = now - retention.as_millis() as i64;
    // The verdict does not depend on the store: a store that cannot take the run is a note.
    let recorded = History::open(path)
        .and_then(|store| store.record_run(&row, &report::to_json(report), keep_after));
    if let Err(e) = recorded {
        events.note(
            &Scope::Scenario("history".into()),
            format!("this run was not recorded in the history store: {e}"),
        );
    }
}

/// The verdict the exit code follows: the report's, except that with `--fail-on-flaky` a pass
/// with a check that passed only on a retry fails.
fn verdict(report: &RunReport, fail_on_flaky: bool) -> Verdict {
    let flaky = report
        .scenarios
        .iter()
        .flat_map(|s| &s.checks)
        .any(|c| c.flaky);
    if fail_on_flaky && flaky && report.verdict == Verdict::Pass {
        Verdict::Fail
    } else {
        report.verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::CheckResult;
    use crate::report::{Command, ScenarioReport};

    fn report_with(flaky: bool) -> RunReport {
        let mut scenario = ScenarioReport::new("fresh");
        scenario.checks.push(CheckResult {
            name: "page".into(),
            kind: "http".into(),
            status: Verdict::Pass,
            message: String::new(),
            flaky,
            file: "tests/web.yaml".into(),
            line: 1,
            host: None,
        });
        let mut report = RunReport::new(Command::Run, "hello", "r1");
        report.scenarios.push(scenario);
        report
    }

    #[test]
    fn a_flaky_pass_fails_only_when_asked() {
        assert_eq!(verdict(&report_with(true), true), Verdict::Fail);
        assert_eq!(verdict(&report_with(true), false), Verdict::Pass);
        assert_eq!(verdict(&report_with(false), true), Verdict::Pass);
    }
}
