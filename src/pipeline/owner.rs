//! What drydock owns on the engine, and whether its owner is still alive.
//!
//! A container or network belongs to a drydock run only when drydock set its run labels at
//! creation: a `drydock-<project>-<run>-` name that matches its labels, a run id, a pid and a
//! host, none of them inherited from its image. Containers that people start from drydock's
//! images inherit the images' labels; they are never taken for a run's, whatever they say.
//!
//! Whether the run's process is gone is answered only where it can be: on the same machine
//! (host name and boot) and in the same PID namespace, with the process's start time guarding
//! against a reused pid. Everything else is "unknown" and left alone by sweeps.

use std::collections::HashMap;

use crate::docker::{LABEL_HOST, LABEL_PID, LABEL_PROCESS, LABEL_PROJECT, LABEL_RUN};

/// A process as the labels of what it creates name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The machine's host name.
    pub host: String,
    /// The kernel's boot id (a reboot changes it).
    pub boot: String,
    /// The PID namespace's inode (`/proc/self/ns/pid`).
    pub pid_namespace: String,
    /// The pid inside that namespace.
    pub pid: u32,
    /// The process's start time, in clock ticks since boot (`/proc/PID/stat`, field 22).
    pub started: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            boot: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            pid_namespace: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            pid,
            started: start_time(pid).unwrap_or(0),
        }
    }

    /// The value of [`LABEL_PROCESS`]: `boot/pid-namespace/pid/start-time`.
    pub fn process_label(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.boot, self.pid_namespace, self.pid, self.started
        )
    }

    /// The run labels of an object created by this process for run `run_id` of `project`.
    pub fn labels(&self, project: &str, run_id: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_PROJECT.to_string(), project.to_string()),
            (LABEL_RUN.to_string(), run_id.to_string()),
            (LABEL_PID.to_string(), self.pid.to_string()),
            (LABEL_HOST.to_string(), self.host.clone()),
            (LABEL_PROCESS.to_string(), self.process_label()),
        ])
    }
}

/// Whether the process that created an object still runs, as far as this process can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// It runs.
    Alive,
    /// It has ended.
    Gone,
    /// It cannot be seen from here: another machine, another boot, another PID namespace.
    Unknown,
}

/// Whether the creator of an object with `labels` is alive, seen from `me`; `alive(pid,
/// started)` looks a process up in this PID namespace (`started` is `None` for labels written
/// before the start time was recorded).
pub fn liveness(
    labels: &HashMap<String, String>,
    me: &Owner,
    alive: impl Fn(u32, Option<u64>) -> bool,
) -> Liveness {
    if labels.get(LABEL_HOST) != Some(&me.host) {
        return Liveness::Unknown;
    }
    let judge = |pid: u32, started: Option<u64>| {
        if alive(pid, started) {
            Liveness::Alive
        } else {
            Liveness::Gone
        }
    };
    match labels.get(LABEL_PROCESS) {
        Some(process) => {
            let mut parts = process.rsplitn(3, '/');
            let started = parts.next().and_then(|s| s.parse::<u64>().ok());
            let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
            let Some(place) = parts.next() else {
                return Liveness::Unknown;
            };
            let here = format!("{}/{}", me.boot, me.pid_namespace);
            match (pid, started) {
                (Some(pid), Some(started)) if place == here => judge(pid, Some(started)),
                _ => Liveness::Unknown,
            }
        }
        // Written before the process label existed: the pid is all there is.
        None => match labels.get(LABEL_PID).and_then(|p| p.parse::<u32>().ok()) {
            Some(pid) => judge(pid, None),
            None => Liveness::Unknown,
        },
    }
}

/// Whether a container with `name` (as the engine lists it, with or without its leading `/`)
/// and `labels` was created by a drydock run of `project` (any project when `None`): the run
/// labels are drydock's own (not inherited from the image, whose labels are `image_labels`) and
/// the name is the one drydock gave it.
pub fn owns_container(
    name: &str,
    labels: &HashMap<String, String>,
    image_labels: &HashMap<String, String>,
    project: Option<&str>,
) -> bool {
    if !owns_named(name, labels, project) {
        return false;
    }
    // Inherited from a production image committed before images lost their run labels.
    let inherited = [LABEL_RUN, LABEL_PROCESS, LABEL_PID].iter().any(|key| {
        labels
            .get(*key)
            .is_some_and(|v| image_labels.get(*key) == Some(v))
    });
    !inherited
}

/// Whether a network with `name` and `labels` was created by a drydock run of `project` (any
/// project when `None`).
pub fn owns_network(name: &str, labels: &HashMap<String, String>, project: Option<&str>) -> bool {
    owns_named(name, labels, project)
}

