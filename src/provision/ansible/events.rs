//! Reading the event stream of drydock's callback plugin (`drydock_events.py`): one JSON line
//! per play, task start and host result, behind a marker on stderr. What a run did per host
//! comes from here, never from Ansible's human output, which a user's `ansible.cfg` may reshape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::outcome::FailureDetail;
use crate::written::{TaskChange, Writer, Written};

/// What starts a line of the event stream.
pub const MARKER: &str = "\u{1e}drydock-event ";

/// One event, as the plugin writes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A play starts.
    PlayStart(Play),
    /// The play's pattern matched no host.
    NoHostsMatched(Play),
    /// A task (or handler) starts.
    TaskStart(Task),
    /// A task's result on one host.
    Result(Box<TaskResult>),
    /// The recap: counts per host.
    Stats {
        /// Per host.
        hosts: BTreeMap<String, Counts>,
    },
}

/// A play and where it is written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Play {
    /// Its name.
    pub play: String,
    /// Its `hosts:` pattern.
    pub pattern: String,
    /// The playbook file.
    pub file: String,
    /// The play's line.
    pub line: usize,
}

/// A task and where it is written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Task {
    /// Its name.
    pub task: String,
    /// Its file.
    pub file: String,
    /// Its line.
    pub line: usize,
    /// The role it belongs to.
    pub role: Option<String>,
    /// Whether it is a handler.
    pub handler: bool,
}

/// One host's result of a task.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TaskResult {
    /// `ok`, `changed`, `failed`, `skipped` or `unreachable`.
    pub status: String,
    /// The host.
    pub host: String,
    /// The result's message.
    pub msg: String,
    /// The task.
    pub task: String,
    /// The task's file.
    pub file: String,
    /// The task's line.
    pub line: usize,
    /// The task's role.
    pub role: Option<String>,
    /// Whether a failure was ignored (`ignore_errors`).
    pub ignored: bool,
    /// What a failed result said beyond its message.
    pub detail: FailureDetail,
    /// The paths a changed result wrote.
    pub paths: Vec<String>,
    /// The folders a changed result filled whole.
    pub trees: Vec<String>,
    /// What `--diff` showed of a changed result.
    pub diff: Option<String>,
}

/// The recap numbers of one host.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Counts {
    /// `ok=`.
    pub ok: u32,
    /// `changed=`.
    pub changed: u32,
    /// `failed=`.
    pub failed: u32,
    /// `unreachable=`.
    pub unreachable: u32,
}

/// The event of a line, when the line is one; `mask` masks its text before it is read.
pub fn parse(line: &str, mask: impl Fn(&mut serde_json::Value)) -> Option<Event> {
    let json = line.strip_prefix(MARKER)?;
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    mask(&mut value);
    serde_json::from_value(value).ok()
}

/// A failed task on a host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFailure {
    /// The task.
    pub task: String,
    /// Its message.
    pub message: String,
    /// Where the task is written (`file:line`).
    pub at: Option<(String, usize)>,
    /// Whether the host became unreachable, rather than the task failing.
    pub unreachable: bool,
    /// What the task said beyond its message.
    pub detail: FailureDetail,
}

/// What one host went through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRun {
    /// Tasks that reported a change, in order, once each.
    pub changed_tasks: Vec<String>,
    /// The first task that failed on it (ignored failures aside).
    pub failure: Option<HostFailure>,
    /// The recap's counts, when the run got that far.
    pub counts: Option<Counts>,
    /// Which task last wrote each path it changed.
    pub written: Written,
    /// Every changed result, in order, with its `--diff` text.
    pub changes: Vec<TaskChange>,
}

/// Everything the event stream said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Per host, by name.
    pub hosts: BTreeMap<String, HostRun>,
    /// Plays whose pattern matched no host.
    pub unmatched: Vec<Play>,
    /// How many task results arrived (none: no task ran on any host).
    pub results: usize,
    /// The first failure of the run: host and failure.
    pub first_failure: Option<(String, HostFailure)>,
    /// Tasks that changed something on any host, in order, once each.
    pub changed_tasks: Vec<String>,
}

/// Folds events into a [`Summary`].
#[derive(Debug, Default)]
pub struct Reader {
    /// What was read so far.
    pub summary: Summary,
    /// The tree being provisioned: task files are named relative to it.
    root: PathBuf,
}

impl Reader {
    /// A reader for a run of the tree at `root`.
    pub fn new(root: &Path) -> Reader {
        Reader {
            summary: Summary::default(),
            root: root.to_path_buf(),
        }
    }

