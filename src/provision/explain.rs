//! Why a provisioning run failed, when the message alone does not say: the status and journal
//! of a systemd unit that did not start, and what to change when drydock recognises the cause
//! (a default image thinner than a server: no `ip`, no `sudo`, a command that is not
//! installed; empty apt lists).
//!
//! Recognising is pure ([`diagnose`], [`hint`]); one exec in the failing host's container
//! confirms what it suspects, so a hint is never a guess about the container.

use std::time::Duration;

use regex::Regex;

use super::{Failure, Outcome, Request};
use crate::docker::Engine;
use crate::outcome::bounded;

/// How long the probe of a failed host may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The most a unit's status and journal add to a failure.
const UNIT_STATUS_MAX: usize = 4000;

/// What a failure makes drydock look at in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspect {
    /// A systemd unit that failed to start (or restart, or reload).
    Unit(String),
    /// A command the task ran that the container does not have.
    Command(String),
    /// Templates used network facts that Ansible did not gather.
    NetworkFacts,
    /// `become` found no sudo.
    Sudo,
    /// A package that apt does not know (its lists may be empty).
    Package,
}

/// Commands a Debian server has and a minimal image may lack, and the package of each.
const PACKAGES: &[(&str, &str)] = &[
    ("pgrep", "procps"),
    ("pkill", "procps"),
    ("pidof", "procps"),
    ("ps", "procps"),
    ("top", "procps"),
    ("free", "procps"),
    ("sysctl", "procps"),
    ("uptime", "procps"),
    ("watch", "procps"),
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("bridge", "iproute2"),
    ("tc", "iproute2"),
    ("sudo", "sudo"),
    ("curl", "curl"),
    ("wget", "wget"),
    ("gpg", "gnupg"),
    ("dirmngr", "dirmngr"),
    ("ping", "iputils-ping"),
    ("hostname", "hostname"),
    ("lsb_release", "lsb-release"),
    ("crontab", "cron"),
    ("systemctl", "systemd"),
    ("journalctl", "systemd"),
    ("less", "less"),
    ("unzip", "unzip"),
    ("xz", "xz-utils"),
    ("bzip2", "bzip2"),
    ("git", "git"),
    ("openssl", "openssl"),
    ("update-ca-certificates", "ca-certificates"),
    ("locale-gen", "locales"),
    ("iptables", "iptables"),
    ("nft", "nftables"),
    ("logrotate", "logrotate"),
    ("rsync", "rsync"),
    ("ssh-keygen", "openssh-client"),
    ("file", "file"),
    ("dig", "dnsutils"),
    ("nc", "netcat-openbsd"),
    ("killall", "psmisc"),
    ("fuser", "psmisc"),
    ("acl", "acl"),
    ("setfacl", "acl"),
    ("python3", "python3"),
];

/// The Debian package that provides `command`, when drydock knows it.
pub fn package_of(command: &str) -> Option<&'static str> {
    PACKAGES
        .iter()
        .find(|(c, _)| *c == command)
        .map(|(_, p)| *p)
}

/// What a match points at.
type Make = fn(&regex::Captures) -> Suspect;

/// A pattern and what its match points at.
type Rule = (Regex, Make);

