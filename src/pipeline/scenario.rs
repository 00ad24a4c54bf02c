//! One scenario: a container from an image, provisioned with the working tree, checked, its
//! state read; for fresh, the idempotence re-run too.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::capture;
use super::session::Session;
use crate::check::{self, Selection};
use crate::config::{Check, Project};
use crate::event::{Ending, Scope};
use crate::outcome::{PathChange, Verdict};
use crate::provision::{self, Outcome, Status};
use crate::report::{ProvisionReport, ScenarioReport};
use crate::state::{diff, Ignore, Manifest};

/// What every scenario of a run shares.
pub struct Scenarios<'a> {
    /// The run.
    pub session: &'a Session,
    /// The project.
    pub project: &'a Project,
    /// Its checks.
    pub checks: &'a [Check],
    /// Which checks.
    pub selection: &'a Selection,
    /// What state reading skips.
    pub ignore: Arc<Ignore>,
    /// How long one provisioning run may take.
    pub timeout: Duration,
}

/// What one scenario container ended with.
pub struct ScenarioRun {
    /// The scenario's report.
    pub report: ScenarioReport,
    /// Its container, once started.
    pub container: Option<String>,
    /// Its state, when it got that far.
    pub manifest: Option<Manifest>,
    /// Only for fresh: the idempotence scenario.
    pub idempotence: Option<ScenarioReport>,
    /// Wall time of provisioning.
    pub provision_ms: u64,
    /// Wall time of the idempotence re-run.
    pub idempotence_ms: u64,
    /// Wall time of the checks.
    pub checks_ms: u64,
    /// Wall time of reading the state.
    pub diff_ms: u64,
}

impl ScenarioRun {
    fn new(name: &str) -> Self {
        ScenarioRun {
            report: ScenarioReport::new(name),
            container: None,
            manifest: None,
            idempotence: None,
            provision_ms: 0,
            idempotence_ms: 0,
            checks_ms: 0,
            diff_ms: 0,
        }
    }

    fn error(mut self, message: String) -> Self {
        self.report.status = Verdict::Error;
        self.report.message = Some(message);
        self
    }
}

impl Scenarios<'_> {
    /// Runs scenario `name` on a container from `image`, provisioned with the tree at `root`.
    pub async fn run(
        &self,
        image: &str,
        name: &str,
        root: &Path,
        with_idempotence: bool,
    ) -> ScenarioRun {
        let started = Instant::now();
        let mut run = self.steps(image, name, root, with_idempotence).await;
        run.report.duration_ms = started.elapsed().as_millis() as u64;
        self.session.events.finished(
            &Scope::Scenario(run.report.name.clone()),
            Ending::Judged(run.report.status),
            started.elapsed(),
        );
        run
    }

    async fn steps(
        &self,
        image: &str,
        name: &str,
        root: &Path,
        with_idempotence: bool,
    ) -> ScenarioRun {
        let events = &self.session.events;
        let scope = Scope::Scenario(name.to_string());
        let mut run = ScenarioRun::new(name);
        let host = self.project.name.as_str();

        events.stage(&scope, format!("starting a container from {image}"));
        let container = match self
            .session
            .janitor
            .run_container(image, name, Some(host))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return run.error(format!(
                    "infrastructure error: {e}; the change was not judged"
                ))
            }
        };
        run.container = Some(container.clone());

        events.stage(&scope, "provisioning");
        let request = self.request(root, &container, scope.clone());
        let provision_started = Instant::now();
        let outcome = match provision::run(&self.session.engine, &request, events).await {
            Ok(o) => o,
            Err(e) => return run.error(e.to_string()),
        };
        run.provision_ms = provision_started.elapsed().as_millis() as u64;
        run.report.provision = Some(provision_report(&outcome));
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
        self.check(&container, name, &scope, &mut run.report).await;
        run.checks_ms = checks_started.elapsed().as_millis() as u64;

        events.stage(&scope, "reading state");
        let diff_started = Instant::now();
        let manifest = match self.manifest(&container).await {
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
            let mut report = self.idempotence(&request, &manifest).await;
            run.idempotence_ms = idem_started.elapsed().as_millis() as u64;
            report.duration_ms = run.idempotence_ms;
            events.finished(
                &Scope::Scenario("idempotence".into()),
                Ending::Judged(report.status),
                idem_started.elapsed(),
            );
            run.idempotence = Some(report);
        }
        run.manifest = Some(manifest);
        run
    }

    fn request<'r>(
        &'r self,
        root: &'r Path,
        container: &'r str,
        scope: Scope,
    ) -> provision::Request<'r> {
        let mut request = provision::Request::for_project(
            self.project,
            root,
            container,
            &self.project.name,
            scope,
        );
        request.timeout = self.timeout;
        request
    }

    async fn manifest(&self, container: &str) -> Result<Manifest, String> {
        capture::manifest(
            &self.session.engine,
            container,
            &self.project.diff.paths,
            self.ignore.clone(),
        )
        .await
    }

    /// Runs the scenario's checks; failures and errors decide the scenario's status.
    async fn check(&self, container: &str, name: &str, scope: &Scope, report: &mut ScenarioReport) {
        let selected = check::for_scenario(self.checks, self.selection, Some(name));
        if selected.is_empty() {
            return;
        }
        let events = &self.session.events;
        events.stage(scope, format!("checks ({})", selected.len()));
        report.checks =
            check::evaluate(&self.session.engine, container, &selected, scope, events).await;
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.status == Verdict::Fail)
            .map(|c| c.name.as_str())
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

    /// Provisions the container a second time: the provisioner must report no change, and the
    /// filesystem must not move from `before`.
    async fn idempotence(
        &self,
        first: &provision::Request<'_>,
        before: &Manifest,
    ) -> ScenarioReport {
        let events = &self.session.events;
        let scope = Scope::Scenario("idempotence".into());
        events.stage(&scope, "provisioning a second time");
        let request = provision::Request {
            scope: scope.clone(),
            secrets: first.secrets.clone(),
            ..*first
        };
        let mut report = ScenarioReport::new("idempotence");
        let outcome = match provision::run(&self.session.engine, &request, events).await {
            Ok(outcome) => outcome,
            Err(e) => {
                report.status = Verdict::Error;
                report.message = Some(e.to_string());
                return report;
            }
        };
        report.provision = Some(provision_report(&outcome));
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
        events.stage(&scope, "comparing state");
        match self.manifest(request.container).await {
            Ok(after) => {
                report.changed_paths = moved_paths(before, &after);
                let changes = &report.changed_paths;
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

/// The report's form of a provisioning run.
pub fn provision_report(outcome: &Outcome) -> ProvisionReport {
    ProvisionReport {
        status: outcome.status.verdict(),
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
