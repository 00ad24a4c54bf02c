//! `service: NAME`: whether a service runs and starts at boot (see [`crate::check::service`]
//! for how systemd and SysV scripts are asked).

use super::{Kind, Parse, Spec};
use crate::check::facts::{item_section, quote, Facts, Script, Wants};
use crate::check::judge::Judgement;

/// The `service` kind.
pub const KIND: Kind = Kind {
    name: "service",
    asserts: &["running", "enabled"],
    parse,
    gather,
};

/// A `service` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The service (systemd unit or init script) name.
    pub name: String,
    /// `running` (default true).
    pub running: bool,
    /// `enabled`: starts at boot.
    pub enabled: Option<bool>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let name = p.subject_text()?;
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@._:-".contains(c));
    if !valid {
        p.subject_error(format!(
            "`{name}` is not a service name; expected letters, digits and @ . _ : -"
        ));
        return None;
    }
    // systemctl would read it as an option.
    if name.starts_with('-') {
        p.subject_error(format!(
            "`{name}` is not a service name; a service name cannot start with `-`"
        ));
        return None;
    }
    let running = p.flag("running", true);
    let enabled = p.opt("enabled", |d, n| d.boolean(n, "enabled"));
    Some(Spec::new(Service {
        name,
        running: running?,
        enabled: enabled?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("service") {
        s.line(crate::check::service::PRELUDE);
    }
    for name in w.items("service") {
        s.line(format!(
            "sec {}; {}",
            quote(&item_section("service", name)),
            crate::check::service::script(name)
        ));
    }
}

impl super::Assertion for Service {
    fn kind(&self) -> &'static str {
        "service"
    }

    fn want(&self, w: &mut Wants) {
        w.add("service", &self.name);
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let found = facts
            .item("service", &self.name)
            .and_then(|b| crate::check::service::parse(&String::from_utf8_lossy(b)));
        crate::check::service::judge(&self.name, self.running, self.enabled, found.as_ref())
    }
}
