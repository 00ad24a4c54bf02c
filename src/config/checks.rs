//! Check files: a YAML list of checks, each with a `name`, one resource key and its assertions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diag::{did_you_mean, Diagnostics};
use super::project::get;
use super::yaml::{Entry, Node, Value};

/// One validated check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// `name`.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// The line of the check's first key.
    pub line: usize,
    /// `scenarios`: where it runs (all scenarios when `None`).
    pub scenarios: Option<Vec<String>>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `retries`: extra attempts before a failure counts.
    pub retries: u32,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// The resource and its assertions.
    pub spec: Spec,
}

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
        /// `version`: exact or prefix (`1.22`).
        version: Option<String>,
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
    ("port", &["protocol", "listening", "address"]),
    ("command", &["exit_status", "stdout", "stderr"]),
    ("http", &["status", "body", "headers"]),
    ("user", &["exists", "uid", "gid", "groups", "home", "shell"]),
    ("group", &["exists", "gid"]),
];

const COMMON: &[&str] = &["name", "scenarios", "tags", "retries", "timeout"];

/// The scenario names a check may be limited to.
pub const SCENARIOS: &[&str] = &["fresh", "upgrade"];

/// Validates one parsed check file.
pub fn validate(doc: Option<&Node>, diags: &mut Diagnostics<'_>) -> Vec<Check> {
    let Some(doc) = doc else {
        diags.error(
            super::yaml::Pos { line: 1, col: 1 },
            "",
            "the check file is empty; expected a list of checks such as `- name: nginx is installed\\n  package: nginx`",
        );
        return Vec::new();
    };
    let Value::Seq(items) = &doc.value else {
        diags.error(
            doc.pos,
            "",
            format!(
                "expected a list of checks (`- name: ...`), found {}",
                doc.type_name()
            ),
        );
        return Vec::new();
    };
    if items.is_empty() {
        diags.error(
            doc.pos,
            "",
            "the check file has no checks; expected at least one",
        );
    }
    let file = diags.file().to_path_buf();
    let mut checks = Vec::new();
    let mut names: Vec<(String, usize)> = Vec::new();
    for item in items {
        if let Some(check) = check(diags, item, &file) {
            if let Some((_, line)) = names.iter().find(|(n, _)| *n == check.name) {
                diags.error(
                    item.pos,
                    "name",
                    format!(
                        "duplicate check name `{}` (first used on line {line})",
                        check.name
                    ),
                );
            }
            names.push((check.name.clone(), check.line));
            checks.push(check);
        }
    }
    checks
}

