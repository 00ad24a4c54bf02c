//! Provisioners: run the project's provisioning code against a container.
//!
//! `ansible` runs `ansible-playbook` on the host with the `community.docker.docker` connection;
//! `shell` copies a script into the container and runs it with `/bin/sh`. Both stream progress
//! as events, keep the whole log for the report, and say whether a failure is the code's fault
//! or the infrastructure's.

pub mod ansible;
pub mod output;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::config::{EnvVar, ProvisionKind};
use crate::docker::{Engine, OutputStream};
use crate::pipeline::events::{Events, Scope};

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
    /// `pass`, `fail` or `error`, as reports say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "pass",
            Status::Failed => "fail",
            Status::Infrastructure => "error",
        }
    }
}

/// The result of one provisioning run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Changes the provisioner reported (`None` when it cannot tell, as with `shell`).
    pub changed: Option<u32>,
    /// The tasks that reported a change.
    pub changed_tasks: Vec<String>,
    /// The failing task and its message, or the reason of the failure.
    pub failure: Option<Failure>,
    /// The whole output, secrets masked.
    pub log: String,
    /// How long it took.
    pub duration: Duration,
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
}

/// A provisioning request.
pub struct Request<'a> {
    /// The provisioner.
    pub kind: &'a ProvisionKind,
    /// The folder the provisioner's paths are relative to (the working tree, or a ref's tree).
    pub root: &'a Path,
    /// The container.
    pub container: &'a str,
    /// Environment for the provisioner.
    pub env: &'a [EnvVar],
    /// How long it may take.
    pub timeout: Duration,
    /// Where progress goes.
    pub scope: Scope,
}

impl<'a> Request<'a> {
    /// The project's provisioner, with its environment and timeout, run from `root`.
    pub fn for_project(
        project: &'a crate::config::Project,
        root: &'a Path,
        container: &'a str,
        scope: Scope,
    ) -> Self {
        Request {
            kind: &project.provision.kind,
            root,
            container,
            env: &project.provision.env,
            timeout: project.provision.timeout,
            scope,
        }
    }
}

/// Why a provisioner could not even start.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// `ansible-playbook` is not installed.
    #[error("`ansible-playbook` is not installed; the ansible provisioner needs it on the host (Debian/Ubuntu: `apt-get install ansible`, which brings ansible-core and community.docker; or `pip install ansible`)")]
    AnsibleMissing,
    /// A file could not be read or sent.
    #[error("{0}")]
    Io(String),
}

/// Checks the provisioner is installed.
pub fn preflight(kind: &ProvisionKind) -> Result<(), ProvisionError> {
    match kind {
        ProvisionKind::Ansible { .. } => crate::image::base::which("ansible-playbook")
            .map(|_| ())
            .ok_or(ProvisionError::AnsibleMissing),
        ProvisionKind::Shell { .. } => Ok(()),
    }
}

