//! `package: NAME`: installed or not, and its version, from dpkg's, apk's or rpm's database.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Kind, Parse, Spec};
use crate::check::facts::{Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `package` kind.
pub const KIND: Kind = Kind {
    name: "package",
    asserts: &["installed", "version"],
    parse,
    gather,
};

/// A `package` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// The package.
    pub name: String,
    /// `installed` (default true).
    pub installed: bool,
    /// `version`: plain text is that version or one it is a prefix of at a component
    /// boundary (`1.22` holds for `1.22.1-9`); `{ version: ">= 1.22" }` orders as dpkg does.
    pub version: Option<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let name = p.subject_text()?;
    let installed = p.flag("installed", true);
    let version = p.opt("version", |d, n| {
        if n.as_text().is_some() {
            d.non_empty_text(n, "version")?;
        }
        crate::check::matcher::parse(d, n, "version", &crate::check::matcher::any_text)
    });
    Some(Spec::new(Package {
        name,
        installed: installed?,
        version: version?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("packages") {
        s.line("if [ -r /var/lib/dpkg/status ]; then sec dpkg; cat /var/lib/dpkg/status; fi");
        s.line("if [ -r /lib/apk/db/installed ]; then sec apk; cat /lib/apk/db/installed; fi");
        s.line("if command -v rpm >/dev/null 2>&1 && [ -d /var/lib/rpm ] || [ -d /usr/lib/sysimage/rpm ]; then sec rpm; rpm -qa --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' 2>/dev/null; fi");
    }
}

/// Installed packages and their versions, when a package database was found.
pub fn packages(facts: &Facts) -> Arc<Option<HashMap<String, String>>> {
    facts.table("packages", |f| {
        let mut found: Option<HashMap<String, String>> = None;
        if let Some(text) = f.text("dpkg") {
            found
                .get_or_insert_with(HashMap::new)
                .extend(parse_dpkg(&text));
        }
        if let Some(text) = f.text("apk") {
            found
                .get_or_insert_with(HashMap::new)
                .extend(parse_apk(&text));
        }
        if let Some(text) = f.text("rpm") {
            let packages = found.get_or_insert_with(HashMap::new);
            for line in text.lines() {
                if let Some((n, v)) = line.split_once('\t') {
                    packages.insert(n.to_string(), v.to_string());
                }
            }
        }
        found
    })
}

/// Installed packages from a dpkg status file.
pub fn parse_dpkg(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut installed = false;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(name), true) = (name, installed) {
            out.insert(name.to_string(), version.unwrap_or("").to_string());
        }
    }
    out
}

fn parse_apk(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = "";
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("P:") {
                name = Some(v);
            } else if let Some(v) = line.strip_prefix("V:") {
                version = v;
            }
        }
        if let Some(name) = name {
            out.insert(name.to_string(), version.to_string());
        }
    }
    out
}

/// Exact match, or a prefix that ends at a version component boundary (`1.22` matches
/// `1.22.1-9` but not `1.221`).
pub fn version_matches(want: &str, found: &str) -> bool {
    if want == found {
        return true;
    }
    found.starts_with(want)
        && found[want.len()..]
            .chars()
            .next()
            .is_some_and(|c| matches!(c, '.' | '-' | '+' | '~' | ':'))
}

impl super::Assertion for Package {
    fn kind(&self) -> &'static str {
        "package"
    }

    fn want(&self, w: &mut Wants) {
        w.flag("packages");
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let packages = packages(facts);
        let Some(packages) = packages.as_ref() else {
            return Judgement::error(
                "no package database found in the container (dpkg, rpm or apk)",
            );
        };
        let name = &self.name;
        match (packages.get(name), self.installed) {
            (None, true) => Judgement::fail(format!("{name}: expected installed, not installed")),
            (None, false) => Judgement::pass(format!("{name} is not installed")),
            (Some(v), false) => {
                Judgement::fail(format!("{name}: expected absent, installed ({v})"))
            }
            (Some(v), true) => {
                let mut problems = Vec::new();
                if let Some(want) = &self.version {
                    if !want.matches_with(v, &version_matches) {
                        let ordering = if matches!(want, Matcher::Version(..)) {
                            " (dpkg's ordering)"
                        } else {
                            ""
                        };
                        let shown = match want {
                            Matcher::Version(_, written) => written.clone(),
                            other => other.to_string(),
                        };
                        problems.push(format!("version: expected {shown}{ordering}, found {v}"));
                    }
                }
                Judgement::from_problems(problems, format!("{name} {v} is installed"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dpkg_status_installed_only() {
        let status = "Package: nginx\nStatus: install ok installed\nVersion: 1.22.1-9\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n";
        let packages = parse_dpkg(status);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages["nginx"], "1.22.1-9");
        assert!(!packages.contains_key("gone"));
    }
}
