//! How things ended: the verdict and the results every layer shares (check results, path
//! changes). Ground floor: imports no other drydock module, so the check engine, the state
//! diff, the pipeline and the reports can all speak of outcomes without depending on each
//! other.

use serde::{Deserialize, Serialize};

/// The answer of a run, a scenario, a check or a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The change installs, upgrades and converges cleanly.
    Pass,
    /// The change is broken.
    Fail,
    /// The infrastructure broke; the change was not judged.
    Error,
    /// Not run here, on purpose (a check left out on a platform); never a pass.
    Skipped,
}

impl Verdict {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }

    /// Two verdicts combined: a proven failure of the change stands even when another part
    /// hit an infrastructure error; an error stands over a pass.
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Fail, _) | (_, Fail) => Fail,
            (Error, _) | (_, Error) => Error,
            // What was skipped on purpose decides nothing.
            _ => Pass,
        }
    }

    /// Every verdict of `items` combined with [`Verdict::and`]; `Pass` when there is none.
    pub fn all(items: impl IntoIterator<Item = Verdict>) -> Verdict {
        items.into_iter().fold(Verdict::Pass, Verdict::and)
    }
}

/// What a scenario is: its place in the run, decided once and matched on, never a string that
/// renderers compare. Serialized as its name (`fresh`, `upgrade@v2.3.0`, `fresh-reboot`, or a
/// `drydock check` target's label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScenarioKind {
    /// The default image provisioned with the change.
    Fresh,
    /// The production image provisioned with the change.
    Upgrade,
    /// The production image of an older ref (`production.upgrade_from`) provisioned with the
    /// change: `upgrade@<ref>`.
    UpgradeFrom(String),
    /// The fresh container provisioned a second time.
    Idempotence,
    /// A scenario's containers rebooted and checked again: `<name>-reboot`.
    Reboot(Box<ScenarioKind>),
    /// `drydock promote`'s provisioning of HEAD.
    Promote,
    /// `drydock check`'s target, by its label.
    Target(String),
}

impl ScenarioKind {
    /// Its name in reports.
    pub fn name(&self) -> String {
        match self {
            ScenarioKind::Fresh => "fresh".into(),
            ScenarioKind::Upgrade => "upgrade".into(),
            ScenarioKind::UpgradeFrom(git_ref) => format!("upgrade@{git_ref}"),
            ScenarioKind::Idempotence => "idempotence".into(),
            ScenarioKind::Reboot(of) => format!("{}-reboot", of.name()),
            ScenarioKind::Promote => "promote".into(),
            ScenarioKind::Target(label) => label.clone(),
        }
    }

    /// The kind a report names.
    pub fn parse(name: &str) -> ScenarioKind {
        match name {
            "fresh" => ScenarioKind::Fresh,
            "upgrade" => ScenarioKind::Upgrade,
            "idempotence" => ScenarioKind::Idempotence,
            "promote" => ScenarioKind::Promote,
            other => {
                if let Some(of) = other.strip_suffix("-reboot") {
                    ScenarioKind::Reboot(Box::new(ScenarioKind::parse(of)))
                } else if let Some(git_ref) = other.strip_prefix("upgrade@") {
                    ScenarioKind::UpgradeFrom(git_ref.to_string())
                } else {
                    ScenarioKind::Target(other.to_string())
                }
            }
        }
    }

    /// Whether it upgrades a production image (from `production.ref` or an older ref).
    pub fn is_upgrade(&self) -> bool {
        matches!(self, ScenarioKind::Upgrade | ScenarioKind::UpgradeFrom(_))
    }

    /// The name a check's `scenarios:` uses for it: `fresh` or `upgrade` (every upgrade
    /// scenario); a reboot is checked as the scenario it rebooted.
    pub fn checked_as(&self) -> Option<&'static str> {
        match self {
            ScenarioKind::Fresh | ScenarioKind::Promote => Some("fresh"),
            ScenarioKind::Upgrade | ScenarioKind::UpgradeFrom(_) => Some("upgrade"),
            ScenarioKind::Reboot(of) => of.checked_as(),
            ScenarioKind::Idempotence | ScenarioKind::Target(_) => None,
        }
    }
}

impl From<&str> for ScenarioKind {
    fn from(name: &str) -> Self {
        ScenarioKind::parse(name)
    }
}

impl std::fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for ScenarioKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for ScenarioKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(ScenarioKind::parse(&name))
    }
}

/// The result of one check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// The resource kind (`file`, `package`, ...).
    pub kind: String,
    /// `pass`, `fail` or `error`.
    pub status: Verdict,
    /// Expected vs found, or why it could not be evaluated.
    pub message: String,
    /// Whether it passed only after a retry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// The check file.
    pub file: String,
    /// The check's line in it.
    pub line: usize,
    /// The host it ran on (`None` for a standalone target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The platform it ran on (projects with `platforms:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// A path that differs between two states.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathChange {
    /// The path.
    pub path: String,
    /// The fields that differ (`content`, `mode`, `owner`, `type`, `target`), or `added` /
    /// `removed`.
    pub fields: Vec<String>,
    /// A unified diff of a text file's content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified: Option<String>,
    /// For binary or large files: the two sides' sizes and hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl PathChange {
    /// A path that only one side has: `what` is `added` or `removed`.
    pub fn presence(path: &str, what: &str) -> PathChange {
        PathChange {
            path: path.to_string(),
            fields: vec![what.to_string()],
            unified: None,
            detail: None,
        }
    }
}

