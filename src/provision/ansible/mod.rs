//! The `ansible` provisioner: `ansible-playbook` on the host, reaching the container through the
//! `community.docker.docker` connection, and the reading of its output (task names for
//! progress, per-task results, the recap).

use std::path::Path;

use super::{
    infrastructure_cause, last_lines, Failure, Outcome, Output, ProvisionError, Provisioner,
    Request,
};
use crate::docker::Engine;

/// Runs a playbook.
pub struct Ansible<'a> {
    /// The playbook, relative to the request's root.
    pub playbook: &'a Path,
}

impl Provisioner for Ansible<'_> {
    fn preflight(&self) -> Result<(), ProvisionError> {
        crate::process::which("ansible-playbook")
            .map(|_| ())
            .ok_or(ProvisionError::AnsibleMissing)
    }

    async fn provision(
        &self,
        _engine: &Engine,
        request: &Request<'_>,
        output: &Output<'_>,
    ) -> Result<Outcome, ProvisionError> {
        // The inventory names the container after its host, so `inventory_hostname` is the
        // same in every scenario; `ansible_host` says which container that is today.
        let private = tempfile::Builder::new()
            .prefix("drydock-ansible-")
            .tempdir()
            .map_err(|e| ProvisionError::Io(format!("creating a private folder: {e}")))?;
        let inventory = private.path().join("inventory.yml");
        std::fs::write(&inventory, inventory_yaml(request.host, request.container))
            .map_err(|e| ProvisionError::Io(format!("writing {}: {e}", inventory.display())))?;
        let mut command = crate::process::piped("ansible-playbook");
        command
            .current_dir(request.root)
            .arg("-i")
            .arg(&inventory)
            .arg("-c")
            .arg("community.docker.docker")
            .arg(self.playbook)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_HOST_KEY_CHECKING", "0")
            .env("ANSIBLE_PIPELINING", "1")
            .env("ANSIBLE_STDOUT_CALLBACK", "default")
            .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
            .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
            .env("ANSIBLE_SYSTEM_WARNINGS", "0")
            .env("PYTHONUNBUFFERED", "1");
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
        let mut reader = Reader::default();
        crate::process::for_each_line(&mut child, |line| {
            let line = output.line(&line);
            if let Some(task) = reader.feed(&line) {
                output.task_started(&task);
            }
        })
        .await;
        let status = child
            .wait()
            .await
            .map_err(|e| ProvisionError::Io(format!("waiting for ansible-playbook: {e}")))?;
        let log = output.take_log();
        let summary = reader.finish();
        if status.success() {
            let changed = summary.recap.map(|r| r.changed);
            return Ok(Outcome::ok(changed, summary.changed_tasks, log));
        }
        let code = status.code().unwrap_or(-1);
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
        let failure = Failure {
            task,
            message,
            infrastructure,
        };
        let mut outcome = Outcome::failed(failure, summary.changed_tasks, log);
        outcome.changed = summary.recap.map(|r| r.changed);
        Ok(outcome)
    }
}

/// A one-host inventory: `host` is reached as container `container`.
fn inventory_yaml(host: &str, container: &str) -> String {
    let inventory = serde_json::json!({
        "all": { "hosts": { host: { "ansible_host": container } } }
    });
    // JSON is YAML; Ansible's yaml inventory plugin reads it.
    inventory.to_string()
}

/// What one line of `ansible-playbook` output says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `TASK [name]` or `RUNNING HANDLER [name]`.
    Task(String),
    /// `changed: [host]`.
    Changed,
    /// `fatal: [host]: FAILED! => {...}` with the message, or `UNREACHABLE!`.
    Fatal {
        /// Whether the host was unreachable rather than the task failing.
        unreachable: bool,
        /// The task's `msg` (or the raw JSON).
        message: String,
    },
    /// `...ignoring`: the previous failure is ignored by the playbook.
    Ignoring,
    /// The recap line for a host.
    Recap(Recap),
    /// `ERROR! ...`: the playbook could not be run at all.
    Error(String),
    /// Anything else.
    Other,
}

