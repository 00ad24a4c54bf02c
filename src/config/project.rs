//! `drydock.yaml`: the project's settings, validated into checked types.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diag::{join, Diagnostics};
use super::diff::diff;
pub use super::diff::DiffSettings;
use super::hosts::{AnsibleSettings, Host, VaultPassword};
use super::images::{images, platforms};
pub use super::images::{BaseImage, Debootstrap, DefaultImage, Init, Platform};
use super::yaml::{Entry, Node, Value};

/// A validated `drydock.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The project's folder (where `drydock.yaml` is).
    pub root: PathBuf,
    /// The config file.
    pub config_file: PathBuf,
    /// `name`: used in image tags and labels.
    pub name: String,
    /// The platforms: `platforms:` in order, or the one unnamed platform of `images.default`.
    /// Never empty.
    pub platforms: Vec<Platform>,
    /// `provision`.
    pub provision: Provision,
    /// `production`.
    pub production: Production,
    /// `checks`: glob patterns of check files, relative to the root.
    pub checks: Vec<String>,
    /// `diff`.
    pub diff: DiffSettings,
    /// `hosts`: the machines to stand up, as configured (empty: the default single host).
    pub hosts: Vec<Host>,
    /// `idempotence`.
    pub idempotence: Idempotence,
    /// `reboot`: restart each scenario's containers after provisioning and run the checks
    /// again (needs `images.default.init: systemd`).
    pub reboot: bool,
    /// `watch`: how `drydock watch` monitors.
    pub watch: super::watch::WatchSettings,
}

/// `idempotence`: how the second provisioning run is done.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Idempotence {
    /// `skip_tags`: tasks tagged so are not run the second time.
    pub skip_tags: Vec<String>,
}

/// `provision`.
#[derive(Debug, Clone, PartialEq)]
pub struct Provision {
    /// Which provisioner and its settings.
    pub kind: ProvisionKind,
    /// `provision.timeout`: how long one provisioning run may take.
    pub timeout: Duration,
    /// `provision.env`: environment for the provisioner.
    pub env: Vec<EnvVar>,
}

/// The provisioner.
#[derive(Debug, Clone, PartialEq)]
pub enum ProvisionKind {
    /// `provision.ansible`.
    Ansible(AnsibleSettings),
    /// `provision.shell`.
    Shell {
        /// The script, relative to the root.
        script: PathBuf,
    },
}

impl Provision {
    /// The values masked in every output: `provision.env` entries marked secret and the
    /// Ansible Vault password.
    pub fn secrets(&self) -> crate::secret::Secrets {
        let vault = match &self.kind {
            ProvisionKind::Ansible(AnsibleSettings {
                vault: Some(VaultPassword::Env { value, .. }),
                ..
            }) => Some(value.clone()),
            ProvisionKind::Ansible(AnsibleSettings {
                vault: Some(VaultPassword::File { password, .. }),
                ..
            }) => password.clone(),
            _ => None,
        };
        crate::secret::Secrets::new(
            self.env
                .iter()
                .filter(|v| v.secret)
                .map(|v| v.value.clone())
                .chain(vault),
        )
    }
}

/// One `provision.env` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Its value (already taken from the host environment when `from_env` was used).
    pub value: String,
    /// Whether the value is masked in logs and reports.
    pub secret: bool,
    /// The host variable it was taken from (`from_env`).
    pub from_env: Option<String>,
}

impl Project {
    /// The host variables this project reads secrets from: `provision.env` entries taken
    /// `from_env` that are secret, `vault_password_from_env`, and the watch receivers'
    /// `*_from_env`.
    pub fn secret_variables(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .provision
            .env
            .iter()
            .filter(|v| v.secret)
            .filter_map(|v| v.from_env.clone())
            .collect();
        if let ProvisionKind::Ansible(settings) = &self.provision.kind {
            if let Some(super::VaultPassword::Env { name, .. }) = &settings.vault {
                names.push(name.clone());
            }
        }
        names.extend(self.watch.webhook_secret_from_env.clone());
        names.extend(
            self.watch
                .smtp
                .as_ref()
                .and_then(|s| s.password_from_env.clone()),
        );
        names
    }
}

/// `production`.
#[derive(Debug, Clone, PartialEq)]
pub struct Production {
    /// The git ref whose tree provisions the production image.
    pub git_ref: String,
    /// A registry reference to pull/push the production image.
    pub image: Option<String>,
    /// Older git refs whose servers must upgrade cleanly too (`upgrade_from`), each its own
    /// production image and `upgrade@<ref>` scenario.
    pub upgrade_from: Vec<String>,
}

/// Why a reboot needs an init system.
pub const REBOOT_NEEDS_SYSTEMD: &str = "a reboot needs `images.default.init: systemd`: without an init system nothing starts the services again, and every service check would fail for that reason alone";