/// Why a provisioning task failed, beyond its message: what the task ran and printed, and
/// what drydock found out about it. Every field is bounded (tails of output, never a whole
/// log) and masked like every report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailureDetail {
    /// The command's exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i64>,
    /// The command the task ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// The last lines of its stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// The last lines of its stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The first lines of a module's own stderr (a module that crashed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_stderr: Option<String>,
    /// The last lines of a module's exception.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// `systemctl status` and the last journal lines of a unit that failed to start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_status: Option<String>,
    /// What to change, when drydock recognised the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl FailureDetail {
    /// Whether it says nothing.
    pub fn is_empty(&self) -> bool {
        *self == FailureDetail::default()
    }

    /// What the task printed that says why, in one line: the last lines of stderr, else of
    /// stdout, else of the module's stderr or exception (at most three lines, joined).
    pub fn said(&self) -> Option<String> {
        let text = [
            &self.stderr,
            &self.stdout,
            &self.module_stderr,
            &self.exception,
        ]
        .into_iter()
        .flatten()
        .find(|t| !t.trim().is_empty())?;
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
        Some(bounded(&tail, 600))
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), with `…` when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Messages that mean the infrastructure failed, not the provisioning code, and what part.
const INFRASTRUCTURE_PATTERNS: &[(&str, &str)] = &[
    ("Temporary failure resolving", "package mirror (DNS)"),
    ("Temporary failure in name resolution", "network (DNS)"),
    ("Could not resolve", "network (DNS)"),
    ("Could not connect to", "package mirror"),
    ("Failed to fetch", "package mirror"),
    ("Unable to connect to", "package mirror"),
    ("Connection timed out", "network"),
    ("connection timed out", "network"),
    ("Network is unreachable", "network"),
    ("No route to host", "network"),
    ("Failed to download metadata", "package mirror"),
    ("Cannot find a valid baseurl", "package mirror"),
    ("Curl error (6)", "network (DNS)"),
    ("Curl error (7)", "package mirror"),
    ("No space left on device", "disk full"),
    (
        "Failed to update apt cache: unknown reason",
        "package mirror",
    ),
    ("Some index files failed to download", "package mirror"),
];

/// The part of the infrastructure a failure message points at, if any.
pub fn infrastructure_cause(text: &str) -> Option<&'static str> {
    INFRASTRUCTURE_PATTERNS
        .iter()
        .find(|(pattern, _)| text.contains(pattern))
        .map(|(_, part)| *part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_mirror_and_disk_failures() {
        assert_eq!(
            infrastructure_cause("E: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:9"),
            Some("package mirror")
        );
        assert_eq!(
            infrastructure_cause("W: Temporary failure resolving 'deb.debian.org'"),
            Some("package mirror (DNS)")
        );
        assert_eq!(
            infrastructure_cause("write error: No space left on device"),
            Some("disk full")
        );
        assert_eq!(
            infrastructure_cause("No package matching 'ngnix' is available"),
            None
        );
    }

    #[test]
    fn a_failure_says_the_tail_of_stderr_before_stdout() {
        let detail = FailureDetail {
            rc: Some(127),
            stderr: Some("one\ntwo\n\nthree\nfour\n".into()),
            stdout: Some("out".into()),
            ..Default::default()
        };
        assert_eq!(detail.said().as_deref(), Some("two | three | four"));
        let only_stdout = FailureDetail {
            stdout: Some("ALERT: parsing failed".into()),
            ..Default::default()
        };
        assert_eq!(only_stdout.said().as_deref(), Some("ALERT: parsing failed"));
        assert_eq!(FailureDetail::default().said(), None);
        assert_eq!(bounded("ééé", 3), "é…");
    }

    #[test]
    fn scenario_kinds_read_back_from_their_names() {
        for kind in [
            ScenarioKind::Fresh,
            ScenarioKind::Upgrade,
            ScenarioKind::UpgradeFrom("v2.3.0".into()),
            ScenarioKind::Idempotence,
            ScenarioKind::Reboot(Box::new(ScenarioKind::Upgrade)),
            ScenarioKind::Promote,
            ScenarioKind::Target("container:web".into()),
        ] {
            assert_eq!(ScenarioKind::parse(&kind.name()), kind);
        }
        assert_eq!(
            ScenarioKind::Reboot(Box::new(ScenarioKind::Fresh)).name(),
            "fresh-reboot"
        );
        assert_eq!(
            ScenarioKind::UpgradeFrom("v1".into()).checked_as(),
            Some("upgrade")
        );
    }

    #[test]
    fn a_proven_failure_outranks_an_infrastructure_error() {
        assert_eq!(Verdict::Error.and(Verdict::Fail), Verdict::Fail);
        assert_eq!(Verdict::Pass.and(Verdict::Error), Verdict::Error);
        assert_eq!(Verdict::all([]), Verdict::Pass);
        assert_eq!(
            Verdict::all([Verdict::Pass, Verdict::Error, Verdict::Pass]),
            Verdict::Error
        );
    }
}
