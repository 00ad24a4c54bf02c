//! `drydock run`: the whole fresh / upgrade / idempotence / diff pipeline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::events::{Event, Events, Scope};
use super::janitor::Janitor;
use crate::check::{self, Selection};
use crate::config::{Check, Project};
use crate::docker::Engine;
use crate::error::Error;
use crate::image::{self, production::Resolution};
use crate::provision::{self, Outcome, Status};
use crate::report::{
    ImagesReport, InfrastructureError, KeptContainer, PathChange, ProvisionReport, RunReport,
    ScenarioReport, SnapshotReport, Timings, Verdict,
};
use crate::state::{self, diff, snapshot, Ignore, Manifest};

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

/// A unique id for this run: time and pid.
pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs:x}{:x}", std::process::id())
}

/// What one scenario container ended with.
struct ScenarioRun {
    report: ScenarioReport,
    container: Option<String>,
    manifest: Option<Manifest>,
    /// Only for fresh: the idempotence scenario.
    idempotence: Option<ScenarioReport>,
    provision_ms: u64,
    idempotence_ms: u64,
    checks_ms: u64,
    diff_ms: u64,
}

/// Runs the pipeline. Containers are removed on every path (unless `keep`), also when the
/// token is cancelled, which ends the run with [`Error::Interrupted`].
pub async fn run(
    engine: &Engine,
    options: RunOptions,
    events: &Events,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<RunReport, Error> {
    let run_id = new_run_id();
    let janitor = Arc::new(Janitor::new(engine.clone(), &options.project.name, &run_id));
    let started = Instant::now();
    let secrets: Vec<String> = options
        .project
        .provision
        .env
        .iter()
        .filter(|v| v.secret)
        .map(|v| v.value.clone())
        .collect();
    let events = &events.with_secrets(secrets.clone());
    let body = pipeline(engine, &options, events, &janitor, &run_id);
    let result = tokio::select! {
        r = body => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    let cleanup_started = Instant::now();
    let keep = options.keep && !matches!(result, Err(Error::Interrupted));
    let kept: Vec<KeptContainer> = if keep {
        janitor
            .keep()
            .await
            .into_iter()
            .map(|(scenario, id)| KeptContainer { scenario, id })
            .collect()
    } else {
        janitor.cleanup().await;
        Vec::new()
    };
    let cleanup_ms = cleanup_started.elapsed().as_millis() as u64;
    let mut report = result?;
    report.kept = kept;
    report.timings_ms.cleanup = cleanup_ms;
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.mask(&secrets);
    Ok(report)
}

async fn pipeline(
    engine: &Engine,
    options: &RunOptions,
    events: &Events,
    janitor: &Arc<Janitor>,
    run_id: &str,
) -> Result<RunReport, Error> {
    let project = &options.project;
    let mut timings = Timings::default();
    let images_started = Instant::now();
    provision::preflight(&project.provision.kind)?;
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

    let ignore = Arc::new(
        Ignore::new(project.diff.ignore_defaults, &project.diff.ignore)
            .map_err(|e| Error::Usage(format!("diff.ignore: {e}")))?,
    );
    let timeout = options
        .provision_timeout
        .unwrap_or(project.provision.timeout);

    let mut images = ImagesReport {
        default: default.tag.clone(),
        default_built: default.built,
        ..Default::default()
    };

    let fresh = retrying(options.retries, events, janitor, "fresh", || {
        scenario(
            engine,
            options,
            events,
            janitor,
            &default.tag,
            "fresh",
            &project.root,
            timeout,
            &ignore,
            true,
        )
    });
    let upgrade = async {
        let production_started = Instant::now();
        let resolved = production_image(engine, project, &default, events, janitor, timeout).await;
        let production_ms = production_started.elapsed().as_millis() as u64;
        let (image, why, built) = match resolved {
            Ok(x) => x,
            Err(e) => return (Err(e), production_ms),
        };
        events.note(&Scope::Production, format!("production image: {why}"));
        let run = retrying(options.retries, events, janitor, "upgrade", || {
            scenario(
                engine,
                options,
                events,
                janitor,
                &image,
                "upgrade",
                &project.root,
                timeout,
                &ignore,
                false,
            )
        })
        .await;
        (Ok((run, image, why, built)), production_ms)
    };
    let (fresh, (upgrade, production_ms)) = tokio::join!(fresh, upgrade);
    timings.production = production_ms;
    let (upgrade, production, why, built) = upgrade?;
    images.production = production;
    images.production_source = why;
    images.production_built = built;

    timings.fresh = fresh.provision_ms;
    timings.upgrade = upgrade.provision_ms;
    timings.idempotence = fresh.idempotence_ms;
    timings.checks = fresh.checks_ms.max(upgrade.checks_ms);
    timings.diff = fresh.diff_ms.max(upgrade.diff_ms);

    let diff_started = Instant::now();
    let diff = match (&fresh.manifest, &upgrade.manifest) {
        (Some(a), Some(b)) => {
            events.stage(&Scope::Diff, "comparing fresh and upgrade");
            let allow = diff::allow_set(&project.diff.allow)
                .map_err(|e| Error::Usage(format!("diff.allow: {e}")))?;
            let report = diff::compare(a, b, &allow, ("fresh", "upgrade"))
                .into_report([a.entries.len(), b.entries.len()]);
            events.send(Event::Finished {
                scope: Scope::Diff,
                status: report.status.as_str().into(),
                elapsed: diff_started.elapsed(),
            });
            Some(report)
        }
        _ => None,
    };
    let snapshot = match (&options.snapshot, &fresh.manifest) {
        (Some((file, locked)), Some(manifest)) => Some(compare_snapshot(file, *locked, manifest)),
        _ => None,
    };
    timings.diff += diff_started.elapsed().as_millis() as u64;

    let mut scenarios = vec![fresh.report, upgrade.report];
    if let Some(idem) = fresh.idempotence {
        scenarios.push(idem);
    }
    let mut verdict = scenarios.iter().fold(Verdict::Pass, |v, s| v.and(s.status));
    if let Some(d) = &diff {
        verdict = verdict.and(d.status);
    }
    if let Some(s) = &snapshot {
        verdict = verdict.and(s.status);
    }
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
        ..RunReport::new("run", &project.name, run_id)
    })
}