fn check(diags: &mut Diagnostics<'_>, item: &Node, file: &Path) -> Option<Check> {
    let entries = diags.map(item, "")?;
    let all: Vec<&str> = COMMON
        .iter()
        .copied()
        .chain(
            RESOURCES
                .iter()
                .flat_map(|(r, a)| std::iter::once(*r).chain(a.iter().copied())),
        )
        .collect();
    let mut resources: Vec<&Entry> = entries
        .iter()
        .filter(|e| RESOURCES.iter().any(|(r, _)| *r == e.key))
        .collect();
    // `user` and `group` are resources and also assertions (`process` + `user`, `file` +
    // `group`): when another resource is present that takes them as assertions, they are.
    if resources.len() > 1 {
        let keys: Vec<String> = resources.iter().map(|e| e.key.clone()).collect();
        resources.retain(|candidate| {
            !keys.iter().any(|other| {
                other != &candidate.key
                    && RESOURCES
                        .iter()
                        .any(|(r, asserts)| r == other && asserts.contains(&candidate.key.as_str()))
            })
        });
    }
    let name = match get(entries, "name") {
        Some(n) => diags.non_empty_text(n, "name"),
        None => {
            diags.error(
                item.pos,
                "name",
                "missing key `name`; every check needs a name",
            );
            None
        }
    };
    let resource = match resources.as_slice() {
        [one] => Some(*one),
        [] => {
            let kinds: Vec<&str> = RESOURCES.iter().map(|(r, _)| *r).collect();
            diags.error(
                item.pos,
                "",
                format!(
                    "the check has no resource key; expected exactly one of: {}",
                    kinds.join(", ")
                ),
            );
            None
        }
        [first, second, ..] => {
            diags.error(
                second.key_pos,
                &second.key,
                format!(
                    "a check has exactly one resource, found `{}` and `{}`; split it in two checks",
                    first.key, second.key
                ),
            );
            None
        }
    };
    // Keys that belong to no resource, or to another resource than this check's.
    let allowed: Vec<&str> = match resource {
        Some(r) => {
            let (_, asserts) = RESOURCES.iter().find(|(k, _)| *k == r.key)?;
            COMMON
                .iter()
                .copied()
                .chain(std::iter::once(r.key.as_str()))
                .chain(asserts.iter().copied())
                .collect()
        }
        None => all.clone(),
    };
    for entry in entries {
        if allowed.contains(&entry.key.as_str()) {
            continue;
        }
        let message = if all.contains(&entry.key.as_str()) {
            format!(
                "`{}` is not an assertion of `{}`; expected one of: {}",
                entry.key,
                resource.map(|r| r.key.as_str()).unwrap_or("?"),
                allowed
                    .iter()
                    .filter(|k| !COMMON.contains(k))
                    .skip(1)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            match did_you_mean(&entry.key, &allowed) {
                Some(close) => format!("unknown key `{}` (did you mean `{close}`?)", entry.key),
                None => format!(
                    "unknown key `{}`; expected one of: {}",
                    entry.key,
                    allowed.join(", ")
                ),
            }
        };
        diags.error(entry.key_pos, &entry.key, message);
    }

    let scenarios = match get(entries, "scenarios") {
        None => Some(None),
        Some(n) => diags.text_list(n, "scenarios").and_then(|list| {
            for s in &list {
                if !SCENARIOS.contains(&s.as_str()) {
                    diags.error(
                        n.pos,
                        "scenarios",
                        format!("unknown scenario `{s}`; expected fresh or upgrade"),
                    );
                    return None;
                }
            }
            Some(Some(list))
        }),
    };
    let tags = match get(entries, "tags") {
        None => Some(Vec::new()),
        Some(n) => diags.text_list(n, "tags"),
    };
    let retries = match get(entries, "retries") {
        None => Some(0),
        Some(n) => diags.integer(n, "retries", 0, 100).map(|n| n as u32),
    };
    let timeout = match get(entries, "timeout") {
        None => Some(None),
        Some(n) => diags.duration(n, "timeout").map(Some),
    };
    let spec = resource.and_then(|r| spec(diags, r, entries));
    Some(Check {
        name: name?,
        file: file.to_path_buf(),
        line: item.pos.line,
        scenarios: scenarios?,
        tags: tags?,
        retries: retries?,
        timeout: timeout?,
        spec: spec?,
    })
}

fn spec(diags: &mut Diagnostics<'_>, resource: &Entry, entries: &[Entry]) -> Option<Spec> {
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
            let version = a.opt("version", |d, n| d.non_empty_text(n, "version"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn load(source: &str) -> (Vec<Check>, Vec<String>) {
        let doc = yaml::parse(source).unwrap();
        let mut diags = Diagnostics::new(Path::new("tests/web.yaml"), source);
        let checks = validate(doc.as_ref(), &mut diags);
        let messages = diags
            .items
            .iter()
            .map(|d| {
                format!(
                    "{}:{} {}",
                    d.pos.line,
                    d.key.clone().unwrap_or_default(),
                    d.message
                )
            })
            .collect();
        (checks, messages)
    }

    #[test]
    fn reads_every_resource_of_the_design_example() {
        let (checks, errors) = load(
            r#"
- name: nginx is installed
  package: nginx
- name: hello page
  file: /var/www/html/index.html
  contains: ["Hello world", "/^Hello/"]
  mode: "0644"
  owner: root
- name: nginx runs
  process: nginx
- name: nginx listens on 80
  port: 80
- name: page is served
  http: http://localhost/
  status: 200
  body: ["Hello world"]
- name: config is valid
  command: nginx -t
  exit_status: 0
  scenarios: [fresh]
  tags: [smoke]
  retries: 2
- name: www-data exists
  user: www-data
- name: staff group
  group: staff
  gid: 50
"#,
        );
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(checks.len(), 8);
        let kinds: Vec<&str> = checks.iter().map(|c| c.spec.kind()).collect();
        assert_eq!(
            kinds,
            ["package", "file", "process", "port", "http", "command", "user", "group"]
        );
        match &checks[1].spec {
            Spec::File { mode, contains, .. } => {
                assert_eq!(*mode, Some(0o644));
                assert_eq!(contains.len(), 2);
                assert!(matches!(contains[1], Pattern::Regex(_)));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(checks[1].line, 4);
        assert_eq!(checks[5].retries, 2);
        assert_eq!(checks[5].scenarios, Some(vec!["fresh".to_string()]));
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let (_, errors) = load(
            r#"
- name: typo in assertion
  file: /etc/x
  mdoe: "0644"
- name: two resources
  file: /etc/x
  package: nginx
- package: nameless
- name: wrong type
  port: eighty
- name: assertion of another resource
  package: nginx
  mode: "0644"
- name: bad regex
  file: /etc/x
  contains: ["/(/"]
- name: bad scenario
  package: nginx
  scenarios: [staging]
"#,
        );
        assert_eq!(
            errors,
            vec![
                "4:mdoe unknown key `mdoe` (did you mean `mode`?)",
                "7:package a check has exactly one resource, found `file` and `package`; split it in two checks",
                "8:name missing key `name`; every check needs a name",
                "10:port expected a whole number from 1 to 65535, found `eighty`",
                "13:mode `mode` is not an assertion of `package`; expected one of: installed, version",
                "16:contains `/(/` is not a valid regex: unclosed group",
                "19:scenarios unknown scenario `staging`; expected fresh or upgrade",
            ]
        );
    }

    #[test]
    fn empty_and_non_list_files_are_errors() {
        let (checks, errors) = load("");
        assert!(checks.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("empty"));
        let (_, errors) = load("[]\n");
        assert_eq!(
            errors,
            vec!["1: the check file has no checks; expected at least one"]
        );
        let (_, errors) = load("name: x\nfile: /etc\n");
        assert_eq!(
            errors,
            vec!["1: expected a list of checks (`- name: ...`), found a mapping"]
        );
    }

    #[test]
    fn duplicate_names_are_errors() {
        let (_, errors) = load("- name: a\n  package: x\n- name: a\n  package: y\n");
        assert_eq!(
            errors,
            vec!["3:name duplicate check name `a` (first used on line 1)"]
        );
    }
}
