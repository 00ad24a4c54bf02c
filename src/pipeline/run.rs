//! `drydock run`: images, then the fresh and upgrade scenarios concurrently, idempotence, the
//! state diff, and cleanup on every path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::production;
use super::scenario::{ScenarioRun, Scenarios};
use super::session::Session;
use crate::check::Selection;
use crate::config::{Check, Host, Project};
use crate::docker::Engine;
use crate::error::Error;
use crate::event::{Ending, Events, Scope};
use crate::image;
use crate::outcome::{PathChange, Verdict};
use crate::report::{
    Command, DiffReport, HostReport, ImagesReport, InfrastructureError, KeptContainer, RunReport,
    SnapshotReport, Timings, UnmatchedPlay,
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
    let session = Session::start(engine, &options.project.name, events, secrets, cancel)
        .boot(&options.project.default_image);
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
    let hosts = hosts(project, &options.checks).await?;
    preflight_disk(engine).await?;
    let removed = super::janitor::sweep(engine, Some(&project.name), Default::default())
        .await?
        .removed;
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
        hosts: &hosts,
        checks: &options.checks,
        selection: &options.selection,
        ignore,
        timeout: options
            .provision_timeout
            .unwrap_or(project.provision.timeout),
    };

    let defaults = vec![default.tag.clone(); hosts.len()];
    let fresh = retrying(options.retries, session, "fresh", || {
        scenarios.run(&defaults, "fresh", &project.root, true)
    });
    let upgrade = async {
        let production_started = Instant::now();
        let resolved =
            production::resolve(session, project, &hosts, &default, scenarios.timeout).await;
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
            scenarios.run(&production.images, "upgrade", &project.root, false)
        })
        .await;
        (Ok((run, production)), production_ms)
    };
    let (fresh, (upgrade, production_ms)) = tokio::join!(fresh, upgrade);
    timings.production = production_ms;
    if let Some(message) = &fresh.config_error {
        return Err(Error::Usage(message.clone()));
    }
    // Without a production image the upgrade path is not judged, but the fresh verdict stands.
    let (upgrade, production, production_error) = match upgrade {
        Ok((run, production)) => (run, Some(production), None),
        Err(e) if e.kind() == crate::error::Kind::Infrastructure => {
            let message = format!("{e}; the upgrade path was not judged");
            let run = ScenarioRun::not_started("upgrade", message);
            (
                run,
                None,
                Some(InfrastructureError {
                    part: e.part(),
                    message: e.to_string(),
                }),
            )
        }
        Err(e) => return Err(e),
    };
    if let Some(message) = &upgrade.config_error {
        return Err(Error::Usage(message.clone()));
    }
    let images = ImagesReport {
        default: default.tag.clone(),
        default_built: default.built,
        production: production
            .as_ref()
            .map(|p| p.images.join(", "))
            .unwrap_or_default(),
        production_source: production
            .as_ref()
            .map(|p| p.why.clone())
            .unwrap_or_else(|| "none: the production image could not be built".into()),
        production_built: production.as_ref().is_some_and(|p| p.built),
    };

    timings.fresh = fresh.provision_ms;
    timings.upgrade = upgrade.provision_ms;
    timings.idempotence = fresh.idempotence_ms;
    timings.reboot = fresh.reboot_ms.max(upgrade.reboot_ms);
    timings.checks = fresh.checks_ms.max(upgrade.checks_ms);
    timings.diff = fresh.diff_ms.max(upgrade.diff_ms);

    let diff_started = Instant::now();
    let diff = if fresh.manifests.is_empty() || upgrade.manifests.is_empty() {
        None
    } else {
        Some(compare(
            session,
            project,
            &fresh.manifests,
            &upgrade.manifests,
        )?)
    };
    let snapshot = match &options.snapshot {
        Some((file, locked)) if !fresh.manifests.is_empty() => {
            let state = super::capture::combined(fresh.manifests.clone());
            Some(compare_snapshot(file, *locked, &state))
        }
        _ => None,
    };
    timings.diff += diff_started.elapsed().as_millis() as u64;

    let mut unmatched_plays: Vec<UnmatchedPlay> = Vec::new();
    for p in fresh.unmatched.iter().chain(&upgrade.unmatched) {
        let play = UnmatchedPlay {
            play: p.play.clone(),
            pattern: p.pattern.clone(),
            file: p.file.clone(),
            line: p.line,
        };
        if !unmatched_plays.contains(&play) {
            unmatched_plays.push(play);
        }
    }
    let mut scenarios = vec![fresh.report, upgrade.report];
    scenarios.extend(fresh.idempotence);
    scenarios.extend(fresh.reboot);
    scenarios.extend(upgrade.reboot);
    let verdict = Verdict::all(
        scenarios
            .iter()
            .map(|s| s.status)
            .chain(diff.as_ref().map(|d| d.status))
            .chain(snapshot.as_ref().map(|s| s.status)),
    );
    let error = (verdict == Verdict::Error).then(|| {
        let failing = scenarios.iter().find(|s| s.status == Verdict::Error);
        production_error
            .clone()
            .unwrap_or_else(|| InfrastructureError {
                part: failing
                    .and_then(|s| s.provision.as_ref())
                    .and_then(|p| p.infrastructure.clone())
                    .unwrap_or_else(|| "infrastructure".to_string()),
                message: failing
                    .and_then(|s| s.message.clone())
                    .unwrap_or_else(|| "an infrastructure error prevented a verdict".into()),
            })
    });
    Ok(RunReport {
        verdict,
        images,
        scenarios,
        diff,
        snapshot,
        error,
        timings_ms: timings,
        hosts: hosts
            .iter()
            .map(|h| HostReport {
                name: h.name.clone(),
                groups: h.groups.clone(),
            })
            .collect(),
        unmatched_plays,
        ..RunReport::new(Command::Run, &project.name, &session.run_id)
    })
}

