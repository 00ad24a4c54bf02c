//! `drydock checks import goss.yaml`: a goss file as drydock checks, with what could not be
//! converted named by file, line and key.
//!
//! Each goss resource (`file: {/etc/x: {...}}`) becomes one check named after its kind and
//! key (or its `title`); goss's matchers become drydock's ([`super::matcher`]).

use std::path::Path;

use crate::config::yaml::{self, Entry, Node, Value};

/// The result of an import.
#[derive(Debug, Default, PartialEq)]
pub struct Imported {
    /// The drydock check file.
    pub yaml: String,
    /// How many checks it holds.
    pub checks: usize,
    /// What was left out or changed in meaning, each `file:line: what and why`.
    pub notes: Vec<String>,
}

/// Converts the goss file `text` (shown as `file` in notes).
pub fn import(file: &Path, text: &str) -> Result<Imported, String> {
    let shown = file.display().to_string();
    let doc = yaml::parse(text).map_err(|e| {
        let mut why = format!(
            "{shown}:{}:{}: invalid YAML: {}",
            e.pos.line, e.pos.col, e.message
        );
        // goss reads its files as templates and with YAML anchors; `goss render` writes them out.
        if text.contains("{{") || text.contains("<<:") || text.contains('&') {
            why.push_str(&format!(
                "; a goss file with templates ({{{{ }}}}) or anchors is imported once goss has rendered it: goss -g {shown} render > rendered.yaml, then drydock checks import rendered.yaml"
            ));
        }
        why
    })?;
    let Some(Node {
        value: Value::Map(kinds),
        ..
    }) = doc
    else {
        return Err(format!(
            "{shown}: expected a goss file (a mapping of resource types such as `file:` and `package:`)"
        ));
    };
    let mut out = Imported::default();
    let mut body = String::new();
    let mut names: Vec<String> = Vec::new();
    for kind in &kinds {
        let mut note = |pos: yaml::Pos, what: String| {
            out.notes.push(format!("{shown}:{}: {what}", pos.line));
        };
        let resources = match &kind.value.value {
            Value::Map(resources) => resources,
            _ => {
                note(
                    kind.key_pos,
                    format!("`{}` is not a mapping of resources; skipped", kind.key),
                );
                continue;
            }
        };
        for resource in resources {
            let attrs: &[Entry] = match &resource.value.value {
                Value::Map(a) => a,
                _ if resource.value.is_null() => &[],
                _ => {
                    note(
                        resource.key_pos,
                        format!(
                            "{} `{}` has no attributes mapping; skipped",
                            kind.key, resource.key
                        ),
                    );
                    continue;
                }
            };
            if attr(attrs, "skip").and_then(Node::as_text) == Some("true") {
                note(
                    resource.key_pos,
                    format!(
                        "{} `{}` has `skip: true` in goss; left out",
                        kind.key, resource.key
                    ),
                );
                continue;
            }
            match convert(&kind.key, &resource.key, attrs) {
                Converted::Check { lines, dropped } => {
                    let title = attr(attrs, "title").and_then(Node::as_text);
                    let mut name = title
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{} {}", kind.key, resource.key));
                    if names.contains(&name) {
                        name = format!("{name} ({})", resource.key_pos.line);
                    }
                    names.push(name.clone());
                    body.push_str(&format!("- name: {}\n", q(&name)));
                    for (key, value) in lines {
                        body.push_str(&format!("  {key}: {value}\n"));
                    }
                    out.checks += 1;
                    for (key, why) in dropped {
                        let pos = attrs
                            .iter()
                            .find(|a| a.key == key)
                            .map(|a| a.key_pos)
                            .unwrap_or(resource.key_pos);
                        note(
                            pos,
                            format!(
                                "{} `{}`: `{key}` not converted: {why}",
                                kind.key, resource.key
                            ),
                        );
                    }
                }
                Converted::Skipped(why) => note(
                    resource.key_pos,
                    format!("{} `{}` not converted: {why}", kind.key, resource.key),
                ),
            }
        }
    }
    let mut header = format!("# Converted from {shown} by drydock checks import.\n");
    if !out.notes.is_empty() {
        header.push_str("# Not converted, or converted with another meaning:\n");
        for n in &out.notes {
            header.push_str(&format!("#   {n}\n"));
        }
    }
    out.yaml = if body.is_empty() {
        header
    } else {
        format!("{header}{body}")
    };
    Ok(out)
}

