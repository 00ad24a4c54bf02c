//! Provisioners: run the project's provisioning code against a container.
//!
//! A [`Provisioner`] runs once against a container and says how it went: [`ansible`] runs
//! `ansible-playbook` on the host with the `community.docker.docker` connection; [`shell`]
//! copies a script into the container and runs it with `/bin/sh`. Around either one, [`run`]
//! enforces the timeout, keeps the output of a run that was cut short, and decides whether a
//! failure is the code's fault or the infrastructure's.

pub mod ansible;
pub mod explain;
pub mod inventory;
pub mod shell;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{EnvVar, Host, ProvisionKind};
use crate::docker::Engine;
use crate::event::{Events, Scope};
use crate::outcome::{FailureDetail, Verdict};
use crate::secret::Secrets;
use crate::written::{TaskChange, Written};

/// How a provisioning run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The provisioner succeeded.
    Ok,
    /// The provisioning code failed.
    Failed,
    /// The infrastructure failed (network, mirror, disk, container, timeout).
    Infrastructure,
}

impl Status {
    /// The verdict reports give it: `pass`, `fail` or `error`.
    pub fn verdict(self) -> Verdict {
        match self {
            Status::Ok => Verdict::Pass,
            Status::Failed => Verdict::Fail,
            Status::Infrastructure => Verdict::Error,
        }
    }
}

/// A host and the container that plays it in a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// The host.
    pub host: Host,
    /// Its container.
    pub container: String,
}

/// The result of one provisioning run (of every machine of a scenario).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Changes the provisioner reported on all hosts (`None` when it cannot tell, as with
    /// `shell`).
    pub changed: Option<u32>,
    /// The tasks that reported a change on any host, once each.
    pub changed_tasks: Vec<String>,
    /// The first failure, or the reason of the failure.
    pub failure: Option<Failure>,
    /// What each host went through, in the order of the request's machines.
    pub hosts: Vec<HostOutcome>,
    /// Plays whose pattern matched no host.
    pub unmatched: Vec<UnmatchedPlay>,
    /// Whether any task ran on any host (a playbook whose plays all target absent groups runs
    /// none).
    pub ran_tasks: bool,
    /// The whole output, secrets masked.
    pub log: String,
    /// How long it took.
    pub duration: Duration,
}

/// What one host went through.
#[derive(Debug, Clone, PartialEq)]
pub struct HostOutcome {
    /// The host's name.
    pub host: String,
    /// How it ended on this host.
    pub status: Status,
    /// Changes on this host.
    pub changed: Option<u32>,
    /// Tasks that changed something on this host.
    pub changed_tasks: Vec<String>,
    /// Why it failed on this host.
    pub failure: Option<Failure>,
    /// Which task last wrote each path it changed (Ansible only).
    pub written: Written,
    /// Every change a task reported on this host, in order, with its `--diff` text when the
    /// run showed diffs.
    pub changes: Vec<TaskChange>,
}

/// A play whose `hosts:` pattern matched no host of the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedPlay {
    /// The play's name.
    pub play: String,
    /// Its pattern.
    pub pattern: String,
    /// The playbook file, as shown.
    pub file: String,
    /// The play's line.
    pub line: usize,
}

impl Outcome {
    /// An outcome with nothing in it yet, for `hosts`.
    pub(crate) fn new(hosts: &[Machine], log: String) -> Outcome {
        Outcome {
            status: Status::Ok,
            changed: None,
            changed_tasks: Vec::new(),
            failure: None,
            hosts: hosts
                .iter()
                .map(|m| HostOutcome {
                    host: m.host.name.clone(),
                    status: Status::Ok,
                    changed: None,
                    changed_tasks: Vec::new(),
                    failure: None,
                    written: Written::default(),
                    changes: Vec::new(),
                })
                .collect(),
            unmatched: Vec::new(),
            ran_tasks: true,
            log,
            duration: Duration::ZERO,
        }
    }

    /// A run that failed with `failure` before it could say anything per host.
    pub fn failed(machines: &[Machine], failure: Failure, log: String) -> Outcome {
        let mut outcome = Outcome::new(machines, log);
        outcome.status = failure.status();
        for host in &mut outcome.hosts {
            host.status = outcome.status;
        }
        outcome.failure = Some(failure);
        outcome
    }

