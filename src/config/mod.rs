//! Configuration: `drydock.yaml` (check files are read by [`crate::check`] with the same tools),
//! validated completely before the engine is touched.
//!
//! Files are parsed into a located YAML tree ([`yaml`]) and validated by hand into checked types,
//! collecting every problem with its file, line and key ([`diag`]).

pub mod ansible_cfg;
pub mod diag;
pub mod diff;
pub mod hosts;
pub mod images;
pub mod project;
pub mod watch;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use diag::Diagnostic;
pub use hosts::{AnsibleSettings, Host, VaultPassword};
pub use project::{
    BaseImage, Debootstrap, DefaultImage, DiffSettings, EnvVar, Idempotence, Init, Platform,
    Production, Project, ProvisionKind, REBOOT_NEEDS_SYSTEMD,
};

/// The name of the project file.
pub const FILE_NAME: &str = "drydock.yaml";

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `drydock.yaml` in the folder or its parents.
    #[error("no {FILE_NAME} in {} or any parent folder; run drydock in a project folder or pass --config PATH", .0.display())]
    NotFound(PathBuf),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// One or more located problems.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    /// A check glob matched no file.
    #[error("{}: `checks`: `{pattern}` matches no file under {}", config.display(), root.display())]
    NoCheckFiles {
        /// The config file.
        config: PathBuf,
        /// The project folder.
        root: PathBuf,
        /// The glob.
        pattern: String,
    },
}

fn render(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&d.to_string());
    }
    if diags.len() > 1 {
        out.push_str(&format!("\n\n{} problems found", diags.len()));
    }
    out
}

/// Finds `drydock.yaml` in `start` or its parents.
pub fn discover(start: &Path) -> Result<PathBuf, ConfigError> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    Err(ConfigError::NotFound(start.to_path_buf()))
}

/// Reads a config or check file.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses `text` (the content of `shown`) and runs `validate` over it, collecting diagnostics.
pub fn parse_with<T>(
    shown: &Path,
    text: &str,
    validate: impl FnOnce(Option<&yaml::Node>, &mut diag::Diagnostics<'_>) -> T,
) -> (Option<T>, Vec<Diagnostic>) {
    let mut diags = diag::Diagnostics::new(shown, text);
    match yaml::parse(text) {
        Ok(doc) => {
            let value = validate(doc.as_ref(), &mut diags);
            (Some(value), diags.items)
        }
        Err(e) => {
            diags.error(e.pos, "", format!("invalid YAML: {}", e.message));
            (None, diags.items)
        }
    }
}

/// Loads and validates the project file at `path`.
pub fn load_project(path: &Path) -> Result<Project, ConfigError> {
    let text = read(path)?;
    let root = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    parse_project(&root, &shown_path(path), &text)
}

/// Validates the text of a project file whose folder is `root`; `shown` names it in messages.
pub fn parse_project(root: &Path, shown: &Path, text: &str) -> Result<Project, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    let (project, diags) = parse_with(shown, text, |doc, d| {
        let mut project = project::validate(root, doc, d, &env);
        if let Some(p) = project.as_mut() {
            p.config_file = root.join(FILE_NAME);
        }
        project
    });
    match project.flatten() {
        Some(p) if diags.is_empty() => Ok(p),
        _ => Err(ConfigError::Invalid(diags)),
    }
}

/// The check files, relative to the project root.
pub fn check_files(project: &Project) -> Result<Vec<PathBuf>, ConfigError> {
    let mut found = Vec::new();
    let mut candidates = Vec::new();
    walk(&project.root, &project.root, &mut candidates);
    candidates.sort();
    for pattern in &project.checks {
        let matcher = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map(|g| g.compile_matcher());
        let matched: Vec<&PathBuf> = match &matcher {
            Ok(m) => candidates.iter().filter(|c| m.is_match(c)).collect(),
            Err(_) => Vec::new(),
        };
        if matched.is_empty() {
            return Err(ConfigError::NoCheckFiles {
                config: shown_path(&project.config_file),
                root: project.root.clone(),
                pattern: pattern.clone(),
            });
        }
        for m in matched {
            if !found.contains(m) {
                found.push(m.clone());
            }
        }
    }
    Ok(found)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" || name == "target" || name == "node_modules" {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, out),
            Ok(t) if t.is_file() => {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_path_buf());
                }
            }
            _ => {}
        }
    }
}

