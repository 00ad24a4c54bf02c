//! `drydock init`'s reading of an existing Ansible repository, and the files it writes from
//! what it found: `drydock.yaml`, the default image's Dockerfile and a starter check file.
//!
//! Everything here is pure: the survey reads files under the root, the renderers return text.
//! Which checks to suggest comes from the tasks themselves (packages installed, services
//! started or enabled, files templated or copied, directories and users made), each with the
//! task it came from; a value Ansible would template (`{{ ... }}`) is not guessed at.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::yaml::{parse, Entry, Node, Value};

/// What `drydock init` found in a repository.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Survey {
    /// Playbooks (files whose top level is a list of plays), relative to the root, sorted.
    pub playbooks: Vec<PathBuf>,
    /// The one drydock provisions with.
    pub playbook: Option<PathBuf>,
    /// The inventory, when there is one.
    pub inventory: Option<PathBuf>,
    /// Whether the root has an `ansible.cfg`.
    pub ansible_cfg: bool,
    /// The requirements file, when there is one.
    pub requirements: Option<PathBuf>,
    /// Files encrypted with Ansible Vault.
    pub vault_files: Vec<PathBuf>,
    /// The `hosts:` patterns of the chosen playbook's plays, in order, once each.
    pub patterns: Vec<String>,
    /// Whether a task manages a service or writes a systemd unit.
    pub uses_services: bool,
    /// The checks the tasks suggest.
    pub checks: Vec<Starter>,
}

/// A check suggested by a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Starter {
    /// The check's name.
    pub name: String,
    /// Its YAML body (the lines after `- name:`), indented by two spaces.
    pub body: Vec<String>,
    /// The play's `hosts:` pattern.
    pub pattern: String,
    /// Where the task is written (`file:line`) and its name.
    pub source: String,
}

/// Names a repository commonly gives its main playbook, in order of preference.
const MAIN_PLAYBOOKS: &[&str] = &[
    "site.yml",
    "site.yaml",
    "playbook.yml",
    "playbook.yaml",
    "main.yml",
    "main.yaml",
];

/// Where repositories commonly keep an inventory, in order of preference.
const INVENTORIES: &[&str] = &[
    "inventory",
    "inventory.ini",
    "inventory.yml",
    "inventory.yaml",
    "hosts",
    "hosts.ini",
    "hosts.yml",
    "inventories/staging",
    "inventories/test",
    "inventories/production",
];

const REQUIREMENTS: &[&str] = &[
    "requirements.yml",
    "requirements.yaml",
    "roles/requirements.yml",
    "collections/requirements.yml",
];

/// How deep includes and roles are followed.
const MAX_DEPTH: usize = 8;

/// At most this many checks are suggested.
pub const MAX_CHECKS: usize = 60;

/// Reads the repository at `root`.
pub fn survey(root: &Path) -> Survey {
    let mut survey = Survey::default();
    let mut candidates = Vec::new();
    for dir in [PathBuf::new(), PathBuf::from("playbooks")] {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".yml") || name.ends_with(".yaml"))
                && !name.starts_with('.')
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                candidates.push(dir.join(name));
            }
        }
    }
    candidates.sort();
    for candidate in candidates {
        let Ok(text) = std::fs::read_to_string(root.join(&candidate)) else {
            continue;
        };
        if text.starts_with("$ANSIBLE_VAULT") {
            continue;
        }
        if let Ok(Some(node)) = parse(&text) {
            if is_playbook(&node) {
                survey.playbooks.push(candidate);
            }
        }
    }
    survey.playbook = MAIN_PLAYBOOKS
        .iter()
        .map(PathBuf::from)
        .chain(
            MAIN_PLAYBOOKS
                .iter()
                .map(|p| Path::new("playbooks").join(p)),
        )
        .find(|p| survey.playbooks.contains(p))
        .or_else(|| importing(root, &survey.playbooks))
        .or_else(|| survey.playbooks.first().cloned());

    survey.ansible_cfg = root.join("ansible.cfg").is_file();
    let configured_inventory = survey
        .ansible_cfg
        .then(|| std::fs::read_to_string(root.join("ansible.cfg")).ok())
        .flatten()
        .and_then(|text| crate::config::ansible_cfg::value(&text, "defaults", &["inventory"]))
        .map(PathBuf::from)
        .filter(|p| p.is_relative() && root.join(p).exists());
    survey.inventory = configured_inventory.or_else(|| {
        INVENTORIES
            .iter()
            .map(PathBuf::from)
            .find(|p| root.join(p).exists())
    });
    survey.requirements = REQUIREMENTS
        .iter()
        .map(PathBuf::from)
        .find(|p| root.join(p).is_file());
    survey.vault_files = vault_files(root);

    if let Some(playbook) = survey.playbook.clone() {
        let mut walk = Walk {
            root,
            survey: &mut survey,
            seen: BTreeSet::new(),
            suggested: BTreeSet::new(),
        };
        walk.playbook(&playbook, 0);
    }
    survey
}