enum Converted {
    /// A check's keys and values (YAML text), and the attributes left out with why.
    Check {
        lines: Vec<(String, String)>,
        dropped: Vec<(String, String)>,
    },
    /// Nothing could be made of it.
    Skipped(String),
}

fn attr<'a>(attrs: &'a [Entry], key: &str) -> Option<&'a Node> {
    attrs.iter().find(|a| a.key == key).map(|a| &a.value)
}

/// A YAML double-quoted string.
fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// goss's attributes common to every resource, which are not assertions.
const META: &[&str] = &["title", "meta", "skip"];

fn convert(kind: &str, key: &str, attrs: &[Entry]) -> Converted {
    // (goss attribute, drydock key, how to convert).
    use Field::*;
    let (resource, subject, fields): (&str, String, &[(&str, &str, Field)]) = match kind {
        "file" => (
            "file",
            q(key),
            &[
                ("exists", "exists", Flag),
                ("mode", "mode", One),
                ("owner", "owner", One),
                ("group", "group", One),
                ("filetype", "filetype", Word),
                ("contents", "contains", Patterns),
                ("sha256", "sha256", One),
                ("sha512", "sha512", One),
                ("md5", "md5", One),
                ("linked-to", "target", One),
                ("size", "size", One),
            ],
        ),
        "package" => (
            "package",
            q(key),
            &[
                ("installed", "installed", Flag),
                ("versions", "version", AnyOf),
            ],
        ),
        "service" => (
            "service",
            q(key),
            &[("enabled", "enabled", Flag), ("running", "running", Flag)],
        ),
        "user" => (
            "user",
            q(key),
            &[
                ("exists", "exists", Flag),
                ("uid", "uid", One),
                ("gid", "gid", One),
                ("groups", "groups", Members),
                ("home", "home", One),
                ("shell", "shell", One),
            ],
        ),
        "group" => (
            "group",
            q(key),
            &[("exists", "exists", Flag), ("gid", "gid", One)],
        ),
        "process" => ("process", q(key), &[("running", "running", Flag)]),
        "kernel-param" => ("kernel_param", q(key), &[("value", "value", One)]),
        "mount" => (
            "mount",
            q(key),
            &[
                ("exists", "exists", Flag),
                ("opts", "opts", Members),
                ("source", "source", One),
                ("filesystem", "filesystem", One),
            ],
        ),
        "interface" => (
            "interface",
            q(key),
            &[
                ("exists", "exists", Flag),
                ("addrs", "addrs", Members),
                ("mtu", "mtu", One),
            ],
        ),
        "command" => {
            let command = attr(attrs, "exec").and_then(Node::as_text).unwrap_or(key);
            (
                "command",
                q(command),
                &[
                    ("exec", "", Ignore),
                    ("exit-status", "exit_status", One),
                    ("stdout", "stdout", Patterns),
                    ("stderr", "stderr", Patterns),
                    ("timeout", "timeout", Millis),
                ],
            )
        }
        "addr" => {
            if !key.starts_with("tcp://") {
                return Converted::Skipped(
                    "only tcp:// addresses can be probed (a UDP probe cannot tell open from silent)".into(),
                );
            }
            (
                "addr",
                q(key),
                &[
                    ("reachable", "reachable", Flag),
                    ("timeout", "timeout", Millis),
                    ("local-address", "", Unsupported),
                ],
            )
        }
        "port" => {
            let Some((proto, port)) = key.split_once(':') else {
                return Converted::Skipped(
                    "expected tcp:PORT, tcp6:PORT, udp:PORT or udp6:PORT".into(),
                );
            };
            let proto = proto.trim_end_matches('6');
            if !matches!(proto, "tcp" | "udp") || port.parse::<u16>().is_err() {
                return Converted::Skipped(
                    "expected tcp:PORT, tcp6:PORT, udp:PORT or udp6:PORT".into(),
                );
            }
            let mut c = fields_of(
                attrs,
                &[("listening", "listening", Flag), ("ip", "address", AnyOf)],
            );
            if let Converted::Check { lines, .. } = &mut c {
                lines.insert(0, ("port".into(), port.to_string()));
                lines.insert(1, ("protocol".into(), proto.to_string()));
            }
            return c;
        }
        "dns" => {
            let (record, name) = match key.split_once(':') {
                Some((t, name)) if t.chars().all(|c| c.is_ascii_uppercase()) => (Some(t), name),
                _ => (None, key),
            };
            if let Some(t) = record {
                if !super::kinds::dns::TYPES.contains(&t) {
                    return Converted::Skipped(format!(
                        "{t} records are not asked for; dns checks know {}",
                        super::kinds::dns::TYPES.join(", ")
                    ));
                }
            }
            let mut c = fields_of(
                attrs,
                &[
                    ("resolvable", "resolvable", Flag),
                    ("resolveable", "resolvable", Flag),
                    ("addrs", "addrs", Members),
                    ("server", "server", One),
                    ("timeout", "timeout", Millis),
                ],
            );
            if let Converted::Check { lines, .. } = &mut c {
                lines.insert(0, ("dns".into(), q(name)));
                if let Some(t) = record {
                    lines.push(("type".into(), t.to_string()));
                }
            }
            return c;
        }
        "http" => (
            "http",
            q(key),
            &[
                ("status", "status", One),
                ("allow-insecure", "insecure", Flag),
                ("no-follow-redirects", "no_follow_redirects", Flag),
                ("timeout", "timeout", Millis),
                ("body", "body", Patterns),
                ("method", "method", Word),
                ("request-body", "request_body", One),
                ("request-headers", "request_headers", HeaderValues),
                ("headers", "headers", HeaderPatterns),
                ("ca-file", "ca_file", One),
                ("username", "", Unsupported),
                ("password", "", Unsupported),
                ("cert-file", "", Unsupported),
                ("key-file", "", Unsupported),
                ("proxy", "", Unsupported),
            ],
        ),
        "gossfile" => {
            return Converted::Skipped(format!(
                "goss includes another file; import it too: drydock checks import {key}"
            ))
        }
        "matching" => {
            return Converted::Skipped(
                "`matching` tests values written in the goss file, not the target".into(),
            )
        }
        other => {
            return Converted::Skipped(format!(
                "`{other}` is not a goss resource type drydock knows"
            ))
        }
    };
    let mut c = fields_of(attrs, fields);
    if let Converted::Check { lines, .. } = &mut c {
        lines.insert(0, (resource.to_string(), subject));
    }
    c
}