    /// Reads one event; returns the name of a task that starts, for progress.
    pub fn feed(&mut self, event: Event) -> Option<String> {
        let summary = &mut self.summary;
        match event {
            Event::PlayStart(_) => None,
            Event::NoHostsMatched(play) => {
                summary.unmatched.push(play);
                None
            }
            Event::TaskStart(task) => Some(named(&self.root, &task.task)),
            Event::Result(mut result) => {
                // A role given by its path (`role: "{{ playbook_dir }}"`) is named by it, and
                // the tree is a temporary copy: names are made relative to the tree.
                result.task = named(&self.root, &result.task);
                result.role = result.role.and_then(|r| role_in(&self.root, &r));
                summary.results += 1;
                let host = summary.hosts.entry(result.host.clone()).or_default();
                match result.status.as_str() {
                    "changed" => {
                        let file = shown(&self.root, &result.file);
                        let writer = Writer {
                            task: result.task.clone(),
                            file: file.clone(),
                            line: result.line,
                            role: result.role.clone(),
                        };
                        host.written.record(&writer, &result.paths, &result.trees);
                        host.changes.push(TaskChange {
                            host: result.host.clone(),
                            task: result.task.clone(),
                            file,
                            line: result.line,
                            diff: result.diff.clone(),
                        });
                        if !host.changed_tasks.contains(&result.task) {
                            host.changed_tasks.push(result.task.clone());
                        }
                        if !summary.changed_tasks.contains(&result.task) {
                            summary.changed_tasks.push(result.task.clone());
                        }
                    }
                    "failed" | "unreachable" if !result.ignored => {
                        let failure = HostFailure {
                            task: result.task.clone(),
                            message: result.msg.clone(),
                            at: (!result.file.is_empty())
                                .then(|| (result.file.clone(), result.line)),
                            unreachable: result.status == "unreachable",
                            detail: result.detail.clone(),
                        };
                        if host.failure.is_none() {
                            host.failure = Some(failure.clone());
                        }
                        if summary.first_failure.is_none() {
                            summary.first_failure = Some((result.host.clone(), failure));
                        }
                    }
                    _ => {}
                }
                None
            }
            Event::Stats { hosts } => {
                for (name, counts) in hosts {
                    summary.hosts.entry(name).or_default().counts = Some(counts);
                }
                None
            }
        }
    }
}

/// A task's name with the tree's path taken out: `/tmp/tree : Copy` → `Copy`,
/// `/tmp/tree/roles/web : Copy` → `roles/web : Copy`.
fn named(root: &Path, task: &str) -> String {
    let root = root.display().to_string();
    if root.len() <= 1 {
        return task.to_string();
    }
    let task = task.strip_prefix(&format!("{root} : ")).unwrap_or(task);
    task.replace(&format!("{root}/"), "")
}

/// A role's name relative to the tree; none when the role is the tree itself.
fn role_in(root: &Path, role: &str) -> Option<String> {
    if Path::new(role) == root {
        return None;
    }
    Some(shown(root, role))
}

