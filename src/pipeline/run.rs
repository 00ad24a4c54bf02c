//! `drydock run`: a plan's units concurrently, each its images, then its fresh and upgrade
//! scenarios concurrently, idempotence and the state diff; one report; cleanup on every path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::production::{self, Jobs, Production, Version};
use super::scenario::{ScenarioRun, Scenarios};
use super::session::Session;
use crate::docker::Engine;
use crate::error::{Error, Kind};
use crate::event::{Ending, Events, Scope};
use crate::image;
use crate::outcome::{ScenarioKind, Verdict};
use crate::plan::{Plan, Unit};
use crate::report::{
    Command, DiffReport, HostReport, ImagesReport, InfrastructureError, KeptContainer, RefImages,
    RunReport, SnapshotReport, Timings, UnmatchedPlay, WrittenBy,
};
use crate::state::{diff, snapshot, Manifest};
use crate::written::Written;

/// What `drydock run` was asked to do.
pub struct RunOptions {
    /// What to run.
    pub plan: Plan,
    /// Keep the containers.
    pub keep: bool,
    /// How many times a scenario is retried after an infrastructure failure.
    pub retries: u32,
    /// The committed snapshot to compare with, and whether differences fail.
    pub snapshot: Option<(PathBuf, bool)>,
    /// Provisioning timeout override.
    pub provision_timeout: Option<Duration>,
    /// How many containers may provision at once (`--jobs`).
    pub jobs: usize,
    /// What is being tested (the commit, a digest of the configuration), for the report.
    pub source: Option<crate::report::Source>,
    /// Whether the scenarios record which task wrote which path (always, but for a benchmark
    /// that measures what it costs).
    pub blame: bool,
}

impl RunOptions {
    /// The plan, no infrastructure retry, containers removed, no snapshot, the default jobs.
    pub fn new(plan: Plan) -> Self {
        RunOptions {
            plan,
            keep: false,
            retries: 0,
            snapshot: None,
            provision_timeout: None,
            jobs: default_jobs(),
            source: None,
            blame: true,
        }
    }
}

/// The default `--jobs`: two provisioning containers per core, no more than one per 2 GiB of
/// memory, at least two. Provisioning waits on the network and on the engine as much as on a
/// CPU.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| (kb / (1024 * 1024)) as usize)
        .unwrap_or(4);
    (cores * 2).min((memory_gib / 2).max(2)).max(2)
}

