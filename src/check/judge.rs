//! A check's outcome: pass, fail (with expected vs found) or error.

use super::matcher::Matcher;
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
    /// A failure for each problem found, else a pass saying `ok`.
    pub fn from_problems(problems: Vec<String>, ok: String) -> Judgement {
        if problems.is_empty() {
            Judgement::pass(ok)
        } else {
            Judgement::fail(problems.join("; "))
        }
    }

    /// A pass.
    pub fn pass(message: impl Into<String>) -> Judgement {
        Judgement {
            status: Verdict::Pass,
            message: message.into(),
        }
    }

    /// A failure.
    pub fn fail(message: impl Into<String>) -> Judgement {
        Judgement {
            status: Verdict::Fail,
            message: message.into(),
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

/// The line of `text` most like plain text that was not found, for "nearest line" hints.
pub fn nearest_line(pattern: &Matcher, text: &str) -> Option<String> {
    let want = pattern.as_plain()?;
    text.lines()
        .take(5000)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let line = line.trim();
            let line: String = line.chars().take(200).collect();
            let ratio = similar::TextDiff::from_chars(want, line.as_str()).ratio();
            (ratio, line)
        })
        .filter(|(ratio, _)| *ratio >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, line)| line)
}
