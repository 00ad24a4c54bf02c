//! `drydock suggest`: a starter check file from what a provisioned target holds beyond its
//! default image (packages, users, groups, listening ports, running programs) and the files the
//! playbook's tasks wrote, each check with a comment naming where it came from.

use std::collections::{BTreeMap, BTreeSet};

use crate::written::Writer;

/// What one container holds, as the fact exec read it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Observed {
    /// Installed packages and versions.
    pub packages: BTreeMap<String, String>,
    /// Packages apt installed only as dependencies of others (apt's extended states).
    pub automatic: BTreeSet<String>,
    /// Users: name → (uid, home, shell).
    pub users: BTreeMap<String, (u32, String, String)>,
    /// Groups: name → gid.
    pub groups: BTreeMap<String, u32>,
    /// Listening sockets: (protocol, port, address).
    pub listening: BTreeSet<(String, u16, String)>,
    /// Live processes: command name → uid.
    pub processes: BTreeMap<String, Option<u32>>,
    /// Enabled services (systemd units or SysV scripts with start links) and whether each runs.
    pub services: BTreeMap<String, bool>,
}

/// A file a task wrote, as it is in the target.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenFile {
    /// The path.
    pub path: String,
    /// `file`, `directory` or `symlink`.
    pub kind: &'static str,
    /// Permission bits.
    pub mode: u32,
    /// Owner name.
    pub owner: String,
    /// Group name.
    pub group: String,
    /// The task that last wrote it.
    pub writer: Writer,
}

/// Programs that are the check exec itself or a container's keep-alive, never a service.
const NOT_SERVICES: &[&str] = &[
    "sh",
    "bash",
    "cat",
    "sleep",
    "tail",
    "catatonit",
    "tini",
    "dumb-init",
    "systemd",
    "init",
];

/// One suggested check.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The check's name (unique).
    pub name: String,
    /// Where it came from (a comment line).
    pub why: String,
    /// The check's keys after `name`, as YAML lines (`file: /x`).
    pub lines: Vec<String>,
}

fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// The checks `target` suggests, measured against `baseline` (the default image; `None`:
/// everything counts), with `files` the task-written files found in the target.
pub fn suggest(
    target: &Observed,
    baseline: Option<&Observed>,
    files: &[WrittenFile],
) -> Vec<Suggestion> {
    let empty = Observed::default();
    let base = baseline.unwrap_or(&empty);
    let mut out = Vec::new();
    for f in files {
        let task = &f.writer;
        let role = task
            .role
            .as_deref()
            .map(|r| format!(" (role {r})"))
            .unwrap_or_default();
        out.push(Suggestion {
            name: format!("{} is as the playbook wrote it", f.path),
            why: format!(
                "written by task \"{}\" ({}:{}){role}",
                task.task, task.file, task.line
            ),
            lines: vec![
                format!("file: {}", q(&f.path)),
                format!("type: {}", f.kind),
                format!("mode: \"{:04o}\"", f.mode),
                format!("owner: {}", q(&f.owner)),
                format!("group: {}", q(&f.group)),
            ],
        });
    }
    for (name, version) in &target.packages {
        // A dependency follows from what depends on it: only what was asked for is checked.
        if base.packages.contains_key(name) || target.automatic.contains(name) {
            continue;
        }
        out.push(Suggestion {
            name: format!("{name} is installed"),
            why: format!("installed by provisioning ({version}; not in the default image)"),
            lines: vec![format!("package: {}", q(name))],
        });
    }
    for (name, (uid, home, shell)) in &target.users {
        if base.users.contains_key(name) {
            continue;
        }
        out.push(Suggestion {
            name: format!("user {name} exists"),
            why: "created by provisioning (not in the default image)".into(),
            lines: vec![
                format!("user: {}", q(name)),
                format!("uid: {uid}"),
                format!("home: {}", q(home)),
                format!("shell: {}", q(shell)),
            ],
        });
    }
    for (name, gid) in &target.groups {
        if base.groups.contains_key(name) || target.users.contains_key(name) {
            continue;
        }
        out.push(Suggestion {
            name: format!("group {name} exists"),
            why: "created by provisioning (not in the default image)".into(),
            lines: vec![format!("group: {}", q(name)), format!("gid: {gid}")],
        });
    }
    for (service, running) in &target.services {
        if base.services.contains_key(service) {
            continue;
        }
        out.push(Suggestion {
            name: format!("{service} starts at boot"),
            why: "enabled by provisioning (not in the default image)".into(),
            lines: vec![
                format!("service: {}", q(service)),
                format!("running: {running}"),
                "enabled: true".into(),
            ],
        });
    }
    for (name, uid) in &target.processes {
        // `runc:[2:INIT]` and the like: the engine starting the exec that reads this.
        if base.processes.contains_key(name)
            || NOT_SERVICES.contains(&name.as_str())
            || name.starts_with("runc")
        {
            continue;
        }
        let user = uid
            .and_then(|uid| target.users.iter().find(|(_, u)| u.0 == uid))
            .map(|(n, _)| format!("user: {}", q(n)));
        out.push(Suggestion {
            name: format!("{name} runs"),
            why: "running in the target".into(),
            lines: std::iter::once(format!("process: {}", q(name)))
                .chain(user)
                .collect(),
        });
    }
    let mut seen = BTreeSet::new();
    for (protocol, port, _) in &target.listening {
        if base
            .listening
            .iter()
            .any(|(p, n, _)| p == protocol && n == port)
            || !seen.insert((protocol.clone(), *port))
        {
            continue;
        }
        let mut lines = vec![format!("port: {port}")];
        if protocol != "tcp" {
            lines.push(format!("protocol: {protocol}"));
        }
        out.push(Suggestion {
            name: format!("{protocol}/{port} is listening"),
            why: "listening in the target".into(),
            lines,
        });
    }
    out
}

