//! The resources a check can assert on (file, package, process, port, command, http, user,
//! group), their assertions, and the parsing of one resource key with its assertion keys.

use super::diag::Diagnostics;
use super::project::get;
use super::yaml::{Entry, Node};

/// A string to look for: literal text, or `/regex/`.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Literal substring.
    Text(String),
    /// Regular expression (written `/.../`).
    Regex(regex::Regex),
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Text(t) => write!(f, "{t:?}"),
            Pattern::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

impl Pattern {
    /// Whether the pattern occurs in `haystack`.
    pub fn is_match(&self, haystack: &str) -> bool {
        match self {
            Pattern::Text(t) => haystack.contains(t.as_str()),
            Pattern::Regex(r) => r.is_match(haystack),
        }
    }
}

/// File types a `file` check can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
}

impl FileType {
    /// The word users write.
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
        }
    }
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// The resource a check is about, with its assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// `file: PATH`.
    File {
        /// The path.
        path: String,
        /// `exists` (default true).
        exists: bool,
        /// `type`.
        kind: Option<FileType>,
        /// `mode`.
        mode: Option<u32>,
        /// `owner`.
        owner: Option<String>,
        /// `group`.
        group: Option<String>,
        /// `size`.
        size: Option<u64>,
        /// `sha256`.
        sha256: Option<String>,
        /// `contains`.
        contains: Vec<Pattern>,
        /// `target` (symlink target).
        target: Option<String>,
    },
    /// `package: NAME`.
    Package {
        /// The package.
        name: String,
        /// `installed` (default true).
        installed: bool,
        /// `version`: exact or prefix (`1.22`), or constraints (`{ version: ">= 1.22" }`).
        version: Option<VersionWant>,
    },
    /// `process: NAME`.
    Process {
        /// The command name (as in `/proc/PID/comm`).
        name: String,
        /// `running` (default true).
        running: bool,
        /// `min_count`.
        min_count: Option<u32>,
        /// `user`.
        user: Option<String>,
    },
    /// `service: NAME`.
    Service {
        /// The service (systemd unit or init script) name.
        name: String,
        /// `running` (default true).
        running: bool,
        /// `enabled`: starts at boot.
        enabled: Option<bool>,
    },
    /// `port: N`.
    Port {
        /// The port.
        port: u16,
        /// `protocol` (default tcp).
        protocol: Protocol,
        /// `listening` (default true).
        listening: bool,
        /// `address`.
        address: Option<String>,
    },
    /// `command: SHELL COMMAND`.
    Command {
        /// Run with `/bin/sh -c`.
        command: String,
        /// `exit_status` (default 0).
        exit_status: i64,
        /// `stdout`.
        stdout: Vec<Pattern>,
        /// `stderr`.
        stderr: Vec<Pattern>,
    },
    /// `http: URL`.
    Http {
        /// The URL, fetched from inside the container.
        url: String,
        /// `status` (default 200).
        status: u16,
        /// `body`.
        body: Vec<Pattern>,
        /// `headers`: `Name: pattern`.
        headers: Vec<(String, Pattern)>,
    },
    /// `user: NAME`.
    User {
        /// The user.
        name: String,
        /// `exists` (default true).
        exists: bool,
        /// `uid`.
        uid: Option<u32>,
        /// `gid`.
        gid: Option<u32>,
        /// `groups`: groups the user must belong to.
        groups: Vec<String>,
        /// `home`.
        home: Option<String>,
        /// `shell`.
        shell: Option<String>,
    },
    /// `group: NAME`.
    Group {
        /// The group.
        name: String,
        /// `exists` (default true).
        exists: bool,
        /// `gid`.
        gid: Option<u32>,
    },
}

impl Spec {
    /// The resource key (`file`, `package`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::File { .. } => "file",
            Spec::Package { .. } => "package",
            Spec::Process { .. } => "process",
            Spec::Service { .. } => "service",
            Spec::Port { .. } => "port",
            Spec::Command { .. } => "command",
            Spec::Http { .. } => "http",
            Spec::User { .. } => "user",
            Spec::Group { .. } => "group",
        }
    }
}