/// Whether `node` is a list of plays (maps with `hosts`) or playbook imports.
fn is_playbook(node: &Node) -> bool {
    let Value::Seq(items) = &node.value else {
        return false;
    };
    !items.is_empty()
        && items.iter().all(|item| match &item.value {
            Value::Map(entries) => entries.iter().any(|e| {
                e.key == "hosts"
                    || e.key == "import_playbook"
                    || e.key == "ansible.builtin.import_playbook"
            }),
            _ => false,
        })
}

/// The playbook that imports others, when exactly one does.
fn importing(root: &Path, playbooks: &[PathBuf]) -> Option<PathBuf> {
    let importers: Vec<&PathBuf> = playbooks
        .iter()
        .filter(|p| {
            std::fs::read_to_string(root.join(p)).is_ok_and(|t| t.contains("import_playbook"))
        })
        .collect();
    match importers.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// Files under the root (outside `.git`) that Ansible Vault encrypted.
fn vault_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == ".git" || name == "target" {
                continue;
            }
            let rel = dir.join(&name);
            match entry.file_type() {
                Ok(t) if t.is_dir() && found.len() < 100 => stack.push(rel),
                Ok(t) if t.is_file() => {
                    let mut head = [0u8; 14];
                    let is_vault = std::fs::File::open(entry.path())
                        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                        .is_ok()
                        && &head == b"$ANSIBLE_VAULT";
                    if is_vault {
                        found.push(rel);
                    }
                }
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// Follows a playbook's plays, roles and includes.
struct Walk<'a> {
    root: &'a Path,
    survey: &'a mut Survey,
    seen: BTreeSet<PathBuf>,
    suggested: BTreeSet<(String, String)>,
}

impl Walk<'_> {
    fn load(&mut self, file: &Path) -> Option<Node> {
        if !self.seen.insert(file.to_path_buf()) {
            return None;
        }
        let text = std::fs::read_to_string(self.root.join(file)).ok()?;
        parse(&text).ok().flatten()
    }

    fn playbook(&mut self, file: &Path, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(node) = self.load(file) else { return };
        let Value::Seq(plays) = node.value else {
            return;
        };
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        for play in &plays {
            let Value::Map(entries) = &play.value else {
                continue;
            };
            if let Some(import) = text_of(
                entries,
                &["import_playbook", "ansible.builtin.import_playbook"],
            ) {
                if !import.contains("{{") {
                    self.playbook(&dir.join(import), depth + 1);
                }
                continue;
            }
            let pattern = text_of(entries, &["hosts"]).unwrap_or_else(|| "all".into());
            if !self.survey.patterns.contains(&pattern) {
                self.survey.patterns.push(pattern.clone());
            }
            for key in ["pre_tasks", "roles", "tasks", "post_tasks"] {
                let Some(value) = entries.iter().find(|e| e.key == key).map(|e| &e.value) else {
                    continue;
                };
                if key == "roles" {
                    if let Value::Seq(roles) = &value.value {
                        for role in roles {
                            if let Some(name) = role_name(role) {
                                self.role(&dir, &name, &pattern, depth + 1);
                            }
                        }
                    }
                } else {
                    self.tasks(file, &dir, value, &pattern, depth);
                }
            }
            if let Some(handlers) = entries.iter().find(|e| e.key == "handlers") {
                // Handlers suggest no check, but a handler restarting a service is a service.
                if mentions_service(&handlers.value) {
                    self.survey.uses_services = true;
                }
            }
        }
    }

    /// A role of the repository (under `roles/` beside the playbook or at the root).
    fn role(&mut self, dir: &Path, name: &str, pattern: &str, depth: usize) {
        if depth > MAX_DEPTH || name.contains("{{") {
            return;
        }
        let short = name.rsplit('.').next().unwrap_or(name);
        let role_dir = [
            dir.join("roles").join(name),
            PathBuf::from("roles").join(name),
        ]
        .into_iter()
        .chain([PathBuf::from("roles").join(short)])
        .find(|d| self.root.join(d).is_dir());
        let Some(role_dir) = role_dir else { return };
        for part in ["handlers", "tasks"] {
            for main in ["main.yml", "main.yaml"] {
                let file = role_dir.join(part).join(main);
                if !self.root.join(&file).is_file() {
                    continue;
                }
                let Some(node) = self.load(&file) else {
                    continue;
                };
                if part == "handlers" {
                    if mentions_service(&node) {
                        self.survey.uses_services = true;
                    }
                } else {
                    let tasks_dir = role_dir.join("tasks");
                    self.tasks(&file, &tasks_dir, &node, pattern, depth);
                }
            }
        }
        let meta = role_dir.join("meta/main.yml");
        if let Some(Node {
            value: Value::Map(entries),
            ..
        }) = self
            .root
            .join(&meta)
            .is_file()
            .then(|| self.load(&meta))
            .flatten()
        {
            if let Some(Value::Seq(deps)) = entries
                .iter()
                .find(|e| e.key == "dependencies")
                .map(|e| &e.value.value)
            {
                for dep in deps {
                    if let Some(name) = role_name(dep) {
                        self.role(dir, &name, pattern, depth + 1);
                    }
                }
            }
        }
    }

    /// A list of tasks in `file`; includes are found relative to `dir`.
    fn tasks(&mut self, file: &Path, dir: &Path, node: &Node, pattern: &str, depth: usize) {
        let Value::Seq(tasks) = &node.value else {
            return;
        };
        for task in tasks {
            let Value::Map(entries) = &task.value else {
                continue;
            };
            for block in ["block", "rescue", "always"] {
                if let Some(inner) = entries.iter().find(|e| e.key == block) {
                    self.tasks(file, dir, &inner.value, pattern, depth);
                }
            }
            let Some((module, args)) = module_of(entries) else {
                continue;
            };
            match module.as_str() {
                "include_tasks" | "import_tasks" => {
                    let target = arg(&args, "file").or_else(|| arg(&args, "_raw"));
                    if let Some(target) = target.filter(|t| !t.contains("{{")) {
                        let included = dir.join(target);
                        if depth < MAX_DEPTH && self.root.join(&included).is_file() {
                            if let Some(node) = self.load(&included) {
                                self.tasks(&included, dir, &node, pattern, depth + 1);
                            }
                        }
                    }
                }
                "include_role" | "import_role" => {
                    if let Some(name) = arg(&args, "name") {
                        let base = file.parent().unwrap_or(Path::new("")).to_path_buf();
                        self.role(&base, &name, pattern, depth + 1);
                    }
                }
                _ => {
                    let name = text_of(entries, &["name"]).unwrap_or_else(|| module.clone());
                    let source = format!("{}:{}, task \"{name}\"", file.display(), task.pos.line);
                    self.suggest(&module, &args, pattern, &source);
                }
            }
        }
    }

    fn suggest(&mut self, module: &str, args: &[(String, String)], pattern: &str, source: &str) {
        let templated = |v: &String| v.contains("{{");
        let mut add =
            |survey: &mut Survey, kind: &str, target: String, name: String, body: Vec<String>| {
                if templated(&target) || survey.checks.len() >= MAX_CHECKS {
                    return;
                }
                if self.suggested.insert((kind.to_string(), target)) {
                    survey.checks.push(Starter {
                        name,
                        body,
                        pattern: pattern.to_string(),
                        source: source.to_string(),
                    });
                }
            };
        let state = arg(args, "state");
        match module {
            "apt" | "package" | "yum" | "dnf" => {
                if matches!(state.as_deref(), Some("absent") | Some("removed")) {
                    return;
                }
                let names = arg(args, "name")
                    .or_else(|| arg(args, "pkg"))
                    .unwrap_or_default();
                for package in split_list(&names) {
                    if package.ends_with(".deb") || package.contains('/') {
                        continue;
                    }
                    add(
                        self.survey,
                        "package",
                        package.clone(),
                        format!("package {package} is installed"),
                        vec![format!("  package: {package}")],
                    );
                }
            }
            "service" | "systemd" | "systemd_service" => {
                self.survey.uses_services = true;
                let Some(service) = arg(args, "name") else {
                    return;
                };
                let running = match state.as_deref() {
                    Some("started") | Some("restarted") | Some("reloaded") => Some(true),
                    Some("stopped") => Some(false),
                    _ => None,
                };
                let enabled = arg(args, "enabled").and_then(|e| truthy(&e));
                if running.is_none() && enabled.is_none() {
                    return;
                }
                let mut body = vec![format!("  service: {service}")];
                let mut what = Vec::new();
                if let Some(r) = running {
                    body.push(format!("  running: {r}"));
                    what.push(if r { "runs" } else { "is stopped" });
                }
                if let Some(e) = enabled {
                    body.push(format!("  enabled: {e}"));
                    what.push(if e {
                        "starts at boot"
                    } else {
                        "is not started at boot"
                    });
                }
                add(
                    self.survey,
                    "service",
                    service.clone(),
                    format!("service {service} {}", what.join(" and ")),
                    body,
                );
            }
            "copy" | "template" => {
                let Some(dest) = arg(args, "dest") else {
                    return;
                };
                if dest.starts_with("/etc/systemd/") {
                    self.survey.uses_services = true;
                }
                if !dest.starts_with('/') || dest.ends_with('/') {
                    return;
                }
                let mut body = vec![format!("  file: {}", quoted(&dest))];
                if let Some(mode) = arg(args, "mode").filter(|m| is_octal_mode(m)) {
                    body.push(format!("  mode: \"{}\"", normal_mode(&mode)));
                }
                add(
                    self.survey,
                    "file",
                    dest.clone(),
                    format!("{dest} is in place"),
                    body,
                );
            }
            "file" => {
                let Some(path) = arg(args, "path")
                    .or_else(|| arg(args, "dest"))
                    .or_else(|| arg(args, "name"))
                else {
                    return;
                };
                if !path.starts_with('/') {
                    return;
                }
                let kind = match state.as_deref() {
                    Some("directory") => "directory",
                    Some("link") => "symlink",
                    Some("touch") => "file",
                    _ => return,
                };
                add(
                    self.survey,
                    "file",
                    path.clone(),
                    format!("{path} is a {kind}"),
                    vec![
                        format!("  file: {}", quoted(&path)),
                        format!("  type: {kind}"),
                    ],
                );
            }
            "user" => {
                if state.as_deref() == Some("absent") {
                    return;
                }
                let Some(user) = arg(args, "name") else {
                    return;
                };
                add(
                    self.survey,
                    "user",
                    user.clone(),
                    format!("user {user} exists"),
                    vec![format!("  user: {user}")],
                );
            }
            _ => {}
        }
    }
}