/// The `PLAY RECAP` numbers of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recap {
    /// `ok=`.
    pub ok: u32,
    /// `changed=`.
    pub changed: u32,
    /// `unreachable=`.
    pub unreachable: u32,
    /// `failed=`.
    pub failed: u32,
}

/// Classifies one output line.
pub fn parse_line(line: &str) -> Line {
    let line = line.trim_end();
    for prefix in ["TASK [", "RUNNING HANDLER ["] {
        if let Some(rest) = line.strip_prefix(prefix) {
            if let Some(end) = rest.rfind(']') {
                return Line::Task(rest[..end].to_string());
            }
        }
    }
    if line.starts_with("changed: [") {
        return Line::Changed;
    }
    if line.starts_with("fatal: [") || line.starts_with("failed: [") {
        let unreachable = line.contains("UNREACHABLE!");
        let message = line
            .split_once("=> ")
            .map(|(_, json)| message_of(json))
            .unwrap_or_else(|| line.to_string());
        return Line::Fatal {
            unreachable,
            message,
        };
    }
    if line.trim() == "...ignoring" {
        return Line::Ignoring;
    }
    if let Some(rest) = line.strip_prefix("ERROR! ") {
        return Line::Error(rest.to_string());
    }
    if let Some(recap) = parse_recap(line) {
        return Line::Recap(recap);
    }
    Line::Other
}

/// The `msg` of a task result, or its stderr, or the JSON as it is.
fn message_of(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(value) => {
            let msg = value.get("msg").and_then(|m| m.as_str()).unwrap_or("");
            let stderr = value.get("stderr").and_then(|m| m.as_str()).unwrap_or("");
            let mut parts: Vec<&str> = Vec::new();
            if !msg.is_empty() {
                parts.push(msg);
            }
            let (msg, stderr) = (msg.trim(), stderr.trim());
            if !stderr.is_empty() && !msg.contains(stderr) {
                parts.push(stderr);
            }
            if parts.is_empty() {
                json.to_string()
            } else {
                parts.join(": ").trim().to_string()
            }
        }
        Err(_) => json.to_string(),
    }
}

fn parse_recap(line: &str) -> Option<Recap> {
    let (_, counts) = line.split_once(" : ")?;
    let mut recap = Recap::default();
    let mut seen = 0;
    for word in counts.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        let Ok(value) = value.parse::<u32>() else {
            continue;
        };
        seen += 1;
        match key {
            "ok" => recap.ok = value,
            "changed" => recap.changed = value,
            "unreachable" => recap.unreachable = value,
            "failed" => recap.failed = value,
            _ => {}
        }
    }
    (seen >= 4 && counts.contains("changed=")).then_some(recap)
}

/// Everything learned from a whole run's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The recap, when the run got that far.
    pub recap: Option<Recap>,
    /// Tasks that reported `changed`, in order, once each.
    pub changed_tasks: Vec<String>,
    /// The first task that failed (not ignored), with its message.
    pub failed_task: Option<(String, String)>,
    /// Whether the host became unreachable.
    pub unreachable: bool,
    /// An `ERROR!` line.
    pub error: Option<String>,
}

/// Folds lines into a [`Summary`].
#[derive(Debug, Default)]
pub struct Reader {
    task: Option<String>,
    pending_failure: Option<(String, String)>,
    /// What was read so far.
    pub summary: Summary,
}

