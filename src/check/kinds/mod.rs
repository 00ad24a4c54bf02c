//! The check kinds, one file each: a kind reads its assertions from a check file (with located
//! diagnostics), says which facts it needs from the one fact-gathering exec (or runs its own
//! exec, as `command`, `http` and `addr` do), and judges what was found.
//!
//! Adding a kind: a file here with a `KIND` ([`Kind`]) and an [`Assertion`], and its name in the
//! `kinds!` list (which declares the module and lists it in [`KINDS`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::facts::{Facts, Script, Wants};
use super::judge::Judgement;
use super::matcher::{self, Matcher};
use crate::config::diag::Diagnostics;
use crate::config::project::get;
use crate::config::yaml::{Entry, Node};
use crate::docker::ExecOutput;

/// Declares each kind's module and lists its [`Kind`] in [`KINDS`].
macro_rules! kinds {
    ($($kind:ident),* $(,)?) => {
        $(pub mod $kind;)*
        /// Every kind, in the order the README lists them.
        pub const KINDS: &[&Kind] = &[$(&$kind::KIND),*];
    };
}

// A new kind: its file here, and its name in this list.
kinds![
    file,
    package,
    process,
    service,
    port,
    command,
    http,
    user,
    group,
    dns,
    mount,
    kernel_param,
    interface,
    addr
];

/// One check kind.
pub struct Kind {
    /// The resource key (`file`, `dns`, ...).
    pub name: &'static str,
    /// The assertion keys it accepts.
    pub asserts: &'static [&'static str],
    /// Reads the subject and assertions of one check.
    pub parse: fn(&mut Parse<'_, '_>) -> Option<Spec>,
    /// Adds to the fact script what the gathered checks of this kind need (nothing for kinds
    /// that run their own exec).
    pub gather: fn(&Wants, &mut Script),
}

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|k| k.name == name)
}

/// What one kind's own exec ran into.
pub enum Ran<'a> {
    /// It finished (possibly with a non-zero exit).
    Output(&'a ExecOutput),
    /// It took longer than its limit.
    TimedOut,
    /// It could not be started or followed (the engine's or the connection's words).
    Failed(String),
    /// Its output went past the runner's cap (why it cannot be judged).
    Cut(String),
}

/// A command a kind runs on its own, and how long it may take.
pub struct Exec {
    /// The command line.
    pub argv: Vec<String>,
    /// The limit after which it counts as timed out.
    pub limit: Duration,
}

/// One check's resource and assertions.
pub trait Assertion: Erased + fmt::Debug + Send + Sync {
    /// The resource key.
    fn kind(&self) -> &'static str;

    /// Records the facts this check needs from the gathering exec.
    fn want(&self, _wants: &mut Wants) {}

    /// Judges the check against gathered facts.
    fn judge(&self, _facts: &Facts) -> Judgement {
        Judgement::error("not a gathered check")
    }

    /// The exec this check runs on its own, for kinds that are not gathered; `timeout` is the
    /// check's `timeout`.
    fn exec(&self, _timeout: Option<Duration>) -> Option<Exec> {
        None
    }

    /// Judges what its own exec ran into.
    fn judge_exec(&self, _ran: Ran<'_>, _timeout: Option<Duration>) -> Judgement {
        Judgement::error("not a check with its own exec")
    }

    /// The first of its keys that only a probe from the target supports, which `from: drydock`
    /// cannot be combined with.
    fn target_only_key(&self) -> Option<&'static str> {
        None
    }
}

/// Comparison and downcasting for every assertion type.
pub trait Erased: Any {
    /// As `Any`, to downcast.
    fn as_any(&self) -> &dyn Any;
    /// Whether `other` is the same type with equal fields.
    fn same(&self, other: &dyn Any) -> bool;
}

impl<T: Any + PartialEq> Erased for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

/// The resource a check is about, with its assertions.
#[derive(Clone)]
pub struct Spec(Arc<dyn Assertion>);

impl Spec {
    /// Wraps one kind's assertion.
    pub fn new(assertion: impl Assertion) -> Spec {
        Spec(Arc::new(assertion))
    }

