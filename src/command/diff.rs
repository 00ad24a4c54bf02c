//! `drydock diff A B`: the filesystem state of two containers or images, compared.

use tokio_util::sync::CancellationToken;

use super::output::reported;
use super::{connect, load_project, Outcome};
use crate::cli::{Cli, DiffArgs};
use crate::config;
use crate::error::Error;
use crate::event::{Ending, Events, Scope};
use crate::pipeline::capture;
use crate::pipeline::janitor::Boot;
use crate::pipeline::run::diff_report;
use crate::pipeline::session::Session;
use crate::pipeline::target::Target;
use crate::report::{Command, RunReport};
use crate::secret::Secrets;
use crate::state::{diff, Manifest};

/// `drydock diff`.
pub async fn diff(
    cli: &Cli,
    args: &DiffArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let a = Target::parse(&args.a).map_err(Error::Usage)?;
    let b = Target::parse(&args.b).map_err(Error::Usage)?;
    // A project is optional here: its settings apply when there is one.
    let project = match &cli.global.config {
        Some(_) => Some(load_project(cli)?),
        None => std::env::current_dir()
            .ok()
            .and_then(|c| config::discover(&c).ok())
            .map(|p| config::load_project(&p))
            .transpose()?,
    };
    let mut settings = project.as_ref().map(|p| p.diff.clone()).unwrap_or_default();
    if !args.paths.is_empty() {
        settings.paths = args.paths.clone();
    }
    settings.ignore.extend(args.ignore.iter().cloned());
    let name = project
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "diff".into());
    let engine = connect(cli, events, &cancel).await?;
    let session = Session::start(&engine, &name, events, Secrets::default(), cancel);
    let ignore = capture::rules(&settings).map_err(Error::Usage)?;
    let boot = project
        .as_ref()
        .map(|p| Boot::of(&p.platforms[0].image))
        .unwrap_or_default();
    let allow =
        diff::allow_set(&settings.allow).map_err(|e| Error::Usage(format!("diff.allow: {e}")))?;
    session.events.stage(
        &Scope::Diff,
        format!("reading {} and {}", a.label(), b.label()),
    );
    let boot = &boot;
    let read = |target: &'static str, which: Target| {
        let session = &session;
        let ignore = ignore.clone();
        let paths = &settings.paths;
        async move {
            let container = which.start(session, target, boot).await?;
            capture::manifest_of(&session.engine, &container, paths, ignore)
                .await
                .map_err(|message| Error::Infrastructure {
                    part: "docker engine".into(),
                    message: format!("reading the state of {}: {message}", which.label()),
                })
        }
    };
    let (left, right): (Manifest, Manifest) = session
        .guard(async { tokio::try_join!(read("diff-a", a.clone()), read("diff-b", b.clone())) })
        .await?;
    let comparison = diff::compare(&left, &right, &allow, ("a", "b"));
    let diff = diff_report(comparison, [left.entries.len(), right.entries.len()]);
    let elapsed = session.elapsed();
    session
        .events
        .finished(&Scope::Diff, Ending::Judged(diff.status), elapsed);
    let mut report = RunReport::new(Command::Diff, &name, &session.run_id);
    report.verdict = diff.status;
    report.diff = Some(diff);
    report.timings_ms.diff = elapsed.as_millis() as u64;
    report.duration_ms = elapsed.as_millis() as u64;
    let verdict = report.verdict;
    Ok(reported(report, verdict, &args.reports, None))
}
