//! One scenario: every host stood up on the scenario's own network, provisioned in one run
//! with the working tree, checked and its state read, host by host; for fresh, the idempotence
//! re-run too.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::capture;
use super::janitor::Boot;
use super::production::{nothing_ran, permits, stand_up, Jobs};
use super::session::Session;
use crate::check;
use crate::check::Check;
use crate::config::Host;
use crate::event::{Ending, Scope};
use crate::outcome::{CheckResult, PathChange, ScenarioKind, Verdict};
use crate::plan::{Plan, Unit};
use crate::provision::{self, Machine, Outcome, Status, UnmatchedPlay};
use crate::report::{HostProvision, ProvisionReport, ScenarioReport, WrittenBy};
use crate::state::{diff, Ignore, Manifest};
use crate::written::Written;

/// How long checks that fail right after a reboot are asked again before they count.
pub const SETTLE: Duration = Duration::from_secs(20);

/// What every scenario of a unit shares.
pub struct Scenarios<'a> {
    /// The run.
    pub session: &'a Session,
    /// What the run carries out.
    pub plan: &'a Plan,
    /// The unit (platform) these scenarios are of.
    pub unit: &'a Unit,
    /// What state reading skips.
    pub ignore: Arc<Ignore>,
    /// How long one provisioning run may take.
    pub timeout: Duration,
    /// How many containers may provision at once.
    pub jobs: Jobs,
    /// Whether to record which task wrote which path, and show the second run's diffs.
    pub blame: bool,
}

/// What one scenario ended with.
pub struct ScenarioRun {
    /// The scenario's report.
    pub report: ScenarioReport,
    /// Its hosts' containers, once started.
    pub machines: Vec<Machine>,
    /// Each host's state (in host order), when every host got that far.
    pub manifests: Vec<(String, Manifest)>,
    /// Per host (in host order), which task of the provisioning last wrote each path.
    pub written: Vec<Written>,
    /// Only for fresh: the idempotence scenario.
    pub idempotence: Option<ScenarioReport>,
    /// With `reboot`: the checks run again after the containers restarted (`<name>-reboot`).
    pub reboot: Option<ScenarioReport>,
    /// Plays that matched no host.
    pub unmatched: Vec<UnmatchedPlay>,
    /// A configuration error found on the way (no task ran on any host).
    pub config_error: Option<String>,
    /// Wall time of provisioning.
    pub provision_ms: u64,
    /// Wall time of the idempotence re-run.
    pub idempotence_ms: u64,
    /// Wall time of the checks.
    pub checks_ms: u64,
    /// Wall time of reading the state.
    pub diff_ms: u64,
    /// Wall time of the reboot and its checks.
    pub reboot_ms: u64,
}

impl ScenarioRun {
    fn new(kind: ScenarioKind) -> Self {
        ScenarioRun {
            report: ScenarioReport::new(kind),
            machines: Vec::new(),
            manifests: Vec::new(),
            written: Vec::new(),
            idempotence: None,
            reboot: None,
            unmatched: Vec::new(),
            config_error: None,
            provision_ms: 0,
            idempotence_ms: 0,
            checks_ms: 0,
            diff_ms: 0,
            reboot_ms: 0,
        }
    }

    /// A scenario that could not be judged.
    pub fn error(mut self, message: String) -> Self {
        self.report.status = Verdict::Error;
        self.report.message = Some(message);
        self
    }

    /// A scenario that never started because `message`.
    pub fn not_started(kind: ScenarioKind, message: String) -> Self {
        ScenarioRun::new(kind).error(message)
    }
}