/// Runs the plan. Containers are removed on every path (unless `keep`), also when the token
/// is cancelled, which ends the run with [`Error::Interrupted`].
pub async fn run(
    engine: &Engine,
    options: RunOptions,
    events: &Events,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<RunReport, Error> {
    let project = &options.plan.project;
    let secrets = project.provision.secrets();
    let session = Session::start(engine, &project.name, events, secrets, cancel);
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

/// What one unit of the plan came to.
struct UnitRun {
    platform: Option<String>,
    images: ImagesReport,
    scenarios: Vec<crate::report::ScenarioReport>,
    diff: Option<DiffReport>,
    upgrade_diffs: Vec<DiffReport>,
    fresh_manifests: Vec<(String, Manifest)>,
    production_error: Option<InfrastructureError>,
    unmatched: Vec<UnmatchedPlay>,
    timings: Timings,
}

async fn pipeline(session: &Session, options: &RunOptions) -> Result<RunReport, Error> {
    let plan = &options.plan;
    let project = &plan.project;
    let engine = &session.engine;
    let events = &session.events;
    super::doctor::required(engine, project).await?;
    let removed = super::janitor::sweep(engine, Some(&project.name), Default::default())
        .await?
        .removed;
    if removed > 0 {
        events.note(
            &Scope::Images,
            format!("removed {removed} container(s) left by earlier runs whose process is gone"),
        );
    }
    let jobs: Jobs = Arc::new(tokio::sync::Semaphore::new(
        options.jobs.clamp(1, production::JOBS_MAX),
    ));
    let ignore = super::capture::rules(&project.diff).map_err(Error::Usage)?;
    let older = older_versions(project).await?;
    let units = futures_util::future::join_all(
        plan.units
            .iter()
            .map(|unit| run_unit(session, options, unit, &older, ignore.clone(), &jobs)),
    )
    .await;
    let several = plan.has_platforms();
    let mut runs = Vec::new();
    for (unit, result) in plan.units.iter().zip(units) {
        match result {
            Ok(run) => runs.push(run),
            // A configuration error stops everything; a platform whose images could not be
            // had is not judged, the others are.
            Err(e) if e.kind() == Kind::Infrastructure && several => {
                runs.push(unit_not_judged(unit, &e));
            }
            Err(e) => return Err(e),
        }
    }
    let mut report = assemble(plan, runs, options)?;
    report.run_id = session.run_id.clone();
    Ok(report)
}

/// What `plan` covered, in `report`: its hosts, platforms and units.
pub fn describe(report: &mut RunReport, plan: &Plan) {
    report.hosts = plan
        .hosts
        .iter()
        .map(|h| HostReport {
            name: h.name.clone(),
            groups: h.groups.clone(),
        })
        .collect();
    if plan.has_platforms() {
        report.platforms = plan
            .units
            .iter()
            .filter_map(|u| u.platform.name.clone())
            .collect();
    }
    report.units = plan.units.iter().map(|u| u.id.clone()).collect();
}

/// The commit each `production.upgrade_from` ref names: a ref that names none stops the run
/// before anything is built.
pub async fn older_versions(
    project: &crate::config::Project,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for git_ref in &project.production.upgrade_from {
        let commit = image::production::resolve_commit(&project.root, git_ref)
            .await
            .map_err(|e| match e {
                image::ImageError::Git(message) => image::ImageError::Git(
                    message.replace("`production.ref` names", "`production.upgrade_from` names"),
                ),
                other => other,
            })?;
        out.push((git_ref.clone(), commit));
    }
    Ok(out)
}

/// A unit whose images could not be had: its scenarios are errors that say why.
fn unit_not_judged(unit: &Unit, e: &Error) -> UnitRun {
    let message = format!(
        "infrastructure error on {}: {e}; the change was not judged there",
        unit.id
    );
    let scenarios = [ScenarioKind::Fresh, ScenarioKind::Upgrade]
        .into_iter()
        .map(|kind| {
            let mut run = ScenarioRun::not_started(kind, message.clone());
            run.report.platform = unit.platform.name.clone();
            run.report
        })
        .collect();
    UnitRun {
        platform: unit.platform.name.clone(),
        images: ImagesReport::default(),
        scenarios,
        diff: None,
        upgrade_diffs: Vec::new(),
        fresh_manifests: Vec::new(),
        production_error: Some(InfrastructureError {
            part: e.part(),
            message: e.to_string(),
        }),
        unmatched: Vec::new(),
        timings: Timings::default(),
    }
}

/// One unit: its default image, then fresh (and idempotence) while each production version
/// (`production.ref`, and every `upgrade_from` ref) is resolved and upgraded, then the state
/// diffs of fresh against each upgrade.
async fn run_unit(
    session: &Session,
    options: &RunOptions,
    unit: &Unit,
    older: &[(String, String)],
    ignore: Arc<crate::state::Ignore>,
    jobs: &Jobs,
) -> Result<UnitRun, Error> {
    let plan = &options.plan;
    let project = &plan.project;
    let platform = unit.platform.name.as_deref();
    let mut timings = Timings::default();
    let images_started = Instant::now();
    let default =
        image::ensure_default(&session.engine, project, &unit.platform, &session.events).await?;
    timings.images = images_started.elapsed().as_millis() as u64;

    let scenarios = Scenarios {
        session,
        plan,
        unit,
        ignore,
        timeout: options
            .provision_timeout
            .unwrap_or(project.provision.timeout),
        jobs: jobs.clone(),
        blame: options.blame,
    };
    let defaults = vec![default.tag.clone(); plan.hosts.len()];
    let fresh = retrying(options.retries, &scenarios, ScenarioKind::Fresh, || {
        scenarios.run(&defaults, ScenarioKind::Fresh, &project.root, true)
    });
    let current = upgraded(
        &scenarios,
        options,
        &default,
        Version::Current,
        ScenarioKind::Upgrade,
    );
    let olders = futures_util::future::join_all(older.iter().map(|(git_ref, commit)| {
        upgraded(
            &scenarios,
            options,
            &default,
            Version::Older(git_ref, commit),
            ScenarioKind::UpgradeFrom(git_ref.clone()),
        )
    }));
    let (fresh, current, olders) = tokio::join!(fresh, current, olders);
    if let Some(message) = &fresh.config_error {
        return Err(Error::Usage(message.clone()));
    }
    let current = current?;
    let olders = olders.into_iter().collect::<Result<Vec<_>, _>>()?;
    // Every production image this run uses stays; older builds of the same slots go.
    if current.production.as_ref().is_some_and(|p| p.built)
        || olders
            .iter()
            .any(|o| o.production.as_ref().is_some_and(|p| p.built))
    {
        let keep: Vec<String> = std::iter::once(&current)
            .chain(&olders)
            .filter_map(|u| u.production.as_ref())
            .flat_map(|p| p.images.iter().cloned())
            .collect();
        image::prune_superseded(&session.engine, &project.name, &keep).await;
    }

    let images = ImagesReport {
        default: default.tag.clone(),
        default_built: default.built,
        upgrade_from: olders
            .iter()
            .map(|o| RefImages {
                scenario: o.run.report.name.name(),
                production: o.images_shown(),
                production_source: o.source_shown(),
                production_built: o.built(),
            })
            .collect(),
        ..current.images_report()
    };
    timings.production = std::iter::once(&current)
        .chain(&olders)
        .map(|u| u.production_ms)
        .max()
        .unwrap_or(0);
    timings.fresh = fresh.provision_ms;
    timings.upgrade = std::iter::once(&current)
        .chain(&olders)
        .map(|u| u.run.provision_ms)
        .max()
        .unwrap_or(0);
    timings.idempotence = fresh.idempotence_ms;
    timings.reboot = fresh.reboot_ms.max(current.run.reboot_ms);
    timings.checks = std::iter::once(&current)
        .chain(&olders)
        .map(|u| u.run.checks_ms)
        .fold(fresh.checks_ms, u64::max);
    timings.diff = std::iter::once(&current)
        .chain(&olders)
        .map(|u| u.run.diff_ms)
        .fold(fresh.diff_ms, u64::max);

    let diff_started = Instant::now();
    let diff = compare(session, project, platform, &fresh, &current)?;
    let mut upgrade_diffs = Vec::new();
    for o in &olders {
        if let Some(mut d) = compare(session, project, platform, &fresh, o)? {
            d.scenario = Some(o.run.report.name.name());
            d.git_ref = match &o.run.report.name {
                ScenarioKind::UpgradeFrom(git_ref) => Some(git_ref.clone()),
                _ => None,
            };
            upgrade_diffs.push(d);
        }
    }
    timings.diff += diff_started.elapsed().as_millis() as u64;
    let mut unmatched = Vec::new();
    let upgrade_runs = std::iter::once(&current.run).chain(olders.iter().map(|o| &o.run));
    for p in fresh
        .unmatched
        .iter()
        .chain(upgrade_runs.flat_map(|r| &r.unmatched))
    {
        let play = UnmatchedPlay {
            play: p.play.clone(),
            pattern: p.pattern.clone(),
            file: p.file.clone(),
            line: p.line,
        };
        if !unmatched.contains(&play) {
            unmatched.push(play);
        }
    }
    let production_error = current
        .error
        .clone()
        .or_else(|| olders.iter().find_map(|o| o.error.clone()));
    let fresh_manifests = fresh.manifests.clone();
    let mut scenarios = vec![fresh.report, current.run.report];
    scenarios.extend(olders.into_iter().map(|o| o.run.report));
    scenarios.extend(fresh.idempotence);
    scenarios.extend(fresh.reboot);
    scenarios.extend(current.run.reboot);
    Ok(UnitRun {
        platform: unit.platform.name.clone(),
        images,
        scenarios,
        diff,
        upgrade_diffs,
        fresh_manifests,
        production_error,
        unmatched,
        timings,
    })
}

/// One production version, upgraded with the change: its images, and the upgrade scenario.
struct Upgraded {
    /// The upgrade scenario (not started when the images could not be had).
    run: ScenarioRun,
    /// The images, when they could be had.
    production: Option<Production>,
    /// Why they could not.
    error: Option<InfrastructureError>,
    /// Wall time of resolving (or building) them.
    production_ms: u64,
}

impl Upgraded {
    fn images_shown(&self) -> String {
        self.production
            .as_ref()
            .map(|p| p.images.join(", "))
            .unwrap_or_default()
    }

    fn source_shown(&self) -> String {
        self.production
            .as_ref()
            .map(|p| p.why.clone())
            .unwrap_or_else(|| "none: the production image could not be built".into())
    }

    fn built(&self) -> bool {
        self.production.as_ref().is_some_and(|p| p.built)
    }

    /// The images report's production fields (of `production.ref`).
    fn images_report(&self) -> ImagesReport {
        ImagesReport {
            production: self.images_shown(),
            production_source: self.source_shown(),
            production_built: self.built(),
            ..ImagesReport::default()
        }
    }
}

/// Resolves (or builds) the production images of `version` and runs upgrade scenario `kind`
/// on them. Images that cannot be had leave the scenario not judged, with why; a
/// configuration error stops the run.
async fn upgraded(
    scenarios: &Scenarios<'_>,
    options: &RunOptions,
    default: &image::DefaultImage,
    version: Version<'_>,
    kind: ScenarioKind,
) -> Result<Upgraded, Error> {
    let session = scenarios.session;
    let project = &options.plan.project;
    let unit = scenarios.unit;
    let started = Instant::now();
    let scope = match version {
        Version::Current => Scope::Production,
        Version::Older(..) => Scope::Scenario(format!("production@{}", kind_ref(&kind))),
    }
    .on(unit.platform.name.as_deref());
    let resolved = production::resolve(
        session,
        project,
        &unit.platform,
        &options.plan.hosts,
        default,
        version,
        scenarios.timeout,
        &scope,
        Some(&scenarios.jobs),
    )
    .await;
    let production_ms = started.elapsed().as_millis() as u64;
    let production = match resolved {
        Ok(p) => p,
        Err(e) if e.kind() == Kind::Infrastructure => {
            let judged = match &kind {
                ScenarioKind::UpgradeFrom(git_ref) => format!("the upgrade from {git_ref}"),
                _ => "the upgrade path".to_string(),
            };
            let mut run = ScenarioRun::not_started(kind, format!("{e}; {judged} was not judged"));
            run.report.platform = unit.platform.name.clone();
            return Ok(Upgraded {
                run,
                production: None,
                error: Some(InfrastructureError {
                    part: e.part(),
                    message: e.to_string(),
                }),
                production_ms,
            });
        }
        Err(e) => return Err(e),
    };
    session
        .events
        .note(&scope, format!("production image: {}", production.why));
    let run = retrying(options.retries, scenarios, kind.clone(), || {
        scenarios.run(&production.images, kind.clone(), &project.root, false)
    })
    .await;
    if let Some(message) = &run.config_error {
        return Err(Error::Usage(message.clone()));
    }
    Ok(Upgraded {
        run,
        production: Some(production),
        error: None,
        production_ms,
    })
}

/// The ref of an `upgrade@<ref>` scenario.
fn kind_ref(kind: &ScenarioKind) -> String {
    match kind {
        ScenarioKind::UpgradeFrom(git_ref) => git_ref.clone(),
        other => other.name(),
    }
}

/// The run's report from its units': one unit's as it is (a project without `platforms:`
/// reads exactly as before); several, each finding named by its platform.
fn assemble(plan: &Plan, runs: Vec<UnitRun>, options: &RunOptions) -> Result<RunReport, Error> {
    let several = plan.has_platforms();
    let mut report = RunReport::new(Command::Run, &plan.project.name, "");
    let mut diffs = Vec::new();
    let mut timings = Timings::default();
    let mut production_error = None;
    let mut images: Vec<(Option<String>, ImagesReport)> = Vec::new();
    let mut fresh_manifests = Vec::new();
    let mut upgrade_diffs = Vec::new();
    for run in runs {
        report.scenarios.extend(run.scenarios);
        if let Some(d) = run.diff {
            diffs.push(d);
        }
        upgrade_diffs.extend(run.upgrade_diffs);
        for p in run.unmatched {
            if !report.unmatched_plays.contains(&p) {
                report.unmatched_plays.push(p);
            }
        }
        production_error = production_error.or(run.production_error);
        timings.images = timings.images.max(run.timings.images);
        timings.production = timings.production.max(run.timings.production);
        timings.fresh = timings.fresh.max(run.timings.fresh);
        timings.upgrade = timings.upgrade.max(run.timings.upgrade);
        timings.idempotence = timings.idempotence.max(run.timings.idempotence);
        timings.reboot = timings.reboot.max(run.timings.reboot);
        timings.checks = timings.checks.max(run.timings.checks);
        timings.diff = timings.diff.max(run.timings.diff);
        for (host, manifest) in run.fresh_manifests {
            let named = match (&run.platform, several) {
                (Some(p), true) => format!("{p}/{host}"),
                _ => host,
            };
            fresh_manifests.push((named, manifest));
        }
        images.push((run.platform, run.images));
    }
    report.images = match images.as_slice() {
        [(_, one)] => one.clone(),
        _ => joined_images(&images),
    };
    report.diff = crate::report::across_units(diffs, upgrade_diffs, several);
    report.snapshot = match &options.snapshot {
        Some((file, locked)) if !fresh_manifests.is_empty() => {
            let state = super::capture::combined(fresh_manifests, several);
            Some(compare_snapshot(file, *locked, &state, subset(plan)))
        }
        _ => None,
    };
    report.verdict = Verdict::all(
        report
            .scenarios
            .iter()
            .map(|s| s.status)
            .chain(report.diff.as_ref().map(|d| d.status))
            .chain(report.snapshot.as_ref().map(|s| s.status)),
    );
    report.error = (report.verdict == Verdict::Error).then(|| {
        let failing = report.scenarios.iter().find(|s| s.status == Verdict::Error);
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
    report.timings_ms = timings;
    describe(&mut report, plan);
    report.source = options.source.clone();
    Ok(report)
}

/// The images of several platforms in one report: each value as `platform: value`.
fn joined_images(images: &[(Option<String>, ImagesReport)]) -> ImagesReport {
    let join = |value: &dyn Fn(&ImagesReport) -> String| {
        images
            .iter()
            .map(|(p, i)| format!("{}: {}", p.as_deref().unwrap_or("default"), value(i)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    ImagesReport {
        default: join(&|i| i.default.clone()),
        default_built: images.iter().any(|(_, i)| i.default_built),
        production: join(&|i| i.production.clone()),
        production_source: join(&|i| i.production_source.clone()),
        production_built: images.iter().any(|(_, i)| i.production_built),
        upgrade_from: images
            .first()
            .map(|(_, first)| {
                first
                    .upgrade_from
                    .iter()
                    .enumerate()
                    .map(|(n, r)| {
                        let of = |value: &dyn Fn(&RefImages) -> String| {
                            join(&|i| i.upgrade_from.get(n).map(value).unwrap_or_default())
                        };
                        RefImages {
                            scenario: r.scenario.clone(),
                            production: of(&|r| r.production.clone()),
                            production_source: of(&|r| r.production_source.clone()),
                            production_built: images.iter().any(|(_, i)| {
                                i.upgrade_from.get(n).is_some_and(|r| r.production_built)
                            }),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Fresh against one upgrade, host by host, each finding with the task that last wrote it
/// where one is known; `None` when either side has no state to compare.
fn compare(
    session: &Session,
    project: &crate::config::Project,
    platform: Option<&str>,
    fresh: &ScenarioRun,
    upgrade: &Upgraded,
) -> Result<Option<DiffReport>, Error> {
    if fresh.manifests.is_empty() || upgrade.run.manifests.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let name = upgrade.run.report.name.name();
    let scope = match &upgrade.run.report.name {
        ScenarioKind::Upgrade => Scope::Diff,
        _ => Scope::Scenario(format!("diff@{}", kind_ref(&upgrade.run.report.name))),
    }
    .on(platform);
    session
        .events
        .stage(&scope, format!("comparing fresh and {name}"));
    let allow = diff::allow_set(&project.diff.allow)
        .map_err(|e| Error::Usage(format!("diff.allow: {e}")))?;
    let nobody = Written::default();
    let production = upgrade.production.as_ref();
    let per_host: Vec<DiffReport> = fresh
        .manifests
        .iter()
        .zip(&upgrade.run.manifests)
        .enumerate()
        .map(|(i, ((host, a), (_, b)))| {
            let comparison = diff::compare(a, b, &allow, ("fresh", name.as_str()));
            let mut report = DiffReport {
                host: Some(host.clone()),
                platform: platform.map(String::from),
                ..diff_report(comparison, [a.entries.len(), b.entries.len()])
            };
            let writers = Writers {
                fresh: fresh.written.get(i).unwrap_or(&nobody),
                upgrade: upgrade.run.written.get(i).unwrap_or(&nobody),
                upgrade_name: &name,
                production: production.and_then(|p| p.written.get(i)).unwrap_or(&nobody),
                production_commit: production.and_then(|p| p.commit.as_deref()),
            };
            report.written_by = writers.of(&report);
            report
        })
        .collect();
    let mut report = crate::report::combine(per_host);
    report.platform = platform.map(String::from);
    session
        .events
        .finished(&scope, Ending::Judged(report.status), started.elapsed());
    Ok(Some(report))
}

/// Who wrote what on one host, on each side of a comparison.
struct Writers<'a> {
    fresh: &'a Written,
    upgrade: &'a Written,
    upgrade_name: &'a str,
    production: &'a Written,
    production_commit: Option<&'a str>,
}

impl Writers<'_> {
    /// The last writer of each finding of `diff` (one host's): a path only in fresh, by fresh's
    /// provisioning; one only in upgrade, or changed, by the upgrade's provisioning, else by
    /// the production image's build (else, changed, by fresh's).
    fn of(&self, diff: &DiffReport) -> std::collections::BTreeMap<String, WrittenBy> {
        let fresh = |p: &str| self.fresh.who(p).map(|w| WrittenBy::of(w, "fresh", None));
        let upgrade = |p: &str| {
            self.upgrade
                .who(p)
                .map(|w| WrittenBy::of(w, self.upgrade_name, None))
                .or_else(|| {
                    self.production
                        .who(p)
                        .map(|w| WrittenBy::of(w, "production", self.production_commit))
                })
        };
        let mut out = std::collections::BTreeMap::new();
        for p in &diff.only_in_fresh {
            out.extend(fresh(p).map(|w| (p.clone(), w)));
        }
        for p in &diff.only_in_upgrade {
            out.extend(upgrade(p).map(|w| (p.clone(), w)));
        }
        for c in &diff.changed {
            out.extend(
                upgrade(&c.path)
                    .or_else(|| fresh(&c.path))
                    .map(|w| (c.path.clone(), w)),
            );
        }
        out
    }
}

/// The report's form of a comparison, with the number of paths each side had.
pub fn diff_report(comparison: diff::Comparison, compared: [usize; 2]) -> DiffReport {
    DiffReport {
        host: None,
        platform: None,
        status: comparison.verdict(),
        only_in_fresh: comparison.only_left,
        only_in_upgrade: comparison.only_right,
        changed: comparison.changed,
        allowed: comparison.allowed,
        normalised: comparison.normalised,
        compared,
        hosts: Vec::new(),
        scenario: None,
        git_ref: None,
        upgrades: Vec::new(),
        written_by: Default::default(),
    }
}

/// The platforms a plan runs when it runs only some of a project's several platforms
/// (`--platform`, a shard): their part of the committed snapshot is theirs to compare.
pub fn subset(plan: &Plan) -> Option<Vec<String>> {
    (plan.has_platforms() && plan.units.len() < plan.all_units.len()).then(|| {
        plan.units
            .iter()
            .filter_map(|u| u.platform.name.clone())
            .collect()
    })
}

/// Runs a scenario, and again on a new container after an infrastructure error, up to
/// `retries` more times with a growing pause. Assertion failures are never retried.
async fn retrying<F, Fut>(
    retries: u32,
    scenarios: &Scenarios<'_>,
    kind: ScenarioKind,
    mut attempt: F,
) -> ScenarioRun
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ScenarioRun>,
{
    let session = scenarios.session;
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
        session.janitor.remove_network(&scenarios.role(&kind)).await;
        session.events.note(
            &scenarios.scope(&kind),
            format!("infrastructure error; retrying ({tries}/{retries})"),
        );
        tokio::time::sleep(Duration::from_secs(2 * u64::from(tries))).await;
    }
}

fn compare_snapshot(
    file: &Path,
    locked: bool,
    manifest: &Manifest,
    platforms: Option<Vec<String>>,
) -> SnapshotReport {
    let mut committed = std::fs::read_to_string(file).unwrap_or_default();
    if let Some(platforms) = platforms {
        committed = snapshot::of_platforms(&committed, &platforms);
    }
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