fn owns_named(name: &str, labels: &HashMap<String, String>, project: Option<&str>) -> bool {
    let value = |key: &str| labels.get(key).filter(|v| !v.is_empty());
    let (Some(labelled), Some(run), Some(_), Some(_)) = (
        value(LABEL_PROJECT),
        value(LABEL_RUN),
        value(LABEL_PID),
        value(LABEL_HOST),
    ) else {
        return false;
    };
    if project.is_some_and(|p| p != labelled) {
        return false;
    }
    let name = name.strip_prefix('/').unwrap_or(name);
    name.starts_with(&format!("drydock-{labelled}-{run}-"))
}

/// This machine's name, to tell our own leftovers from another host's on a shared engine.
pub fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| read_trimmed("/etc/hostname"))
        .unwrap_or_else(|| "unknown".into())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The start time of process `pid` in this PID namespace, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether process `pid` runs in this PID namespace (and, when `started` is given, is the same
/// process, not a later one that got its pid).
pub fn process_alive(pid: u32, started: Option<u64>) -> bool {
    match started {
        Some(started) => start_time(pid) == Some(started),
        None => std::path::Path::new(&format!("/proc/{pid}")).exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Owner {
        Owner {
            host: "ci-1".into(),
            boot: "b00t".into(),
            pid_namespace: "pid:[4026531836]".into(),
            pid: 77,
            started: 1234,
        }
    }

    fn labels_of(owner: &Owner) -> HashMap<String, String> {
        owner.labels("hello", "6750abcd0011223344")
    }

    #[test]
    fn the_creator_is_judged_only_where_it_can_be_seen() {
        let me = me();
        let mine = labels_of(&me);
        assert_eq!(liveness(&mine, &me, |_, _| true), Liveness::Alive);
        assert_eq!(liveness(&mine, &me, |_, _| false), Liveness::Gone);
        // Same pid, another PID namespace (a containerised CI job): not ours to judge.
        let other_namespace = Owner {
            pid_namespace: "pid:[4026532179]".into(),
            ..me.clone()
        };
        assert_eq!(
            liveness(&labels_of(&other_namespace), &me, |_, _| false),
            Liveness::Unknown
        );
        let other_host = Owner {
            host: "ci-2".into(),
            ..me.clone()
        };
        assert_eq!(
            liveness(&labels_of(&other_host), &me, |_, _| false),
            Liveness::Unknown
        );
        let rebooted = Owner {
            boot: "other".into(),
            ..me.clone()
        };
        assert_eq!(
            liveness(&labels_of(&rebooted), &me, |_, _| false),
            Liveness::Unknown
        );
    }

    #[test]
    fn a_reused_pid_is_not_the_creator() {
        let me = me();
        let mine = labels_of(&me);
        let seen = std::cell::Cell::new(None);
        liveness(&mine, &me, |pid, started| {
            seen.set(Some((pid, started)));
            false
        });
        assert_eq!(seen.get(), Some((77, Some(1234))));
        // This very process, by its real start time.
        let real = Owner::me();
        assert!(process_alive(real.pid, Some(real.started)));
        assert!(!process_alive(real.pid, Some(real.started + 1)));
    }

    #[test]
    fn labels_from_before_the_process_label_fall_back_to_the_pid() {
        let me = me();
        let mut old = labels_of(&me);
        old.remove(LABEL_PROCESS);
        assert_eq!(
            liveness(&old, &me, |pid, s| pid == 77 && s.is_none()),
            Liveness::Alive
        );
    }

    #[test]
    fn a_container_started_from_a_drydock_image_is_never_a_runs() {
        let me = me();
        let run = labels_of(&me);
        let name = "/drydock-hello-6750abcd0011223344-fresh";
        assert!(owns_container(name, &run, &HashMap::new(), Some("hello")));
        assert!(owns_container(name, &run, &HashMap::new(), None));
        assert!(!owns_container(name, &run, &HashMap::new(), Some("other")));
        // A person's container: its own name.
        assert!(!owns_container(
            "/vigilant_turing",
            &run,
            &HashMap::new(),
            None
        ));
        // Run labels inherited from an image committed with them, even under a drydock name.
        assert!(!owns_container(name, &run, &run, None));
        // An image committed without them (empty values) passes nothing on.
        let mut blank = run.clone();
        for key in crate::docker::RUN_LABELS {
            blank.insert(key.to_string(), String::new());
        }
        assert!(!owns_container(name, &blank, &blank, None));
        let project_only = HashMap::from([(LABEL_PROJECT.to_string(), "hello".to_string())]);
        assert!(!owns_container(name, &project_only, &HashMap::new(), None));
        assert!(owns_network(
            "drydock-hello-6750abcd0011223344-fresh",
            &run,
            Some("hello")
        ));
        assert!(!owns_network("bridge", &run, None));
    }
}