fn patterns() -> &'static [Rule] {
    static PATTERNS: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        let unit = |c: &regex::Captures| Suspect::Unit(c[1].trim_end_matches(".service").into());
        let command = |c: &regex::Captures| Suspect::Command(c[1].to_string());
        let rules: Vec<(&str, Make)> = vec![
            (r"sudo: (?:command )?not found", |_| Suspect::Sudo),
            (r"(?:^|\s|/)sudo: No such file", |_| Suspect::Sudo),
            (
                r"Unable to (?:start|restart|reload|stop) service ([A-Za-z0-9@_.-]+)",
                unit,
            ),
            (r"Job for ([A-Za-z0-9@_.-]+?)\.service failed", unit),
            (
                r"(?s)(?:is undefined|has no attribute).*'ansible_(?:default_ipv[46]|all_ipv[46]_addresses|interfaces|eth[0-9]+)'|'ansible_(?:default_ipv[46]|all_ipv[46]_addresses|interfaces|eth[0-9]+)' is undefined",
                |_| Suspect::NetworkFacts,
            ),
            (r"(?:^|[\s:])([A-Za-z0-9_.+-]+): (?:command )?not found", command),
            (
                r"No such file or directory: b?'([A-Za-z0-9_.+/-]+)'",
                |c| {
                    Suspect::Command(
                        c[1].rsplit('/').next().unwrap_or(&c[1]).to_string(),
                    )
                },
            ),
            (r"No package matching '[^']+' is available", |_| Suspect::Package),
            (r"Unable to locate package", |_| Suspect::Package),
        ];
        rules
            .into_iter()
            .filter_map(|(p, f)| Regex::new(p).ok().map(|r| (r, f)))
            .collect()
    })
}

/// What a failure points at, from its message and what the task printed; the first rule that
/// matches wins (a missing sudo explains a "not found" better than the command does).
pub fn diagnose(failure: &Failure) -> Option<Suspect> {
    let d = &failure.detail;
    let text = [
        Some(&failure.message),
        d.stderr.as_ref(),
        d.stdout.as_ref(),
        d.module_stderr.as_ref(),
        d.exception.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect::<Vec<_>>()
    .join("\n");
    patterns()
        .iter()
        .find_map(|(re, make)| re.captures(&text).map(|c| make(&c)))
        .filter(|s| !matches!(s, Suspect::Command(c) if c == "sh" || c.ends_with(".yml")))
        // A name that a tool would read as an option is no name.
        .filter(|s| !matches!(s, Suspect::Unit(n) | Suspect::Command(n) if n.starts_with('-')))
}

/// The one-exec probe of a suspect: prints what the judgement needs.
pub fn probe(suspect: &Suspect) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    match suspect {
        Suspect::Unit(unit) => format!(
            "[ -d /run/systemd/system ] || exit 0; \
             SYSTEMD_COLORS=0 systemctl status --no-pager --full --lines=0 -- {u}.service 2>&1 | head -n 20; \
             echo '-- journal --'; journalctl --no-pager --quiet -o short -n 20 -u {u}.service 2>&1 | tail -n 20",
            u = q(unit)
        ),
        Suspect::Command(command) => {
            format!("command -v -- {c} >/dev/null 2>&1 || echo missing", c = q(command))
        }
        Suspect::NetworkFacts => "command -v ip >/dev/null 2>&1 || echo missing".into(),
        Suspect::Sudo => "command -v sudo >/dev/null 2>&1 || echo missing".into(),
        Suspect::Package => "[ -d /var/lib/apt/lists ] || exit 0; \
             ls /var/lib/apt/lists/ 2>/dev/null | grep -q '_Packages' || echo empty"
            .into(),
    }
}