/// The resource keys, with the assertions each accepts.
pub const RESOURCES: &[(&str, &[&str])] = &[
    (
        "file",
        &[
            "exists", "type", "mode", "owner", "group", "size", "sha256", "contains", "target",
        ],
    ),
    ("package", &["installed", "version"]),
    ("process", &["running", "min_count", "user"]),
    ("service", &["running", "enabled"]),
    ("port", &["protocol", "listening", "address"]),
    ("command", &["exit_status", "stdout", "stderr"]),
    ("http", &["status", "body", "headers"]),
    ("user", &["exists", "uid", "gid", "groups", "home", "shell"]),
    ("group", &["exists", "gid"]),
];

/// What a `package` check wants of the installed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionWant {
    /// `version: 1.22`: that version, or one it is a prefix of at a component boundary.
    Prefix(String),
    /// `version: { version: ">= 1.22, << 2" }`: every comparison holds, in dpkg's ordering.
    Constraints {
        /// The comparisons.
        all: Vec<super::version::Constraint>,
        /// As written, for messages.
        written: String,
    },
}

impl std::fmt::Display for VersionWant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionWant::Prefix(v) => write!(f, "{v}"),
            VersionWant::Constraints { written, .. } => write!(f, "{written}"),
        }
    }
}

/// `version: TEXT` or `version: { version: "CONSTRAINTS" }`.
fn version_want(diags: &mut Diagnostics<'_>, node: &Node) -> Option<VersionWant> {
    if node.as_text().is_some() {
        return diags
            .non_empty_text(node, "version")
            .map(VersionWant::Prefix);
    }
    let entries = diags.map(node, "version")?;
    diags.known_keys(entries, "version", &["version"]);
    let Some(inner) = get(entries, "version") else {
        diags.error(
            node.pos,
            "version",
            "expected a version such as `1.22`, or `{ version: \">= 1.22\" }`",
        );
        return None;
    };
    let written = diags.non_empty_text(inner, "version.version")?;
    match super::version::parse_constraints(&written) {
        Ok(all) => Some(VersionWant::Constraints { all, written }),
        Err(problem) => {
            diags.error(inner.pos, "version.version", problem);
            None
        }
    }
}

