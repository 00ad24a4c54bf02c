//! `drydock run`: images, then the fresh and upgrade scenarios concurrently, idempotence, the
//! state diff, and cleanup on every path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::production;
use super::scenario::{ScenarioRun, Scenarios};
use super::session::Session;
use crate::check::Selection;
use crate::config::{Check, Project};
use crate::docker::Engine;
use crate::error::Error;
use crate::event::{Ending, Events, Scope};
use crate::image;
use crate::outcome::Verdict;
use crate::report::{
    Command, DiffReport, ImagesReport, InfrastructureError, KeptContainer, RunReport,
    SnapshotReport, Timings,
};
use crate::state::{diff, snapshot, Manifest};

/// What `drydock run` was asked to do.
pub struct RunOptions {
    /// The project.
    pub project: Project,
    /// Its checks.
    pub checks: Vec<Check>,
    /// Which checks.
    pub selection: Selection,
    /// Keep the containers.
    pub keep: bool,
    /// How many times a scenario is retried after an infrastructure failure.
    pub retries: u32,
    /// The committed snapshot to compare with, and whether differences fail.
    pub snapshot: Option<(PathBuf, bool)>,
    /// Provisioning timeout override.
    pub provision_timeout: Option<Duration>,
}

impl RunOptions {
    /// Every check, no infrastructure retry, containers removed, no snapshot.
    pub fn new(project: Project, checks: Vec<Check>) -> Self {
        RunOptions {
            project,
            checks,
            selection: Selection::default(),
            keep: false,
            retries: 0,
            snapshot: None,
            provision_timeout: None,
        }
    }
}