/// The packages apt's extended states (`/var/lib/apt/extended_states`) mark as installed
/// automatically.
pub fn automatic_packages(extended_states: &str) -> BTreeSet<String> {
    extended_states
        .split("\n\n")
        .filter(|stanza| stanza.lines().any(|l| l.trim() == "Auto-Installed: 1"))
        .filter_map(|stanza| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix("Package: "))
                .map(|p| p.trim().to_string())
        })
        .collect()
}

/// The check file: a header, then each suggestion with its comment.
pub fn render(source: &str, suggestions: &[Suggestion], left_out: &[(String, String)]) -> String {
    let mut y = format!(
        "# Suggested by `drydock suggest` from {source}: one check per thing provisioning made.\n\
         # Each passed there when written (`drydock check TARGET --tag suggested`). Keep what\n\
         # matters, tighten what should not drift.\n"
    );
    if !left_out.is_empty() {
        y.push_str("# Left out because they did not pass there:\n");
        for (name, why) in left_out {
            y.push_str(&format!("#   {name}: {why}\n"));
        }
    }
    for s in suggestions {
        y.push_str(&format!("\n# {}\n- name: {}\n", s.why, q(&s.name)));
        for line in &s.lines {
            y.push_str(&format!("  {line}\n"));
        }
        y.push_str("  tags: [suggested]\n");
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_what_provisioning_added_with_where_it_came_from() {
        let base = Observed {
            packages: [("bash".to_string(), "5.2".to_string())].into(),
            users: [("root".to_string(), (0, "/root".into(), "/bin/bash".into()))].into(),
            groups: [("root".to_string(), 0)].into(),
            ..Default::default()
        };
        let mut target = base.clone();
        target.packages.insert("nginx".into(), "1.22.1-9".into());
        target.packages.insert("libbsd0".into(), "0.11.7-2".into());
        target.automatic = automatic_packages(
            "Package: libbsd0\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: nginx\nArchitecture: amd64\nAuto-Installed: 0\n",
        );
        assert_eq!(target.automatic, BTreeSet::from(["libbsd0".to_string()]));
        target.processes.insert("runc:[2:INIT]".into(), Some(0));
        target
            .users
            .insert("app".into(), (1000, "/srv/app".into(), "/bin/sh".into()));
        target.groups.insert("app".into(), 1000);
        target.groups.insert("deploy".into(), 1001);
        target
            .listening
            .insert(("tcp".into(), 80, "0.0.0.0".into()));
        target.listening.insert(("tcp".into(), 80, "::".into()));
        target.processes.insert("nginx".into(), Some(0));
        target.processes.insert("sh".into(), Some(0));
        let files = vec![WrittenFile {
            path: "/var/www/html/index.html".into(),
            kind: "file",
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            writer: Writer {
                task: "Write the hello world page".into(),
                file: "playbooks/site.yml".into(),
                line: 33,
                role: None,
            },
        }];
        let s = suggest(&target, Some(&base), &files);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "/var/www/html/index.html is as the playbook wrote it",
                "nginx is installed",
                "user app exists",
                "group deploy exists",
                "nginx runs",
                "tcp/80 is listening",
            ]
        );
        let text = render(
            "image:drydock/hello:production",
            &s,
            &[("x".into(), "why".into())],
        );
        assert!(text.contains("# written by task \"Write the hello world page\" (playbooks/site.yml:33)\n- name: \"/var/www/html/index.html is as the playbook wrote it\"\n  file: \"/var/www/html/index.html\"\n  type: file\n  mode: \"0644\"\n"), "{text}");
        assert_eq!(text.matches("  tags: [suggested]\n").count(), 6);
        assert!(text.contains("#   x: why\n"), "{text}");
        let checks = crate::check::parse_checks(std::path::Path::new("s.yaml"), &text)
            .unwrap_or_else(|d| panic!("{d:#?}\n{text}"));
        assert_eq!(checks.len(), 6);
    }
}
