//! The one matcher language of every string and number assertion.
//!
//! | written                       | holds when the value found ...                         |
//! |-------------------------------|--------------------------------------------------------|
//! | `text` / `42`                 | equals it (each field says what "equals" means)        |
//! | `/regex/`                     | matches the regex (`^`, `$` at every line)             |
//! | `!/regex/`                    | does not match it                                      |
//! | `{ gt: N }` (`ge`, `lt`, `le`)| is a number above (at least, below, at most) N         |
//! | `{ version: ">= 1.22, << 2" }`| is a version passing every comparison, dpkg's ordering |
//! | `{ contains: [a, b] }`        | has each (a substring of text, an element of a list)   |
//! | `{ not: M }`                  | does not pass M                                        |
//! | `{ any: [M, ...] }`           | passes at least one                                    |
//! | `{ all: [M, ...] }`           | passes every one                                       |

use std::fmt;

use super::version::{self, Constraint};
use crate::config::diag::Diagnostics;
use crate::config::yaml::{Node, Value};

/// The keys of a matcher written as a mapping.
pub const OPERATORS: &[&str] = &[
    "gt", "ge", "lt", "le", "version", "contains", "not", "any", "all",
];

/// A number comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `gt`.
    Gt,
    /// `ge`.
    Ge,
    /// `lt`.
    Lt,
    /// `le`.
    Le,
}

impl Compare {
    fn word(self) -> &'static str {
        match self {
            Compare::Gt => "gt",
            Compare::Ge => "ge",
            Compare::Lt => "lt",
            Compare::Le => "le",
        }
    }

    fn holds(self, found: f64, want: f64) -> bool {
        match self {
            Compare::Gt => found > want,
            Compare::Ge => found >= want,
            Compare::Lt => found < want,
            Compare::Le => found <= want,
        }
    }
}

/// What an assertion wants of one value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Plain text or number: equality as the field defines it.
    Equal(String),
    /// `/regex/`.
    Regex(regex::Regex),
    /// `!/regex/`.
    NotRegex(regex::Regex),
    /// `{ gt: N }` and the others.
    Compare(Compare, f64),
    /// `{ version: "..." }`: every comparison holds, in dpkg's ordering.
    Version(Vec<Constraint>, String),
    /// `{ contains: [...] }`.
    Contains(Vec<Matcher>),
    /// `{ not: M }`.
    Not(Box<Matcher>),
    /// `{ any: [...] }`.
    Any(Vec<Matcher>),
    /// `{ all: [...] }`.
    All(Vec<Matcher>),
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// What plain equality means for a field (exact text unless the field says otherwise).
pub type Plain<'a> = &'a dyn Fn(&str, &str) -> bool;

/// Plain equality as exact text.
pub fn exact(want: &str, found: &str) -> bool {
    want == found
}

/// Plain text as a substring (`contains`, `stdout`, `body`, ...).
pub fn substring(want: &str, found: &str) -> bool {
    found.contains(want)
}

impl Matcher {
    /// A literal (plain) matcher.
    pub fn equal(text: impl Into<String>) -> Matcher {
        Matcher::Equal(text.into())
    }

    /// Whether `found` passes, plain text meaning exact equality.
    pub fn matches(&self, found: &str) -> bool {
        self.matches_with(found, &exact)
    }

    /// Whether `found` passes, plain text judged by `plain(want, found)`.
    pub fn matches_with(&self, found: &str, plain: Plain<'_>) -> bool {
        match self {
            Matcher::Equal(want) => plain(want, found),
            Matcher::Regex(r) => r.is_match(found),
            Matcher::NotRegex(r) => !r.is_match(found),
            Matcher::Compare(op, want) => number(found).is_some_and(|n| op.holds(n, *want)),
            Matcher::Version(all, _) => all.iter().all(|c| c.holds(found)),
            Matcher::Contains(items) => items.iter().all(|m| match m {
                Matcher::Equal(want) => found.contains(want.as_str()),
                other => other.matches_with(found, plain),
            }),
            Matcher::Not(m) => !m.matches_with(found, plain),
            Matcher::Any(ms) => ms.iter().any(|m| m.matches_with(found, plain)),
            Matcher::All(ms) => ms.iter().all(|m| m.matches_with(found, plain)),
        }
    }

    /// Whether a list of values passes: plain text, a regex or a version asks for one element
    /// that passes; `!/regex/` for none; a number comparison is about the list's length.
    pub fn matches_list(&self, found: &[String]) -> bool {
        match self {
            Matcher::Equal(want) => found.iter().any(|f| f == want),
            Matcher::Regex(_) | Matcher::Version(..) => found.iter().any(|f| self.matches(f)),
            Matcher::NotRegex(r) => !found.iter().any(|f| r.is_match(f)),
            Matcher::Compare(op, want) => op.holds(found.len() as f64, *want),
            Matcher::Contains(items) => items.iter().all(|m| m.matches_list(found)),
            Matcher::Not(m) => !m.matches_list(found),
            Matcher::Any(ms) => ms.iter().any(|m| m.matches_list(found)),
            Matcher::All(ms) => ms.iter().all(|m| m.matches_list(found)),
        }
    }

