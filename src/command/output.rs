//! What every reporting command does with its report: the `--junit` and `--markdown` files,
//! the GitHub Actions step summary and annotations; and the report CI still gets when a
//! command could not start.

use std::io::Write;
use std::path::Path;

use super::{json, load_project, Exit, Outcome};
use crate::cli::{Cli, Command, ReportArgs};
use crate::config::{self, Project};
use crate::error::{Error, Kind};
use crate::outcome::Verdict;
use crate::report::{self, InfrastructureError, RunReport};

/// The outcome of a command that made `report`, whose exit follows `verdict`: the report files
/// are written, and on GitHub Actions the step summary and annotations too.
pub fn reported(
    report: RunReport,
    verdict: Verdict,
    files: &ReportArgs,
    playbook: Option<(String, String)>,
) -> Outcome {
    match write(&report, files, playbook) {
        Ok(annotations) => Outcome {
            exit: verdict.into(),
            report: Some(Box::new(report)),
            text: None,
            annotations,
            error: None,
        },
        Err(message) => Outcome {
            exit: Exit::Usage,
            report: None,
            text: None,
            annotations: Vec::new(),
            error: Some(format!("error: {message}")),
        },
    }
}

/// The outcome of a command that failed with `e`. An infrastructure failure still gives CI its
/// JUnit `<error>`, step summary and (with `--format json`) JSON report.
pub fn failure(cli: &Cli, e: &Error) -> Outcome {
    let kind = e.kind();
    let mut outcome = Outcome {
        exit: kind.into(),
        report: None,
        text: None,
        annotations: Vec::new(),
        error: Some(match kind {
            Kind::Infrastructure => format!(
                "error: {e}\nverdict: error — {} failed; the change itself was not judged",
                e.part()
            ),
            Kind::Interrupted => format!("drydock: {e}"),
            _ => format!("error: {e}"),
        }),
    };
    if kind != Kind::Infrastructure {
        return outcome;
    }
    let Some((command, files)) = report_files(cli) else {
        return outcome;
    };
    let project = load_project(cli).map(|p| p.name).unwrap_or_default();
    let report = RunReport {
        verdict: Verdict::Error,
        error: Some(InfrastructureError {
            part: e.part(),
            message: e.to_string(),
        }),
        ..RunReport::new(command, &project, "")
    };
    match write(&report, files, None) {
        Ok(annotations) => outcome.annotations = annotations,
        Err(message) => {
            if let Some(error) = &mut outcome.error {
                error.push_str(&format!("\nerror: {message}"));
            }
        }
    }
    if json(cli) {
        outcome.report = Some(Box::new(report));
    }
    outcome
}

/// The report's command and report files of the commands that take them.
fn report_files(cli: &Cli) -> Option<(report::Command, &ReportArgs)> {
    match &cli.command {
        Command::Run(a) => Some((report::Command::Run, &a.reports)),
        Command::Check(a) => Some((report::Command::Check, &a.reports)),
        Command::Diff(a) => Some((report::Command::Diff, &a.reports)),
        Command::Promote(a) => Some((report::Command::Promote, &a.reports)),
        _ => None,
    }
}

/// The playbook (path as shown, text), for annotations at task lines.
pub fn playbook_of(project: &Project) -> Option<(String, String)> {
    match &project.provision.kind {
        config::ProvisionKind::Ansible(settings) => {
            let full = project.root.join(&settings.playbook);
            let text = std::fs::read_to_string(&full).ok()?;
            Some((config::shown_path(&full).display().to_string(), text))
        }
        config::ProvisionKind::Shell { .. } => None,
    }
}

/// Writes the report files; returns the GitHub annotations to print.
fn write(
    report: &RunReport,
    files: &ReportArgs,
    playbook: Option<(String, String)>,
) -> Result<Vec<String>, String> {
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    if let Some(path) = &files.json {
        write(path, &report::to_json(report))?;
    }
    if let Some(path) = &files.junit {
        write(path, &report::junit::render(report))?;
    }
    let markdown = || report::markdown::render(report, report::markdown::LIMIT);
    if let Some(path) = &files.markdown {
        write(path, &markdown())?;
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return Ok(Vec::new());
    }
    if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .map_err(|e| format!("opening GITHUB_STEP_SUMMARY {summary}: {e}"))?;
        writeln!(file, "{}", markdown())
            .map_err(|e| format!("writing GITHUB_STEP_SUMMARY: {e}"))?;
    }
    let playbook = playbook.as_ref().map(|(p, t)| (p.as_str(), t.as_str()));
    Ok(report::github::annotations(report, playbook))
}