/// Below this much free space where the engine keeps images, a run would fail half-way.
const MIN_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Refuses to start when the engine's disk is nearly full (a local engine only: the data root
/// must be visible from here).
async fn preflight_disk(engine: &Engine) -> Result<(), Error> {
    let Some(root) = engine.info_data_root().await else {
        return Ok(());
    };
    let Ok(out) = tokio::process::Command::new("df")
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
    events: &Events,
    janitor: &Janitor,
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
            janitor.remove(c).await;
        }
        events.note(
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

/// Resolves the production image, building it when needed. Returns (image, why, built).
async fn production_image(
    engine: &Engine,
    project: &Project,
    default: &image::DefaultImage,
    events: &Events,
    janitor: &Janitor,
    timeout: Duration,
) -> Result<(String, String, bool), Error> {
    let scope = Scope::Production;
    let started = Instant::now();
    // One production build per (default image, commit) on this machine: a concurrent run waits
    // here and then finds the cached image.
    let _lock = image::machine_lock(&format!(
        "production-{}-{}",
        project.name,
        image::short_commit(&default.id.replace("sha256:", ""))
    ))
    .await?;
    let resolution = image::production::resolve(engine, project, default, events).await?;
    let (commit, git_ref, tree, tag) = match resolution {
        Resolution::Ready { image, why } => {
            events.send(Event::Finished {
                scope,
                status: "reused".into(),
                elapsed: started.elapsed(),
            });
            return Ok((image, why, false));
        }
        Resolution::Build {
            commit,
            git_ref,
            tree,
            tag,
        } => (commit, git_ref, tree, tag),
    };
    let short = image::short_commit(&commit).to_string();
    events.stage(&scope, format!("building from {git_ref} @ {short}"));
    let container = janitor.run_container(&default.tag, "production").await?;
    let request = provision::Request {
        kind: &project.provision.kind,
        root: &tree.root,
        container: &container,
        env: &project.provision.env,
        timeout,
        scope: scope.clone(),
    };
    let outcome = provision::run(engine, &request, events).await?;
    if outcome.status != Status::Ok {
        janitor.remove(&container).await;
        let failure = outcome.failure.clone();
        let what = failure
            .as_ref()
            .map(|f| match &f.task {
                Some(t) => format!("task \"{t}\": {}", f.message),
                None => f.message.clone(),
            })
            .unwrap_or_default();
        return Err(Error::Infrastructure {
            part: "production image".into(),
            message: format!(
                "the production image could not be built: provisioning the default image with {git_ref} @ {short} failed ({what}); the upgrade path cannot be judged until the production version provisions, or a production image is promoted"
            ),
        });
    }
    let labels = image::production::labels(project, default, &commit)
        .into_iter()
        .collect();
    engine.commit(&container, &tag, labels).await?;
    janitor.remove(&container).await;
    image::prune_superseded(engine, &project.name, "production-", &tag).await;
    let why = format!(
        "built from {git_ref} @ {short} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    events.send(Event::Finished {
        scope,
        status: "built".into(),
        elapsed: started.elapsed(),
    });
    Ok((tag, why, true))
}