/// The default provisioning timeout.
pub const DEFAULT_PROVISION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "images",
    "platforms",
    "provision",
    "production",
    "checks",
    "diff",
    "hosts",
    "idempotence",
    "reboot",
    "watch",
];

/// Validates a parsed `drydock.yaml`; `env` looks up host variables for `from_env`.
pub fn validate(
    root: &Path,
    doc: Option<&Node>,
    diags: &mut Diagnostics<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Project> {
    let Some(doc) = doc else {
        diags.error(
            super::yaml::Pos { line: 1, col: 1 },
            "",
            "the file is empty; expected at least `name`, `images`, `provision` and `checks`",
        );
        return None;
    };
    let top = diags.map(doc, "")?;
    diags.known_keys(top, "", TOP_KEYS);

    let name = required(diags, doc, top, "", "name").and_then(|n| {
        let name = diags.non_empty_text(n, "name")?;
        if !valid_name(&name) {
            diags.error(
                n.pos,
                "name",
                format!("`{name}` cannot be used in image tags; expected lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit"),
            );
            return None;
        }
        Some(name)
    });
    let platforms = match (get(top, "images"), get(top, "platforms")) {
        (Some(_), Some(p)) => {
            diags.error(
                p.pos,
                "platforms",
                "`images.default` and `platforms` are both given; with `platforms:` each platform names its own Dockerfile and base: keep `platforms:` and remove `images:` (or remove `platforms:` to test one platform)",
            );
            None
        }
        (None, Some(p)) => platforms(diags, p),
        _ => required(diags, doc, top, "", "images")
            .and_then(|n| images(diags, n))
            .map(|image| vec![Platform { name: None, image }]),
    };
    let mut provision =
        required(diags, doc, top, "", "provision").and_then(|n| provision(diags, n, env));
    let production = match get(top, "production") {
        Some(n) => production(diags, n),
        None => Some(Production {
            git_ref: "main".into(),
            image: None,
            upgrade_from: Vec::new(),
        }),
    };
    let checks = required(diags, doc, top, "", "checks").and_then(|n| {
        let list = diags.text_list(n, "checks")?;
        if list.is_empty() {
            diags.error(n.pos, "checks", "expected at least one check file or glob");
            return None;
        }
        Some(list)
    });
    let diff = match get(top, "diff") {
        Some(n) => diff(diags, n),
        None => Some(DiffSettings::default()),
    };
    let hosts = match get(top, "hosts") {
        Some(n) => super::hosts::hosts(diags, n),
        None => Some(Vec::new()),
    };
    let idempotence = match get(top, "idempotence") {
        Some(n) => diags.map(n, "idempotence").and_then(|entries| {
            diags.known_keys(entries, "idempotence", &["skip_tags"]);
            let skip_tags = match get(entries, "skip_tags") {
                Some(n) => diags.text_list(n, "idempotence.skip_tags")?,
                None => Vec::new(),
            };
            Some(Idempotence { skip_tags })
        }),
        None => Some(Idempotence::default()),
    };

    let reboot = match get(top, "reboot") {
        Some(n) => {
            let on = diags.boolean(n, "reboot");
            if on == Some(true)
                && platforms
                    .as_ref()
                    .is_some_and(|p| p.iter().any(|p| p.image.init != super::Init::Systemd))
            {
                diags.error(n.pos, "reboot", REBOOT_NEEDS_SYSTEMD);
            }
            on
        }
        None => Some(false),
    };

    let watch = match get(top, "watch") {
        Some(n) => super::watch::watch(diags, n),
        None => Some(super::watch::WatchSettings::default()),
    };

    for platform in platforms.iter().flatten() {
        let (at, key) = match &platform.name {
            Some(name) => (
                get(top, "platforms").map(|n| n.pos).unwrap_or_default(),
                format!("platforms.{name}.dockerfile"),
            ),
            None => (
                get(top, "images").map(|n| n.pos).unwrap_or_default(),
                "images.default.dockerfile".to_string(),
            ),
        };
        check_file(diags, root, &platform.image.dockerfile, at, &key);
    }
    if let Some(p) = &provision {
        let (path, key) = match &p.kind {
            ProvisionKind::Ansible(a) => (&a.playbook, "provision.ansible.playbook"),
            ProvisionKind::Shell { script } => (script, "provision.shell.script"),
        };
        let at = get(top, "provision").map(|n| n.pos).unwrap_or_default();
        check_file(diags, root, path, at, key);
        if let ProvisionKind::Ansible(AnsibleSettings {
            inventory: Some(inventory),
            ..
        }) = &p.kind
        {
            check_path(
                diags,
                root,
                inventory,
                at,
                "provision.ansible.inventory",
                false,
            );
        }
        if let ProvisionKind::Ansible(AnsibleSettings {
            requirements: Some(file),
            ..
        }) = &p.kind
        {
            check_file(diags, root, file, at, "provision.ansible.requirements");
        }
    }
    if let Some(Provision {
        kind:
            ProvisionKind::Ansible(AnsibleSettings {
                vault: Some(VaultPassword::File { path, password }),
                ..
            }),
        ..
    }) = &mut provision
    {
        let at = get(top, "provision").map(|n| n.pos).unwrap_or_default();
        check_file(
            diags,
            root,
            path,
            at,
            "provision.ansible.vault_password_file",
        );
        *password = vault_file_password(&root.join(&path));
    }

    if !diags.items.is_empty() {
        return None;
    }
    Some(Project {
        root: root.to_path_buf(),
        config_file: diags.file().to_path_buf(),
        name: name?,
        platforms: platforms?,
        provision: provision?,
        production: production?,
        checks: checks?,
        diff: diff?,
        hosts: hosts?,
        idempotence: idempotence?,
        reboot: reboot?,
        watch: watch?,
    })
}

/// The password a vault password file holds, for masking; `None` for an executable, whose
/// output Ansible uses instead.
fn vault_file_password(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if meta.permissions().mode() & 0o111 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    (!password.is_empty()).then_some(password)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Files named in the config must exist and stay inside the project.
fn check_file(
    diags: &mut Diagnostics<'_>,
    root: &Path,
    relative: &Path,
    at: super::yaml::Pos,
    key: &str,
) {
    check_path(diags, root, relative, at, key, true)
}

/// Paths named in the config must exist (as a file when `file`) and stay inside the project.
fn check_path(
    diags: &mut Diagnostics<'_>,
    root: &Path,
    relative: &Path,
    at: super::yaml::Pos,
    key: &str,
    file: bool,
) {
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        diags.error(
            at,
            key,
            format!(
                "`{}` leaves the project folder; expected a path relative to {}",
                relative.display(),
                root.display()
            ),
        );
        return;
    }
    let found = root.join(relative);
    if !(found.is_file() || !file && found.is_dir()) {
        diags.error(
            at,
            key,
            format!(
                "`{}` does not exist (looked in {})",
                relative.display(),
                root.display()
            ),
        );
    }
}

/// The value at `key`, when present.
pub fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Node> {
    entries.iter().find(|e| e.key == key).map(|e| &e.value)
}

pub(super) fn required<'n>(
    diags: &mut Diagnostics<'_>,
    parent_node: &Node,
    entries: &'n [Entry],
    parent: &str,
    key: &str,
) -> Option<&'n Node> {
    let found = get(entries, key);
    if found.is_none() {
        let at = if parent.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{parent}`")
        };
        diags.error(
            parent_node.pos,
            &join(parent, key),
            format!("missing key `{key}` {at}"),
        );
    }
    found
}

/// `Some(None)` when absent, `Some(Some(v))` when valid, `None` when invalid.
pub(super) fn optional<T>(
    entries: &[Entry],
    key: &str,
    mut read: impl FnMut(&Node) -> Option<T>,
) -> Option<Option<T>> {
    match get(entries, key) {
        None => Some(None),
        Some(n) => read(n).map(Some),
    }
}

fn provision(
    diags: &mut Diagnostics<'_>,
    node: &Node,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Provision> {
    const KEY: &str = "provision";
    let entries = diags.map(node, KEY)?;
    diags.known_keys(entries, KEY, &["ansible", "shell", "timeout", "env"]);
    let kinds: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.key == "ansible" || e.key == "shell")
        .collect();
    let kind = match kinds.as_slice() {
        [] => {
            diags.error(
                node.pos,
                KEY,
                "expected a provisioner: `ansible: { playbook: ... }` or `shell: { script: ... }`",
            );
            None
        }
        [one] => provisioner(diags, one, env),
        [_, second, ..] => {
            diags.error(
                second.key_pos,
                KEY,
                "expected exactly one provisioner, found both `ansible` and `shell`",
            );
            None
        }
    };
    let timeout = optional(entries, "timeout", |n| {
        diags.duration(n, "provision.timeout")
    });
    let env_vars = optional(entries, "env", |n| env_list(diags, n, env));
    Some(Provision {
        kind: kind?,
        timeout: timeout?.unwrap_or(DEFAULT_PROVISION_TIMEOUT),
        env: env_vars?.unwrap_or_default(),
    })
}

fn provisioner(
    diags: &mut Diagnostics<'_>,
    entry: &Entry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<ProvisionKind> {
    let key = join("provision", &entry.key);
    let field = if entry.key == "ansible" {
        "playbook"
    } else {
        "script"
    };
    let entries = diags.map(&entry.value, &key)?;
    let known: &[&str] = if entry.key == "ansible" {
        super::hosts::ANSIBLE_KEYS
    } else {
        &[field]
    };
    diags.known_keys(entries, &key, known);
    let path = required(diags, &entry.value, entries, &key, field)
        .and_then(|n| diags.non_empty_text(n, &join(&key, field)));
    if entry.key == "ansible" {
        let settings = super::hosts::ansible(diags, entries, PathBuf::from(path.clone()?), env)?;
        return Some(ProvisionKind::Ansible(settings));
    }
    Some(ProvisionKind::Shell {
        script: PathBuf::from(path?),
    })
}

fn env_list(
    diags: &mut Diagnostics<'_>,
    node: &Node,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Vec<EnvVar>> {
    const KEY: &str = "provision.env";
    let Value::Seq(items) = &node.value else {
        diags.error(
            node.pos,
            KEY,
            format!(
                "expected a list of `{{ name, value | from_env, secret }}`, found {}",
                node.type_name()
            ),
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(entries) = diags.map(item, KEY) else {
            ok = false;
            continue;
        };
        diags.known_keys(entries, KEY, &["name", "value", "from_env", "secret"]);
        let name = required(diags, item, entries, KEY, "name")
            .and_then(|n| diags.non_empty_text(n, "provision.env.name"));
        let secret = optional(entries, "secret", |n| {
            diags.boolean(n, "provision.env.secret")
        });
        let value = match (get(entries, "value"), get(entries, "from_env")) {
            (Some(v), None) => diags.text(v, "provision.env.value"),
            (None, Some(f)) => diags
                .non_empty_text(f, "provision.env.from_env")
                .and_then(|var| {
                    let found = env(&var);
                    if found.is_none() {
                        diags.error(
                            f.pos,
                            "provision.env.from_env",
                            format!("the host environment variable `{var}` is not set"),
                        );
                    }
                    found
                }),
            _ => {
                diags.error(
                    item.pos,
                    KEY,
                    "expected exactly one of `value` or `from_env`",
                );
                None
            }
        };
        let from_env = get(entries, "from_env").and_then(|f| f.as_text().map(String::from));
        // A value taken from the host environment is a secret unless said otherwise.
        let secret = secret.map(|s| s.unwrap_or(from_env.is_some()));
        if let (Some(true), Some(""), Some(f)) =
            (secret, value.as_deref(), get(entries, "from_env"))
        {
            diags.error(
                f.pos,
                "provision.env.from_env",
                format!(
                    "the host environment variable `{}` is empty; an empty secret is no secret",
                    from_env.as_deref().unwrap_or("")
                ),
            );
            ok = false;
            continue;
        }
        match (name, value, secret) {
            (Some(name), Some(value), Some(secret)) => out.push(EnvVar {
                name,
                value,
                secret,
                from_env,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `text` when git can take it as a ref: git would read a leading `-` as an option, and
/// whitespace or control characters never name a ref.
pub(super) fn git_ref(
    diags: &mut Diagnostics<'_>,
    node: &Node,
    key: &str,
    text: String,
) -> Option<String> {
    if text.starts_with('-') || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        diags.error(
            node.pos,
            key,
            format!("`{text}` is not a git ref (a branch, tag or commit; not starting with `-`)"),
        );
        return None;
    }
    Some(text)
}

fn production(diags: &mut Diagnostics<'_>, node: &Node) -> Option<Production> {
    const KEY: &str = "production";
    let entries = diags.map(node, KEY)?;
    diags.known_keys(entries, KEY, &["ref", "image", "upgrade_from"]);
    let main_ref = optional(entries, "ref", |n| {
        let text = diags.non_empty_text(n, "production.ref")?;
        git_ref(diags, n, "production.ref", text)
    });
    let image = optional(entries, "image", |n| {
        diags.non_empty_text(n, "production.image")
    });
    let main = main_ref.clone().flatten().unwrap_or_else(|| "main".into());
    let upgrade_from = optional(entries, "upgrade_from", |n| {
        const KEY: &str = "production.upgrade_from";
        let refs = diags.text_list(n, KEY)?;
        let mut seen: Vec<String> = Vec::new();
        for r in refs {
            let r = git_ref(diags, n, KEY, r)?;
            if r == main {
                diags.error(
                    n.pos,
                    KEY,
                    format!("`{r}` is `production.ref` itself, whose upgrade scenario is `upgrade`; list only older refs"),
                );
                return None;
            }
            if seen.contains(&r) {
                diags.error(n.pos, KEY, format!("`{r}` is listed twice"));
                return None;
            }
            seen.push(r);
        }
        Some(seen)
    });
    Some(Production {
        git_ref: main_ref?.unwrap_or_else(|| "main".into()),
        image: image?,
        upgrade_from: upgrade_from?.unwrap_or_default(),
    })
}
