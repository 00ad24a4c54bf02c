//! `service: NAME`: whether a service runs and starts at boot. Asked of systemd when it is
//! PID 1 (`systemctl show`), else of the SysV scripts (`/etc/init.d/NAME status` and the `rc?.d`
//! links), in the same single exec as the other gathered checks.

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
        s.line(PRELUDE);
    }
    for name in w.items("service") {
        s.line(format!(
            "sec {}; {}",
            quote(&item_section("service", name)),
            script(name)
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
            .and_then(|b| parse_state(&String::from_utf8_lossy(b)));
        judge(&self.name, self.running, self.enabled, found.as_ref())
    }
}


/// What the container's service manager says about one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `systemd`, `sysv`, or `none` (no manager knows the service).
    pub manager: String,
    /// Whether the manager knows it (a unit file or an init script exists).
    pub known: bool,
    /// Running: systemd's `ActiveState` (`active`, `inactive`, `failed`, ...), or `active` /
    /// `inactive` from the init script.
    pub active: String,
    /// Starts at boot: systemd's `UnitFileState` (`enabled`, `disabled`, `static`, ...), or
    /// `enabled` / `disabled` from the `rc?.d` links.
    pub enabled: String,
}

/// The shell, run once before the services' lines, that finds out whether systemd manages the
/// target (`$drydock_systemd`).
pub const PRELUDE: &str = "drydock_systemd=; if [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ] && command -v systemctl >/dev/null 2>&1; then drydock_systemd=1; fi";

/// The shell that prints one line about service `name` (after [`PRELUDE`]).
pub fn script(name: &str) -> String {
    let n = crate::check::facts::quote(name);
    format!(
        "if [ -n \"$drydock_systemd\" ]; then \
         l=; a=; u=; for kv in $(systemctl show -p LoadState -p ActiveState -p UnitFileState -- {n} 2>/dev/null); do \
         case $kv in LoadState=*) l=${{kv#*=}};; ActiveState=*) a=${{kv#*=}};; UnitFileState=*) u=${{kv#*=}};; esac; done; \
         echo \"systemd $l $a $u\"; \
         elif [ -x /etc/init.d/{name} ]; then if /etc/init.d/{name} status >/dev/null 2>&1; then a=active; else a=inactive; fi; \
         if ls /etc/rc[2345].d/S*{name} >/dev/null 2>&1; then e=enabled; else e=disabled; fi; echo \"sysv loaded $a $e\"; \
         else echo 'none not-found inactive -'; fi"
    )
}

/// Reads the line a service's section holds.
pub fn parse_state(text: &str) -> Option<State> {
    let mut words = text.split_whitespace();
    let manager = words.next()?.to_string();
    let load = words.next().unwrap_or("not-found");
    let active = words.next().unwrap_or("inactive").to_string();
    let enabled = words.next().unwrap_or("-").to_string();
    Some(State {
        manager,
        known: load == "loaded",
        active,
        enabled,
    })
}

/// Judges `service: name` against what was gathered.
pub fn judge(
    name: &str,
    running: bool,
    enabled: Option<bool>,
    found: Option<&State>,
) -> Judgement {
    let Some(service) = found else {
        return Judgement::error(format!("the state of service {name} could not be read"));
    };
    if !service.known {
        return if running || enabled == Some(true) {
            Judgement::from_problems(
                vec![format!(
                    "service {name} does not exist (no systemd unit, no /etc/init.d/{name})"
                )],
                String::new(),
            )
        } else {
            Judgement::from_problems(Vec::new(), format!("no service {name}"))
        };
    }
    let is_running = service.active == "active";
    let is_enabled = matches!(
        service.enabled.as_str(),
        "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated"
    );
    let mut problems = Vec::new();
    if running != is_running {
        problems.push(format!(
            "running: expected {}, found {} ({})",
            if running { "running" } else { "stopped" },
            if is_running { "running" } else { "stopped" },
            service.active
        ));
    }
    if let Some(want) = enabled {
        if want != is_enabled {
            problems.push(format!(
                "enabled: expected {}, found {} ({})",
                if want { "enabled" } else { "disabled" },
                if is_enabled { "enabled" } else { "disabled" },
                service.enabled
            ));
        }
    }
    let ok = format!(
        "{name} is {}{} ({})",
        if is_running { "running" } else { "stopped" },
        if is_enabled { " and enabled" } else { "" },
        service.manager
    );
    Judgement::from_problems(problems, ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Verdict;

    #[test]
    fn reads_systemd_and_sysv_lines() {
        assert_eq!(
            parse_state("systemd loaded active enabled\n"),
            Some(State {
                manager: "systemd".into(),
                known: true,
                active: "active".into(),
                enabled: "enabled".into(),
            })
        );
        assert!(!parse_state("none not-found inactive -").unwrap().known);
        assert!(parse_state("sysv loaded inactive disabled").unwrap().known);
    }

    #[test]
    fn started_but_not_enabled_fails_only_the_enabled_assertion() {
        let s = parse_state("systemd loaded active disabled").unwrap();
        assert_eq!(judge("worker", true, None, Some(&s)).status, Verdict::Pass);
        let j = judge("worker", true, Some(true), Some(&s));
        assert_eq!(j.status, Verdict::Fail);
        assert_eq!(
            j.message,
            "enabled: expected enabled, found disabled (disabled)"
        );
    }

    #[test]
    fn a_missing_service_fails_and_an_unreadable_one_is_an_error() {
        let none = parse_state("none not-found inactive -").unwrap();
        assert_eq!(
            judge("nginx", true, None, Some(&none)).message,
            "service nginx does not exist (no systemd unit, no /etc/init.d/nginx)"
        );
        assert_eq!(
            judge("nginx", false, None, Some(&none)).status,
            Verdict::Pass
        );
        assert_eq!(judge("nginx", true, None, None).status, Verdict::Error);
        let failed = parse_state("systemd loaded failed enabled").unwrap();
        assert_eq!(
            judge("myapp", true, Some(true), Some(&failed)).message,
            "running: expected running, found stopped (failed)"
        );
    }
}
