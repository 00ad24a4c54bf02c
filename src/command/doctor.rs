//! `drydock doctor`: what runs need from this machine and its engine, one line each with what
//! to do; exit 0 when nothing is missing, 3 when something is (2 for a broken drydock.yaml).

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{json, Exit, Outcome};
use crate::cli::Cli;
use crate::error::Error;
use crate::event::Events;
use crate::pipeline::doctor::{examine, Finding, Status};

/// The JSON form.
#[derive(Serialize)]
struct Doctor<'a> {
    verdict: &'static str,
    project: Option<String>,
    checks: &'a [Finding],
}

/// `drydock doctor`.
pub async fn doctor(
    cli: &Cli,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    // Outside a project only the machine is examined; a broken project is said and ends in 2.
    let (project, config) = match super::load_project(cli) {
        Ok(project) => (Some(project), None),
        Err(Error::Config(crate::config::ConfigError::NotFound(_)))
            if cli.global.config.is_none() =>
        {
            (None, None)
        }
        Err(e) => (None, Some(e)),
    };
    let mut findings = examine(project.as_ref(), events, cancel).await;
    if let Some(e) = &config {
        findings.insert(
            0,
            Finding {
                name: "config",
                status: Status::Fail,
                found: e.to_string(),
                fix: Some("fix drydock.yaml as the message says".into()),
            },
        );
    }
    let failed = findings.iter().any(|f| f.status == Status::Fail);
    let exit = match (&config, failed) {
        (Some(_), _) => Exit::Usage,
        (None, true) => Exit::Infrastructure,
        (None, false) => Exit::Pass,
    };
    let text = if json(cli) {
        serde_json::to_string_pretty(&Doctor {
            verdict: if failed { "fail" } else { "pass" },
            project: project.as_ref().map(|p| p.name.clone()),
            checks: &findings,
        })
        .unwrap_or_default()
    } else {
        let about = match (&project, &config) {
            (Some(project), _) => project.name.clone(),
            (None, Some(_)) => "drydock.yaml is invalid: the machine only".to_string(),
            (None, None) => "no drydock.yaml here: the machine only".to_string(),
        };
        render(&about, &findings)
    };
    Ok(Outcome::text(text, exit))
}

/// One line per finding, the fix under it; `about` says what was examined.
fn render(about: &str, findings: &[Finding]) -> String {
    let mut out = format!("drydock doctor · {about}\n\n");
    let width = findings.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in findings {
        let status = match f.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        out.push_str(&format!("  {status:<5}{:<width$}  {}\n", f.name, f.found));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("  {:<5}{:<width$}  → {fix}\n", "", ""));
        }
    }
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    out.push_str(&match failed {
        0 => "\nready: drydock can run here\n".to_string(),
        n => format!(
            "\nnot ready: {n} problem(s) above; runs would end with exit 3 until they are fixed\n"
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_problem_is_followed_by_what_to_do() {
        let findings = vec![
            Finding {
                name: "engine",
                status: Status::Ok,
                found: "version 20.10.24".into(),
                fix: None,
            },
            Finding {
                name: "debootstrap",
                status: Status::Fail,
                found: "not installed".into(),
                fix: Some("sudo apt-get install -y debootstrap".into()),
            },
        ];
        assert_eq!(
            render("hello", &findings),
            "drydock doctor · hello\n\n  ok   engine       version 20.10.24\n  FAIL debootstrap  not installed\n                    → sudo apt-get install -y debootstrap\n\nnot ready: 1 problem(s) above; runs would end with exit 3 until they are fixed\n"
        );
    }
}
