//! The commands, one file each. A command takes its parsed arguments and returns an
//! [`Outcome`]: what to print and how it ended. Run policy (what counts as nothing to run, when
//! a flaky pass fails, which report files a failed start still writes) lives here, so the
//! binary only parses, renders and maps [`Exit`] to an exit code.

mod check;
mod checks;
mod clean;
mod describe;
mod diff;
mod doctor;
mod hook;
mod init;
mod list;
mod output;
mod promote;
mod report;
mod run;
mod serve;
mod snapshot;
mod suggest;
mod watch;

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, Format, SelectArgs, UnitArgs};
use crate::config::{self, Project};
use crate::docker::Engine;
use crate::error::{Error, Kind};
use crate::event::{Event, Events};
use crate::outcome::Verdict;
use crate::plan::Plan;
use crate::report::RunReport;

/// How a command ended; the binary gives each one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Verdict `pass`, or a command that did what it was asked.
    Pass,
    /// Verdict `fail`.
    Fail,
    /// Bad usage or configuration.
    Usage,
    /// Verdict `error`: the infrastructure failed.
    Infrastructure,
    /// The selection matched nothing to run.
    NothingToRun,
    /// Interrupted by a signal.
    Interrupted,
}

impl From<Verdict> for Exit {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Pass => Exit::Pass,
            Verdict::Fail => Exit::Fail,
            Verdict::Error => Exit::Infrastructure,
            // Nothing was judged, nothing failed.
            Verdict::Skipped => Exit::Pass,
        }
    }
}

impl From<Kind> for Exit {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Failure => Exit::Fail,
            Kind::Usage => Exit::Usage,
            Kind::Infrastructure => Exit::Infrastructure,
            Kind::NothingToRun => Exit::NothingToRun,
            Kind::Interrupted => Exit::Interrupted,
        }
    }
}

/// What a command produced.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub exit: Exit,
    /// The report to print (the summary, or JSON with `--format json`).
    pub report: Option<Box<RunReport>>,
    /// Plain text for stdout (commands without a report).
    pub text: Option<String>,
    /// GitHub Actions workflow commands (annotations), printed before the report.
    pub annotations: Vec<String>,
    /// What went wrong, worded for stderr.
    pub error: Option<String>,
}

impl Outcome {
    fn text(text: String, exit: Exit) -> Outcome {
        Outcome {
            exit,
            report: None,
            text: Some(text),
            annotations: Vec::new(),
            error: None,
        }
    }
}

/// Runs the command `cli` names. Progress goes to `events`; the token cancels the work.
pub async fn execute(cli: &Cli, events: &Events, cancel: CancellationToken) -> Outcome {
    let result = match &cli.command {
        Command::Run(args) => run::run(cli, args, events, cancel).await,
        Command::Check(args) => check::check(cli, args, events, cancel).await,
        Command::Checks(args) => checks::checks(args),
        Command::Suggest(args) => suggest::suggest(cli, args, events, cancel).await,
        Command::Diff(args) => diff::diff(cli, args, events, cancel).await,
        Command::Snapshot(args) => snapshot::snapshot(cli, args, events, cancel).await,
        Command::List(args) => list::list(cli, args).await,
        Command::Report(args) => report::report(cli, args),
        Command::Promote(args) => promote::promote(cli, args, events, cancel).await,
        Command::Hook(args) => hook::hook(cli, args),
        Command::Init(args) => init::init(args).await,
        Command::Doctor => doctor::doctor(cli, events, cancel).await,
        Command::Schema(args) => Ok(describe::schema(args.which)),
        Command::Completions(args) => Ok(describe::completions(args.shell)),
        Command::Man => describe::man(),
        Command::Watch(args) => watch::watch(cli, args, events, cancel).await,
        Command::History(args) => watch::history(cli, args),
        Command::Outages(args) => watch::outages(cli, args),
        Command::Serve(args) => serve::serve(cli, args, events, cancel).await,
        Command::Clean(args) => clean::clean(cli, args, events, cancel).await,
    };
    result.unwrap_or_else(|e| output::failure(cli, &e))
}

/// The project named by `--config`, or discovered from the current folder up.
pub fn load_project(cli: &Cli) -> Result<Project, Error> {
    let path = match &cli.global.config {
        Some(p) => {
            if !p.is_file() {
                return Err(Error::Usage(format!(
                    "--config {}: no such file",
                    p.display()
                )));
            }
            // `--config drydock.yaml` names a file in the current folder: the project is that
            // folder, as discovery would find it (a bare name has an empty parent).
            std::path::absolute(p)
                .map_err(|e| Error::Usage(format!("--config {}: {e}", p.display())))?
        }
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::Usage(format!("cannot read the current folder: {e}")))?;
            config::discover(&cwd)?
        }
    };
    let project = config::load_project(&path)?;
    // The tools drydock starts get a secret only where drydock gives it to them.
    crate::process::hide_from_children(project.secret_variables());
    Ok(project)
}

/// The plan of the project named by `--config` (or discovered) for the checks and units
/// asked for: everything checked before the engine is touched.
pub async fn plan(cli: &Cli, select: &SelectArgs, units: &UnitArgs) -> Result<Plan, Error> {
    plan_of(load_project(cli)?, select, units).await
}

/// The plan of `project` for the checks and units asked for; the inventory is read here.
pub async fn plan_of(
    project: Project,
    select: &SelectArgs,
    units: &UnitArgs,
) -> Result<Plan, Error> {
    let checks = crate::check::load_checks(&project)?;
    let hosts = crate::provision::inventory::hosts(&project).await?;
    Plan::new(
        project,
        checks,
        crate::check::Selection::from(select),
        hosts,
        &units.into(),
    )
}

/// Connects to the engine; with `--wait-for-infra`, keeps trying until the time is up.
pub async fn connect(
    cli: &Cli,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<Engine, Error> {
    let Some(wait) = cli.global.wait_for_infra else {
        return Ok(Engine::connect().await?);
    };
    let deadline = Instant::now() + wait;
    loop {
        match Engine::connect().await {
            Ok(engine) => return Ok(engine),
            Err(e) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(e.into());
                }
                let next = (now + Duration::from_secs(5)).min(deadline);
                while Instant::now() < next {
                    events.send(Event::Waiting {
                        what: "the Docker engine".into(),
                        left: deadline.saturating_duration_since(Instant::now()),
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = cancel.cancelled() => return Err(Error::Interrupted),
                    }
                }
            }
        }
    }
}

/// Whether the JSON report goes to stdout.
fn json(cli: &Cli) -> bool {
    cli.global.format == Format::Json
}
