//! `drydock check TARGET`: the project's checks against a running container, an image, or
//! the machine drydock runs on (`local`).

use tokio_util::sync::CancellationToken;

use super::output::reported;
use super::{connect, load_project, Outcome};
use crate::check::{self, Selection};
use crate::cli::{CheckArgs, Cli};
use crate::error::Error;
use crate::event::{Ending, Events, Scope};
use crate::outcome::Verdict;
use crate::pipeline::janitor::Boot;
use crate::pipeline::session::Session;
use crate::pipeline::target::Target;
use crate::report::{Command, RunReport, ScenarioReport};

/// `drydock check`.
pub async fn check(
    cli: &Cli,
    args: &CheckArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let project = load_project(cli)?;
    let checks = crate::check::load_checks(&project)?;
    // `local`: the machine drydock runs on; otherwise a container or an image.
    let target =
        match args.target.as_str() {
            "local" => None,
            text => Some(Target::parse(text).map_err(|e| {
                Error::Usage(format!("{e}, or local (the machine drydock runs on)"))
            })?),
        };
    let label = target
        .as_ref()
        .map(Target::label)
        .unwrap_or_else(|| "local".to_string());
    let selection = Selection::from(&args.select);
    let engine = connect(cli, events, &cancel).await?;
    let selected = check::for_scenario(&checks, &selection, args.scenario.as_deref());
    if selected.is_empty() {
        return Err(Error::NothingToRun("the selection matches no check".into()));
    }
    let secrets = project.provision.secrets();
    let session = Session::start(&engine, &project.name, events, secrets, cancel);
    // An image target starts as the project's (first) platform's containers do.
    let boot = Boot::of(&project.platforms[0].image);
    let scope = Scope::Scenario("check".into());
    let results = session
        .guard(async {
            let runner = match &target {
                Some(target) => {
                    let container = target.start(&session, "check", &boot).await?;
                    check::Runner::container(&engine, &container)
                }
                None => check::Runner::at(check::runner::Place::Local),
            };
            session
                .events
                .stage(&scope, format!("{} checks on {label}", selected.len()));
            Ok(check::evaluate_on(&runner, &selected, &scope, &session.events).await)
        })
        .await?;
    let status = Verdict::all(results.iter().map(|c| c.status));
    let failed = results.iter().filter(|c| c.status == Verdict::Fail).count();
    let errors = results
        .iter()
        .filter(|c| c.status == Verdict::Error)
        .count();
    let elapsed = session.elapsed();
    session
        .events
        .finished(&scope, Ending::Judged(status), elapsed);
    let mut report = RunReport::new(Command::Check, &project.name, &session.run_id);
    report.verdict = status;
    report.scenarios.push(ScenarioReport {
        name: crate::outcome::ScenarioKind::Target(label),
        platform: None,
        status,
        provision: None,
        message: match (failed, errors) {
            (0, 0) => None,
            (f, 0) => Some(format!("{f} of {} check(s) failed", results.len())),
            (f, e) => Some(format!(
                "{f} failed, {e} could not be evaluated, of {} check(s)",
                results.len()
            )),
        },
        checks: results,
        changed_paths: Vec::new(),
        changes: Vec::new(),
        written_by: Default::default(),
        attempts: 1,
        duration_ms: elapsed.as_millis() as u64,
    });
    report.timings_ms.checks = elapsed.as_millis() as u64;
    report.duration_ms = elapsed.as_millis() as u64;
    Ok(reported(report, status, &args.reports, None))
}
