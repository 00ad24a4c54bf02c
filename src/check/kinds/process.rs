//! `process: NAME`: a live process by command name (zombies do not count), how many, as whom.

use super::{Kind, Parse, Spec};
use crate::check::facts::{Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `process` kind.
pub const KIND: Kind = Kind {
    name: "process",
    asserts: &["running", "min_count", "count", "user"],
    parse,
    gather,
};

/// A `process` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// The command name (as in `/proc/PID/comm`).
    pub name: String,
    /// `running` (default true).
    pub running: bool,
    /// `min_count`.
    pub min_count: Option<u32>,
    /// `count`: the number of live processes.
    pub count: Option<Matcher>,
    /// `user`.
    pub user: Option<String>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let name = p.subject_text()?;
    let running = p.flag("running", true);
    let min_count = p.opt("min_count", |d, n| {
        d.integer(n, "min_count", 1, 100_000).map(|c| c as u32)
    });
    let count = p.number("count", 0, 100_000);
    let user = p.opt("user", |d, n| d.non_empty_text(n, "user"));
    Some(Spec::new(Process {
        name,
        running: running?,
        min_count: min_count?,
        count: count?,
        user: user?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("procs") {
        // State comes before Uid in /proc/PID/status: a zombie (Z) or dead (X) process still
        // has a name, and must not count as running.
        s.line(
            "sec procs\nfor d in /proc/[0-9]*; do read -r c < \"$d/comm\" 2>/dev/null || continue; u=; t=; \
             while read -r k v r; do case $k in State:) t=$v;; Uid:) u=$v; break;; esac; done < \"$d/status\" 2>/dev/null; \
             echo \"${d#/proc/} $u $t $c\"; done",
        );
    }
}

/// One process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// Its pid.
    pub pid: u32,
    /// Its real uid.
    pub uid: Option<u32>,
    /// Its state letter from `/proc/PID/status` (`R`, `S`, `D`, `Z`, ...), when read.
    pub state: Option<char>,
    /// Its command name.
    pub comm: String,
}

impl Proc {
    /// Whether it is alive: a zombie (`Z`, exited, not yet reaped) or a dead (`X`) process
    /// keeps its name but runs nothing.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, Some('Z' | 'X'))
    }
}

/// The process table.
pub fn processes(facts: &Facts) -> std::sync::Arc<Vec<Proc>> {
    facts.table("procs", |f| {
        f.text("procs").map(|t| parse_procs(&t)).unwrap_or_default()
    })
}

fn parse_procs(text: &str) -> Vec<Proc> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            let pid = parts.next()?.parse().ok()?;
            let uid = parts.next()?.parse().ok();
            let state = parts.next()?.chars().next();
            let comm = parts.next()?.to_string();
            Some(Proc {
                pid,
                uid,
                state,
                comm,
            })
        })
        .collect()
}

impl super::Assertion for Process {
    fn kind(&self) -> &'static str {
        "process"
    }

    fn want(&self, w: &mut Wants) {
        w.flag("procs");
        if self.user.is_some() {
            w.flag("passwd");
        }
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let name = &self.name;
        let all = processes(facts);
        let (matching, zombies): (Vec<&Proc>, Vec<&Proc>) = all
            .iter()
            .filter(|p| &p.comm == name)
            .partition(|p| p.is_live());
        let zombies = if zombies.is_empty() {
            String::new()
        } else {
            let pids: Vec<String> = zombies.iter().map(|p| p.pid.to_string()).collect();
            format!(
                "; {} zombie (exited, not reaped) {name} process(es) not counted (pid {})",
                zombies.len(),
                pids.join(", ")
            )
        };
        if !self.running {
            return if matching.is_empty() {
                Judgement::pass(format!("no {name} process"))
            } else {
                Judgement::fail(format!(
                    "expected no {name} process, found {}",
                    matching.len()
                ))
            };
        }
        if matching.is_empty() {
            let names: std::collections::BTreeSet<&str> = all
                .iter()
                .filter(|p| p.is_live())
                .map(|p| p.comm.as_str())
                .collect();
            let names: Vec<&str> = names.into_iter().take(12).collect();
            let others = if names.is_empty() {
                String::new()
            } else {
                format!(" (running: {})", names.join(", "))
            };
            return Judgement::fail(format!(
                "expected a running {name} process, found none{zombies}{others}"
            ));
        }
        let mut problems = Vec::new();
        if let Some(min) = self.min_count {
            if (matching.len() as u32) < min {
                problems.push(format!(
                    "count: expected at least {min}, found {}",
                    matching.len()
                ));
            }
        }
        super::expect(&mut problems, "count", self.count.as_ref(),
            &matching.len().to_string(),
        );
        if let Some(user) = &self.user {
            let users = super::user::users(facts);
            let no_users = Default::default();
            let users = users.as_ref().as_ref().unwrap_or(&no_users);
            let uid = users.get(user).map(|u| u.uid).or_else(|| user.parse().ok());
            if !matching.iter().any(|p| p.uid.is_some() && p.uid == uid) {
                let found: Vec<String> = matching
                    .iter()
                    .filter_map(|p| p.uid)
                    .map(|uid| super::user::name_of(users, uid))
                    .collect();
                problems.push(format!("user: expected {user}, found {}", found.join(", ")));
            }
        }
        Judgement::from_problems(
            problems,
            format!("{} {name} process(es) running{zombies}", matching.len()),
        )
    }
}
