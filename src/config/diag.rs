//! Located diagnostics and the helpers that validate a YAML tree field by field.
//!
//! Validation never stops at the first problem: every helper records what is wrong in
//! [`Diagnostics`] and returns `None`, so the user sees all problems of a file at once.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::{Entry, Node, Pos, Value};

/// One problem in one file, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file, as the user should read it.
    pub file: PathBuf,
    /// Where in the file.
    pub pos: Pos,
    /// The dotted key the problem is about (`provision.ansible.playbook`), if any.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
    /// The source line, for the excerpt under the message.
    pub line_text: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: ",
            self.file.display(),
            self.pos.line,
            self.pos.col
        )?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(text) = &self.line_text {
            let number = self.pos.line.to_string();
            let pad = " ".repeat(number.len());
            let caret_at = self.pos.col.saturating_sub(1);
            let width = text
                .chars()
                .skip(caret_at)
                .take_while(|c| !c.is_whitespace() && *c != ':')
                .count()
                .max(1);
            write!(
                f,
                "\n{pad} |\n{number} | {text}\n{pad} | {}{}",
                " ".repeat(caret_at),
                "^".repeat(width)
            )?;
        }
        Ok(())
    }
}

/// The diagnostics of one file, plus the source they point into.
pub struct Diagnostics<'s> {
    file: PathBuf,
    source: &'s str,
    /// What was found so far.
    pub items: Vec<Diagnostic>,
}

impl<'s> Diagnostics<'s> {
    /// Starts collecting for `file`, whose text is `source`.
    pub fn new(file: &Path, source: &'s str) -> Self {
        Diagnostics {
            file: file.to_path_buf(),
            source,
            items: Vec::new(),
        }
    }

    /// Records a problem at `pos` about `key`.
    pub fn error(&mut self, pos: Pos, key: &str, message: impl Into<String>) {
        let line_text = self
            .source
            .lines()
            .nth(pos.line.saturating_sub(1))
            .map(|l| l.trim_end().to_string());
        self.items.push(Diagnostic {
            file: self.file.clone(),
            pos,
            key: (!key.is_empty()).then(|| key.to_string()),
            message: message.into(),
            line_text,
        });
    }

    /// The file these diagnostics are about.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Expects a mapping, records a problem otherwise.
    pub fn map<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            _ => {
                self.error(
                    node.pos,
                    key,
                    format!("expected a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Records every key of `entries` that is not in `allowed`, with a "did you mean".
    pub fn known_keys(&mut self, entries: &[Entry], parent: &str, allowed: &[&str]) {
        for entry in entries {
            if !allowed.contains(&entry.key.as_str()) {
                let hint = did_you_mean(&entry.key, allowed)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_else(|| format!("; expected one of: {}", allowed.join(", ")));
                let at = if parent.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("in `{parent}`")
                };
                self.error(
                    entry.key_pos,
                    &join(parent, &entry.key),
                    format!("unknown key `{}` {at}{hint}", entry.key),
                );
            }
        }
    }

    /// Expects a scalar and returns its text.
    pub fn text(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.as_text() {
            Some(text) => Some(text.to_string()),
            None => {
                self.error(
                    node.pos,
                    key,
                    format!("expected a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Expects a non-empty scalar.
    pub fn non_empty_text(&mut self, node: &Node, key: &str) -> Option<String> {
        let text = self.text(node, key)?;
        if text.trim().is_empty() {
            self.error(node.pos, key, "expected a non-empty string");
            return None;
        }
        Some(text)
    }

    /// Expects `true` or `false`.
    pub fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        match node.as_text() {
            Some("true" | "True" | "yes") => Some(true),
            Some("false" | "False" | "no") => Some(false),
            _ => {
                self.error(
                    node.pos,
                    key,
                    format!("expected true or false, found {}", shown(node)),
                );
                None
            }
        }
    }

    /// Expects a whole number between `min` and `max`.
    pub fn integer(&mut self, node: &Node, key: &str, min: i64, max: i64) -> Option<i64> {
        match node.as_text().and_then(|t| t.trim().parse::<i64>().ok()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    node.pos,
                    key,
                    format!(
                        "expected a whole number from {min} to {max}, found {}",
                        shown(node)
                    ),
                );
                None
            }
        }
    }

    /// Expects a duration such as `30s`, `5m`, `1h` or a number of seconds.
    pub fn duration(&mut self, node: &Node, key: &str) -> Option<std::time::Duration> {
        match node.as_text().and_then(parse_duration) {
            Some(d) => Some(d),
            None => {
                self.error(
                    node.pos,
                    key,
                    format!(
                        "expected a duration such as 30s, 5m or 1h, found {}",
                        shown(node)
                    ),
                );
                None
            }
        }
    }

    /// Expects a size in bytes such as `16MiB`, `512KiB` or a number of bytes.
    pub fn size(&mut self, node: &Node, key: &str) -> Option<usize> {
        match node.as_text().and_then(parse_size) {
            Some(n) => Some(n),
            None => {
                self.error(
                    node.pos,
                    key,
                    format!(
                        "expected a size such as 16MiB, 512KiB or a number of bytes (at least 1KiB), found {}",
                        shown(node)
                    ),
                );
                None
            }
        }
    }

    /// Expects a list of strings; a single string is taken as a list of one.
    pub fn text_list(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.text(item, key) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Value::Scalar { .. } if !node.is_null() => node.as_text().map(|t| vec![t.to_string()]),
            _ => {
                self.error(
                    node.pos,
                    key,
                    format!("expected a list of strings, found {}", node.type_name()),
                );
                None
            }
        }
    }
}

/// Parses `30s`, `5m`, `1h`, `250ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return None,
    };
    (seconds.is_finite() && (0.0..1e9).contains(&seconds))
        .then(|| std::time::Duration::from_secs_f64(seconds))
}

/// Parses `16MiB`, `512KiB`, `1GiB` (also `MB`, `KB`, `GB` as binary units) or a number of
/// bytes; at least 1 KiB.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: usize = number.parse().ok()?;
    let unit = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(unit).filter(|n| *n >= 1024)
}

fn shown(node: &Node) -> String {
    match node.as_text() {
        Some(t) => format!("`{t}`"),
        None => node.type_name().to_string(),
    }
}

/// `parent.key`, or `key` at the top.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The closest allowed word, when it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let allowed = ["playbook", "inventory", "extra_vars"];
        assert_eq!(did_you_mean("playbok", &allowed), Some("playbook"));
        assert_eq!(did_you_mean("zzz", &allowed), None);
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30s"),
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(
            parse_duration("5m"),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("12"),
            Some(std::time::Duration::from_secs(12))
        );
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn renders_excerpt_with_caret_under_the_key() {
        let source = "name: x\nprovision:\n  ansible:\n    playbok: a.yml\n";
        let mut diags = Diagnostics::new(Path::new("drydock.yaml"), source);
        diags.error(
            Pos { line: 4, col: 5 },
            "provision.ansible.playbok",
            "unknown key",
        );
        let text = diags.items[0].to_string();
        assert_eq!(
            text,
            "drydock.yaml:4:5: `provision.ansible.playbok`: unknown key\n  |\n4 |     playbok: a.yml\n  |     ^^^^^^^"
        );
    }
}