impl Reader {
    /// Reads one line; returns the task name when a new task starts.
    pub fn feed(&mut self, line: &str) -> Option<String> {
        match parse_line(line) {
            Line::Task(name) => {
                self.commit_failure();
                self.task = Some(name.clone());
                return Some(name);
            }
            Line::Changed => {
                if let Some(task) = &self.task {
                    if !self.summary.changed_tasks.contains(task) {
                        self.summary.changed_tasks.push(task.clone());
                    }
                }
            }
            Line::Fatal {
                unreachable,
                message,
            } => {
                self.commit_failure();
                if unreachable {
                    self.summary.unreachable = true;
                }
                let task = self.task.clone().unwrap_or_else(|| "(no task)".into());
                self.pending_failure = Some((task, message));
            }
            Line::Ignoring => self.pending_failure = None,
            Line::Recap(recap) => {
                self.commit_failure();
                self.summary.recap = Some(recap);
            }
            Line::Error(message) => {
                if self.summary.error.is_none() {
                    self.summary.error = Some(message);
                }
            }
            Line::Other => {}
        }
        None
    }

    fn commit_failure(&mut self) {
        if let Some(failure) = self.pending_failure.take() {
            if self.summary.failed_task.is_none() {
                self.summary.failed_task = Some(failure);
            }
        }
    }

    /// Ends reading and returns the summary.
    pub fn finish(mut self) -> Summary {
        self.commit_failure();
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inventory_names_the_host_and_points_at_the_container() {
        let yaml = inventory_yaml("hello", "0123abcd");
        let value: serde_json::Value = serde_json::from_str(&yaml).unwrap();
        assert_eq!(value["all"]["hosts"]["hello"]["ansible_host"], "0123abcd");
    }

    const RUN: &str = r#"
PLAY [Hello world web server] **************************************************

TASK [Install nginx] ***********************************************************
changed: [3f2a]

TASK [Configure the default site (port 80)] ************************************
ok: [3f2a]

TASK [Write the hello world page] **********************************************
changed: [3f2a]

TASK [Probe something] *********************************************************
fatal: [3f2a]: FAILED! => {"changed": false, "msg": "not there"}
...ignoring

TASK [Ensure nginx is started] *************************************************
fatal: [3f2a]: FAILED! => {"changed": false, "msg": "Unable to start service nginx: Job for nginx.service failed"}

PLAY RECAP *********************************************************************
3f2a                       : ok=3    changed=2    unreachable=0    failed=1    skipped=0    rescued=0    ignored=1
"#;

    #[test]
    fn reads_changed_tasks_failure_and_recap() {
        let mut reader = Reader::default();
        let mut tasks = Vec::new();
        for line in RUN.lines() {
            if let Some(task) = reader.feed(line) {
                tasks.push(task);
            }
        }
        let summary = reader.finish();
        assert_eq!(tasks.len(), 5);
        assert_eq!(
            summary.changed_tasks,
            ["Install nginx", "Write the hello world page"]
        );
        assert_eq!(
            summary.failed_task,
            Some((
                "Ensure nginx is started".to_string(),
                "Unable to start service nginx: Job for nginx.service failed".to_string()
            ))
        );
        assert_eq!(
            summary.recap,
            Some(Recap {
                ok: 3,
                changed: 2,
                unreachable: 0,
                failed: 1
            })
        );
        assert!(!summary.unreachable);
    }

    #[test]
    fn reads_unreachable_and_errors() {
        assert_eq!(
            parse_line(
                r#"fatal: [abc]: UNREACHABLE! => {"changed": false, "msg": "Failed to create temporary directory", "unreachable": true}"#
            ),
            Line::Fatal {
                unreachable: true,
                message: "Failed to create temporary directory".into()
            }
        );
        assert_eq!(
            parse_line("ERROR! the playbook: nope.yml could not be found"),
            Line::Error("the playbook: nope.yml could not be found".into())
        );
        assert_eq!(
            parse_line("RUNNING HANDLER [Reload nginx] ****"),
            Line::Task("Reload nginx".into())
        );
        assert_eq!(parse_line("ok: [abc]"), Line::Other);
    }

    #[test]
    fn message_falls_back_to_stderr_and_raw_json() {
        assert_eq!(
            message_of(r#"{"msg": "non-zero return code", "stderr": "boom"}"#),
            "non-zero return code: boom"
        );
        assert_eq!(message_of("not json"), "not json");
    }
}