    /// The plain text, when the matcher is plain.
    pub fn as_plain(&self) -> Option<&str> {
        match self {
            Matcher::Equal(t) => Some(t),
            _ => None,
        }
    }

    /// What a message says when a substring field does not pass: `"text" not found`,
    /// `/re/ not found`, `!/re/ does not hold`.
    pub fn miss(&self) -> String {
        match self {
            Matcher::Equal(_) | Matcher::Regex(_) => format!("{} not found", self.quoted()),
            other => format!("{other} does not hold"),
        }
    }

    /// The matcher as a message shows it, plain text quoted (for substring fields).
    pub fn quoted(&self) -> Quoted<'_> {
        Quoted(self)
    }
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

/// Plain text shown quoted.
pub struct Quoted<'a>(&'a Matcher);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Matcher::Equal(t) => write!(f, "{t:?}"),
            other => write!(f, "{other}"),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, word: &str, ms: &[Matcher]| {
            let items: Vec<String> = ms.iter().map(|m| m.quoted().to_string()).collect();
            write!(f, "{{ {word}: [{}] }}", items.join(", "))
        };
        match self {
            Matcher::Equal(t) => write!(f, "{t}"),
            Matcher::Regex(r) => write!(f, "/{}/", r.as_str()),
            Matcher::NotRegex(r) => write!(f, "!/{}/", r.as_str()),
            Matcher::Compare(op, n) => write!(f, "{{ {}: {n} }}", op.word()),
            Matcher::Version(_, written) => write!(f, "{{ version: {written:?} }}"),
            Matcher::Contains(ms) => list(f, "contains", ms),
            Matcher::Not(m) => write!(f, "{{ not: {} }}", m.quoted()),
            Matcher::Any(ms) => list(f, "any", ms),
            Matcher::All(ms) => list(f, "all", ms),
        }
    }
}

/// Reads a matcher; `plain` validates (and may normalise) plain text, or records a problem.
pub fn parse(
    diags: &mut Diagnostics<'_>,
    node: &Node,
    key: &str,
    plain: &dyn Fn(&mut Diagnostics<'_>, &Node, &str) -> Option<String>,
) -> Option<Matcher> {
    match &node.value {
        Value::Scalar { .. } => {
            let text = diags.text(node, key)?;
            if let Some(re) = text.strip_prefix("!/").and_then(|t| t.strip_suffix('/')) {
                return regex(diags, node, key, &text, re).map(Matcher::NotRegex);
            }
            if text.len() >= 2 && text.starts_with('/') && text.ends_with('/') {
                return regex(diags, node, key, &text, &text[1..text.len() - 1])
                    .map(Matcher::Regex);
            }
            plain(diags, node, &text).map(Matcher::Equal)
        }
        Value::Map(entries) => {
            let [entry] = entries.as_slice() else {
                diags.error(
                    node.pos,
                    key,
                    format!(
                        "a matcher has exactly one operator, found {}; expected one of: {}",
                        entries.len(),
                        OPERATORS.join(", ")
                    ),
                );
                return None;
            };
            let inner = &entry.value;
            let at = format!("{key}.{}", entry.key);
            let many = |diags: &mut Diagnostics<'_>| -> Option<Vec<Matcher>> {
                let items: Vec<&Node> = match &inner.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![inner],
                };
                let parsed: Vec<Option<Matcher>> = items
                    .into_iter()
                    .map(|n| parse(diags, n, &at, plain))
                    .collect();
                parsed.into_iter().collect()
            };
            match entry.key.as_str() {
                word @ ("gt" | "ge" | "lt" | "le") => {
                    let op = match word {
                        "gt" => Compare::Gt,
                        "ge" => Compare::Ge,
                        "lt" => Compare::Lt,
                        _ => Compare::Le,
                    };
                    match inner.as_text().and_then(number) {
                        Some(n) => Some(Matcher::Compare(op, n)),
                        None => {
                            diags.error(inner.pos, &at, "expected a number, such as 3 or 0.5");
                            None
                        }
                    }
                }
                "version" => {
                    let written = diags.non_empty_text(inner, &at)?;
                    match version::parse_constraints(&written) {
                        Ok(all) => Some(Matcher::Version(all, written)),
                        Err(problem) => {
                            diags.error(inner.pos, &at, problem);
                            None
                        }
                    }
                }
                "contains" => many(diags).map(Matcher::Contains),
                "any" => many(diags).map(Matcher::Any),
                "all" => many(diags).map(Matcher::All),
                "not" => parse(diags, inner, &at, plain).map(|m| Matcher::Not(Box::new(m))),
                other => {
                    let hint = crate::config::diag::did_you_mean(other, OPERATORS)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    diags.error(
                        entry.key_pos,
                        &at,
                        format!(
                            "unknown matcher `{other}`{hint}; expected one of: {}",
                            OPERATORS.join(", ")
                        ),
                    );
                    None
                }
            }
        }
        Value::Seq(_) => {
            diags.error(
                node.pos,
                key,
                "expected a value or a matcher such as `{ any: [...] }`, found a list",
            );
            None
        }
    }
}