/// `file` relative to `root` when it is inside it.
pub fn shown(root: &Path, file: &str) -> String {
    Path::new(file)
        .strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_given_by_its_path_is_named_relative_to_the_tree() {
        let root = Path::new("/tmp/drydock-tree-1e98-VGPK");
        assert_eq!(
            named(
                root,
                "/tmp/drydock-tree-1e98-VGPK : Copy Memcached configuration."
            ),
            "Copy Memcached configuration."
        );
        assert_eq!(
            named(root, "/tmp/drydock-tree-1e98-VGPK/roles/web : Copy"),
            "roles/web : Copy"
        );
        assert_eq!(named(root, "web : Copy"), "web : Copy");
        assert_eq!(role_in(root, "/tmp/drydock-tree-1e98-VGPK"), None);
        assert_eq!(
            role_in(root, "/tmp/drydock-tree-1e98-VGPK/roles/web").as_deref(),
            Some("roles/web")
        );
        assert_eq!(role_in(root, "web").as_deref(), Some("web"));
    }

    fn read(lines: &[&str]) -> Summary {
        let mut reader = Reader::new(Path::new("/p"));
        for line in lines {
            if let Some(event) = parse(&format!("{MARKER}{line}"), |_| {}) {
                reader.feed(event);
            }
        }
        reader.summary
    }

    #[test]
    fn reads_changes_failures_and_counts_per_host() {
        let summary = read(&[
            r#"{"event": "play_start", "play": "site", "pattern": "all", "file": "/p/site.yml", "line": 1}"#,
            r#"{"event": "task_start", "task": "Install nginx", "file": "/p/site.yml", "line": 4, "role": null, "handler": false}"#,
            r#"{"event": "result", "status": "changed", "host": "web", "msg": "", "task": "Install nginx", "file": "/p/site.yml", "line": 4}"#,
            r#"{"event": "result", "status": "ok", "host": "db", "msg": "", "task": "Install nginx", "file": "/p/site.yml", "line": 4}"#,
            r#"{"event": "result", "status": "failed", "host": "db", "msg": "ignored one", "task": "Probe", "file": "/p/site.yml", "line": 8, "ignored": true}"#,
            r#"{"event": "result", "status": "failed", "host": "db", "msg": "Destination /etc/x does not exist", "task": "Write", "file": "/p/site.yml", "line": 12}"#,
            r#"{"event": "stats", "hosts": {"web": {"ok": 2, "changed": 1, "failed": 0, "unreachable": 0}, "db": {"ok": 1, "changed": 0, "failed": 1, "unreachable": 0}}}"#,
        ]);
        assert_eq!(summary.results, 4);
        assert_eq!(summary.changed_tasks, ["Install nginx"]);
        assert_eq!(summary.hosts["web"].counts.map(|c| c.changed), Some(1));
        let (host, failure) = summary.first_failure.clone().unwrap();
        assert_eq!(host, "db");
        assert_eq!(failure.task, "Write");
        assert_eq!(failure.message, "Destination /etc/x does not exist");
        assert_eq!(failure.at, Some(("/p/site.yml".to_string(), 12)));
        assert!(summary.hosts["web"].failure.is_none());
    }

    #[test]
    fn a_failed_command_keeps_its_exit_code_command_and_output() {
        let summary = read(&[
            r#"{"event": "result", "status": "failed", "host": "web", "msg": "non-zero return code", "task": "Probe", "file": "/p/site.yml", "line": 8, "detail": {"rc": 127, "cmd": "pgrep nginx", "stderr": "/bin/sh: 1: pgrep: not found"}}"#,
        ]);
        let (_, failure) = summary.first_failure.unwrap();
        assert_eq!(failure.message, "non-zero return code");
        assert_eq!(failure.detail.rc, Some(127));
        assert_eq!(failure.detail.cmd.as_deref(), Some("pgrep nginx"));
        assert_eq!(
            failure.detail.stderr.as_deref(),
            Some("/bin/sh: 1: pgrep: not found")
        );
    }

    #[test]
    fn event_text_is_masked_before_it_is_read() {
        let line = format!(
            r#"{MARKER}{{"event": "result", "status": "failed", "host": "web", "msg": "token s3cret rejected", "task": "t", "detail": {{"stderr": "s3cret"}}}}"#
        );
        let secrets = crate::secret::Secrets::new(["s3cret".to_string()]);
        let Some(Event::Result(result)) = parse(&line, |v| secrets.mask_json(v)) else {
            panic!("not a result");
        };
        assert_eq!(result.msg, "token *** rejected");
        assert_eq!(result.detail.stderr.as_deref(), Some("***"));
    }

    #[test]
    fn plays_without_hosts_are_kept_with_their_line() {
        let summary = read(&[
            r#"{"event": "play_start", "play": "web", "pattern": "webservers", "file": "/p/site.yml", "line": 3}"#,
            r#"{"event": "no_hosts_matched", "play": "web", "pattern": "webservers", "file": "/p/site.yml", "line": 3}"#,
        ]);
        assert_eq!(summary.results, 0);
        assert_eq!(summary.unmatched.len(), 1);
        assert_eq!(summary.unmatched[0].pattern, "webservers");
        assert_eq!(summary.unmatched[0].line, 3);
    }

    #[test]
    fn other_lines_are_not_events() {
        assert_eq!(parse("TASK [x] ****", |_| {}), None);
        assert_eq!(parse(&format!("{MARKER}not json"), |_| {}), None);
    }

    #[test]
    fn changed_results_say_which_task_wrote_which_path() {
        let summary = read(&[
            r#"{"event": "result", "status": "changed", "host": "web", "msg": "", "task": "Vhost", "file": "/p/roles/web/tasks/main.yml", "line": 7, "role": "web", "paths": ["/etc/nginx/sites-enabled/test.dev.conf"], "diff": "--- before\n+++ after"}"#,
            r#"{"event": "result", "status": "changed", "host": "web", "msg": "", "task": "Unpack", "file": "/p/site.yml", "line": 20, "trees": ["/opt/app"]}"#,
            r#"{"event": "result", "status": "ok", "host": "web", "msg": "", "task": "Probe", "file": "/p/site.yml", "line": 30, "paths": ["/etc/probed"]}"#,
        ]);
        let web = &summary.hosts["web"];
        let vhost = web
            .written
            .who("/etc/nginx/sites-enabled/test.dev.conf")
            .unwrap();
        assert_eq!(
            (
                vhost.task.as_str(),
                vhost.file.as_str(),
                vhost.line,
                vhost.role.as_deref()
            ),
            ("Vhost", "roles/web/tasks/main.yml", 7, Some("web"))
        );
        assert_eq!(web.written.who("/opt/app/bin/run").unwrap().task, "Unpack");
        assert_eq!(
            web.written.who("/etc/probed"),
            None,
            "an unchanged result wrote nothing"
        );
        assert_eq!(web.changes.len(), 2);
        assert_eq!(
            web.changes[0].diff.as_deref(),
            Some("--- before\n+++ after")
        );
        assert_eq!(web.changes[1].diff, None);
    }
}