fn provision_report(outcome: &Outcome) -> ProvisionReport {
    ProvisionReport {
        status: outcome.status.as_str().to_string(),
        changed: outcome.changed,
        changed_tasks: outcome.changed_tasks.clone(),
        failed_task: outcome.failure.as_ref().and_then(|f| f.task.clone()),
        message: outcome.failure.as_ref().map(|f| match &f.infrastructure {
            Some(part) => format!(
                "{} [infrastructure: {part}; the change was not judged]",
                f.message
            ),
            None => f.message.clone(),
        }),
        infrastructure: outcome
            .failure
            .as_ref()
            .and_then(|f| f.infrastructure.clone()),
        log: outcome.log.clone(),
        duration_ms: outcome.duration.as_millis() as u64,
    }
}

fn failure_sentence(outcome: &Outcome) -> String {
    match &outcome.failure {
        Some(f) => {
            let task = f
                .task
                .as_ref()
                .map(|t| format!("task \"{t}\" failed: "))
                .unwrap_or_default();
            match &f.infrastructure {
                Some(part) => format!("infrastructure error ({part}) while provisioning: {task}{}; the change was not judged", f.message),
                None => format!("provisioning failed: {task}{}", f.message),
            }
        }
        None => "provisioning failed".into(),
    }
}