/// Runs the provisioner once against the container.
pub async fn run(
    engine: &Engine,
    request: &Request<'_>,
    events: &Events,
) -> Result<Outcome, ProvisionError> {
    let started = Instant::now();
    let secrets: Vec<&str> = request
        .env
        .iter()
        .filter(|e| e.secret && !e.value.is_empty())
        .map(|e| e.value.as_str())
        .collect();
    // The output so far survives a timeout, so a hung provisioner is reported with it.
    let transcript = Transcript::default();
    let work = async {
        match request.kind {
            ProvisionKind::Ansible { playbook } => {
                run_ansible(request, playbook, &secrets, events, &transcript).await
            }
            ProvisionKind::Shell { script } => {
                run_shell(engine, request, script, &secrets, events, &transcript).await
            }
        }
    };
    let result = tokio::time::timeout(request.timeout, work).await;
    let mut outcome = match result {
        Ok(r) => r?,
        Err(_) => {
            let mut log = transcript.take();
            let last = last_lines(&log, 3);
            log.push_str(&format!(
                "\n[drydock] provisioning timed out after {} s and was stopped",
                request.timeout.as_secs()
            ));
            Outcome {
                status: Status::Infrastructure,
                changed: None,
                changed_tasks: Vec::new(),
                failure: Some(Failure {
                    task: transcript.task(),
                    message: format!(
                        "provisioning did not finish within {} s (provision.timeout) and was stopped; last output: {}",
                        request.timeout.as_secs(),
                        if last.is_empty() { "(none)".to_string() } else { last }
                    ),
                    infrastructure: Some("timeout".into()),
                }),
                log,
                duration: Duration::ZERO,
            }
        }
    };
    // A package failure may hide an unreachable mirror ("Unable to locate package" after a
    // silent failed update): ask the mirror itself before blaming the code.
    if outcome.status == Status::Failed {
        if let Some(failure) = &outcome.failure {
            let text = format!("{}\n{}", failure.message, outcome.log);
            if mentions_packages(&text) {
                if let Some(line) = probe_mirror(engine, request.container).await {
                    outcome.status = Status::Infrastructure;
                    outcome.failure = Some(Failure {
                        task: failure.task.clone(),
                        message: format!(
                            "{} (the package mirror is unreachable from the container: {line})",
                            failure.message
                        ),
                        infrastructure: Some("package mirror".into()),
                    });
                }
            }
        }
    }
    // A container that stopped under the provisioner is an infrastructure failure, whatever
    // the provisioner made of it.
    if outcome.status != Status::Ok && !engine.is_running(request.container).await.unwrap_or(false)
    {
        outcome.status = Status::Infrastructure;
        outcome.failure = Some(Failure {
            task: outcome.failure.as_ref().and_then(|f| f.task.clone()),
            message: "the container stopped or was removed while it was being provisioned".into(),
            infrastructure: Some("container".into()),
        });
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

async fn run_ansible(
    request: &Request<'_>,
    playbook: &Path,
    secrets: &[&str],
    events: &Events,
    transcript: &Transcript,
) -> Result<Outcome, ProvisionError> {
    let mut command = Command::new("ansible-playbook");
    command
        .current_dir(request.root)
        .arg("-i")
        .arg(format!("{},", request.container))
        .arg("-c")
        .arg("community.docker.docker")
        .arg(playbook)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("ANSIBLE_HOST_KEY_CHECKING", "0")
        .env("ANSIBLE_PIPELINING", "1")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
        .env("ANSIBLE_SYSTEM_WARNINGS", "0")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in request.env {
        command.env(&var.name, &var.value);
    }
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ProvisionError::AnsibleMissing
        } else {
            ProvisionError::Io(format!("cannot start ansible-playbook: {e}"))
        }
    })?;
    let mut reader = ansible::Reader::default();
    let mut log = String::new();
    crate::provision::output::for_each_line(&mut child, |line| {
        let line = mask(&line, secrets);
        if let Some(task) = reader.feed(&line) {
            transcript.set_task(&task);
            events.progress(&request.scope, task);
        }
        transcript.push(&line);
        log.push_str(&line);
        log.push('\n');
    })
    .await;
    let status = child
        .wait()
        .await
        .map_err(|e| ProvisionError::Io(format!("waiting for ansible-playbook: {e}")))?;
    let summary = reader.finish();
    let code = status.code().unwrap_or(-1);
    let changed = summary.recap.map(|r| r.changed);
    let (status, failure) = if status.success() {
        (Status::Ok, None)
    } else {
        let (task, message) = match (&summary.failed_task, &summary.error) {
            (Some((task, message)), _) => (Some(task.clone()), message.clone()),
            (None, Some(error)) => (None, format!("ansible-playbook: {error}")),
            (None, None) => (
                None,
                format!(
                    "ansible-playbook exited with code {code}: {}",
                    last_lines(&log, 5)
                ),
            ),
        };
        let infrastructure = if summary.unreachable {
            Some("container connection (ansible reported the host unreachable)".to_string())
        } else {
            infrastructure_cause(&message)
                .or_else(|| infrastructure_cause(&log))
                .map(String::from)
        };
        let status = if infrastructure.is_some() {
            Status::Infrastructure
        } else {
            Status::Failed
        };
        (
            status,
            Some(Failure {
                task,
                message,
                infrastructure,
            }),
        )
    };
    Ok(Outcome {
        status,
        changed,
        changed_tasks: summary.changed_tasks,
        failure,
        log,
        duration: Duration::ZERO,
    })
}

/// Where the shell provisioner puts its script in the container.
pub const SHELL_SCRIPT_PATH: &str = "/tmp/drydock-provision.sh";