    /// The outcome of `host`.
    pub fn host(&self, name: &str) -> Option<&HostOutcome> {
        self.hosts.iter().find(|h| h.host == name)
    }

    /// The failure in one sentence, as a scenario reports it.
    pub fn failure_sentence(&self) -> String {
        let Some(f) = &self.failure else {
            return "provisioning failed".into();
        };
        let task = f
            .task
            .as_ref()
            .map(|t| format!("task \"{t}\" failed: "))
            .unwrap_or_default();
        match &f.infrastructure {
            Some(part) => format!(
                "infrastructure error ({part}) while provisioning: {task}{}; the change was not judged",
                f.explained()
            ),
            None => format!("provisioning failed: {task}{}", f.explained()),
        }
    }
}

/// Why provisioning failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The failing task (ansible) or `None`.
    pub task: Option<String>,
    /// What went wrong.
    pub message: String,
    /// What part of the infrastructure failed, when it was not the code.
    pub infrastructure: Option<String>,
    /// The host it failed on, when one did.
    pub host: Option<String>,
    /// Where the failing task is written (`file`, `line`).
    pub at: Option<(String, usize)>,
    /// What the task ran and printed, and what drydock found out about it.
    pub detail: FailureDetail,
}

impl Failure {
    /// A failure of the infrastructure's `part`.
    pub fn infrastructure(message: String, part: &str) -> Failure {
        Failure {
            infrastructure: Some(part.to_string()),
            ..Failure::code(message)
        }
    }

    /// The code's failure, with `message`.
    pub fn code(message: String) -> Failure {
        Failure {
            task: None,
            message,
            infrastructure: None,
            host: None,
            at: None,
            detail: FailureDetail::default(),
        }
    }

    /// The message, and what the task printed when the message alone does not say why
    /// (`non-zero return code (rc 127: /bin/sh: 1: pgrep: not found)`), and drydock's hint.
    pub fn explained(&self) -> String {
        let mut text = self.message.clone();
        if let Some(said) = self.detail.said() {
            if !text.contains(&said) {
                let rc = self
                    .detail
                    .rc
                    .map(|rc| format!("rc {rc}: "))
                    .unwrap_or_default();
                text = if text.is_empty() {
                    format!("{rc}{said}")
                } else {
                    format!("{text} ({rc}{said})")
                };
            }
        }
        if let Some(hint) = &self.detail.hint {
            text.push_str(&format!("; {hint}"));
        }
        text
    }

    /// `Infrastructure` when it names the part that broke, else `Failed`.
    pub fn status(&self) -> Status {
        if self.infrastructure.is_some() {
            Status::Infrastructure
        } else {
            Status::Failed
        }
    }
}

/// A provisioning request.
pub struct Request<'a> {
    /// The provisioner.
    pub kind: &'a ProvisionKind,
    /// The folder the provisioner's paths are relative to (the working tree, or a ref's tree).
    pub root: &'a Path,
    /// The hosts and their containers.
    pub machines: &'a [Machine],
    /// Environment for the provisioner.
    pub env: &'a [EnvVar],
    /// Values masked in every line of output.
    pub secrets: Secrets,
    /// Tags whose tasks are not run (ansible's `--skip-tags`).
    pub skip_tags: &'a [String],
    /// Whether to show what each change did (ansible's `--diff`).
    pub diff: bool,
    /// Whether to record which task wrote which path (on unless a benchmark measures its
    /// cost).
    pub record_writes: bool,
    /// How long it may take.
    pub timeout: Duration,
    /// Where progress goes.
    pub scope: Scope,
    /// The image the machines were started from (its Dockerfile and capabilities, for hints).
    pub image: &'a crate::config::DefaultImage,
}

impl<'a> Request<'a> {
    /// The project's provisioner, with its environment and timeout, run from `root` against
    /// `machines`.
    pub fn for_project(
        project: &'a crate::config::Project,
        image: &'a crate::config::DefaultImage,
        root: &'a Path,
        machines: &'a [Machine],
        scope: Scope,
    ) -> Self {
        Request {
            kind: &project.provision.kind,
            root,
            machines,
            env: &project.provision.env,
            secrets: project.provision.secrets(),
            skip_tags: &[],
            diff: false,
            record_writes: true,
            timeout: project.provision.timeout,
            scope,
            image,
        }
    }
}