/// The unit's status and journal to attach, and the hint, from the probe's output.
pub fn judge(
    suspect: &Suspect,
    probed: &str,
    dockerfile: &str,
    capabilities: &[String],
) -> (Option<String>, Option<String>) {
    let probed = probed.trim();
    let add = |package: &str| {
        format!(
            "add `{package}` to the packages `{dockerfile}` installs, as a Debian server has it"
        )
    };
    match suspect {
        Suspect::Unit(unit) => {
            if probed.is_empty() {
                return (None, None);
            }
            let sandboxed = probed.contains("status=226/NAMESPACE")
                || probed.contains("Failed at step NAMESPACE")
                || probed.contains("Failed to set up mount namespacing");
            let hint = sandboxed.then(|| {
                if capabilities.iter().any(|c| c == "SYS_ADMIN") {
                    format!("{unit}.service uses systemd's sandboxing (a mount namespace per service) and could not set it up although the container has CAP_SYS_ADMIN; the engine's AppArmor or SELinux policy may refuse mounts (see the README, \"Booting systemd\")")
                } else {
                    format!("{unit}.service uses systemd's sandboxing (PrivateTmp=, ProtectSystem=, BindReadOnlyPaths=, ...), which needs a mount namespace: give the container CAP_SYS_ADMIN (`images.default.cap_add: [SYS_ADMIN]`, drydock's default for `init: systemd`)")
                }
            });
            (Some(bounded(probed, UNIT_STATUS_MAX)), hint)
        }
        Suspect::Command(command) if probed == "missing" => {
            let hint = match package_of(command) {
                Some(package) => format!("`{command}` is not installed in the container: {}", add(package)),
                None => format!("`{command}` is not installed in the container: install the package that provides it in `{dockerfile}`"),
            };
            (None, Some(hint))
        }
        Suspect::NetworkFacts if probed == "missing" => (
            None,
            Some(format!(
                "Ansible gathered no network facts because the container has no `ip` command: {}",
                add("iproute2")
            )),
        ),
        Suspect::NetworkFacts => (
            None,
            Some("network facts are missing although the container has `ip`: gather facts in the play (`gather_facts: true`) for every host whose `hostvars` a template reads".into()),
        ),
        Suspect::Sudo if probed == "missing" => (
            None,
            Some(format!("`become` needs sudo, which the container lacks: {}", add("sudo"))),
        ),
        Suspect::Package if probed == "empty" => (
            None,
            Some(format!("the container's apt lists are empty (an image built with `rm -rf /var/lib/apt/lists/*` has none; a server always has them): update the cache in the task (`update_cache: true`), or keep the lists in `{dockerfile}`")),
        ),
        _ => (None, None),
    }
}