/// A path as the user should see it: relative to the current folder when inside it.
pub fn shown_path(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().ok();
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match cwd.and_then(|c| abs.strip_prefix(&c).ok().map(Path::to_path_buf)) {
        Some(rel) if !rel.as_os_str().is_empty() => rel,
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_errors(yaml_text: &str) -> Vec<String> {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("images/default")).unwrap();
        std::fs::write(dir.join("images/default/Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::create_dir_all(dir.join("playbooks")).unwrap();
        std::fs::write(dir.join("playbooks/site.yml"), "- hosts: all\n").unwrap();
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, yaml_text).unwrap();
        let result = load_project(&path);
        std::fs::remove_dir_all(&dir).ok();
        match result {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(d)) => d
                .iter()
                .map(|d| {
                    format!(
                        "{}:{} {}",
                        d.pos.line,
                        d.key.clone().unwrap_or_default(),
                        d.message
                    )
                })
                .collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "drydock-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const GOOD: &str = "name: hello
images:
  default:
    dockerfile: images/default/Dockerfile
    base:
      image: debian:bookworm-slim
      bootstrap: { debootstrap: { suite: bookworm, variant: minbase, include: [python3] } }
provision:
  ansible:
    playbook: playbooks/site.yml
production:
  ref: main
checks: [tests/*.yaml]
diff:
  paths: [/etc, /var/www]
  ignore: [/var/log/**, \"**/*.pyc\"]
";

    #[test]
    fn hosts_vault_and_skip_tags_are_validated() {
        let good = GOOD.replace(
            "    playbook: playbooks/site.yml\n",
            "    playbook: playbooks/site.yml\n    vault_password_file: playbooks/site.yml\n",
        ) + "hosts:\n  web: { groups: [webservers] }\n  db: {}\nidempotence:\n  skip_tags: [notest]\n";
        assert_eq!(project_errors(&good), Vec::<String>::new());
        let both = GOOD.replace(
            "    playbook: playbooks/site.yml\n",
            "    playbook: playbooks/site.yml\n    vault_password_file: x\n    vault_password_from_env: HOME\n",
        );
        assert_eq!(
            project_errors(&both),
            ["12:provision.ansible.vault_password_from_env expected one of `vault_password_file` or `vault_password_from_env`, not both"]
        );
        let unset = GOOD.replace(
            "    playbook: playbooks/site.yml\n",
            "    playbook: playbooks/site.yml\n    vault_password_from_env: DRYDOCK_NO_SUCH_VARIABLE\n",
        );
        assert_eq!(
            project_errors(&unset),
            ["11:provision.ansible.vault_password_from_env the host environment variable `DRYDOCK_NO_SUCH_VARIABLE` is not set"]
        );
        let bad_host = GOOD.to_string() + "hosts:\n  web_1: {}\n";
        assert_eq!(project_errors(&bad_host).len(), 1);
        assert!(project_errors(&bad_host)[0].contains("`web_1` is not a host name"));
    }

    #[test]
    fn reboot_needs_systemd() {
        let without = GOOD.to_string() + "reboot: true\n";
        assert_eq!(
            project_errors(&without),
            [format!("17:reboot {}", REBOOT_NEEDS_SYSTEMD)]
        );
        let with = GOOD.replace(
            "    dockerfile: images/default/Dockerfile\n",
            "    dockerfile: images/default/Dockerfile\n    init: systemd\n",
        ) + "reboot: true\n";
        assert_eq!(project_errors(&with), Vec::<String>::new());
        let not_a_bool = GOOD.to_string() + "reboot: sometimes\n";
        assert_eq!(project_errors(&not_a_bool).len(), 1);
    }

    #[test]
    fn the_watch_section_is_validated() {
        let good = GOOD.to_string()
            + "watch:\n  targets: [local, \"container:web\"]\n  every: 30s\n  confirm: 3\n  recover: 2\n  webhook: http://127.0.0.1:9/hook\n  smtp: { server: \"mail:25\", from: a@b.c, to: [d@e.f], tls: starttls, user: u, password_from_env: P, ca_file: ca.pem }\n  retention: 7d\n";
        assert_eq!(project_errors(&good), Vec::<String>::new());
        let tls = GOOD.to_string()
            + "watch:\n  smtp: { server: mail, from: a@b.c, to: [d@e.f], tls: ssl }\n";
        assert_eq!(
            project_errors(&tls),
            ["18:watch.smtp.tls `ssl` is not one of none, starttls, tls"]
        );
        let bad = GOOD.to_string()
            + "watch:\n  webhook: hooks.example\n  confirm: 99\n  smtp: { server: mail }\n  evry: 1m\n";
        assert_eq!(
            project_errors(&bad),
            [
                "21:watch.evry unknown key `evry` in `watch` (did you mean `every`?)",
                "19:watch.confirm expected a whole number from 0 to 20, found `99`",
                "18:watch.webhook `hooks.example` is not an http:// or https:// URL",
                "20:watch.smtp.from missing key `from` in `watch.smtp`",
                "20:watch.smtp.to missing key `to` in `watch.smtp`",
            ]
        );
    }

    #[test]
    fn the_design_example_is_valid() {
        assert_eq!(project_errors(GOOD), Vec::<String>::new());
    }

    #[test]
    fn typo_names_line_key_and_suggestion() {
        let bad = GOOD.replace("    playbook:", "    playbok:");
        assert_eq!(
            project_errors(&bad),
            vec![
                "10:provision.ansible.playbok unknown key `playbok` in `provision.ansible` (did you mean `playbook`?)",
                "10:provision.ansible.playbook missing key `playbook` in `provision.ansible`",
            ]
        );
    }

    #[test]
    fn collects_all_problems_at_once() {
        let bad = "name: Hello World\nimages: {}\nprovision:\n  shell: { script: nope.sh }\nchecks: []\ndiff: { paths: [etc] }\nextra: 1\n";
        let errors = project_errors(bad);
        let expected = [
            "7:extra unknown key `extra` at the top level; expected one of: name, images, platforms, provision, production, checks, diff",
            "1:name `Hello World` cannot be used in image tags",
            "2:images.default missing key `default` in `images`",
            "5:checks expected at least one check file or glob",
            "6:diff.paths `etc` is not absolute",
            "4:provision.shell.script `nope.sh` does not exist",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (got, want) in errors.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn paths_cannot_leave_the_project() {
        let bad = GOOD.replace("playbooks/site.yml", "../../etc/passwd");
        let errors = project_errors(&bad);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("leaves the project folder"),
            "{errors:?}"
        );
    }

    #[test]
    fn invalid_yaml_is_located() {
        let errors = project_errors("name: [unclosed\n");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("2: invalid YAML") || errors[0].starts_with("1: invalid YAML"),
            "{errors:?}"
        );
    }
}

/// Every input the fuzzer ever saved, and its corpus (for the parsers' tests).
#[cfg(test)]
pub fn fuzz_inputs() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    ["corpus", "regressions"]
        .iter()
        .flat_map(|folder| {
            std::fs::read_dir(root.join(folder))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect()
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Every input the fuzzer ever saved, and the corpus, parse without a panic.
    #[test]
    fn saved_fuzz_inputs_parse_without_panicking() {
        let inputs = fuzz_inputs();
        for text in &inputs {
            let _ = parse_project(Path::new("/nonexistent"), Path::new("drydock.yaml"), text);
        }
        assert!(
            inputs.len() >= 4,
            "the fuzz corpus is missing ({} files)",
            inputs.len()
        );
    }

    #[test]
    fn hostile_shapes_are_errors_not_panics() {
        assert!(parse_project(
            Path::new("/x"),
            Path::new("d.yaml"),
            "name: 0o777\nimages: !!binary x\n"
        )
        .is_err());
    }
}

/// The JSON Schemas `drydock schema` prints say what the parsers accept: every key a schema
/// lists is one the parser knows, and the check kinds and their keys are the parser's own.
#[cfg(test)]
mod schemas {
    use super::*;
    use serde_json::Value;

    const CONFIG: &str = include_str!("../../schema/config.schema.json");

    /// `schema` with a `$ref` (and an `allOf`) resolved against `root`.
    fn resolved<'a>(root: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
        let mut out = Vec::new();
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/$defs/");
            out.extend(resolved(root, &root["$defs"][name]));
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(resolved(root, part));
        }
        out.push(schema);
        out
    }

    /// Every (path, key) an object of the config schema lists, `path` as YAML nesting.
    fn config_keys(
        root: &Value,
        schema: &Value,
        path: &[String],
        out: &mut Vec<(Vec<String>, String)>,
    ) {
        for s in resolved(root, schema) {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (key, sub) in props {
                    out.push((path.to_vec(), key.clone()));
                    let mut deeper = path.to_vec();
                    deeper.push(key.clone());
                    config_keys(root, sub, &deeper, out);
                }
            }
            if let Some(sub) = s.get("additionalProperties").filter(|v| v.is_object()) {
                let mut deeper = path.to_vec();
                deeper.push("sample".into());
                config_keys(root, sub, &deeper, out);
            }
            for branch in s
                .get("oneOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                config_keys(root, branch, path, out);
            }
        }
    }

    #[test]
    fn every_key_the_config_schema_lists_is_one_drydock_knows() {
        let root: Value = serde_json::from_str(CONFIG).unwrap();
        let mut keys = Vec::new();
        config_keys(&root, &root, &[], &mut keys);
        assert!(keys.len() > 60, "{} keys", keys.len());
        for (path, key) in &keys {
            let mut yaml = String::new();
            for (depth, part) in path.iter().enumerate() {
                yaml.push_str(&format!("{}{part}:\n", "  ".repeat(depth)));
            }
            yaml.push_str(&format!("{}{key}: ~\n", "  ".repeat(path.len())));
            let Err(ConfigError::Invalid(diags)) =
                parse_project(Path::new("/nonexistent"), Path::new("drydock.yaml"), &yaml)
            else {
                continue;
            };
            for d in diags {
                assert!(
                    !d.message.contains(&format!("unknown key `{key}`")),
                    "the schema lists `{}`, which drydock does not know: {}",
                    [path.join("."), key.clone()].join("."),
                    d.message
                );
            }
        }
        let top: Vec<&str> = root["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = project::TOP_KEYS.to_vec();
        known.sort_unstable();
        assert_eq!(top, known);
        let ansible: Vec<&str> = root["properties"]["provision"]["properties"]["ansible"]
            ["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = hosts::ANSIBLE_KEYS.to_vec();
        known.sort_unstable();
        assert_eq!(ansible, known);
    }
}