/// Why a provisioner could not even start.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Ansible (`ansible-playbook`, `ansible-inventory`) is not installed.
    #[error("Ansible is not installed (`ansible-playbook`, `ansible-inventory`); the ansible provisioner needs it on the host (Debian/Ubuntu: `apt-get install ansible`, which brings ansible-core and community.docker; or `pip install ansible`)")]
    AnsibleMissing,
    /// The inventory cannot be read, or does not have the hosts asked for.
    #[error("{0}")]
    Inventory(String),
    /// A file could not be read or sent.
    #[error("{0}")]
    Io(String),
}

/// A way to provision a container. Implementations stream their output through [`Output`],
/// and report the code's failures in the [`Outcome`]; an `Err` means they could not run.
// Only used with static dispatch inside drydock, so the future's auto traits need no bound.
#[allow(async_fn_in_trait)]
pub trait Provisioner {
    /// Whether the provisioner can run on this machine.
    fn preflight(&self) -> Result<(), ProvisionError>;

    /// Runs once against `request.container`.
    async fn provision(
        &self,
        engine: &Engine,
        request: &Request<'_>,
        output: &Output<'_>,
    ) -> Result<Outcome, ProvisionError>;
}

/// Checks the project's provisioner can run here.
pub fn preflight(kind: &ProvisionKind) -> Result<(), ProvisionError> {
    match kind {
        ProvisionKind::Ansible(settings) => ansible::Ansible { settings }.preflight(),
        ProvisionKind::Shell { script } => shell::Shell { script }.preflight(),
    }
}

/// Runs the request's provisioner once against its container.
pub async fn run(
    engine: &Engine,
    request: &Request<'_>,
    events: &Events,
) -> Result<Outcome, ProvisionError> {
    match request.kind {
        ProvisionKind::Ansible(settings) => {
            run_with(&ansible::Ansible { settings }, engine, request, events).await
        }
        ProvisionKind::Shell { script } => {
            run_with(&shell::Shell { script }, engine, request, events).await
        }
    }
}

