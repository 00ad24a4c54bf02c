//! The machines of a project (`hosts:`) and the Ansible settings that describe real
//! repositories (`provision.ansible.inventory`, `extra_vars`).

use std::path::PathBuf;

use super::diag::{join, Diagnostics};
use super::project::get;
use super::yaml::{Node, Value};

/// One machine of the project: one container per scenario, answering to its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its name: the container's host name, its DNS name on the scenario network and its
    /// Ansible inventory name.
    pub name: String,
    /// The Ansible groups it is in.
    pub groups: Vec<String>,
}

impl std::fmt::Display for Host {
    /// `web (webservers, frontends)`, or the bare name without groups.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.groups.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{} ({})", self.name, self.groups.join(", "))
        }
    }
}

impl Host {
    /// Whether `name` is this host or one of its groups (`all` is everyone's).
    pub fn answers_to(&self, name: &str) -> bool {
        name == "all" || self.name == name || self.groups.iter().any(|g| g == name)
    }
}

/// `provision.ansible`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnsibleSettings {
    /// The playbook, relative to the root.
    pub playbook: PathBuf,
    /// An inventory file or folder, relative to the root.
    pub inventory: Option<PathBuf>,
    /// `extra_vars`, as JSON, in source order.
    pub extra_vars: Vec<(String, serde_json::Value)>,
    /// Where the Ansible Vault password comes from.
    pub vault: Option<VaultPassword>,
    /// `requirements`: roles and collections for `ansible-galaxy`, relative to the root.
    pub requirements: Option<PathBuf>,
}

/// The Ansible Vault password: `vault_password_file` or `vault_password_from_env`.
#[derive(Debug, Clone, PartialEq)]
pub enum VaultPassword {
    /// A file relative to the root: its content is the password (an executable file prints it,
    /// as Ansible runs it).
    File {
        /// The file.
        path: PathBuf,
        /// Its content, masked in every output (`None` for an executable).
        password: Option<String>,
    },
    /// The value of a host environment variable, read when the config was loaded.
    Env {
        /// The variable.
        name: String,
        /// Its value: the password.
        value: String,
    },
}

/// The most hosts an inventory may stand up without `hosts:` picking some.
pub const MAX_INVENTORY_HOSTS: usize = 20;

