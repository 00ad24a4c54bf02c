//! The files `drydock init` writes, rendered from a [`Survey`].

use std::collections::BTreeSet;

use super::Survey;
use crate::config::Host;

/// Where `drydock init` writes the default image's Dockerfile.
pub const DOCKERFILE: &str = "images/default/Dockerfile";

/// What the config needs besides the survey.
pub struct Settings<'a> {
    /// The project's name.
    pub name: &'a str,
    /// The git ref production is built from.
    pub production_ref: &'a str,
    /// The inventory's hosts, when the repository has an inventory drydock could read.
    pub inventory_hosts: Option<&'a [Host]>,
    /// Where the default image's Dockerfile is (an existing one is kept).
    pub dockerfile: &'a str,
    /// The glob of the check files.
    pub checks: &'a str,
}

/// A project name from a folder name: lowercase letters, digits, `-`, `_`, `.`.
pub fn project_name(folder: &str) -> String {
    let mut name: String = folder
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    name.truncate(64);
    if name.is_empty() {
        "project".to_string()
    } else {
        name
    }
}

/// The hosts `drydock.yaml` lists: none when the plays target `all` only or the inventory
/// has few enough hosts; one per group the plays name otherwise.
pub fn hosts(survey: &Survey, inventory_hosts: Option<&[Host]>) -> Vec<Host> {
    if let Some(inventory) = inventory_hosts {
        if inventory.len() <= crate::config::hosts::MAX_INVENTORY_HOSTS {
            return Vec::new();
        }
        // Too many to stand up: the first host of each group the plays name.
        let mut picked: Vec<Host> = Vec::new();
        for pattern in &survey.patterns {
            if let Some(h) = inventory
                .iter()
                .find(|h| &h.name == pattern || h.groups.contains(pattern))
            {
                if !picked.iter().any(|p| p.name == h.name) {
                    picked.push(h.clone());
                }
            }
        }
        picked.truncate(crate::config::hosts::MAX_INVENTORY_HOSTS);
        return picked;
    }
    let mut hosts: Vec<Host> = Vec::new();
    for pattern in &survey.patterns {
        if !is_group_name(pattern) {
            continue;
        }
        let mut name = pattern.replace('_', "-").to_ascii_lowercase();
        if crate::config::hosts::host_name_problem(&name).is_some() {
            continue;
        }
        if hosts.iter().any(|h| h.name == name) {
            name = format!("{name}-{}", hosts.len() + 1);
        }
        hosts.push(Host {
            name,
            groups: vec![pattern.clone()],
        });
    }
    hosts
}

/// A pattern that is one group's name (not `all`, a host list, a union or a wildcard).
fn is_group_name(pattern: &str) -> bool {
    !matches!(pattern, "all" | "*" | "localhost" | "ungrouped")
        && !pattern.is_empty()
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `drydock.yaml`.
pub fn config(survey: &Survey, settings: &Settings<'_>) -> String {
    let mut out = String::new();
    out.push_str(
        "# Written by `drydock init` from what it found in this repository. Adjust freely:\n",
    );
    out.push_str("# the keys are documented in drydock's README.\n");
    out.push_str(&format!("name: {}\n", settings.name));
    out.push_str("images:\n  default:\n");
    out.push_str(&format!("    dockerfile: {}\n", settings.dockerfile));
    if survey.uses_services {
        out.push_str(
            "    # The playbooks manage services: each container boots systemd, so an upgrade\n",
        );
        out.push_str("    # meets the old version's services running, as a real server does.\n");
        out.push_str("    init: systemd\n");
        out.push_str(
            "    # systemd's sandboxing of units (PrivateTmp=, ProtectSystem=, BindReadOnlyPaths=, ...)\n",
        );
        out.push_str(
            "    # needs CAP_SYS_ADMIN, which drydock grants systemd containers; `cap_add: []` refuses it.\n",
        );
    }
    out.push_str("    base:\n      image: debian:bookworm-slim\n");
    out.push_str("      # Made with debootstrap when the engine has no such image and no registry answers.\n");
    out.push_str(
        "      bootstrap: { debootstrap: { suite: bookworm, variant: minbase, include: [python3] } }\n",
    );
    out.push_str("provision:\n  ansible:\n");
    let playbook = survey
        .playbook
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "site.yml".into());
    out.push_str(&format!("    playbook: {playbook}\n"));
    let others: Vec<String> = survey
        .playbooks
        .iter()
        .filter(|p| Some(*p) != survey.playbook.as_ref())
        .map(|p| p.display().to_string())
        .collect();
    if !others.is_empty() {
        out.push_str(&format!(
            "    # Other playbooks found: {} (drydock provisions with one).\n",
            others.join(", ")
        ));
    }
    if let Some(inventory) = &survey.inventory {
        out.push_str(&format!("    inventory: {}\n", inventory.display()));
    }
    if let Some(requirements) = &survey.requirements {
        out.push_str(&format!("    requirements: {}\n", requirements.display()));
    }
    if !survey.vault_files.is_empty() {
        let files: Vec<String> = survey
            .vault_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        out.push_str(&format!(
            "    # Vault-encrypted files: {}. Give drydock the password (never written to any\n    # output) with one of:\n",
            files.join(", ")
        ));
        out.push_str("    # vault_password_file: .vault-password\n");
        out.push_str("    # vault_password_from_env: ANSIBLE_VAULT_PASSWORD\n");
    }
    out.push_str(&format!(
        "production:\n  # The upgrade scenario starts from this ref's state.\n  ref: {}\n",
        settings.production_ref
    ));
    out.push_str(&format!("checks: [\"{}\"]\n", settings.checks));
    // An inventory drydock could not read names hosts no group-derived name would match.
    let hosts = match (&survey.inventory, settings.inventory_hosts) {
        (Some(_), None) => Vec::new(),
        (_, inventory) => hosts(survey, inventory),
    };
    if !hosts.is_empty() {
        out.push_str(
            "# One container per host, on its own network, reachable by its name.\nhosts:\n",
        );
        for h in &hosts {
            out.push_str(&format!(
                "  {}: {{ groups: [{}] }}\n",
                h.name,
                h.groups.join(", ")
            ));
        }
    }
    out
}