/// Runs the pipeline. Containers are removed on every path (unless `keep`), also when the
/// token is cancelled, which ends the run with [`Error::Interrupted`].
pub async fn run(
    engine: &Engine,
    options: RunOptions,
    events: &Events,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<RunReport, Error> {
    let secrets = options.project.provision.secrets();
    let session = Session::start(engine, &options.project.name, events, secrets, cancel);
    let (result, cleanup) = session
        .finish(options.keep, pipeline(&session, &options))
        .await;
    let mut report = result?;
    report.kept = cleanup
        .kept
        .into_iter()
        .map(|(scenario, id)| KeptContainer { scenario, id })
        .collect();
    report.timings_ms.cleanup = cleanup.elapsed.as_millis() as u64;
    report.duration_ms = session.elapsed().as_millis() as u64;
    report.mask(&session.secrets);
    Ok(report)
}

async fn pipeline(session: &Session, options: &RunOptions) -> Result<RunReport, Error> {
    let project = &options.project;
    let engine = &session.engine;
    let events = &session.events;
    let mut timings = Timings::default();
    let images_started = Instant::now();
    crate::provision::preflight(&project.provision.kind)?;
    preflight_disk(engine).await?;
    let removed = super::janitor::sweep(engine, Some(&project.name), false).await?;
    if removed > 0 {
        events.note(
            &Scope::Images,
            format!("removed {removed} container(s) left by earlier runs whose process is gone"),
        );
    }
    let default = image::ensure_default(engine, project, events).await?;
    timings.images = images_started.elapsed().as_millis() as u64;

    let ignore = super::capture::rules(&project.diff).map_err(Error::Usage)?;
    let scenarios = Scenarios {
        session,
        project,
        checks: &options.checks,
        selection: &options.selection,
        ignore,
        timeout: options
            .provision_timeout
            .unwrap_or(project.provision.timeout),
    };

    let fresh = retrying(options.retries, session, "fresh", || {
        scenarios.run(&default.tag, "fresh", &project.root, true)
    });
    let upgrade = async {
        let production_started = Instant::now();
        let resolved = production::resolve(session, project, &default, scenarios.timeout).await;
        let production_ms = production_started.elapsed().as_millis() as u64;
        let production = match resolved {
            Ok(p) => p,
            Err(e) => return (Err(e), production_ms),
        };
        events.note(
            &Scope::Production,
            format!("production image: {}", production.why),
        );
        let run = retrying(options.retries, session, "upgrade", || {
            scenarios.run(&production.image, "upgrade", &project.root, false)
        })
        .await;
        (Ok((run, production)), production_ms)
    };
    let (fresh, (upgrade, production_ms)) = tokio::join!(fresh, upgrade);
    timings.production = production_ms;
    let (upgrade, production) = upgrade?;
    let images = ImagesReport {
        default: default.tag.clone(),
        default_built: default.built,
        production: production.image,
        production_source: production.why,
        production_built: production.built,
    };

    timings.fresh = fresh.provision_ms;
    timings.upgrade = upgrade.provision_ms;
    timings.idempotence = fresh.idempotence_ms;
    timings.checks = fresh.checks_ms.max(upgrade.checks_ms);
    timings.diff = fresh.diff_ms.max(upgrade.diff_ms);

    let diff_started = Instant::now();
    let diff = match (&fresh.manifest, &upgrade.manifest) {
        (Some(a), Some(b)) => Some(compare(session, project, a, b)?),
        _ => None,
    };
    let snapshot = match (&options.snapshot, &fresh.manifest) {
        (Some((file, locked)), Some(manifest)) => Some(compare_snapshot(file, *locked, manifest)),
        _ => None,
    };
    timings.diff += diff_started.elapsed().as_millis() as u64;

    let mut scenarios = vec![fresh.report, upgrade.report];
    scenarios.extend(fresh.idempotence);
    let verdict = Verdict::all(
        scenarios
            .iter()
            .map(|s| s.status)
            .chain(diff.as_ref().map(|d| d.status))
            .chain(snapshot.as_ref().map(|s| s.status)),
    );
    let error = (verdict == Verdict::Error).then(|| {
        let failing = scenarios.iter().find(|s| s.status == Verdict::Error);
        InfrastructureError {
            part: failing
                .and_then(|s| s.provision.as_ref())
                .and_then(|p| p.infrastructure.clone())
                .unwrap_or_else(|| "infrastructure".to_string()),
            message: failing
                .and_then(|s| s.message.clone())
                .unwrap_or_else(|| "an infrastructure error prevented a verdict".into()),
        }
    });
    Ok(RunReport {
        verdict,
        images,
        scenarios,
        diff,
        snapshot,
        error,
        timings_ms: timings,
        ..RunReport::new(Command::Run, &project.name, &session.run_id)
    })
}

/// Fresh against upgrade.
fn compare(
    session: &Session,
    project: &Project,
    fresh: &Manifest,
    upgrade: &Manifest,
) -> Result<DiffReport, Error> {
    let started = Instant::now();
    session
        .events
        .stage(&Scope::Diff, "comparing fresh and upgrade");
    let allow = diff::allow_set(&project.diff.allow)
        .map_err(|e| Error::Usage(format!("diff.allow: {e}")))?;
    let comparison = diff::compare(fresh, upgrade, &allow, ("fresh", "upgrade"));
    let report = diff_report(comparison, [fresh.entries.len(), upgrade.entries.len()]);
    session.events.finished(
        &Scope::Diff,
        Ending::Judged(report.status),
        started.elapsed(),
    );
    Ok(report)
}

/// The report's form of a comparison, with the number of paths each side had.
pub fn diff_report(comparison: diff::Comparison, compared: [usize; 2]) -> DiffReport {
    DiffReport {
        status: comparison.verdict(),
        only_in_fresh: comparison.only_left,
        only_in_upgrade: comparison.only_right,
        changed: comparison.changed,
        allowed: comparison.allowed,
        normalised: comparison.normalised,
        compared,
    }
}

/// Below this much free space where the engine keeps images, a run would fail half-way.
const MIN_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Refuses to start when the engine's disk is nearly full (a local engine only: the data root
/// must be visible from here).
async fn preflight_disk(engine: &Engine) -> Result<(), Error> {
    let Some(root) = engine.info_data_root().await else {
        return Ok(());
    };
    let Ok(out) = crate::process::piped("df")
        .args(["-Pk", &root])
        .output()
        .await
    else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let available = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024);
    match available {
        Some(free) if free < MIN_FREE_BYTES => Err(Error::Infrastructure {
            part: "disk".into(),
            message: format!(
                "only {:.1} GiB free under {root}, where the engine keeps images and containers; free some space (`drydock clean --images`, `docker system prune`) and run again",
                free as f64 / (1024.0 * 1024.0 * 1024.0)
            ),
        }),
        _ => Ok(()),
    }
}

/// Runs a scenario, and again on a new container after an infrastructure error, up to
/// `retries` more times with a growing pause. Assertion failures are never retried.
async fn retrying<F, Fut>(
    retries: u32,
    session: &Session,
    name: &str,
    mut attempt: F,
) -> ScenarioRun
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ScenarioRun>,
{
    let mut tries = 0;
    loop {
        let mut run = attempt().await;
        tries += 1;
        run.report.attempts = tries;
        if run.report.status != Verdict::Error || tries > retries {
            return run;
        }
        if let Some(c) = &run.container {
            session.janitor.remove(c).await;
        }
        session.events.note(
            &Scope::Scenario(name.into()),
            format!("infrastructure error; retrying ({tries}/{retries})"),
        );
        tokio::time::sleep(Duration::from_secs(2 * u64::from(tries))).await;
    }
}

fn compare_snapshot(file: &Path, locked: bool, manifest: &Manifest) -> SnapshotReport {
    let committed = std::fs::read_to_string(file).unwrap_or_default();
    let differences = snapshot::differences(&committed, &snapshot::render(manifest));
    SnapshotReport {
        file: file.display().to_string(),
        status: if locked && !differences.is_empty() {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        locked,
        differences,
    }
}