/// One scenario: container, provisioning, checks, manifest; for fresh, idempotence too.
#[allow(clippy::too_many_arguments)]
async fn scenario(
    engine: &Engine,
    options: &RunOptions,
    events: &Events,
    janitor: &Janitor,
    image: &str,
    name: &str,
    root: &Path,
    timeout: Duration,
    ignore: &Arc<Ignore>,
    with_idempotence: bool,
) -> ScenarioRun {
    let project = &options.project;
    let scope = Scope::Scenario(name.to_string());
    let started = Instant::now();
    let mut run = ScenarioRun {
        report: ScenarioReport::new(name),
        container: None,
        manifest: None,
        idempotence: None,
        provision_ms: 0,
        idempotence_ms: 0,
        checks_ms: 0,
        diff_ms: 0,
    };
    let finish = |mut run: ScenarioRun, events: &Events| {
        run.report.duration_ms = started.elapsed().as_millis() as u64;
        events.send(Event::Finished {
            scope: Scope::Scenario(run.report.name.clone()),
            status: run.report.status.as_str().into(),
            elapsed: started.elapsed(),
        });
        run
    };
    let error = |mut run: ScenarioRun, message: String| {
        run.report.status = Verdict::Error;
        run.report.message = Some(message);
        run
    };

    events.stage(&scope, format!("starting a container from {image}"));
    let container = match janitor.run_container(image, name).await {
        Ok(c) => c,
        Err(e) => {
            return finish(
                error(
                    run,
                    format!("infrastructure error: {e}; the change was not judged"),
                ),
                events,
            )
        }
    };
    run.container = Some(container.clone());

    events.stage(&scope, "provisioning");
    let request = provision::Request {
        kind: &project.provision.kind,
        root,
        container: &container,
        env: &project.provision.env,
        timeout,
        scope: scope.clone(),
    };
    let provision_started = Instant::now();
    let outcome = match provision::run(engine, &request, events).await {
        Ok(o) => o,
        Err(e) => return finish(error(run, e.to_string()), events),
    };
    run.provision_ms = provision_started.elapsed().as_millis() as u64;
    run.report.provision = Some(provision_report(&outcome));
    match outcome.status {
        Status::Ok => {}
        Status::Failed => {
            run.report.status = Verdict::Fail;
            run.report.message = Some(failure_sentence(&outcome));
            return finish(run, events);
        }
        Status::Infrastructure => {
            let message = failure_sentence(&outcome);
            return finish(error(run, message), events);
        }
    }

    let selected = check::for_scenario(&options.checks, &options.selection, Some(name));
    if !selected.is_empty() {
        events.stage(&scope, format!("checks ({})", selected.len()));
        let checks_started = Instant::now();
        run.report.checks = check::evaluate(engine, &container, &selected, &scope, events).await;
        run.checks_ms = checks_started.elapsed().as_millis() as u64;
        let failed: Vec<&str> = run
            .report
            .checks
            .iter()
            .filter(|c| c.status == Verdict::Fail)
            .map(|c| c.name.as_str())
            .collect();
        let errored = run
            .report
            .checks
            .iter()
            .filter(|c| c.status == Verdict::Error)
            .count();
        if !failed.is_empty() {
            run.report.status = Verdict::Fail;
            run.report.message = Some(format!(
                "{} check(s) failed: {}",
                failed.len(),
                failed.join(", ")
            ));
        } else if errored > 0 {
            run.report.status = Verdict::Error;
            run.report.message = Some(format!("{errored} check(s) could not be evaluated"));
        }
    }

    events.stage(&scope, "reading state");
    let diff_started = Instant::now();
    let manifest =
        match state::capture(engine, &container, &project.diff.paths, ignore.clone()).await {
            Ok(m) => m,
            Err(e) => {
                let message = format!("infrastructure error reading the container's state: {e}");
                return finish(error(run, message), events);
            }
        };
    run.diff_ms = diff_started.elapsed().as_millis() as u64;

    if with_idempotence {
        let idem_scope = Scope::Scenario("idempotence".into());
        events.stage(&idem_scope, "provisioning a second time");
        let idem_started = Instant::now();
        let request = provision::Request {
            scope: idem_scope.clone(),
            ..request
        };
        let second = provision::run(engine, &request, events).await;
        run.idempotence_ms = idem_started.elapsed().as_millis() as u64;
        let mut report = ScenarioReport::new("idempotence");
        match second {
            Err(e) => {
                report.status = Verdict::Error;
                report.message = Some(e.to_string());
            }
            Ok(outcome) => {
                report.provision = Some(provision_report(&outcome));
                match outcome.status {
                    Status::Failed => {
                        report.status = Verdict::Fail;
                        report.message = Some(format!(
                            "the second run failed: {}",
                            failure_sentence(&outcome)
                        ));
                    }
                    Status::Infrastructure => {
                        report.status = Verdict::Error;
                        report.message = Some(failure_sentence(&outcome));
                    }
                    Status::Ok => {
                        let mut problems = Vec::new();
                        if let Some(n) = outcome.changed.filter(|n| *n > 0) {
                            let tasks = outcome
                                .changed_tasks
                                .iter()
                                .map(|t| format!("\"{t}\""))
                                .collect::<Vec<_>>()
                                .join(", ");
                            problems.push(format!(
                                "the provisioner reported {n} change(s) on the second run: {tasks}"
                            ));
                        }
                        events.stage(&idem_scope, "comparing state");
                        match state::capture(
                            engine,
                            &container,
                            &project.diff.paths,
                            ignore.clone(),
                        )
                        .await
                        {
                            Ok(after) => {
                                let allow = diff::allow_set(&[])
                                    .unwrap_or_else(|_| globset::GlobSet::empty());
                                let c =
                                    diff::compare(&manifest, &after, &allow, ("first", "second"));
                                let mut changes: Vec<PathChange> = Vec::new();
                                changes.extend(
                                    c.only_left.iter().map(|p| removed_or_added(p, "removed")),
                                );
                                changes.extend(
                                    c.only_right.iter().map(|p| removed_or_added(p, "added")),
                                );
                                changes.extend(c.changed);
                                changes.sort_by(|a, b| a.path.cmp(&b.path));
                                if !changes.is_empty() {
                                    let paths: Vec<&str> =
                                        changes.iter().take(5).map(|c| c.path.as_str()).collect();
                                    problems.push(format!(
                                        "the second run changed {} path(s): {}{}",
                                        changes.len(),
                                        paths.join(", "),
                                        if changes.len() > 5 { ", ..." } else { "" }
                                    ));
                                }
                                report.changed_paths = changes;
                            }
                            Err(e) => {
                                report.status = Verdict::Error;
                                report.message = Some(format!(
                                    "infrastructure error reading the container's state: {e}"
                                ));
                            }
                        }
                        if !problems.is_empty() {
                            report.status = Verdict::Fail;
                            report.message = Some(problems.join("; "));
                        }
                    }
                }
            }
        }
        report.duration_ms = run.idempotence_ms;
        events.send(Event::Finished {
            scope: idem_scope,
            status: report.status.as_str().into(),
            elapsed: idem_started.elapsed(),
        });
        run.idempotence = Some(report);
    }
    run.manifest = Some(manifest);
    finish(run, events)
}

fn removed_or_added(path: &str, what: &str) -> PathChange {
    PathChange {
        path: path.to_string(),
        fields: vec![what.to_string()],
        unified: None,
        detail: None,
    }
}
