//! Check files: a YAML list of checks, each with a `name`, one resource key and its assertions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kinds::{Parse, Spec, KINDS};
use crate::config::diag::{did_you_mean, Diagnostics};
use crate::config::project::get;
use crate::config::yaml::{self, Entry, Node, Value};
use crate::config::{self, ConfigError, Diagnostic, Project};

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
    /// `hosts`: the hosts or groups it runs on (every host when `None`).
    pub hosts: Option<Vec<String>>,
    /// `platforms`: the platforms it runs on (every platform when `None`).
    pub platforms: Option<Vec<String>>,
    /// `skip_platforms`: platforms it does not run on.
    pub skip_platforms: Vec<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `retries`: extra attempts before a failure counts.
    pub retries: u32,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `requires`: checks (by name) that must pass for this one to be judged.
    pub requires: Vec<String>,
    /// `from: drydock`: an `http` or `port` check probed from the monitor, not the target.
    pub from_monitor: bool,
    /// The resource and its assertions.
    pub spec: Spec,
}

/// The keys every check may have, whatever its kind.
pub const COMMON: &[&str] = &[
    "name",
    "scenarios",
    "hosts",
    "tags",
    "retries",
    "timeout",
    "requires",
    "from",
    "platforms",
    "skip_platforms",
];

/// The scenario names a check may be limited to.
pub const SCENARIOS: &[&str] = &["fresh", "upgrade"];