/// The hosts each scenario stands up; every check's `hosts:` must name one of them or a group.
async fn hosts(project: &Project, checks: &[Check]) -> Result<Vec<Host>, Error> {
    let hosts = crate::provision::inventory::hosts(project).await?;
    if let Some((check, name)) = crate::check::unknown_host(checks, &hosts) {
        let mut known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        known.extend(
            hosts
                .iter()
                .flat_map(|h| h.groups.iter().map(String::as_str)),
        );
        known.sort();
        known.dedup();
        return Err(Error::Usage(format!(
            "{}:{}: `hosts`: check `{}` names `{name}`, which is neither a host nor a group of this project (known: {})",
            check.file.display(),
            check.line,
            check.name,
            known.join(", ")
        )));
    }
    Ok(hosts)
}

/// Fresh against upgrade, host by host.
fn compare(
    session: &Session,
    project: &Project,
    fresh: &[(String, Manifest)],
    upgrade: &[(String, Manifest)],
) -> Result<DiffReport, Error> {
    let started = Instant::now();
    session
        .events
        .stage(&Scope::Diff, "comparing fresh and upgrade");
    let allow = diff::allow_set(&project.diff.allow)
        .map_err(|e| Error::Usage(format!("diff.allow: {e}")))?;
    let per_host: Vec<DiffReport> = fresh
        .iter()
        .zip(upgrade)
        .map(|((host, a), (_, b))| {
            let comparison = diff::compare(a, b, &allow, ("fresh", "upgrade"));
            DiffReport {
                host: Some(host.clone()),
                ..diff_report(comparison, [a.entries.len(), b.entries.len()])
            }
        })
        .collect();
    let report = combine(per_host);
    session.events.finished(
        &Scope::Diff,
        Ending::Judged(report.status),
        started.elapsed(),
    );
    Ok(report)
}

/// The whole run's diff from the hosts' diffs: one host's fields as they are, several hosts'
/// as `HOST:/path`.
pub fn combine(hosts: Vec<DiffReport>) -> DiffReport {
    let several = hosts.len() > 1;
    let named = |host: &Option<String>, path: &str| match (several, host) {
        (true, Some(h)) => format!("{h}:{path}"),
        _ => path.to_string(),
    };
    let mut all = DiffReport {
        host: None,
        status: Verdict::all(hosts.iter().map(|h| h.status)),
        only_in_fresh: Vec::new(),
        only_in_upgrade: Vec::new(),
        changed: Vec::new(),
        allowed: Vec::new(),
        normalised: Vec::new(),
        compared: [0, 0],
        hosts: Vec::new(),
    };
    for h in &hosts {
        all.only_in_fresh
            .extend(h.only_in_fresh.iter().map(|p| named(&h.host, p)));
        all.only_in_upgrade
            .extend(h.only_in_upgrade.iter().map(|p| named(&h.host, p)));
        all.changed.extend(h.changed.iter().map(|c| PathChange {
            path: named(&h.host, &c.path),
            ..c.clone()
        }));
        all.allowed
            .extend(h.allowed.iter().map(|p| named(&h.host, p)));
        all.normalised
            .extend(h.normalised.iter().map(|p| named(&h.host, p)));
        all.compared[0] += h.compared[0];
        all.compared[1] += h.compared[1];
    }
    all.hosts = hosts;
    all
}

/// The report's form of a comparison, with the number of paths each side had.
pub fn diff_report(comparison: diff::Comparison, compared: [usize; 2]) -> DiffReport {
    DiffReport {
        host: None,
        status: comparison.verdict(),
        only_in_fresh: comparison.only_left,
        only_in_upgrade: comparison.only_right,
        changed: comparison.changed,
        allowed: comparison.allowed,
        normalised: comparison.normalised,
        compared,
        hosts: Vec::new(),
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
        for machine in &run.machines {
            session.janitor.remove(&machine.container).await;
        }
        session.janitor.remove_network(name).await;
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