/// Plain text taken as written.
pub fn any_text(_: &mut Diagnostics<'_>, _: &Node, text: &str) -> Option<String> {
    Some(text.to_string())
}

/// A regex from `/.../`; line anchors match at every line, as grep users expect.
fn regex(
    diags: &mut Diagnostics<'_>,
    node: &Node,
    key: &str,
    written: &str,
    source: &str,
) -> Option<regex::Regex> {
    match regex::RegexBuilder::new(source).multi_line(true).build() {
        Ok(r) => Some(r),
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
                format!("`{written}` is not a valid regex: {first}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read(source: &str) -> Result<Matcher, Vec<String>> {
        let doc = crate::config::yaml::parse(source).unwrap().unwrap();
        let mut diags = Diagnostics::new(Path::new("m.yaml"), source);
        let m = parse(&mut diags, &doc, "v", &any_text);
        if diags.items.is_empty() {
            Ok(m.unwrap())
        } else {
            Err(diags.items.iter().map(|d| d.message.clone()).collect())
        }
    }

    #[test]
    fn each_form_holds_and_fails() {
        let cases: &[(&str, &str, bool)] = &[
            ("nginx", "nginx", true),
            ("nginx", "nginx2", false),
            ("/^ngi/", "nginx", true),
            ("\"!/^ngi/\"", "nginx", false),
            ("\"!/^apa/\"", "nginx", true),
            ("{ gt: 3 }", "4", true),
            ("{ gt: 3 }", "3", false),
            ("{ ge: 3 }", "3", true),
            ("{ lt: 0.5 }", "0.25", true),
            ("{ le: 10 }", "eleven", false),
            ("{ version: \">= 1.22\" }", "1.22.1-9", true),
            ("{ version: \">= 1.2\" }", "1.2~rc1", false),
            ("{ version: \">= 1:0.1\" }", "1.99", false),
            ("{ version: \"< 1.10\" }", "1.9", true),
            ("{ contains: [a, /b+c/] }", "xa bbc", true),
            ("{ contains: [a, z] }", "xa bbc", false),
            ("{ not: nginx }", "apache", true),
            ("{ not: { gt: 3 } }", "4", false),
            ("{ any: [apache, /ngi/] }", "nginx", true),
            ("{ all: [/n/, /x$/] }", "nginx", true),
            ("{ all: [/n/, /q/] }", "nginx", false),
        ];
        for (written, found, holds) in cases {
            let m = read(written).unwrap();
            assert_eq!(m.matches(found), *holds, "{written} against {found}");
        }
    }

    #[test]
    fn lists_match_by_element_and_length() {
        let found = vec!["10.0.0.2/24".to_string(), "fe80::1/64".to_string()];
        for (written, holds) in [
            ("10.0.0.2/24", true),
            ("10.0.0.3/24", false),
            ("/^fe80:/", true),
            ("\"!/^fe80:/\"", false),
            ("{ contains: [10.0.0.2/24, /^fe80/] }", true),
            ("{ ge: 2 }", true),
            ("{ lt: 2 }", false),
            ("{ not: { contains: [10.0.0.9/24] } }", true),
        ] {
            assert_eq!(
                read(written).unwrap().matches_list(&found),
                holds,
                "{written}"
            );
        }
    }

    #[test]
    fn shows_what_was_written() {
        assert_eq!(read("\"!/b/\"").unwrap().to_string(), "!/b/");
        for written in [
            "{ gt: 3 }",
            "/^a$/",
            "{ version: \">= 1.22\" }",
            "{ any: [\"a\", /b/] }",
            "{ not: \"x\" }",
        ] {
            assert_eq!(read(written).unwrap().to_string(), written);
        }
        assert_eq!(read("plain").unwrap().quoted().to_string(), "\"plain\"");
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            read("{ gt: many }").unwrap_err(),
            ["expected a number, such as 3 or 0.5"]
        );
        assert_eq!(
            read("{ grt: 3 }").unwrap_err(),
            ["unknown matcher `grt` (did you mean `gt`?); expected one of: gt, ge, lt, le, version, contains, not, any, all"]
        );
        assert_eq!(
            read("{ gt: 3, lt: 5 }").unwrap_err(),
            ["a matcher has exactly one operator, found 2; expected one of: gt, ge, lt, le, version, contains, not, any, all"]
        );
        assert_eq!(
            read("\"/(/\"").unwrap_err(),
            ["`/(/` is not a valid regex: unclosed group"]
        );
        assert_eq!(
            read("{ version: \"~> 1\" }").unwrap_err(),
            ["`~> 1` has no comparison; expected one of >=, <=, >, <, =, != and a version, such as `>= 1.22`"]
        );
    }
}