impl Scenarios<'_> {
    fn project(&self) -> &crate::config::Project {
        &self.plan.project
    }

    fn hosts(&self) -> &[Host] {
        &self.plan.hosts
    }

    fn platform(&self) -> Option<&str> {
        self.unit.platform.name.as_deref()
    }

    fn boot(&self) -> Boot {
        Boot::of(&self.unit.platform.image)
    }

    /// Where a scenario's progress goes: `fresh`, or `trixie/fresh` on a platform.
    pub fn scope(&self, kind: &ScenarioKind) -> Scope {
        Scope::Scenario(kind.name()).on(self.platform())
    }

    /// The role of a scenario's containers and network: `fresh`, `trixie-fresh`,
    /// `upgrade-v2.3.0` (a container name has no `@`).
    pub fn role(&self, kind: &ScenarioKind) -> String {
        let name = super::production::container_safe(&kind.name().replace('@', "-"));
        match self.platform() {
            Some(p) => format!("{p}-{name}"),
            None => name,
        }
    }

    /// Runs scenario `kind`: each host from its image in `images` (host order), provisioned
    /// with the tree at `root`.
    pub async fn run(
        &self,
        images: &[String],
        kind: ScenarioKind,
        root: &Path,
        with_idempotence: bool,
    ) -> ScenarioRun {
        let started = Instant::now();
        let scope = self.scope(&kind);
        let mut run = self.steps(images, kind, root, with_idempotence).await;
        run.report.duration_ms = started.elapsed().as_millis() as u64;
        self.session
            .events
            .finished(&scope, Ending::Judged(run.report.status), started.elapsed());
        run
    }

    fn several(&self) -> bool {
        self.hosts().len() > 1
    }

    /// `what` about `host`, named when there are several hosts.
    fn on(&self, host: &str, what: &str) -> String {
        if self.several() {
            format!("{host}: {what}")
        } else {
            what.to_string()
        }
    }

    async fn steps(
        &self,
        images: &[String],
        kind: ScenarioKind,
        root: &Path,
        with_idempotence: bool,
    ) -> ScenarioRun {
        let events = &self.session.events;
        let scope = self.scope(&kind);
        let mut run = ScenarioRun::new(kind.clone());
        run.report.platform = self.platform().map(String::from);

        let shown = match images {
            [one] => one.clone(),
            _ => format!("{} images", images.len()),
        };
        events.stage(&scope, format!("starting a container from {shown}"));
        let boot = self.boot();
        run.machines =
            match stand_up(self.session, &self.role(&kind), self.hosts(), images, &boot).await {
                Ok(m) => m,
                Err(e) => {
                    return run.error(format!(
                        "infrastructure error: {e}; the change was not judged"
                    ))
                }
            };

        events.stage(&scope, "provisioning");
        let provision_started = Instant::now();
        let outcome = match self.provision(root, &run.machines, scope.clone()).await {
            Ok(o) => o,
            Err(e) => return run.error(e.to_string()),
        };
        run.provision_ms = provision_started.elapsed().as_millis() as u64;
        run.unmatched = outcome.unmatched.clone();
        run.written = run
            .machines
            .iter()
            .map(|m| {
                outcome
                    .host(&m.host.name)
                    .map(|h| h.written.clone())
                    .unwrap_or_default()
            })
            .collect();
        run.config_error = nothing_ran(&outcome, self.hosts(), &format!("the {kind} scenario"));
        if let Some(message) = run.config_error.clone() {
            return run.error(message);
        }
        run.report.provision = Some(provision_report(&outcome, self.hosts(), self.platform()));
        match outcome.status {
            Status::Ok => {}
            Status::Failed => {
                run.report.status = Verdict::Fail;
                run.report.message = Some(outcome.failure_sentence());
                return run;
            }
            Status::Infrastructure => return run.error(outcome.failure_sentence()),
        }

        let checks_started = Instant::now();
        self.check(&run.machines, &kind, &scope, &mut run.report)
            .await;
        run.checks_ms = checks_started.elapsed().as_millis() as u64;

        events.stage(&scope, "reading state");
        let diff_started = Instant::now();
        run.manifests = match self.manifests(&run.machines).await {
            Ok(m) => m,
            Err(e) => {
                return run.error(format!(
                    "infrastructure error reading the container's state: {e}"
                ))
            }
        };
        run.diff_ms = diff_started.elapsed().as_millis() as u64;

        if with_idempotence {
            let idem_started = Instant::now();
            let mut report = self.idempotence(root, &run.machines, &run.manifests).await;
            run.idempotence_ms = idem_started.elapsed().as_millis() as u64;
            report.duration_ms = run.idempotence_ms;
            events.finished(
                &self.scope(&ScenarioKind::Idempotence),
                Ending::Judged(report.status),
                idem_started.elapsed(),
            );
            run.idempotence = Some(report);
        }

        if self.project().reboot {
            let started = Instant::now();
            let mut report = self.reboot(&run.machines, &kind).await;
            run.reboot_ms = started.elapsed().as_millis() as u64;
            report.duration_ms = run.reboot_ms;
            events.finished(
                &self.scope(&report.name),
                Ending::Judged(report.status),
                started.elapsed(),
            );
            run.reboot = Some(report);
        }
        run
    }

    /// Restarts every host's container, as a reboot of the server, waits until the system
    /// runs again, and runs scenario `name`'s checks once more: services started but not
    /// enabled, and state kept in `/run` or `/tmp`, show here.
    async fn reboot(&self, machines: &[Machine], of: &ScenarioKind) -> ScenarioReport {
        let kind = ScenarioKind::Reboot(Box::new(of.clone()));
        let scope = self.scope(&kind);
        let new_report = || {
            let mut report = ScenarioReport::new(kind.clone());
            report.platform = self.platform().map(String::from);
            report
        };
        let mut report = new_report();
        let engine = &self.session.engine;
        self.session.events.stage(&scope, "rebooting");
        let restarts = machines.iter().map(|m| engine.restart(&m.container));
        let restarted: Result<Vec<()>, _> = join_all(restarts).await.into_iter().collect();
        let containers: Vec<String> = machines.iter().map(|m| m.container.clone()).collect();
        let booted = match restarted {
            Ok(_) => self.session.wait_for_boot(&containers, &self.boot()).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = booted {
            report.status = Verdict::Error;
            report.message = Some(format!(
                "infrastructure error rebooting: {e}; the reboot was not judged"
            ));
            return report;
        }
        // Systemd calls a service started before it binds its port: checks that fail right
        // after the boot are asked again, quietly, until they pass or the system had
        // SETTLE to come up.
        let settled_by = Instant::now() + SETTLE;
        let quiet = crate::event::Events::silent();
        loop {
            let mut attempt = new_report();
            let last = Instant::now() >= settled_by;
            let events = if last { &self.session.events } else { &quiet };
            self.check_with(machines, &kind, &scope, &mut attempt, events)
                .await;
            if attempt.status != Verdict::Fail || last {
                return attempt;
            }
            self.session
                .events
                .progress(&scope, "waiting for the services to come up");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn provision(
        &self,
        root: &Path,
        machines: &[Machine],
        scope: Scope,
    ) -> Result<Outcome, provision::ProvisionError> {
        self.provision_again(root, machines, scope, &[], false)
            .await
    }

    /// Provisions `machines` with the tree at `root`, skipping tasks tagged `skip_tags`, with
    /// Ansible's `--diff` when `show_diff`.
    async fn provision_again(
        &self,
        root: &Path,
        machines: &[Machine],
        scope: Scope,
        skip_tags: &[String],
        show_diff: bool,
    ) -> Result<Outcome, provision::ProvisionError> {
        let mut request = provision::Request::for_project(
            self.project(),
            &self.unit.platform.image,
            root,
            machines,
            scope,
        );
        request.timeout = self.timeout;
        request.skip_tags = skip_tags;
        request.diff = show_diff && self.blame;
        request.record_writes = self.blame;
        let _permits = permits(Some(&self.jobs), machines.len()).await;
        provision::run(&self.session.engine, &request, &self.session.events).await
    }

    /// Each host's state, in host order.
    async fn manifests(&self, machines: &[Machine]) -> Result<Vec<(String, Manifest)>, String> {
        let machines: Vec<(String, String)> = machines
            .iter()
            .map(|m| (m.host.name.clone(), m.container.clone()))
            .collect();
        capture::manifests(
            &self.session.engine,
            &machines,
            &self.project().diff.paths,
            self.ignore.clone(),
        )
        .await
    }

    /// Runs each host's checks; failures and errors decide the scenario's status.
    async fn check(
        &self,
        machines: &[Machine],
        kind: &ScenarioKind,
        scope: &Scope,
        report: &mut ScenarioReport,
    ) {
        self.check_with(machines, kind, scope, report, &self.session.events)
            .await
    }

    /// [`Scenarios::check`], telling `events`. Checks the plan leaves out on this platform are
    /// reported `skipped`, with why.
    async fn check_with(
        &self,
        machines: &[Machine],
        kind: &ScenarioKind,
        scope: &Scope,
        report: &mut ScenarioReport,
        events: &crate::event::Events,
    ) {
        type Placed<'c> = (Vec<&'c Check>, Vec<(&'c Check, String)>);
        let selected: Vec<(&Machine, Placed<'_>)> = machines
            .iter()
            .map(|m| (m, self.plan.checks_for(self.unit, kind, &m.host)))
            .filter(|(_, (runs, skipped))| !runs.is_empty() || !skipped.is_empty())
            .collect();
        let total: usize = selected.iter().map(|(_, (c, _))| c.len()).sum();
        if total > 0 {
            events.stage(scope, format!("checks ({total})"));
        }
        let platform = self.platform();
        let runs = selected.iter().map(|(m, (checks, skipped))| async move {
            let scope = if self.several() {
                Scope::Scenario(format!("{kind} {}", m.host.name)).on(platform)
            } else {
                scope.clone()
            };
            let mut results = if checks.is_empty() {
                Vec::new()
            } else {
                check::evaluate(&self.session.engine, &m.container, checks, &scope, events).await
            };
            results.extend(skipped.iter().map(|(c, why)| CheckResult {
                name: c.name.clone(),
                kind: c.spec.kind().to_string(),
                status: Verdict::Skipped,
                message: format!("skipped on {}: {why}", platform.unwrap_or("this platform")),
                flaky: false,
                file: c.file.display().to_string(),
                line: c.line,
                host: None,
                platform: None,
            }));
            for r in &mut results {
                r.host = Some(m.host.name.clone());
                r.platform = platform.map(String::from);
            }
            results
        });
        report.checks = join_all(runs).await.into_iter().flatten().collect();
        let named = |c: &CheckResult| self.on(c.host.as_deref().unwrap_or(""), &c.name);
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.status == Verdict::Fail)
            .map(named)
            .collect();
        let errored = report
            .checks
            .iter()
            .filter(|c| c.status == Verdict::Error)
            .count();
        if !failed.is_empty() {
            report.status = Verdict::Fail;
            report.message = Some(format!(
                "{} check(s) failed: {}",
                failed.len(),
                failed.join(", ")
            ));
        } else if errored > 0 {
            report.status = Verdict::Error;
            report.message = Some(format!("{errored} check(s) could not be evaluated"));
        }
    }

    /// Provisions every host a second time: the provisioner must report no change on any, and
    /// no host's filesystem may move from `before`.
    async fn idempotence(
        &self,
        root: &Path,
        machines: &[Machine],
        before: &[(String, Manifest)],
    ) -> ScenarioReport {
        let events = &self.session.events;
        let scope = self.scope(&ScenarioKind::Idempotence);
        events.stage(&scope, "provisioning a second time");
        let mut report = ScenarioReport::new(ScenarioKind::Idempotence);
        report.platform = self.platform().map(String::from);
        let skip = &self.project().idempotence.skip_tags;
        // With `--diff`: a task that changes something again shows what it changed.
        let outcome = match self
            .provision_again(root, machines, scope.clone(), skip, true)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                report.status = Verdict::Error;
                report.message = Some(e.to_string());
                return report;
            }
        };
        report.provision = Some(provision_report(&outcome, self.hosts(), self.platform()));
        match outcome.status {
            Status::Failed => {
                report.status = Verdict::Fail;
                report.message = Some(format!(
                    "the second run failed: {}",
                    outcome.failure_sentence()
                ));
                return report;
            }
            Status::Infrastructure => {
                report.status = Verdict::Error;
                report.message = Some(outcome.failure_sentence());
                return report;
            }
            Status::Ok => {}
        }
        report.changes = outcome
            .hosts
            .iter()
            .flat_map(|h| h.changes.iter().cloned())
            .collect();
        let mut problems = Vec::new();
        for host in &outcome.hosts {
            if let Some(n) = host.changed.filter(|n| *n > 0) {
                let tasks = host
                    .changed_tasks
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                problems.push(self.on(
                    &host.host,
                    &format!("the provisioner reported {n} change(s) on the second run: {tasks}"),
                ));
            }
        }
        events.stage(&scope, "comparing state");
        match self.manifests(machines).await {
            Ok(after) => {
                for ((host, first), (_, second)) in before.iter().zip(&after) {
                    let mut changes = moved_paths(first, second);
                    if !changes.is_empty() {
                        let paths: Vec<&str> =
                            changes.iter().take(5).map(|c| c.path.as_str()).collect();
                        problems.push(self.on(
                            host,
                            &format!(
                                "the second run changed {} path(s): {}{}",
                                changes.len(),
                                paths.join(", "),
                                if changes.len() > 5 { ", ..." } else { "" }
                            ),
                        ));
                    }
                    let written = outcome.host(host).map(|h| &h.written);
                    for c in &mut changes {
                        let by = written.and_then(|w| w.who(&c.path));
                        if self.several() {
                            c.path = format!("{host}:{}", c.path);
                        }
                        if let Some(by) = by {
                            report.written_by.insert(
                                c.path.clone(),
                                WrittenBy::of(by, &ScenarioKind::Idempotence.name(), None),
                            );
                        }
                    }
                    report.changed_paths.extend(changes);
                }
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
        report
    }
}

/// Every path the second run removed, added or changed, sorted.
fn moved_paths(before: &Manifest, after: &Manifest) -> Vec<PathChange> {
    let nothing_allowed = globset::GlobSet::empty();
    let c = diff::compare(before, after, &nothing_allowed, ("first", "second"));
    let mut changes: Vec<PathChange> = Vec::new();
    changes.extend(
        c.only_left
            .iter()
            .map(|p| PathChange::presence(p, "removed")),
    );
    changes.extend(
        c.only_right
            .iter()
            .map(|p| PathChange::presence(p, "added")),
    );
    changes.extend(c.changed);
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

/// The report's form of a provisioning run of `hosts`.
pub fn provision_report(
    outcome: &Outcome,
    hosts: &[Host],
    platform: Option<&str>,
) -> ProvisionReport {
    let message = |f: &provision::Failure| match &f.infrastructure {
        Some(part) => format!(
            "{} [infrastructure: {part}; the change was not judged]",
            f.explained()
        ),
        None => f.explained(),
    };
    let detail = |f: &provision::Failure| (!f.detail.is_empty()).then(|| f.detail.clone());
    let failure = outcome.failure.as_ref();
    ProvisionReport {
        host: match hosts {
            [one] => Some(one.name.clone()),
            _ => None,
        },
        platform: platform.map(String::from),
        status: outcome.status.verdict(),
        changed: outcome.changed,
        changed_tasks: outcome.changed_tasks.clone(),
        failed_task: failure.and_then(|f| f.task.clone()),
        failed_task_file: failure.and_then(|f| f.at.as_ref().map(|(file, _)| file.clone())),
        failed_task_line: failure.and_then(|f| f.at.as_ref().map(|(_, line)| *line)),
        message: failure.map(message),
        infrastructure: failure.and_then(|f| f.infrastructure.clone()),
        detail: failure.and_then(detail),
        log: outcome.log.clone(),
        duration_ms: outcome.duration.as_millis() as u64,
        hosts: if hosts.len() > 1 {
            outcome
                .hosts
                .iter()
                .map(|h| HostProvision {
                    host: h.host.clone(),
                    status: h.status.verdict(),
                    changed: h.changed,
                    changed_tasks: h.changed_tasks.clone(),
                    failed_task: h.failure.as_ref().and_then(|f| f.task.clone()),
                    message: h.failure.as_ref().map(message),
                    detail: h.failure.as_ref().and_then(detail),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}
