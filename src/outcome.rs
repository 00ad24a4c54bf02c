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
}

impl Verdict {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }

    /// Two verdicts combined: a proven failure of the change stands even when another part
    /// hit an infrastructure error; an error stands over a pass.
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Fail, _) | (_, Fail) => Fail,
            (Error, _) | (_, Error) => Error,
            _ => Pass,
        }
    }

    /// Every verdict of `items` combined with [`Verdict::and`]; `Pass` when there is none.
    pub fn all(items: impl IntoIterator<Item = Verdict>) -> Verdict {
        items.into_iter().fold(Verdict::Pass, Verdict::and)
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

#[cfg(test)]
mod tests {
    use super::*;

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