/// Whether a node mentions a service module anywhere (handlers).
fn mentions_service(node: &Node) -> bool {
    match &node.value {
        Value::Seq(items) => items.iter().any(mentions_service),
        Value::Map(entries) => entries.iter().any(|e| {
            matches!(
                short_module(&e.key),
                "service" | "systemd" | "systemd_service"
            ) || mentions_service(&e.value)
        }),
        Value::Scalar { .. } => false,
    }
}

/// Task keywords that are not modules.
const KEYWORDS: &[&str] = &[
    "name",
    "when",
    "tags",
    "notify",
    "register",
    "become",
    "become_user",
    "vars",
    "loop",
    "with_items",
    "with_dict",
    "loop_control",
    "ignore_errors",
    "changed_when",
    "failed_when",
    "delegate_to",
    "run_once",
    "environment",
    "args",
    "listen",
    "no_log",
    "check_mode",
    "until",
    "retries",
    "delay",
    "block",
    "rescue",
    "always",
    "diff",
    "timeout",
    "throttle",
    "any_errors_fatal",
    "become_method",
    "connection",
    "debugger",
    "module_defaults",
    "collections",
    "local_action",
    "async",
    "poll",
    "with_fileglob",
    "with_first_found",
    "with_together",
    "with_nested",
    "with_subelements",
    "with_sequence",
    "with_lines",
    "with_indexed_items",
    "vars_files",
];

