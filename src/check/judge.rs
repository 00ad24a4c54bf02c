//! Judging a check against gathered facts: pass, fail (with expected vs found) or error.

use std::collections::BTreeMap;

use super::facts::{Facts, MAX_CONTENT};
use crate::config::{FileType, Pattern, Protocol, Spec, VersionWant};
use crate::outcome::Verdict;

/// A check's outcome before it is wrapped in a report entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// pass, fail or error.
    pub status: Verdict,
    /// What was expected and what was found.
    pub message: String,
}

impl Judgement {
    pub(super) fn from_problems(problems: Vec<String>, ok: String) -> Judgement {
        if problems.is_empty() {
            Judgement {
                status: Verdict::Pass,
                message: ok,
            }
        } else {
            Judgement {
                status: Verdict::Fail,
                message: problems.join("; "),
            }
        }
    }

    /// An evaluation error.
    pub fn error(message: impl Into<String>) -> Judgement {
        Judgement {
            status: Verdict::Error,
            message: message.into(),
        }
    }
}

/// Judges a declarative check (file, package, process, port, user, group).
pub fn judge(spec: &Spec, facts: &Facts) -> Judgement {
    if !facts.complete {
        return Judgement::error("the fact-gathering script did not finish in the container");
    }
    let missing = |tool: &str| facts.missing_tools.iter().any(|t| t == tool);
    match spec {
        Spec::File {
            contains,
            sha256,
            target,
            ..
        } if missing("stat")
            || (!contains.is_empty() && missing("head"))
            || (sha256.is_some() && missing("sha256sum"))
            || (target.is_some() && missing("readlink")) =>
        {
            return Judgement::error(format!(
                "the container lacks the tools file checks need ({})",
                facts.missing_tools.join(", ")
            ));
        }
        Spec::Port { .. } if !facts.sockets_read => {
            return Judgement::error(
                "no socket table (/proc/net/tcp, udp) is readable in the container",
            );
        }
        Spec::User { .. } if facts.users.is_none() || facts.groups.is_none() => {
            return Judgement::error("the container has no readable /etc/passwd or /etc/group");
        }
        Spec::Group { .. } if facts.groups.is_none() => {
            return Judgement::error("the container has no readable /etc/group");
        }
        _ => {}
    }
    let no_users = BTreeMap::new();
    let no_groups = BTreeMap::new();
    let user_db = facts.users.as_ref().unwrap_or(&no_users);
    let group_db = facts.groups.as_ref().unwrap_or(&no_groups);
    match spec {
        Spec::File {
            path,
            exists,
            kind,
            mode,
            owner,
            group,
            size,
            sha256,
            contains,
            target,
        } => {
            let Some(stat) = facts.stat.get(path) else {
                return if *exists {
                    Judgement::from_problems(
                        vec![format!("{path}: expected to exist, not found")],
                        String::new(),
                    )
                } else {
                    Judgement::from_problems(Vec::new(), format!("{path} is absent"))
                };
            };
            if !*exists {
                return Judgement::from_problems(
                    vec![format!(
                        "{path}: expected to be absent, found a {}",
                        stat.kind
                    )],
                    String::new(),
                );
            }
            let found_type = match stat.kind.as_str() {
                "regular file" | "regular empty file" => Some(FileType::File),
                "directory" => Some(FileType::Directory),
                "symbolic link" => Some(FileType::Symlink),
                _ => None,
            };
            let mut problems = Vec::new();
            if let Some(kind) = kind {
                if found_type != Some(*kind) {
                    problems.push(format!(
                        "type: expected {}, found {}",
                        kind.as_str(),
                        stat.kind
                    ));
                }
            }
            if let Some(mode) = mode {
                if stat.mode != *mode {
                    problems.push(format!(
                        "mode: expected {mode:04o}, found {:04o}",
                        stat.mode
                    ));
                }
            }
            if let Some(owner) = owner {
                if !names_match(owner, &stat.user, stat.uid) {
                    problems.push(format!("owner: expected {owner}, found {}", stat.user));
                }
            }
            if let Some(group) = group {
                if !names_match(group, &stat.group, stat.gid) {
                    problems.push(format!("group: expected {group}, found {}", stat.group));
                }
            }
            if let Some(size) = size {
                if stat.size != *size {
                    problems.push(format!("size: expected {size}, found {}", stat.size));
                }
            }
            if let Some(want) = sha256 {
                match facts.sha256.get(path) {
                    Some(found) if found == want => {}
                    Some(found) => problems.push(format!("sha256: expected {want}, found {found}")),
                    None => problems.push("sha256: not a readable regular file".to_string()),
                }
            }
            if let Some(want) = target {
                match facts.link.get(path) {
                    Some(found) if found == want => {}
                    Some(found) => problems.push(format!("target: expected {want}, found {found}")),
                    None => problems.push(format!(
                        "target: expected a symlink to {want}, found a {}",
                        stat.kind
                    )),
                }
            }
            if !contains.is_empty() {
                match facts.content.get(path) {
                    None => {
                        problems.push(format!("contains: {path} is not a readable regular file"))
                    }
                    Some(bytes) => {
                        let text = String::from_utf8_lossy(bytes);
                        for pattern in contains {
                            if !pattern.is_match(&text) {
                                let mut problem = format!("contains: {pattern} not found");
                                if stat.size as usize > MAX_CONTENT {
                                    problem.push_str(&format!(
                                        " in the first {} MiB",
                                        MAX_CONTENT / 1024 / 1024
                                    ));
                                }
                                if let Some(near) = nearest_line(pattern, &text) {
                                    problem.push_str(&format!("; nearest line: {near:?}"));
                                }
                                problems.push(problem);
                            }
                        }
                    }
                }
            }
            Judgement::from_problems(problems, format!("{path} is a {} as expected", stat.kind))
        }
        Spec::Package {
            name,
            installed,
            version,
        } => {
            let Some(packages) = &facts.packages else {
                return Judgement::error(
                    "no package database found in the container (dpkg, rpm or apk)",
                );
            };
            match (packages.get(name), installed) {
                (None, true) => Judgement::from_problems(
                    vec![format!("{name}: expected installed, not installed")],
                    String::new(),
                ),
                (None, false) => {
                    Judgement::from_problems(Vec::new(), format!("{name} is not installed"))
                }
                (Some(v), false) => Judgement::from_problems(
                    vec![format!("{name}: expected absent, installed ({v})")],
                    String::new(),
                ),
                (Some(v), true) => {
                    let mut problems = Vec::new();
                    match version {
                        Some(VersionWant::Prefix(want)) if !version_matches(want, v) => {
                            problems.push(format!("version: expected {want}, found {v}"));
                        }
                        Some(VersionWant::Constraints { all, written })
                            if !all.iter().all(|c| c.holds(v)) =>
                        {
                            problems.push(format!(
                                "version: expected {written} (dpkg's ordering), found {v}"
                            ));
                        }
                        _ => {}
                    }
                    Judgement::from_problems(problems, format!("{name} {v} is installed"))
                }
            }
        }
        Spec::Service {
            name,
            running,
            enabled,
        } => super::service::judge(name, *running, *enabled, facts.services.get(name)),
        Spec::Process {
            name,
            running,
            min_count,
            user,
        } => {
            let (matching, zombies): (Vec<_>, Vec<_>) = facts
                .processes
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
            if !*running {
                return if matching.is_empty() {
                    Judgement::from_problems(Vec::new(), format!("no {name} process"))
                } else {
                    Judgement::from_problems(
                        vec![format!(
                            "expected no {name} process, found {}",
                            matching.len()
                        )],
                        String::new(),
                    )
                };
            }
            if matching.is_empty() {
                let names: std::collections::BTreeSet<&str> = facts
                    .processes
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
                return Judgement::from_problems(
                    vec![format!(
                        "expected a running {name} process, found none{zombies}{others}"
                    )],
                    String::new(),
                );
            }
            let mut problems = Vec::new();
            if let Some(min) = min_count {
                if (matching.len() as u32) < *min {
                    problems.push(format!(
                        "count: expected at least {min}, found {}",
                        matching.len()
                    ));
                }
            }
            if let Some(user) = user {
                let uid = user_db
                    .get(user)
                    .map(|u| u.uid)
                    .or_else(|| user.parse().ok());
                if !matching.iter().any(|p| p.uid.is_some() && p.uid == uid) {
                    let found: Vec<String> = matching
                        .iter()
                        .filter_map(|p| p.uid)
                        .map(|uid| user_name(user_db, uid))
                        .collect();
                    problems.push(format!("user: expected {user}, found {}", found.join(", ")));
                }
            }
            Judgement::from_problems(
                problems,
                format!("{} {name} process(es) running{zombies}", matching.len()),
            )
        }
        Spec::Port {
            port,
            protocol,
            listening,
            address,
        } => {
            let proto = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            let bound: Vec<_> = facts
                .sockets
                .iter()
                .filter(|s| s.protocol == proto && s.port == *port && s.listening)
                .collect();
            if !*listening {
                return if bound.is_empty() {
                    Judgement::from_problems(
                        Vec::new(),
                        format!("nothing listens on {proto}/{port}"),
                    )
                } else {
                    Judgement::from_problems(
                        vec![format!(
                            "{proto}/{port}: expected closed, listening on {}",
                            bound[0].address
                        )],
                        String::new(),
                    )
                };
            }
            if bound.is_empty() {
                let mut open: Vec<String> = facts
                    .sockets
                    .iter()
                    .filter(|s| s.protocol == proto && s.listening)
                    .map(|s| s.port.to_string())
                    .collect();
                open.sort();
                open.dedup();
                let open = if open.is_empty() {
                    "none".to_string()
                } else {
                    open.join(", ")
                };
                return Judgement::from_problems(
                    vec![format!("{proto}/{port}: expected listening, not listening (listening {proto} ports: {open})")],
                    String::new(),
                );
            }
            let mut problems = Vec::new();
            if let Some(address) = address {
                if !bound.iter().any(|s| &s.address == address) {
                    let found: Vec<&str> = bound.iter().map(|s| s.address.as_str()).collect();
                    problems.push(format!(
                        "address: expected {address}, found {}",
                        found.join(", ")
                    ));
                }
            }
            Judgement::from_problems(
                problems,
                format!("{proto}/{port} is listening on {}", bound[0].address),
            )
        }
        Spec::User {
            name,
            exists,
            uid,
            gid,
            groups,
            home,
            shell,
        } => {
            let Some(user) = user_db.get(name) else {
                return if *exists {
                    Judgement::from_problems(
                        vec![format!(
                            "user {name}: expected to exist, not found in /etc/passwd"
                        )],
                        String::new(),
                    )
                } else {
                    Judgement::from_problems(Vec::new(), format!("no user {name}"))
                };
            };
            if !*exists {
                return Judgement::from_problems(
                    vec![format!(
                        "user {name}: expected absent, found uid {}",
                        user.uid
                    )],
                    String::new(),
                );
            }
            let mut problems = Vec::new();
            if let Some(want) = uid {
                if user.uid != *want {
                    problems.push(format!("uid: expected {want}, found {}", user.uid));
                }
            }
            if let Some(want) = gid {
                if user.gid != *want {
                    problems.push(format!("gid: expected {want}, found {}", user.gid));
                }
            }
            if let Some(want) = home {
                if &user.home != want {
                    problems.push(format!("home: expected {want}, found {}", user.home));
                }
            }
            if let Some(want) = shell {
                if &user.shell != want {
                    problems.push(format!("shell: expected {want}, found {}", user.shell));
                }
            }
            for group in groups {
                let member = group_db
                    .get(group)
                    .is_some_and(|g| g.gid == user.gid || g.members.contains(name));
                if !member {
                    problems.push(format!("groups: expected member of {group}, is not"));
                }
            }
            Judgement::from_problems(problems, format!("user {name} (uid {}) exists", user.uid))
        }
        Spec::Group { name, exists, gid } => match (group_db.get(name), exists) {
            (None, true) => Judgement::from_problems(
                vec![format!(
                    "group {name}: expected to exist, not found in /etc/group"
                )],
                String::new(),
            ),
            (None, false) => Judgement::from_problems(Vec::new(), format!("no group {name}")),
            (Some(g), false) => Judgement::from_problems(
                vec![format!(
                    "group {name}: expected absent, found gid {}",
                    g.gid
                )],
                String::new(),
            ),
            (Some(g), true) => {
                let mut problems = Vec::new();
                if let Some(want) = gid {
                    if g.gid != *want {
                        problems.push(format!("gid: expected {want}, found {}", g.gid));
                    }
                }
                Judgement::from_problems(problems, format!("group {name} (gid {}) exists", g.gid))
            }
        },
        Spec::Command { .. } | Spec::Http { .. } => Judgement::error("not a declarative check"),
    }
}