/// Validates one parsed check file.
pub fn validate(doc: Option<&Node>, diags: &mut Diagnostics<'_>) -> Vec<Check> {
    let Some(doc) = doc else {
        diags.error(
            yaml::Pos { line: 1, col: 1 },
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
            KINDS
                .iter()
                .flat_map(|k| std::iter::once(k.name).chain(k.asserts.iter().copied())),
        )
        .collect();
    let mut resources: Vec<&Entry> = entries
        .iter()
        .filter(|e| KINDS.iter().any(|k| k.name == e.key))
        .collect();
    // `user` and `group` are resources and also assertions (`process` + `user`, `file` +
    // `group`): when another resource is present that takes them as assertions, they are.
    if resources.len() > 1 {
        let keys: Vec<String> = resources.iter().map(|e| e.key.clone()).collect();
        resources.retain(|candidate| {
            !keys.iter().any(|other| {
                other != &candidate.key
                    && KINDS
                        .iter()
                        .any(|k| k.name == other && k.asserts.contains(&candidate.key.as_str()))
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
            let kinds: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
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
            let kind = super::kinds::kind(&r.key)?;
            COMMON
                .iter()
                .copied()
                .chain(std::iter::once(r.key.as_str()))
                .chain(kind.asserts.iter().copied())
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
    let hosts = match get(entries, "hosts") {
        None => Some(None),
        Some(n) => diags.text_list(n, "hosts").map(Some),
    };
    let platforms = match get(entries, "platforms") {
        None => Some(None),
        Some(n) => diags.text_list(n, "platforms").map(Some),
    };
    let skip_platforms = match get(entries, "skip_platforms") {
        None => Some(Vec::new()),
        Some(n) => diags.text_list(n, "skip_platforms"),
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
    let requires = match get(entries, "requires") {
        None => Some(Vec::new()),
        Some(n) => diags.text_list(n, "requires"),
    };
    let from_monitor = match get(entries, "from") {
        None => Some(false),
        Some(n) => diags.text(n, "from").and_then(|from| match from.as_str() {
            "drydock" if resource.is_some_and(|r| r.key == "http" || r.key == "port") => {
                Some(true)
            }
            "drydock" => {
                diags.error(
                    n.pos,
                    "from",
                    "`from: drydock` applies to `http` and `port` checks only",
                );
                None
            }
            "target" => Some(false),
            other => {
                diags.error(
                    n.pos,
                    "from",
                    format!("unknown `{other}`; expected `drydock` (probe from the monitor) or `target` (the default)"),
                );
                None
            }
        }),
    };
    let spec = resource.and_then(|r| {
        let kind = super::kinds::kind(&r.key)?;
        (kind.parse)(&mut Parse {
            diags,
            key: &r.key,
            subject: &r.value,
            entries,
        })
    });
    if let (Some(spec), Some(true)) = (&spec, from_monitor) {
        let option = spec
            .target_only_key()
            .and_then(|option| Some((option, get(entries, option)?)));
        if let Some((option, n)) = option {
            diags.error(
                n.pos,
                option,
                format!("`{option}` applies to requests made from the target; it cannot be combined with `from: drydock`"),
            );
            return None;
        }
    }
    Some(Check {
        requires: requires?,
        from_monitor: from_monitor?,
        name: name?,
        file: file.to_path_buf(),
        line: item.pos.line,
        scenarios: scenarios?,
        hosts: hosts?,
        platforms: platforms?,
        skip_platforms: skip_platforms?,
        tags: tags?,
        retries: retries?,
        timeout: timeout?,
        spec: spec?,
    })
}

/// Parses one check file's text; `shown` is the name used in messages.
pub fn parse_checks(shown: &Path, text: &str) -> Result<Vec<Check>, Vec<Diagnostic>> {
    let (checks, diags) = config::parse_with(shown, text, validate);
    if diags.is_empty() {
        Ok(checks.unwrap_or_default())
    } else {
        Err(diags)
    }
}

/// Loads every check file the project's `checks` globs match, in path order.
pub fn load_checks(project: &Project) -> Result<Vec<Check>, ConfigError> {
    let files = config::check_files(project)?;
    let mut all = Vec::new();
    let mut diags = Vec::new();
    for file in files {
        let text = config::read(&project.root.join(&file))?;
        match parse_checks(&file, &text) {
            Ok(checks) => all.extend(checks),
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(ConfigError::Invalid(diags));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::matcher::Matcher;
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
    fn service_checks_and_their_names() {
        let (checks, errors) = load(
            "- name: app\n  service: myapp@1.service\n  enabled: true\n- name: bad\n  service: \"a; rm -rf /\"\n- name: option\n  service: --now\n",
        );
        assert_eq!(
            checks[0].spec,
            Spec::new(super::super::kinds::service::Service {
                name: "myapp@1.service".into(),
                running: true,
                enabled: Some(true),
            })
        );
        assert_eq!(
            errors,
            [
                "5:service `a; rm -rf /` is not a service name; expected letters, digits and @ . _ : -",
                "7:service `--now` is not a service name; a service name cannot start with `-`"
            ]
        );
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
        let file = checks[1]
            .spec
            .get::<super::super::kinds::file::File>()
            .expect("a file check");
        assert_eq!(file.mode, Some(Matcher::equal("0644")));
        assert_eq!(file.contains.len(), 2);
        assert!(matches!(file.contains[1], Matcher::Regex(_)));
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
    fn a_package_version_is_a_prefix_or_located_constraints() {
        let (checks, errors) = load(
            "- name: a\n  package: nginx\n  version: 1.22\n- name: b\n  package: nginx\n  version: { version: \">= 1.22, << 2\" }\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let version = |i: usize| {
            checks[i]
                .spec
                .get::<super::super::kinds::package::Package>()
                .and_then(|p| p.version.clone())
        };
        assert_eq!(version(0), Some(Matcher::equal("1.22")));
        assert!(matches!(version(1), Some(Matcher::Version(all, _)) if all.len() == 2));
        let (_, errors) = load(
            "- name: a\n  package: nginx\n  version: { version: \"~> 1.2\" }\n- name: b\n  package: nginx\n  version: { verison: \">= 1\" }\n",
        );
        assert_eq!(
            errors,
            vec![
                "3:version.version `~> 1.2` has no comparison; expected one of >=, <=, >, <, =, != and a version, such as `>= 1.22`",
                "6:version.verison unknown matcher `verison` (did you mean `version`?); expected one of: gt, ge, lt, le, version, contains, not, any, all",
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

    #[test]
    fn hostile_shapes_are_errors_not_panics() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_checks(Path::new("c.yaml"), &deep).is_err());
        let bomb = "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n";
        assert!(parse_checks(Path::new("c.yaml"), bomb).is_err());
        assert!(parse_checks(Path::new("c.yaml"), "\u{0}\u{feff}- name: x\n").is_err());
    }

    /// Every input the fuzzer ever saved, and the corpus, parse as checks without a panic.
    #[test]
    fn saved_fuzz_inputs_parse_without_panicking() {
        let inputs = crate::config::fuzz_inputs();
        for text in &inputs {
            let _ = parse_checks(Path::new("checks.yaml"), text);
        }
        assert!(
            inputs.len() >= 4,
            "the fuzz corpus is missing ({} files)",
            inputs.len()
        );
    }
}
