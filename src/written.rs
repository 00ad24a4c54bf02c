//! Who wrote a path: per host, the provisioning task that last changed each path, as the
//! provisioner reported it (Ansible's `dest`/`path` of the changed results, a command's
//! `creates`/`removes`, the folders an archive or a checkout filled). Ground floor: the
//! provisioner records it, the production image keeps it in a label, the reports name it.
//!
//! A path no task is known to have written has no writer: nothing here guesses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A task that wrote something, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    /// The task's name.
    pub task: String,
    /// Its file, relative to the tree that was provisioned.
    pub file: String,
    /// Its line.
    pub line: usize,
    /// The role it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Which task last wrote each path of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The tasks, each once.
    #[serde(rename = "t", default)]
    tasks: Vec<Writer>,
    /// Path → (task index, order of the write).
    #[serde(rename = "p", default)]
    paths: BTreeMap<String, (usize, u32)>,
    /// Folders a task filled whole (an unpacked archive, a checkout): every path under one
    /// is that task's, unless a later task wrote it. (folder, task index, order).
    #[serde(rename = "f", default)]
    trees: Vec<(String, usize, u32)>,
    /// How many writes were recorded.
    #[serde(rename = "n", default)]
    count: u32,
}

impl Written {
    /// Records that `writer` changed `paths`, and filled the folders `trees`.
    pub fn record(&mut self, writer: &Writer, paths: &[String], trees: &[String]) {
        if paths.is_empty() && trees.is_empty() {
            return;
        }
        let index = match self.tasks.iter().position(|t| t == writer) {
            Some(i) => i,
            None => {
                self.tasks.push(writer.clone());
                self.tasks.len() - 1
            }
        };
        self.count += 1;
        for path in paths.iter().filter_map(|p| normal(p)) {
            self.paths.insert(path, (index, self.count));
        }
        for tree in trees.iter().filter_map(|p| normal(p)) {
            self.trees.retain(|(t, _, _)| *t != tree);
            self.trees.push((tree, index, self.count));
        }
    }

    /// The task that last wrote `path`: the last of an exact write and the writes of the
    /// folders that hold it.
    pub fn who(&self, path: &str) -> Option<&Writer> {
        let exact = self.paths.get(path).copied();
        let tree = self
            .trees
            .iter()
            .filter(|(t, _, _)| {
                path.strip_prefix(t.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || t == "/")
            })
            .map(|(_, i, order)| (*i, *order))
            .max_by_key(|(_, order)| *order);
        let (index, _) = match (exact, tree) {
            (Some(e), Some(t)) => {
                if t.1 > e.1 {
                    t
                } else {
                    e
                }
            }
            (Some(e), None) => e,
            (None, Some(t)) => t,
            (None, None) => return None,
        };
        self.tasks.get(index)
    }

    /// Every path written exactly (not through a folder), with the task that last wrote it.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &Writer)> {
        self.paths
            .iter()
            .filter_map(|(path, (i, _))| Some((path.as_str(), self.tasks.get(*i)?)))
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.trees.is_empty()
    }

    /// As an image label's value.
    pub fn to_label(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From an image label's value; empty when it cannot be read.
    pub fn from_label(text: &str) -> Written {
        serde_json::from_str(text).unwrap_or_default()
    }
}

/// An absolute path without a trailing slash; `None` for anything else.
fn normal(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let trimmed = path.trim_end_matches('/');
    Some(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

/// A task that reported a change, and what Ansible showed of it with `--diff`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskChange {
    /// The host it changed.
    pub host: String,
    /// The task's name.
    pub task: String,
    /// Its file.
    pub file: String,
    /// Its line.
    pub line: usize,
    /// The change, as Ansible's `--diff` shows it (bounded), when the module says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, line: usize) -> Writer {
        Writer {
            task: name.into(),
            file: "site.yml".into(),
            line,
            role: None,
        }
    }

    #[test]
    fn the_last_writer_of_a_path_wins_exact_or_by_folder() {
        let mut w = Written::default();
        w.record(
            &task("vhost", 3),
            &["/etc/nginx/sites-enabled/test.conf".into()],
            &[],
        );
        w.record(&task("unpack", 9), &[], &["/opt/app/".into()]);
        w.record(&task("config", 12), &["/opt/app/config.yml".into()], &[]);
        assert_eq!(w.who("/etc/nginx/sites-enabled/test.conf").unwrap().line, 3);
        assert_eq!(w.who("/opt/app/bin/run").unwrap().task, "unpack");
        assert_eq!(w.who("/opt/app").unwrap().task, "unpack");
        assert_eq!(w.who("/opt/app/config.yml").unwrap().task, "config");
        assert_eq!(
            w.who("/opt/application"),
            None,
            "a sibling is not under the folder"
        );
        assert_eq!(w.who("/etc/motd"), None, "never a guess");
        // The same folder unpacked again later wins over the earlier exact write.
        w.record(&task("unpack", 9), &[], &["/opt/app".into()]);
        assert_eq!(w.who("/opt/app/config.yml").unwrap().task, "unpack");
        w.record(&task("relative", 20), &["etc/relative".into()], &[]);
        assert_eq!(
            w.who("etc/relative"),
            None,
            "only absolute paths are recorded"
        );
    }

    #[test]
    fn a_label_reads_back_as_it_was_written() {
        let mut w = Written::default();
        w.record(
            &task("vhost", 3),
            &["/etc/a".into(), "/etc/b".into()],
            &["/srv/x".into()],
        );
        let back = Written::from_label(&w.to_label());
        assert_eq!(back, w);
        assert_eq!(back.who("/srv/x/y").unwrap().task, "vhost");
        assert!(Written::from_label("not json").is_empty());
    }
}