    /// The assertion as its own type, when it is one.
    pub fn get<T: Assertion>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }
}

impl std::ops::Deref for Spec {
    type Target = dyn Assertion;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        self.0.same(other.0.as_any())
    }
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Reads one check's subject and assertions, recording located problems.
pub struct Parse<'a, 'd> {
    /// Where problems go.
    pub diags: &'a mut Diagnostics<'d>,
    /// The resource key.
    pub key: &'a str,
    /// The resource key's value (the path, name, URL, ...).
    pub subject: &'a Node,
    /// Every key of the check.
    pub entries: &'a [Entry],
}

impl Parse<'_, '_> {
    /// The subject as non-empty text.
    pub fn subject_text(&mut self) -> Option<String> {
        self.diags.non_empty_text(self.subject, self.key)
    }

    /// A problem with the subject.
    pub fn subject_error(&mut self, message: impl Into<String>) {
        self.diags.error(self.subject.pos, self.key, message);
    }

    /// An optional assertion: `Some(None)` when absent, `Some(Some(v))` when valid, `None` when
    /// invalid (the problem is recorded).
    pub fn opt<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(&mut Diagnostics<'_>, &Node) -> Option<T>,
    ) -> Option<Option<T>> {
        match get(self.entries, key) {
            None => Some(None),
            Some(n) => read(self.diags, n).map(Some),
        }
    }

    /// A boolean assertion with its default.
    pub fn flag(&mut self, key: &str, default: bool) -> Option<bool> {
        self.opt(key, |d, n| d.boolean(n, key))
            .map(|v| v.unwrap_or(default))
    }

    /// A text assertion in the matcher language, plain text taken as written.
    pub fn text(&mut self, key: &str) -> Option<Option<Matcher>> {
        self.matcher(key, &matcher::any_text)
    }

    /// An assertion in the matcher language; `plain` validates plain values.
    pub fn matcher(
        &mut self,
        key: &str,
        plain: &dyn Fn(&mut Diagnostics<'_>, &Node, &str) -> Option<String>,
    ) -> Option<Option<Matcher>> {
        self.opt(key, |d, n| matcher::parse(d, n, key, plain))
    }

    /// A whole-number assertion from `min` to `max`, or a matcher.
    pub fn number(&mut self, key: &str, min: i64, max: i64) -> Option<Option<Matcher>> {
        self.matcher(key, &move |d, n, _| {
            d.integer(n, key, min, max).map(|v| v.to_string())
        })
    }

    /// Members a list must have (`[a, b]`: each an element of it), or one matcher on the
    /// whole list (`{ not: { contains: [c] } }`, `/re/`: some element matches).
    pub fn members(&mut self, key: &str) -> Option<Option<Matcher>> {
        self.opt(key, |d, n| match n.as_seq() {
            Some(_) => d
                .text_list(n, key)
                .map(|l| Matcher::Contains(l.into_iter().map(Matcher::Equal).collect())),
            None => matcher::parse(d, n, key, &matcher::any_text),
        })
    }

    /// A list of matchers that must all hold (a single one is a list of one); plain text
    /// means a substring.
    pub fn patterns(&mut self, key: &str) -> Option<Vec<Matcher>> {
        let Some(node) = get(self.entries, key) else {
            return Some(Vec::new());
        };
        let items: Vec<&Node> = match node.as_seq() {
            Some(items) => items.iter().collect(),
            None if node.is_null() => {
                self.diags.error(
                    node.pos,
                    key,
                    format!("expected a list of strings, found {}", node.type_name()),
                );
                return None;
            }
            None => vec![node],
        };
        let parsed: Vec<Option<Matcher>> = items
            .into_iter()
            .map(|n| matcher::parse(self.diags, n, key, &matcher::any_text))
            .collect();
        parsed.into_iter().collect()
    }
}

/// `expected X, found Y` when `want` does not hold for `found`, plain meaning exact text.
pub fn expect(problems: &mut Vec<String>, what: &str, want: Option<&Matcher>, found: &str) {
    if let Some(want) = want {
        if !want.matches(found) {
            problems.push(format!("{what}: expected {want}, found {found}"));
        }
    }
}

#[cfg(test)]
mod tests;
