//! `kernel_param: net.ipv4.ip_forward`: a kernel parameter's value, read from `/proc/sys`.

use super::{expect, Kind, Parse, Spec};
use crate::check::facts::{item_section, quote, Facts, Script, Wants};
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
    for key in w.items("sysctl") {
        // `read` is built in: no process per parameter.
        s.line(format!(
            "if [ -r {p} ]; then sec {n}; while IFS= read -r l || [ -n \"$l\" ]; do echo \"$l\"; done < {p}; fi",
            p = quote(&path(key)),
            n = quote(&item_section("sysctl", key))
        ));
    }
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
        let Some(raw) = facts.item("sysctl", key) else {
            return Judgement::fail(format!(
                "kernel parameter {key} does not exist ({} is not readable)",
                path(key)
            ));
        };
        let found = String::from_utf8_lossy(raw)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut problems = Vec::new();
        expect(&mut problems, "value", &self.value, &found);
        Judgement::from_problems(problems, format!("{key} = {found}"))
    }
}