/// How a goss attribute becomes a drydock assertion.
#[derive(Clone, Copy)]
enum Field {
    /// true or false.
    Flag,
    /// A value or matcher.
    One,
    /// A bare word (`file`, `GET`).
    Word,
    /// A list of patterns (`"text"`, `"/re/"`, `"!text"`, `"!/re/"`), or a matcher.
    Patterns,
    /// A list that must hold each item, or a matcher.
    Members,
    /// A list of which any one must match (package versions, port addresses).
    AnyOf,
    /// Milliseconds, as a duration.
    Millis,
    /// `["Name: value"]` sent with the request.
    HeaderValues,
    /// `["Name: value"]` each expected in the response.
    HeaderPatterns,
    /// Read by the conversion itself.
    Ignore,
    /// No equivalent.
    Unsupported,
}

fn fields_of(attrs: &[Entry], fields: &[(&str, &str, Field)]) -> Converted {
    let mut lines = Vec::new();
    let mut dropped = Vec::new();
    for a in attrs {
        if META.contains(&a.key.as_str()) {
            continue;
        }
        let Some((_, to, how)) = fields.iter().find(|(from, _, _)| *from == a.key) else {
            dropped.push((
                a.key.clone(),
                "drydock has no such assertion for this kind".into(),
            ));
            continue;
        };
        let converted = match how {
            Field::Ignore => continue,
            Field::Unsupported => Err("drydock has no equivalent".to_string()),
            Field::Flag => match a.value.as_text() {
                Some(t @ ("true" | "false")) => Ok(t.to_string()),
                _ => Err("expected true or false".into()),
            },
            Field::One => matcher(&a.value),
            Field::Word => a
                .value
                .as_text()
                .map(str::to_string)
                .ok_or_else(|| "expected a word".to_string()),
            Field::Millis => a
                .value
                .as_text()
                .and_then(|t| t.parse::<u64>().ok())
                .map(|ms| format!("{ms}ms"))
                .ok_or_else(|| "expected milliseconds".to_string()),
            Field::Patterns => match a.value.as_seq() {
                Some([]) => continue,
                Some(items) => items
                    .iter()
                    .map(pattern)
                    .collect::<Result<Vec<_>, _>>()
                    .map(|p| format!("[{}]", p.join(", "))),
                None => matcher(&a.value),
            },
            Field::Members => match a.value.as_seq() {
                Some(items) => items
                    .iter()
                    .map(|n| {
                        n.as_text()
                            .map(q)
                            .ok_or_else(|| "expected a list of values".to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|p| format!("[{}]", p.join(", "))),
                None => matcher(&a.value),
            },
            Field::AnyOf => match a.value.as_seq() {
                Some([one]) => matcher(one),
                Some(items) => items
                    .iter()
                    .map(matcher)
                    .collect::<Result<Vec<_>, _>>()
                    .map(|p| format!("{{ any: [{}] }}", p.join(", "))),
                None => matcher(&a.value),
            },
            Field::HeaderValues | Field::HeaderPatterns => match a.value.as_seq() {
                Some(items) => items
                    .iter()
                    .map(|n| {
                        let text = n.as_text().ok_or("expected \"Name: value\" strings")?;
                        let (name, value) = text
                            .split_once(':')
                            .ok_or("expected \"Name: value\" strings")?;
                        Ok(format!("{}: {}", q(name.trim()), q(value.trim())))
                    })
                    .collect::<Result<Vec<_>, &str>>()
                    .map(|p| format!("{{ {} }}", p.join(", ")))
                    .map_err(str::to_string),
                None => Err("expected a list of \"Name: value\" strings".into()),
            },
        };
        match converted {
            Ok(value) => lines.push((to.to_string(), value)),
            Err(why) => dropped.push((a.key.clone(), why)),
        }
    }
    Converted::Check { lines, dropped }
}

/// One item of a goss pattern list: `text` (a substring), `/re/`, `!text`, `!/re/`.
fn pattern(node: &Node) -> Result<String, String> {
    let Some(text) = node.as_text() else {
        return matcher(node);
    };
    match text.strip_prefix('!') {
        Some(re) if re.len() >= 2 && re.starts_with('/') && re.ends_with('/') => Ok(q(text)),
        Some(plain) => Ok(format!("{{ not: {{ contains: [{}] }} }}", q(plain))),
        None => Ok(q(text)),
    }
}

/// A goss value or matcher as a drydock matcher (flow YAML).
fn matcher(node: &Node) -> Result<String, String> {
    match &node.value {
        Value::Scalar { .. } => Ok(node.as_text().map(q).unwrap_or_else(|| "\"\"".into())),
        Value::Seq(_) => Err("a list where one value was expected".into()),
        Value::Map(entries) => {
            let [entry] = entries.as_slice() else {
                return Err("a matcher with more than one key".into());
            };
            let inner = &entry.value;
            let text = || {
                inner
                    .as_text()
                    .ok_or_else(|| format!("`{}` expects a value", entry.key))
            };
            let list = |word: &str| -> Result<String, String> {
                let items = inner
                    .as_seq()
                    .ok_or_else(|| format!("`{}` expects a list", entry.key))?;
                let converted = items.iter().map(matcher).collect::<Result<Vec<_>, _>>()?;
                Ok(format!("{{ {word}: [{}] }}", converted.join(", ")))
            };
            match entry.key.as_str() {
                "equal" => matcher(inner),
                "match-regexp" | "match-regex" => Ok(q(&format!("/{}/", text()?))),
                "have-prefix" => Ok(q(&format!("/^{}/", regex::escape(text()?)))),
                "have-suffix" => Ok(q(&format!("/{}$/", regex::escape(text()?)))),
                "contain-substring" => Ok(format!("{{ contains: [{}] }}", q(text()?))),
                op @ ("gt" | "ge" | "lt" | "le") => {
                    let n = text()?;
                    n.parse::<f64>()
                        .map(|_| format!("{{ {op}: {n} }}"))
                        .map_err(|_| format!("`{op}` expects a number"))
                }
                "not" => Ok(format!("{{ not: {} }}", matcher(inner)?)),
                "and" => list("all"),
                "or" => list("any"),
                "contain-element" => Ok(format!("{{ contains: [{}] }}", matcher(inner)?)),
                "contain-elements" => list("contains"),
                "have-len" => {
                    let n = text()?;
                    Ok(format!("{{ all: [{{ ge: {n} }}, {{ le: {n} }}] }}"))
                }
                "semver-constraint" => semver(text()?).map(|c| format!("{{ version: {} }}", q(&c))),
                other => Err(format!(
                    "goss's `{other}` matcher has no drydock equivalent"
                )),
            }
        }
    }
}

/// `>=1.2.0 <2.0.0` as `>= 1.2.0, < 2.0.0`; `||`, `~` and `^` have no equivalent.
fn semver(constraint: &str) -> Result<String, String> {
    if constraint.contains("||") || constraint.contains(['~', '^', '*', 'x']) {
        return Err(format!(
            "`{constraint}`: only comparisons (>=, <, =, ...) convert"
        ));
    }
    let mut out = Vec::new();
    let mut rest = constraint.trim();
    while !rest.is_empty() {
        let op_len = rest.chars().take_while(|c| "<>=!".contains(*c)).count();
        let (op, after) = rest.split_at(op_len);
        let after = after.trim_start();
        let end = after.find([' ', ',']).unwrap_or(after.len());
        let (version, tail) = after.split_at(end);
        if version.is_empty() {
            return Err(format!("`{constraint}` is not a version constraint"));
        }
        out.push(format!(
            "{} {version}",
            if op.is_empty() { "=" } else { op }
        ));
        rest = tail.trim_start_matches([' ', ',']).trim_start();
    }
    Ok(out.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOSS: &str = r#"
file:
  /etc/passwd:
    exists: true
    mode: "0644"
    owner: root
    filetype: file
    contents: ["root:", "/^daemon/", "!hacker", "!/^evil/"]
    sha256: { match-regexp: "^[0-9a-f]+$" }
package:
  nginx:
    installed: true
    versions: ["1.22.1-9", "1.22.1-10"]
  openssl:
    installed: true
    versions: { semver-constraint: ">=3.0.0 <4.0.0" }
addr:
  tcp://db:5432:
    reachable: true
    timeout: 500
  udp://dns:53:
    reachable: true
port:
  tcp:22:
    listening: true
    ip: [0.0.0.0]
service:
  sshd:
    enabled: true
    running: true
    runlevels: ["3", "5"]
user:
  sshd:
    exists: true
    uid: 74
    groups: [sshd]
    home: { have-prefix: /var }
group:
  sshd:
    exists: true
    gid: { lt: 1000 }
command:
  version:
    exec: "go version"
    exit-status: 0
    stdout: [go1.6]
    timeout: 10000
dns:
  localhost:
    resolvable: true
    addrs: { contain-element: "127.0.0.1" }
  MX:example.org:
    resolvable: true
  SRV:_sip._tcp.example.org:
    resolvable: true
process:
  chrome:
    running: true
kernel-param:
  kernel.ostype:
    value: Linux
mount:
  /home:
    exists: true
    opts: [rw, relatime]
    filesystem: xfs
    usage: { lt: 95 }
interface:
  eth0:
    exists: true
    addrs: [172.17.0.2/16]
    mtu: 1500
http:
  https://example.org:
    status: 200
    allow-insecure: true
    method: PUT
    request-headers: ["Content-Type: application/json"]
    headers: ["Server: nginx"]
    body: [ok]
    username: me
gossfile:
  other.yaml: {}
matching:
  has_one:
    content: 1
    matches: { gt: 0 }
"#;

    #[test]
    fn each_goss_resource_type_converts_or_is_named() {
        let out = import(Path::new("goss.yaml"), GOSS).unwrap();
        assert_eq!(out.checks, 16, "{}", out.yaml);
        assert_eq!(
            out.notes,
            [
                "goss.yaml:21: addr `udp://dns:53` not converted: only tcp:// addresses can be probed (a UDP probe cannot tell open from silent)",
                "goss.yaml:31: service `sshd`: `runlevels` not converted: drydock has no such assertion for this kind",
                "goss.yaml:54: dns `SRV:_sip._tcp.example.org` not converted: SRV records are not asked for; dns checks know A, AAAA, CNAME, MX, TXT",
                "goss.yaml:67: mount `/home`: `usage` not converted: drydock has no such assertion for this kind",
                "goss.yaml:81: http `https://example.org`: `username` not converted: drydock has no equivalent",
                "goss.yaml:83: gossfile `other.yaml` not converted: goss includes another file; import it too: drydock checks import other.yaml",
                "goss.yaml:85: matching `has_one` not converted: `matching` tests values written in the goss file, not the target",
            ]
        );
        for line in [
            "  contains: [\"root:\", \"/^daemon/\", { not: { contains: [\"hacker\"] } }, \"!/^evil/\"]",
            "  sha256: \"/^[0-9a-f]+$/\"",
            "  version: { any: [\"1.22.1-9\", \"1.22.1-10\"] }",
            "  version: { version: \">= 3.0.0, < 4.0.0\" }",
            "  addr: \"tcp://db:5432\"\n  reachable: true\n  timeout: 500ms",
            "  port: 22\n  protocol: tcp\n  listening: true\n  address: \"0.0.0.0\"",
            "  home: \"/^/var/\"",
            "  gid: { lt: 1000 }",
            "- name: \"command version\"\n  command: \"go version\"\n  exit_status: \"0\"",
            "  addrs: { contains: [\"127.0.0.1\"] }",
            "  dns: \"example.org\"\n  resolvable: true\n  type: MX",
            "  request_headers: { \"Content-Type\": \"application/json\" }",
            "  headers: { \"Server\": \"nginx\" }",
        ] {
            assert!(out.yaml.contains(line), "missing {line:?} in\n{}", out.yaml);
        }
        // What it writes is a valid drydock check file.
        let checks = crate::check::parse_checks(Path::new("imported.yaml"), &out.yaml)
            .unwrap_or_else(|d| panic!("{d:#?}\n{}", out.yaml));
        assert_eq!(checks.len(), 16);
    }

    #[test]
    fn semver_constraints_become_comparisons() {
        assert_eq!(semver(">=1.2.0 <2.0.0").unwrap(), ">= 1.2.0, < 2.0.0");
        assert_eq!(semver("1.2.3").unwrap(), "= 1.2.3");
        assert!(semver("^1.2").is_err());
        assert!(semver(">=1 || <0.5").is_err());
    }

    #[test]
    fn a_templated_goss_file_is_sent_to_goss_render() {
        let err = import(
            Path::new("goss.yaml"),
            "file:\n  /etc/os-release:\n    contains:\n      - {{getEnv \"TARGET\"}}\n",
        )
        .unwrap_err();
        assert!(
            err.ends_with("; a goss file with templates ({{ }}) or anchors is imported once goss has rendered it: goss -g goss.yaml render > rendered.yaml, then drydock checks import rendered.yaml"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_goss_is_refused() {
        assert_eq!(
            import(Path::new("x.yaml"), "- a\n- b\n").unwrap_err(),
            "x.yaml: expected a goss file (a mapping of resource types such as `file:` and `package:`)"
        );
    }
}