pub(super) fn spec(
    diags: &mut Diagnostics<'_>,
    resource: &Entry,
    entries: &[Entry],
) -> Option<Spec> {
    let key = resource.key.as_str();
    let subject = &resource.value;
    let mut a = Asserts { diags, entries };
    match key {
        "file" => {
            let path = a.diags.non_empty_text(subject, key)?;
            if !path.starts_with('/') {
                a.diags.error(
                    subject.pos,
                    key,
                    format!(
                        "`{path}` is not absolute; expected a path such as /etc/nginx/nginx.conf"
                    ),
                );
                return None;
            }
            let kind = a.opt("type", |d, n| {
                let t = d.text(n, "type")?;
                match t.as_str() {
                    "file" => Some(FileType::File),
                    "directory" | "dir" => Some(FileType::Directory),
                    "symlink" | "link" => Some(FileType::Symlink),
                    _ => {
                        d.error(
                            n.pos,
                            "type",
                            format!("unknown file type `{t}`; expected file, directory or symlink"),
                        );
                        None
                    }
                }
            });
            let mode = a.opt("mode", |d, n| {
                let t = d.text(n, "mode")?;
                match u32::from_str_radix(t.trim_start_matches("0o"), 8) {
                    Ok(m) if m <= 0o7777 => Some(m),
                    _ => {
                        d.error(
                            n.pos,
                            "mode",
                            format!("`{t}` is not a file mode; expected octal such as \"0644\""),
                        );
                        None
                    }
                }
            });
            let exists = a.opt("exists", |d, n| d.boolean(n, "exists"));
            let owner = a.opt("owner", |d, n| d.non_empty_text(n, "owner"));
            let group = a.opt("group", |d, n| d.non_empty_text(n, "group"));
            let size = a.opt("size", |d, n| {
                d.integer(n, "size", 0, i64::MAX).map(|s| s as u64)
            });
            let sha256 = a.opt("sha256", |d, n| {
                let t = d.text(n, "sha256")?.to_ascii_lowercase();
                if t.len() != 64 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                    d.error(n.pos, "sha256", "expected 64 hexadecimal digits");
                    return None;
                }
                Some(t)
            });
            let contains = a.patterns("contains");
            let target = a.opt("target", |d, n| d.non_empty_text(n, "target"));
            Some(Spec::File {
                path,
                exists: exists?.unwrap_or(true),
                kind: kind?,
                mode: mode?,
                owner: owner?,
                group: group?,
                size: size?,
                sha256: sha256?,
                contains: contains?,
                target: target?,
            })
        }
        "package" => {
            let name = a.diags.non_empty_text(subject, key)?;
            let installed = a.opt("installed", |d, n| d.boolean(n, "installed"));
            let version = a.opt("version", version_want);
            Some(Spec::Package {
                name,
                installed: installed?.unwrap_or(true),
                version: version?,
            })
        }
        "process" => {
            let name = a.diags.non_empty_text(subject, key)?;
            let running = a.opt("running", |d, n| d.boolean(n, "running"));
            let min_count = a.opt("min_count", |d, n| {
                d.integer(n, "min_count", 1, 100_000).map(|c| c as u32)
            });
            let user = a.opt("user", |d, n| d.non_empty_text(n, "user"));
            Some(Spec::Process {
                name,
                running: running?.unwrap_or(true),
                min_count: min_count?,
                user: user?,
            })
        }
        "service" => {
            let name = a.diags.non_empty_text(subject, key)?;
            let valid = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "@._:-".contains(c));
            if !valid {
                a.diags.error(
                    subject.pos,
                    key,
                    format!(
                        "`{name}` is not a service name; expected letters, digits and @ . _ : -"
                    ),
                );
                return None;
            }
            // systemctl would read it as an option.
            if name.starts_with('-') {
                a.diags.error(
                    subject.pos,
                    key,
                    format!("`{name}` is not a service name; a service name cannot start with `-`"),
                );
                return None;
            }
            let running = a.opt("running", |d, n| d.boolean(n, "running"));
            let enabled = a.opt("enabled", |d, n| d.boolean(n, "enabled"));
            Some(Spec::Service {
                name,
                running: running?.unwrap_or(true),
                enabled: enabled?,
            })
        }
        "port" => {
            let port = a.diags.integer(subject, key, 1, 65535).map(|p| p as u16);
            let protocol = a.opt("protocol", |d, n| match d.text(n, "protocol")?.as_str() {
                "tcp" => Some(Protocol::Tcp),
                "udp" => Some(Protocol::Udp),
                other => {
                    d.error(
                        n.pos,
                        "protocol",
                        format!("unknown protocol `{other}`; expected tcp or udp"),
                    );
                    None
                }
            });
            let listening = a.opt("listening", |d, n| d.boolean(n, "listening"));
            let address = a.opt("address", |d, n| d.non_empty_text(n, "address"));
            Some(Spec::Port {
                port: port?,
                protocol: protocol?.unwrap_or(Protocol::Tcp),
                listening: listening?.unwrap_or(true),
                address: address?,
            })
        }
        "command" => {
            let command = a.diags.non_empty_text(subject, key)?;
            let exit_status = a.opt("exit_status", |d, n| d.integer(n, "exit_status", 0, 255));
            let stdout = a.patterns("stdout");
            let stderr = a.patterns("stderr");
            Some(Spec::Command {
                command,
                exit_status: exit_status?.unwrap_or(0),
                stdout: stdout?,
                stderr: stderr?,
            })
        }
        "http" => {
            let url = a.diags.non_empty_text(subject, key)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                a.diags
                    .error(subject.pos, key, format!("`{url}` is not an http(s) URL"));
                return None;
            }
            let status = a.opt("status", |d, n| {
                d.integer(n, "status", 100, 599).map(|s| s as u16)
            });
            let body = a.patterns("body");
            let headers = a.opt("headers", |d, n| {
                let entries = d.map(n, "headers")?;
                let mut out = Vec::new();
                for e in entries {
                    let text = d.text(&e.value, "headers")?;
                    out.push((
                        e.key.to_ascii_lowercase(),
                        pattern(d, &e.value, &text, "headers")?,
                    ));
                }
                Some(out)
            });
            Some(Spec::Http {
                url,
                status: status?.unwrap_or(200),
                body: body?,
                headers: headers?.unwrap_or_default(),
            })
        }
        "user" => {
            let name = a.diags.non_empty_text(subject, key)?;
            let exists = a.opt("exists", |d, n| d.boolean(n, "exists"));
            let uid = a.opt("uid", |d, n| {
                d.integer(n, "uid", 0, u32::MAX as i64).map(|v| v as u32)
            });
            let gid = a.opt("gid", |d, n| {
                d.integer(n, "gid", 0, u32::MAX as i64).map(|v| v as u32)
            });
            let groups = a.opt("groups", |d, n| d.text_list(n, "groups"));
            let home = a.opt("home", |d, n| d.non_empty_text(n, "home"));
            let shell = a.opt("shell", |d, n| d.non_empty_text(n, "shell"));
            Some(Spec::User {
                name,
                exists: exists?.unwrap_or(true),
                uid: uid?,
                gid: gid?,
                groups: groups?.unwrap_or_default(),
                home: home?,
                shell: shell?,
            })
        }
        "group" => {
            let name = a.diags.non_empty_text(subject, key)?;
            let exists = a.opt("exists", |d, n| d.boolean(n, "exists"));
            let gid = a.opt("gid", |d, n| {
                d.integer(n, "gid", 0, u32::MAX as i64).map(|v| v as u32)
            });
            Some(Spec::Group {
                name,
                exists: exists?.unwrap_or(true),
                gid: gid?,
            })
        }
        _ => None,
    }
}