/// `ansible.builtin.apt` → `apt`.
fn short_module(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The task's module and its arguments (a mapping, or `k=v` words).
fn module_of(entries: &[Entry]) -> Option<(String, Vec<(String, String)>)> {
    let entry = entries
        .iter()
        .find(|e| !KEYWORDS.contains(&e.key.as_str()))?;
    let module = short_module(&entry.key).to_string();
    let mut args: Vec<(String, String)> = match &entry.value.value {
        Value::Map(kv) => kv
            .iter()
            .filter_map(|e| scalar(&e.value).map(|v| (e.key.clone(), v)))
            .chain(kv.iter().filter_map(|e| {
                match &e.value.value {
                    Value::Seq(items) => Some((
                        e.key.clone(),
                        items
                            .iter()
                            .filter_map(scalar)
                            .collect::<Vec<_>>()
                            .join(","),
                    )),
                    _ => None,
                }
            }))
            .collect(),
        Value::Scalar { text, .. } => free_form(text),
        Value::Seq(_) => Vec::new(),
    };
    // `args:` beside a free-form module.
    if let Some(Value::Map(kv)) = entries
        .iter()
        .find(|e| e.key == "args")
        .map(|e| &e.value.value)
    {
        args.extend(
            kv.iter()
                .filter_map(|e| scalar(&e.value).map(|v| (e.key.clone(), v))),
        );
    }
    Some((module, args))
}

/// `name=nginx state=present` → pairs; text without `=` is `_raw`.
fn free_form(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut raw = Vec::new();
    for word in text.split_whitespace() {
        match word.split_once('=') {
            Some((k, v)) => pairs.push((k.to_string(), v.trim_matches(['"', '\'']).to_string())),
            None => raw.push(word),
        }
    }
    if !raw.is_empty() {
        pairs.push(("_raw".to_string(), raw.join(" ")));
    }
    pairs
}

fn scalar(node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn arg(args: &[(String, String)], key: &str) -> Option<String> {
    args.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// A role named in `roles:` or a role's `dependencies:` (`web` or `{ role: web, ... }`).
fn role_name(node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text.clone()),
        Value::Map(e) => text_of(e, &["role", "name"]),
        Value::Seq(_) => None,
    }
}

fn text_of(entries: &[Entry], keys: &[&str]) -> Option<String> {
    entries
        .iter()
        .find(|e| keys.contains(&e.key.as_str()))
        .and_then(|e| scalar(&e.value))
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn truthy(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn is_octal_mode(mode: &str) -> bool {
    let digits = mode.trim_start_matches('0');
    (3..=4).contains(&mode.len().max(digits.len()))
        && !digits.is_empty()
        && digits.len() <= 4
        && digits.chars().all(|c| ('0'..='7').contains(&c))
}

/// `644`, `0644`, `"0644"` → `0644`.
fn normal_mode(mode: &str) -> String {
    format!("{:0>4}", mode.trim_start_matches('0'))
}

/// A path quoted when YAML would read it otherwise.
fn quoted(path: &str) -> String {
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@".contains(c))
    {
        path.to_string()
    } else {
        format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

pub mod render;
pub mod suggest;

#[cfg(test)]
mod tests;