fn names_match(want: &str, name: &str, id: u32) -> bool {
    want == name || want.parse::<u32>().ok() == Some(id)
}

fn user_name(users: &BTreeMap<String, crate::check::facts::User>, uid: u32) -> String {
    users
        .iter()
        .find(|(_, u)| u.uid == uid)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| uid.to_string())
}

/// Exact match, or a prefix that ends at a version component boundary (`1.22` matches
/// `1.22.1-9` but not `1.221`).
pub fn version_matches(want: &str, found: &str) -> bool {
    if want == found {
        return true;
    }
    found.starts_with(want)
        && found[want.len()..]
            .chars()
            .next()
            .is_some_and(|c| matches!(c, '.' | '-' | '+' | '~' | ':'))
}

/// The line of `text` most like the pattern's text, for "nearest line" hints.
pub fn nearest_line(pattern: &Pattern, text: &str) -> Option<String> {
    let Pattern::Text(want) = pattern else {
        return None;
    };
    text.lines()
        .take(5000)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let line = line.trim();
            let line: String = line.chars().take(200).collect();
            let ratio = similar::TextDiff::from_chars(want.as_str(), line.as_str()).ratio();
            (ratio, line)
        })
        .filter(|(ratio, _)| *ratio >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, line)| line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::facts::{Process, Socket, Stat};

    fn facts() -> Facts {
        let mut f = Facts {
            complete: true,
            ..Default::default()
        };
        f.stat.insert(
            "/var/www/html/index.html".into(),
            Stat {
                kind: "regular file".into(),
                mode: 0o600,
                uid: 0,
                gid: 0,
                user: "root".into(),
                group: "root".into(),
                size: 16,
            },
        );
        f.content.insert(
            "/var/www/html/index.html".into(),
            b"Hello old world\n".to_vec(),
        );
        f.packages = Some([("nginx".to_string(), "1.22.1-9".to_string())].into());
        f.processes = vec![Process {
            pid: 7,
            uid: Some(33),
            state: Some('S'),
            comm: "nginx".into(),
        }];
        f.sockets_read = true;
        f.sockets = vec![Socket {
            protocol: "tcp",
            address: "0.0.0.0".into(),
            port: 8080,
            listening: true,
        }];
        f
    }

    fn file(mode: Option<u32>, contains: Vec<Pattern>) -> Spec {
        Spec::File {
            path: "/var/www/html/index.html".into(),
            exists: true,
            kind: Some(FileType::File),
            mode,
            owner: Some("root".into()),
            group: None,
            size: None,
            sha256: None,
            contains,
            target: None,
        }
    }

    #[test]
    fn file_mode_message_shows_expected_and_found() {
        let j = judge(&file(Some(0o644), vec![]), &facts());
        assert_eq!(j.status, Verdict::Fail);
        assert_eq!(j.message, "mode: expected 0644, found 0600");
    }

    #[test]
    fn contains_message_shows_nearest_line() {
        let j = judge(
            &file(None, vec![Pattern::Text("Hello world".into())]),
            &facts(),
        );
        assert_eq!(j.status, Verdict::Fail);
        assert_eq!(
            j.message,
            "contains: \"Hello world\" not found; nearest line: \"Hello old world\""
        );
        let pass = judge(
            &file(Some(0o600), vec![Pattern::Text("old".into())]),
            &facts(),
        );
        assert_eq!(pass.status, Verdict::Pass);
    }

    #[test]
    fn packages_ports_processes() {
        let f = facts();
        let pkg = |name: &str, version: Option<&str>| Spec::Package {
            name: name.into(),
            installed: true,
            version: version.map(|v| VersionWant::Prefix(v.into())),
        };
        assert_eq!(judge(&pkg("nginx", Some("1.22")), &f).status, Verdict::Pass);
        assert_eq!(
            judge(&pkg("nginx", Some("1.2")), &f).message,
            "version: expected 1.2, found 1.22.1-9"
        );
        assert_eq!(
            judge(&pkg("apache2", None), &f).message,
            "apache2: expected installed, not installed"
        );
        let constrained = |written: &str| Spec::Package {
            name: "nginx".into(),
            installed: true,
            version: Some(VersionWant::Constraints {
                all: crate::config::version::parse_constraints(written).unwrap(),
                written: written.into(),
            }),
        };
        assert_eq!(
            judge(&constrained(">= 1.22~rc1, << 1.23"), &f).status,
            Verdict::Pass
        );
        assert_eq!(
            judge(&constrained(">= 1.22.1-10"), &f).message,
            "version: expected >= 1.22.1-10 (dpkg's ordering), found 1.22.1-9"
        );
        let port = Spec::Port {
            port: 80,
            protocol: Protocol::Tcp,
            listening: true,
            address: None,
        };
        assert_eq!(
            judge(&port, &f).message,
            "tcp/80: expected listening, not listening (listening tcp ports: 8080)"
        );
        let closed = Spec::Port {
            port: 8080,
            protocol: Protocol::Tcp,
            listening: false,
            address: None,
        };
        assert_eq!(
            judge(&closed, &f).message,
            "tcp/8080: expected closed, listening on 0.0.0.0"
        );
        let proc_ = Spec::Process {
            name: "nginx".into(),
            running: true,
            min_count: Some(2),
            user: None,
        };
        assert_eq!(
            judge(&proc_, &f).message,
            "count: expected at least 2, found 1"
        );
    }

    #[test]
    fn a_zombie_is_not_a_running_process() {
        let mut f = facts();
        f.processes = vec![Process {
            pid: 41,
            uid: Some(0),
            state: Some('Z'),
            comm: "nginx".into(),
        }];
        let running = Spec::Process {
            name: "nginx".into(),
            running: true,
            min_count: None,
            user: None,
        };
        let j = judge(&running, &f);
        assert_eq!(j.status, Verdict::Fail);
        assert_eq!(
            j.message,
            "expected a running nginx process, found none; 1 zombie (exited, not reaped) nginx process(es) not counted (pid 41)"
        );
        let stopped = Spec::Process {
            name: "nginx".into(),
            running: false,
            min_count: None,
            user: None,
        };
        assert_eq!(judge(&stopped, &f).status, Verdict::Pass);
        f.processes.push(Process {
            pid: 42,
            uid: Some(0),
            state: Some('S'),
            comm: "nginx".into(),
        });
        assert_eq!(
            judge(&running, &f).message,
            "1 nginx process(es) running; 1 zombie (exited, not reaped) nginx process(es) not counted (pid 41)"
        );
    }

    #[test]
    fn missing_package_database_is_an_error_not_a_failure() {
        let mut f = facts();
        f.packages = None;
        let j = judge(
            &Spec::Package {
                name: "x".into(),
                installed: true,
                version: None,
            },
            &f,
        );
        assert_eq!(j.status, Verdict::Error);
        let mut incomplete = facts();
        incomplete.complete = false;
        assert_eq!(
            judge(&file(None, vec![]), &incomplete).status,
            Verdict::Error
        );
    }
}