/// Looks into the container of each failed host once and adds what it found to the failures.
pub async fn explain(engine: &Engine, request: &Request<'_>, outcome: &mut Outcome) {
    let dockerfile = request.image.dockerfile.display().to_string();
    let capabilities = &request.image.capabilities();
    let mut explained: Vec<(Option<String>, Option<String>, super::FailureDetail)> = Vec::new();
    let failures = outcome
        .hosts
        .iter_mut()
        .filter_map(|h| h.failure.as_mut())
        .chain(outcome.failure.as_mut());
    for failure in failures {
        // The run's failure repeats the first host's: look once.
        if let Some((_, _, detail)) = explained
            .iter()
            .find(|(host, task, _)| *host == failure.host && *task == failure.task)
        {
            failure.detail = detail.clone();
            continue;
        }
        if let Some(suspect) = diagnose(failure) {
            let container = failure
                .host
                .as_deref()
                .and_then(|h| request.machines.iter().find(|m| m.host.name == h))
                .or(request.machines.first())
                .map(|m| m.container.clone());
            if let Some(container) = container {
                let script = probe(&suspect);
                let cmd = ["/bin/sh", "-c", script.as_str()];
                let run = engine.exec(&container, &cmd, &[], None);
                if let Ok(Ok(out)) = tokio::time::timeout(PROBE_TIMEOUT, run).await {
                    let probed = String::from_utf8_lossy(&out.stdout);
                    let (status, hint) = judge(&suspect, &probed, &dockerfile, capabilities);
                    failure.detail.unit_status = status.or(failure.detail.unit_status.take());
                    failure.detail.hint = hint.or(failure.detail.hint.take());
                }
            }
        }
        explained.push((
            failure.host.clone(),
            failure.task.clone(),
            failure.detail.clone(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureDetail;

    fn failed(message: &str, stderr: Option<&str>) -> Failure {
        Failure {
            detail: FailureDetail {
                stderr: stderr.map(String::from),
                ..Default::default()
            },
            ..Failure::code(message.to_string())
        }
    }

    #[test]
    fn recognises_what_a_thin_image_lacks() {
        assert_eq!(
            diagnose(&failed(
                "non-zero return code",
                Some("/bin/sh: 1: pgrep: not found")
            )),
            Some(Suspect::Command("pgrep".into()))
        );
        assert_eq!(
            diagnose(&failed(
                "[Errno 2] No such file or directory: b'pgrep'",
                None
            )),
            Some(Suspect::Command("pgrep".into()))
        );
        assert_eq!(
            diagnose(&failed(
                "The task includes an option with an undefined variable. The error was: 'dict object' has no attribute 'ansible_default_ipv4'",
                None
            )),
            Some(Suspect::NetworkFacts)
        );
        assert_eq!(
            diagnose(&failed(
                "AnsibleUndefinedVariable: 'ansible_all_ipv4_addresses' is undefined",
                None
            )),
            Some(Suspect::NetworkFacts)
        );
        assert_eq!(
            diagnose(&failed(
                "MODULE FAILURE",
                Some("/bin/sh: 1: sudo: not found")
            )),
            Some(Suspect::Sudo)
        );
        assert_eq!(
            diagnose(&failed("No package matching 'apache2' is available", None)),
            Some(Suspect::Package)
        );
        assert_eq!(
            diagnose(&failed("Destination /etc/x does not exist", None)),
            None
        );
    }

    #[test]
    fn recognises_a_unit_that_did_not_start() {
        assert_eq!(
            diagnose(&failed(
                "Unable to start service haproxy: Job for haproxy.service failed because the control process exited with error code.",
                None
            )),
            Some(Suspect::Unit("haproxy".into()))
        );
        assert_eq!(
            diagnose(&failed(
                "Job for redis-server.service failed because the control process exited with error code.",
                None
            )),
            Some(Suspect::Unit("redis-server".into()))
        );
    }

    #[test]
    fn a_sandboxed_unit_gets_the_capability_it_lacks_named() {
        let journal = "× haproxy.service - HAProxy\n   Main PID: 42 (code=exited, status=226/NAMESPACE)\n-- journal --\nhaproxy.service: Failed at step NAMESPACE spawning /usr/sbin/haproxy: Operation not permitted";
        let (status, hint) = judge(
            &Suspect::Unit("haproxy".into()),
            journal,
            "images/default/Dockerfile",
            &[],
        );
        assert_eq!(status.as_deref(), Some(journal));
        assert!(hint
            .unwrap()
            .contains("`images.default.cap_add: [SYS_ADMIN]`"));
        let (_, hint) = judge(
            &Suspect::Unit("haproxy".into()),
            journal,
            "images/default/Dockerfile",
            &["SYS_ADMIN".to_string()],
        );
        assert!(hint.unwrap().contains("AppArmor"));
        let (status, hint) = judge(&Suspect::Unit("x".into()), "", "D", &[]);
        assert_eq!((status, hint), (None, None));
    }

    #[test]
    fn hints_name_the_package_and_the_dockerfile() {
        let (_, hint) = judge(
            &Suspect::Command("pgrep".into()),
            "missing\n",
            "images/default/Dockerfile",
            &[],
        );
        assert_eq!(
            hint.as_deref(),
            Some("`pgrep` is not installed in the container: add `procps` to the packages `images/default/Dockerfile` installs, as a Debian server has it")
        );
        let (_, present) = judge(&Suspect::Command("pgrep".into()), "", "D", &[]);
        assert_eq!(present, None);
        let (_, hint) = judge(&Suspect::NetworkFacts, "missing", "D", &[]);
        assert!(hint.unwrap().contains("add `iproute2`"));
        let (_, hint) = judge(&Suspect::Sudo, "missing", "D", &[]);
        assert!(hint.unwrap().contains("add `sudo`"));
        let (_, hint) = judge(&Suspect::Package, "empty", "D", &[]);
        assert!(hint.unwrap().contains("apt lists are empty"));
    }
}
