//! `kernel_param: net.ipv4.ip_forward`: a kernel parameter's value, read from `/proc/sys`.

use super::{expect, Kind, Parse, Spec};
use crate::check::facts::{quote, Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `kernel_param` kind.
pub const KIND: Kind = Kind {
    name: "kernel_param",
    asserts: &["value"],
    parse,
    gather,
};

/// A `kernel_param` check.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelParam {
    /// The parameter, dotted as `sysctl` writes it.
    pub key: String,
    /// `value`; tabs and runs of spaces in what is read count as one space.
    pub value: Option<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let key = p.subject_text()?;
    let valid = key.split(['.', '/']).all(|part| {
        !part.is_empty()
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-:@".contains(c))
    });
    if !valid {
        p.subject_error(format!(
            "`{key}` is not a kernel parameter; expected a dotted name such as net.ipv4.ip_forward"
        ));
        return None;
    }
    let value = p.text("value");
    Some(Spec::new(KernelParam { key, value: value? }))
}

/// `/proc/sys/net/ipv4/ip_forward` for `net.ipv4.ip_forward`.
fn path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn gather(w: &Wants, s: &mut Script) {
    if !w.has("sysctl") {
        return;
    }
    // One `grep` for every parameter: a multi-value parameter (`net.ipv4.tcp_rmem`) must be
    // read in one go, which the shell's `read` does not do.
    let paths: Vec<String> = w.items("sysctl").map(|k| quote(&path(k))).collect();
    s.line(format!(
        "sec sysctl-present; set --; for p in {}; do [ -r \"$p\" ] && {{ echo \"$p\"; set -- \"$@\" \"$p\"; }}; done; \
         if [ $# -gt 0 ]; then sec sysctl; grep -H '' -- \"$@\" 2>/dev/null; fi",
        paths.join(" ")
    ));
}

/// Parameters by path: (readable, value with whitespace runs as one space).
fn values(facts: &Facts) -> std::sync::Arc<std::collections::HashMap<String, String>> {
    facts.table("sysctl", |f| {
        let mut out: std::collections::HashMap<String, String> = f
            .text("sysctl-present")
            .unwrap_or_default()
            .lines()
            .map(|p| (p.to_string(), String::new()))
            .collect();
        for line in f.text("sysctl").unwrap_or_default().lines() {
            if let Some((path, value)) = line.split_once(':') {
                if let Some(v) = out.get_mut(path) {
                    if !v.is_empty() {
                        v.push(' ');
                    }
                    v.push_str(&value.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
        }
        out
    })
}

impl super::Assertion for KernelParam {
    fn kind(&self) -> &'static str {
        "kernel_param"
    }

    fn want(&self, w: &mut Wants) {
        w.add("sysctl", &self.key);
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let key = &self.key;
        let values = values(facts);
        let Some(found) = values.get(&path(key)) else {
            return Judgement::fail(format!(
                "kernel parameter {key} does not exist ({} is not readable)",
                path(key)
            ));
        };
        let mut problems = Vec::new();
        expect(&mut problems, "value", self.value.as_ref(), found);
        Judgement::from_problems(problems, format!("{key} = {found}"))
    }
}