struct Asserts<'a, 'd> {
    diags: &'a mut Diagnostics<'d>,
    entries: &'a [Entry],
}

impl Asserts<'_, '_> {
    /// `Some(None)` when absent, `Some(Some(v))` when valid, `None` when invalid.
    fn opt<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(&mut Diagnostics<'_>, &Node) -> Option<T>,
    ) -> Option<Option<T>> {
        match get(self.entries, key) {
            None => Some(None),
            Some(n) => read(self.diags, n).map(Some),
        }
    }

    fn patterns(&mut self, key: &str) -> Option<Vec<Pattern>> {
        let Some(node) = get(self.entries, key) else {
            return Some(Vec::new());
        };
        let list = self.diags.text_list(node, key)?;
        list.iter()
            .map(|t| pattern(self.diags, node, t, key))
            .collect()
    }
}

fn pattern(diags: &mut Diagnostics<'_>, node: &Node, text: &str, key: &str) -> Option<Pattern> {
    if text.len() >= 2 && text.starts_with('/') && text.ends_with('/') {
        // Line anchors (`^`, `$`) match at every line, as grep users expect.
        match regex::RegexBuilder::new(&text[1..text.len() - 1])
            .multi_line(true)
            .build()
        {
            Ok(r) => Some(Pattern::Regex(r)),
            Err(e) => {
                let first = e.to_string();
                let first = first
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim_start_matches("error: ");
                diags.error(
                    node.pos,
                    key,
                    format!("`{text}` is not a valid regex: {first}"),
                );
                None
            }
        }
    } else {
        Some(Pattern::Text(text.to_string()))
    }
}