/// Validates `hosts:`: a mapping of host names to `{ groups: [...] }` (or nothing).
pub fn hosts(diags: &mut Diagnostics<'_>, node: &Node) -> Option<Vec<Host>> {
    const KEY: &str = "hosts";
    let entries = diags.map(node, KEY)?;
    if entries.is_empty() {
        diags.error(
            node.pos,
            KEY,
            "expected at least one host, e.g. `web: { groups: [webservers] }`",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for entry in entries {
        if let Some(problem) = host_name_problem(&entry.key) {
            diags.error(entry.key_pos, KEY, format!("`{}` {problem}", entry.key));
            ok = false;
            continue;
        }
        let key = join(KEY, &entry.key);
        let groups = match &entry.value.value {
            Value::Scalar { text, .. } if text.is_empty() || text == "~" || text == "null" => {
                Some(Vec::new())
            }
            _ => diags.map(&entry.value, &key).and_then(|fields| {
                diags.known_keys(fields, &key, &["groups"]);
                match get(fields, "groups") {
                    None => Some(Vec::new()),
                    Some(n) => diags.text_list(n, &join(&key, "groups")),
                }
            }),
        };
        match groups {
            Some(groups) => out.push(Host {
                name: entry.key.clone(),
                groups,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Why `name` cannot name a host (a container host name and a DNS name), if it cannot.
pub fn host_name_problem(name: &str) -> Option<&'static str> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if name.is_empty() || name.len() > 63 {
        Some("is not a host name; expected 1 to 63 characters")
    } else if !valid_chars || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("is not a host name; expected letters, digits, `-` and `.`, starting with a letter or digit")
    } else if name == "all" || name == "ungrouped" || name == "localhost" {
        Some("is reserved by Ansible; choose another host name")
    } else {
        None
    }
}

/// The keys of `provision.ansible`.
pub const ANSIBLE_KEYS: &[&str] = &[
    "playbook",
    "inventory",
    "requirements",
    "extra_vars",
    "vault_password_file",
    "vault_password_from_env",
];

/// Validates the keys of `provision.ansible` besides the playbook.
pub fn ansible(
    diags: &mut Diagnostics<'_>,
    entries: &[super::yaml::Entry],
    playbook: PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<AnsibleSettings> {
    let inventory = match get(entries, "inventory") {
        None => Some(None),
        Some(n) => diags
            .non_empty_text(n, "provision.ansible.inventory")
            .map(|t| Some(PathBuf::from(t))),
    };
    let requirements = match get(entries, "requirements") {
        None => Some(None),
        Some(n) => diags
            .non_empty_text(n, "provision.ansible.requirements")
            .map(|t| Some(PathBuf::from(t))),
    };
    let extra_vars = match get(entries, "extra_vars") {
        None => Some(Vec::new()),
        Some(n) => diags.map(n, "provision.ansible.extra_vars").map(|vars| {
            vars.iter()
                .map(|e| (e.key.clone(), to_json(&e.value)))
                .collect()
        }),
    };
    let vault = match (
        get(entries, "vault_password_file"),
        get(entries, "vault_password_from_env"),
    ) {
        (None, None) => Some(None),
        (Some(file), None) => diags
            .non_empty_text(file, "provision.ansible.vault_password_file")
            .map(|f| {
                Some(VaultPassword::File {
                    path: PathBuf::from(f),
                    password: None,
                })
            }),
        (None, Some(var)) => diags
            .non_empty_text(var, "provision.ansible.vault_password_from_env")
            .and_then(|name| match env(&name) {
                Some(value) if !value.is_empty() => Some(Some(VaultPassword::Env { name, value })),
                found => {
                    let why = if found.is_some() {
                        "is empty"
                    } else {
                        "is not set"
                    };
                    diags.error(
                        var.pos,
                        "provision.ansible.vault_password_from_env",
                        format!("the host environment variable `{name}` {why}"),
                    );
                    None
                }
            }),
        (Some(_), Some(second)) => {
            diags.error(
                second.pos,
                "provision.ansible.vault_password_from_env",
                "expected one of `vault_password_file` or `vault_password_from_env`, not both",
            );
            None
        }
    };
    Some(AnsibleSettings {
        playbook,
        inventory: inventory?,
        extra_vars: extra_vars?,
        vault: vault?,
        requirements: requirements?,
    })
}

/// A YAML value as JSON, typed as Ansible would read it (plain `true`, `3`, `null` are not
/// strings; quoted scalars are).
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Scalar { text, plain: false } => J::String(text.clone()),
        Value::Scalar { text, plain: true } => match text.as_str() {
            "true" | "True" | "TRUE" | "yes" | "Yes" => J::Bool(true),
            "false" | "False" | "FALSE" | "no" | "No" => J::Bool(false),
            "" | "~" | "null" | "Null" | "NULL" => J::Null,
            t => t
                .parse::<i64>()
                .map(J::from)
                .or_else(|_| t.parse::<f64>().map(J::from))
                .unwrap_or_else(|_| J::String(t.to_string())),
        },
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_json(&e.value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_dns_names() {
        assert_eq!(host_name_problem("web"), None);
        assert_eq!(host_name_problem("db-1.example.com"), None);
        assert!(host_name_problem("web_1").is_some());
        assert!(host_name_problem("-web").is_some());
        assert!(host_name_problem("all").is_some());
        assert!(host_name_problem(&"a".repeat(64)).is_some());
    }

    #[test]
    fn a_host_answers_to_its_name_its_groups_and_all() {
        let web = Host {
            name: "web".into(),
            groups: vec!["webservers".into()],
        };
        assert!(web.answers_to("web"));
        assert!(web.answers_to("webservers"));
        assert!(web.answers_to("all"));
        assert!(!web.answers_to("dbservers"));
    }
}