async fn run_with(
    provisioner: &impl Provisioner,
    engine: &Engine,
    request: &Request<'_>,
    events: &Events,
) -> Result<Outcome, ProvisionError> {
    let started = Instant::now();
    // The output so far survives a timeout, so a hung provisioner is reported with it.
    let output = Output::new(events, &request.scope, &request.secrets);
    let work = provisioner.provision(engine, request, &output);
    let mut outcome = match tokio::time::timeout(request.timeout, work).await {
        Ok(outcome) => outcome?,
        Err(_) => timed_out(request.machines, request.timeout, &output),
    };
    // Before anything else touches the container (the mirror probe updates apt's lists).
    if outcome.status == Status::Failed {
        explain::explain(engine, request, &mut outcome).await;
    }
    // A package failure may hide an unreachable mirror ("Unable to locate package" after a
    // silent failed update): ask the mirror itself before blaming the code.
    if outcome.status == Status::Failed {
        if let Some(failure) = &outcome.failure {
            let text = format!("{}\n{}", failure.message, outcome.log);
            if mentions_packages(&text) {
                let container = failure
                    .host
                    .as_deref()
                    .and_then(|h| request.machines.iter().find(|m| m.host.name == h))
                    .or(request.machines.first())
                    .map(|m| m.container.as_str());
                let probed = match container {
                    Some(c) => probe_mirror(engine, c).await,
                    None => None,
                };
                if let Some(line) = probed {
                    outcome.status = Status::Infrastructure;
                    outcome.failure = Some(Failure {
                        message: format!(
                            "{} (the package mirror is unreachable from the container: {line})",
                            failure.message
                        ),
                        infrastructure: Some("package mirror".into()),
                        ..failure.clone()
                    });
                }
            }
        }
    }
    // A container that stopped under the provisioner is an infrastructure failure, whatever
    // the provisioner made of it.
    if outcome.status != Status::Ok {
        for machine in request.machines {
            if engine.is_running(&machine.container).await.unwrap_or(false) {
                continue;
            }
            outcome.status = Status::Infrastructure;
            let task = outcome.failure.as_ref().and_then(|f| f.task.clone());
            outcome.failure = Some(Failure {
                task,
                host: Some(machine.host.name.clone()),
                ..Failure::infrastructure(
                    "the container stopped or was removed while it was being provisioned".into(),
                    "container",
                )
            });
            break;
        }
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

fn timed_out(machines: &[Machine], timeout: Duration, output: &Output<'_>) -> Outcome {
    let mut log = output.take_log();
    let last = last_lines(&log, 3);
    log.push_str(&format!(
        "\n[drydock] provisioning timed out after {} s and was stopped",
        timeout.as_secs()
    ));
    let failure = Failure {
        task: output.task(),
        ..Failure::infrastructure(
            format!(
                "provisioning did not finish within {} s (provision.timeout) and was stopped; last output: {}",
                timeout.as_secs(),
                if last.is_empty() { "(none)".to_string() } else { last }
            ),
            "timeout",
        )
    };
    Outcome::failed(machines, failure, log)
}

/// Where a provisioner's output goes: each line is masked, kept for the report (also when the
/// run is cut short) and shown as progress.
pub struct Output<'a> {
    events: &'a Events,
    scope: &'a Scope,
    secrets: &'a Secrets,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    log: String,
    task: Option<String>,
}

impl<'a> Output<'a> {
    /// Output of a provisioning run in `scope`, masked with `secrets`.
    pub fn new(events: &'a Events, scope: &'a Scope, secrets: &'a Secrets) -> Self {
        Output {
            events,
            scope,
            secrets,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// Keeps one line of output (masked) in the log; returns it masked.
    pub fn line(&self, line: &str) -> String {
        let line = self.secrets.mask(line);
        if let Ok(mut kept) = self.kept.lock() {
            kept.log.push_str(&line);
            kept.log.push('\n');
        }
        line
    }

    /// Shows `text` as progress.
    pub fn progress(&self, text: &str) {
        self.events.progress(self.scope, self.secrets.mask(text));
    }

    /// Records and shows the task that started.
    pub fn task_started(&self, task: &str) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.task = Some(task.to_string());
        }
        self.progress(task);
    }

    /// The task running last.
    pub fn task(&self) -> Option<String> {
        self.kept.lock().ok().and_then(|k| k.task.clone())
    }

    /// The log so far, taken out.
    pub fn take_log(&self) -> String {
        self.kept
            .lock()
            .map(|mut k| std::mem::take(&mut k.log))
            .unwrap_or_default()
    }

    /// The masked form of `text`.
    pub fn mask(&self, text: &str) -> String {
        self.secrets.mask(text)
    }

    /// Masks every string of a JSON value.
    pub fn mask_json(&self, value: &mut serde_json::Value) {
        self.secrets.mask_json(value)
    }
}

pub use crate::outcome::infrastructure_cause;

/// Whether a failure talks about packages, so the mirror is worth probing.
fn mentions_packages(text: &str) -> bool {
    [
        "Unable to locate package",
        "No package matching",
        "apt cache",
        "apt-get",
        "E: Package",
        "has no installation candidate",
        "Failed to fetch",
        "dpkg",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Runs `apt-get update` in the container; returns the line saying the mirror is unreachable,
/// or `None` when the mirror answers (or the image has no apt).
async fn probe_mirror(engine: &Engine, container: &str) -> Option<String> {
    let cmd = [
        "/bin/sh",
        "-c",
        "command -v apt-get >/dev/null 2>&1 || exit 0; apt-get update -q 2>&1",
    ];
    let run = engine.exec(container, &cmd, &[], None);
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| infrastructure_cause(l).is_some())
        .map(|l| l.trim().to_string())
}

/// The last `n` non-blank lines of a log, joined with ` | `.
pub fn last_lines(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_skip_blank_ones() {
        assert_eq!(last_lines("a\n\nb\nc\n  \n", 2), "b | c");
        assert_eq!(last_lines("", 3), "");
    }
}