async fn run_shell(
    engine: &Engine,
    request: &Request<'_>,
    script: &Path,
    secrets: &[&str],
    events: &Events,
    transcript: &Transcript,
) -> Result<Outcome, ProvisionError> {
    let path = request.root.join(script);
    let content = tokio::fs::read(&path)
        .await
        .map_err(|e| ProvisionError::Io(format!("reading {}: {e}", path.display())))?;
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    let name = SHELL_SCRIPT_PATH.trim_start_matches("/tmp/");
    builder
        .append_data(&mut header, name, content.as_slice())
        .and_then(|_| builder.finish())
        .map_err(|e| ProvisionError::Io(format!("packing {}: {e}", path.display())))?;
    let tar = builder
        .into_inner()
        .map_err(|e| ProvisionError::Io(e.to_string()))?;
    let mut log = String::new();
    if let Err(e) = engine.upload(request.container, "/tmp", tar).await {
        return Ok(infrastructure_outcome(
            format!("copying the script into the container failed: {e}"),
            "container",
            log,
        ));
    }
    let env: Vec<String> = request
        .env
        .iter()
        .map(|v| format!("{}={}", v.name, v.value))
        .collect();
    let mut pending = String::new();
    let result = engine
        .exec_streaming(
            request.container,
            &["/bin/sh", SHELL_SCRIPT_PATH],
            &env,
            None,
            |_stream: OutputStream, bytes| {
                pending.push_str(&String::from_utf8_lossy(bytes));
                while let Some(end) = pending.find('\n') {
                    let line = mask(&pending[..end], secrets);
                    if !line.trim().is_empty() {
                        events.progress(&request.scope, line.clone());
                    }
                    transcript.push(&line);
                    log.push_str(&line);
                    log.push('\n');
                    pending.drain(..=end);
                }
            },
        )
        .await;
    if !pending.is_empty() {
        log.push_str(&mask(&pending, secrets));
    }
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            return Ok(infrastructure_outcome(
                format!("running the script failed: {e}"),
                "container",
                log,
            ))
        }
    };
    if code == 0 {
        return Ok(Outcome {
            status: Status::Ok,
            changed: None,
            changed_tasks: Vec::new(),
            failure: None,
            log,
            duration: Duration::ZERO,
        });
    }
    let message = format!(
        "{} exited with code {code}: {}",
        script.display(),
        last_lines(&log, 5)
    );
    let infrastructure = infrastructure_cause(&log).map(String::from);
    Ok(Outcome {
        status: if infrastructure.is_some() {
            Status::Infrastructure
        } else {
            Status::Failed
        },
        changed: None,
        changed_tasks: Vec::new(),
        failure: Some(Failure {
            task: None,
            message,
            infrastructure,
        }),
        log,
        duration: Duration::ZERO,
    })
}

/// Output lines shared with the caller, who keeps them when the run is cut short.
#[derive(Default)]
struct Transcript {
    lines: std::sync::Mutex<(String, Option<String>)>,
}

impl Transcript {
    fn push(&self, line: &str) {
        if let Ok(mut t) = self.lines.lock() {
            t.0.push_str(line);
            t.0.push('\n');
        }
    }

    fn set_task(&self, task: &str) {
        if let Ok(mut t) = self.lines.lock() {
            t.1 = Some(task.to_string());
        }
    }

    fn task(&self) -> Option<String> {
        self.lines.lock().ok().and_then(|t| t.1.clone())
    }

    fn take(&self) -> String {
        self.lines
            .lock()
            .map(|mut t| std::mem::take(&mut t.0))
            .unwrap_or_default()
    }
}

fn infrastructure_outcome(message: String, part: &str, log: String) -> Outcome {
    Outcome {
        status: Status::Infrastructure,
        changed: None,
        changed_tasks: Vec::new(),
        failure: Some(Failure {
            task: None,
            message,
            infrastructure: Some(part.to_string()),
        }),
        log,
        duration: Duration::ZERO,
    }
}

/// Messages that mean the infrastructure failed, not the provisioning code, and what part.
const INFRASTRUCTURE_PATTERNS: &[(&str, &str)] = &[
    ("Temporary failure resolving", "package mirror (DNS)"),
    ("Temporary failure in name resolution", "network (DNS)"),
    ("Could not resolve", "network (DNS)"),
    ("Could not connect to", "package mirror"),
    ("Failed to fetch", "package mirror"),
    ("Unable to connect to", "package mirror"),
    ("Connection timed out", "network"),
    ("connection timed out", "network"),
    ("Network is unreachable", "network"),
    ("No route to host", "network"),
    ("Failed to download metadata", "package mirror"),
    ("Cannot find a valid baseurl", "package mirror"),
    ("Curl error (6)", "network (DNS)"),
    ("Curl error (7)", "package mirror"),
    ("No space left on device", "disk full"),
    (
        "Failed to update apt cache: unknown reason",
        "package mirror",
    ),
    ("Some index files failed to download", "package mirror"),
];

/// The part of the infrastructure a failure message points at, if any.
pub fn infrastructure_cause(text: &str) -> Option<&'static str> {
    INFRASTRUCTURE_PATTERNS
        .iter()
        .find(|(pattern, _)| text.contains(pattern))
        .map(|(_, part)| *part)
}

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

/// Replaces every secret value in `text` with `***`.
pub fn mask(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret) {
            out = out.replace(secret, "***");
        }
    }
    out
}

fn last_lines(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_mirror_and_disk_failures() {
        assert_eq!(
            infrastructure_cause("E: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:9"),
            Some("package mirror")
        );
        assert_eq!(
            infrastructure_cause("W: Temporary failure resolving 'deb.debian.org'"),
            Some("package mirror (DNS)")
        );
        assert_eq!(
            infrastructure_cause("write error: No space left on device"),
            Some("disk full")
        );
        assert_eq!(
            infrastructure_cause("No package matching 'ngnix' is available"),
            None
        );
    }

    #[test]
    fn masks_secrets() {
        assert_eq!(
            mask("token=s3cr3t and s3cr3t", &["s3cr3t"]),
            "token=*** and ***"
        );
        assert_eq!(mask("nothing here", &["s3cr3t", ""]), "nothing here");
    }
}