/// Packages of a Debian server install that Ansible and everyday tasks rely on, and why each
/// is there: a default image thinner than a server fails where production never does.
const SERVER_PACKAGES: &[(&str, &str)] = &[
    ("python3", "Ansible's modules run on the target's Python"),
    (
        "python3-apt",
        "Ansible's apt module (without it, its first run installs it)",
    ),
    (
        "iproute2",
        "`ip`: Ansible's network facts (ansible_default_ipv4, ...)",
    ),
    ("procps", "ps, pgrep, pkill, sysctl"),
    ("sudo", "`become`"),
    (
        "ca-certificates",
        "HTTPS downloads (get_url, apt sources, git)",
    ),
];

/// Packages a server that boots systemd has besides [`SERVER_PACKAGES`].
const SYSTEMD_PACKAGES: &[(&str, &str)] = &[
    (
        "systemd",
        "services, booted as on a server (`images.default.init: systemd`)",
    ),
    ("systemd-sysv", "`/sbin/init`, `reboot`, `shutdown`"),
    (
        "dbus",
        "hostnamectl, timedatectl, loginctl (Ansible's hostname and timezone modules)",
    ),
];

/// The default image's Dockerfile: a Debian server's package set, each package with why it
/// is there, and the apt lists kept as a server keeps them.
pub fn dockerfile(survey: &Survey) -> String {
    let mut packages: Vec<(&str, &str)> = SERVER_PACKAGES.to_vec();
    if survey.uses_services {
        packages.extend_from_slice(SYSTEMD_PACKAGES);
    }
    let width = packages.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    let mut out = String::from(
        "# The default image: a new server as your playbooks first meet it. Written by `drydock init`.\n# Its packages are those of a Debian server install that Ansible and everyday tasks rely on:\n",
    );
    for (package, why) in &packages {
        out.push_str(&format!("#   {package:width$}  {why}\n"));
    }
    out.push_str("# The apt lists are kept, as a server keeps them: an `apt: update_cache=yes cache_valid_time=N`\n# task then finds real lists, not an empty folder that looks freshly updated.\n");
    let names: Vec<&str> = packages.iter().map(|(p, _)| *p).collect();
    out.push_str(&format!(
        "FROM debian:bookworm-slim\nRUN apt-get update -qq \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {} >/dev/null\n",
        names.join(" ")
    ));
    out
}

/// The starter check file; checks of a play that targets a group are limited to it when the
/// project has several hosts.
pub fn checks(survey: &Survey, hosts: &[Host]) -> String {
    let playbook = survey
        .playbook
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut out = format!(
        "# Starter checks written by `drydock init` from the tasks of {playbook}; each names the\n# task it came from. Keep what matters, sharpen them (contains:, mode:, port:, http:)\n# and add your own.\n"
    );
    let known: BTreeSet<&str> = hosts
        .iter()
        .flat_map(|h| std::iter::once(h.name.as_str()).chain(h.groups.iter().map(String::as_str)))
        .collect();
    let several = hosts.len() > 1;
    if survey.checks.is_empty() {
        out.push_str("- name: the system is there\n  # No task suggested a check: replace this one with checks of your own.\n  file: /etc/os-release\n");
        return out;
    }
    for check in &survey.checks {
        out.push_str(&format!("- name: {}\n", yaml_text(&check.name)));
        out.push_str(&format!("  # from {}\n", check.source.replace('\n', " ")));
        for line in &check.body {
            out.push_str(line);
            out.push('\n');
        }
        if several && known.contains(check.pattern.as_str()) {
            out.push_str(&format!("  hosts: [{}]\n", check.pattern));
        }
    }
    out
}

/// A plain scalar when YAML reads it back as the same text, else a quoted one.
fn yaml_text(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " /._-+@".contains(c))
        && !text.starts_with(['-', ' ', '.'])
        && !text.ends_with(' ');
    if plain {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}
