//! `images:`: the default image's Dockerfile, how to get its base image when no registry
//! answers, and what runs as PID 1 in scenario containers.

use std::path::PathBuf;

use super::diag::{join, Diagnostics};
use super::project::{get, optional, required};
use super::yaml::Node;

/// `images.default`.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultImage {
    /// The Dockerfile, relative to the root.
    pub dockerfile: PathBuf,
    /// `base`: how to get the `FROM` image when it is not present.
    pub base: Option<BaseImage>,
    /// `init`: what runs as PID 1 in scenario containers.
    pub init: Init,
    /// `cap_add`: Linux capabilities scenario containers get beyond the engine's defaults, as
    /// configured (`None`: [`DefaultImage::capabilities`] decides).
    pub cap_add: Option<Vec<String>>,
}

/// What systemd's sandboxing of units needs (`PrivateTmp=`, `ProtectSystem=`,
/// `BindReadOnlyPaths=`, ...: a mount namespace per service), and so what an `init: systemd`
/// container gets unless `cap_add` says otherwise.
pub const SYSTEMD_CAPABILITIES: &[&str] = &["SYS_ADMIN"];

impl DefaultImage {
    /// The capabilities scenario containers are given: `cap_add` when configured, else
    /// [`SYSTEMD_CAPABILITIES`] for `init: systemd` and none otherwise.
    pub fn capabilities(&self) -> Vec<String> {
        match (&self.cap_add, self.init) {
            (Some(caps), _) => caps.clone(),
            (None, Init::Systemd) => SYSTEMD_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            (None, Init::None) => Vec::new(),
        }
    }
}

/// Linux capabilities by name (without `CAP_`), as the engine takes them.
const CAPABILITIES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// `images.default.init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Init {
    /// A sleeping shell: provisioning starts the services (the default).
    #[default]
    None,
    /// systemd boots, and provisioning starts when the system is running.
    Systemd,
}

/// `images.default.base`.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseImage {
    /// The image reference the Dockerfile starts `FROM`.
    pub image: String,
    /// How to build it locally when it cannot be pulled.
    pub debootstrap: Option<Debootstrap>,
}

/// `images.default.base.bootstrap.debootstrap`.
#[derive(Debug, Clone, PartialEq)]
pub struct Debootstrap {
    /// Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// debootstrap variant, e.g. `minbase`.
    pub variant: Option<String>,
    /// Extra packages.
    pub include: Vec<String>,
    /// The mirror; debootstrap's default when absent.
    pub mirror: Option<String>,
}

/// One platform the project supports: an OS release with its own default image (and so its
/// own production image). A project without `platforms:` has one, unnamed, from
/// `images.default`.
#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    /// Its name under `platforms:` (`None`: the one platform of a project without them).
    pub name: Option<String>,
    /// Its default image.
    pub image: DefaultImage,
}

impl Platform {
    /// Its name, or `default` for the one platform of a project without `platforms:`.
    pub fn id(&self) -> &str {
        self.name.as_deref().unwrap_or("default")
    }
}

pub(super) fn images(diags: &mut Diagnostics<'_>, node: &Node) -> Option<DefaultImage> {
    let entries = diags.map(node, "images")?;
    diags.known_keys(entries, "images", &["default"]);
    let default = required(diags, node, entries, "images", "default")?;
    image(
        diags,
        default,
        "images.default",
        Some("images/default/Dockerfile"),
    )
}

/// `platforms:`: each name with its Dockerfile, base, init and capabilities, in order.
pub(super) fn platforms(diags: &mut Diagnostics<'_>, node: &Node) -> Option<Vec<Platform>> {
    let entries = diags.map(node, "platforms")?;
    if entries.is_empty() {
        diags.error(
            node.pos,
            "platforms",
            "expected at least one platform, such as `bookworm: { dockerfile: images/bookworm/Dockerfile }`",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for entry in entries {
        let key = join("platforms", &entry.key);
        if !valid_platform_name(&entry.key) {
            diags.error(
                entry.key_pos,
                &key,
                format!("`{}` cannot be a platform name (it goes into image tags); expected lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit", entry.key),
            );
            ok = false;
            continue;
        }
        match image(diags, &entry.value, &key, None) {
            Some(image) => out.push(Platform {
                name: Some(entry.key.clone()),
                image,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn valid_platform_name(name: &str) -> bool {
    name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// An image's settings under `key` (`images.default` or `platforms.NAME`); `dockerfile` is the
/// Dockerfile when the key is left out (`None`: it is required).
fn image(
    diags: &mut Diagnostics<'_>,
    node: &Node,
    key: &str,
    dockerfile: Option<&str>,
) -> Option<DefaultImage> {
    let entries = diags.map(node, key)?;
    diags.known_keys(entries, key, &["dockerfile", "base", "init", "cap_add"]);
    let dockerfile = match (get(entries, "dockerfile"), dockerfile) {
        (Some(n), _) => diags.non_empty_text(n, &join(key, "dockerfile"))?,
        (None, Some(default)) => default.to_string(),
        (None, None) => {
            diags.error(
                node.pos,
                &join(key, "dockerfile"),
                format!(
                    "missing key `dockerfile` in `{key}`: each platform names its own Dockerfile"
                ),
            );
            return None;
        }
    };
    let base = match get(entries, "base") {
        Some(n) => Some(base(diags, n, &join(key, "base"))?),
        None => None,
    };
    let init_key = join(key, "init");
    let init = match get(entries, "init") {
        None => Init::None,
        Some(n) => match diags.text(n, &init_key)?.as_str() {
            "systemd" => Init::Systemd,
            "none" => Init::None,
            other => {
                diags.error(
                    n.pos,
                    &init_key,
                    format!("unknown init `{other}`; expected systemd or none"),
                );
                return None;
            }
        },
    };
    let cap_add = match get(entries, "cap_add") {
        None => None,
        Some(n) => Some(capabilities(diags, n, &join(key, "cap_add"))?),
    };
    Some(DefaultImage {
        dockerfile: PathBuf::from(dockerfile),
        base,
        init,
        cap_add,
    })
}

/// `cap_add`: capability names, with or without `CAP_`, in any case; `ALL` is refused (that
/// is `--privileged` in all but name).
fn capabilities(diags: &mut Diagnostics<'_>, node: &Node, key: &str) -> Option<Vec<String>> {
    let Some(items) = node.as_seq() else {
        diags.error(
            node.pos,
            key,
            format!(
                "expected a list of capabilities such as [SYS_ADMIN] (or [] to grant none), found {}",
                node.type_name()
            ),
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(text) = diags.text(item, key) else {
            ok = false;
            continue;
        };
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if CAPABILITIES.contains(&name) {
            if !out.iter().any(|c| c == name) {
                out.push(name.to_string());
            }
        } else {
            let why = if name == "ALL" {
                "`ALL` would make the container privileged in all but name; name the capabilities it needs".to_string()
            } else {
                format!("unknown capability `{text}`; expected a Linux capability such as SYS_ADMIN, NET_ADMIN or SYS_TIME")
            };
            diags.error(item.pos, key, why);
            ok = false;
        }
    }
    ok.then_some(out)
}

fn base(diags: &mut Diagnostics<'_>, node: &Node, key: &str) -> Option<BaseImage> {
    let entries = diags.map(node, key)?;
    diags.known_keys(entries, key, &["image", "bootstrap"]);
    let image = required(diags, node, entries, key, "image")
        .and_then(|n| diags.non_empty_text(n, &join(key, "image")));
    let debootstrap = match get(entries, "bootstrap") {
        None => Some(None),
        Some(b) => {
            let key = join(key, "bootstrap");
            diags.map(b, &key).and_then(|bs| {
                diags.known_keys(bs, &key, &["debootstrap"]);
                let d = required(diags, b, bs, &key, "debootstrap")?;
                debootstrap(diags, d, &join(&key, "debootstrap")).map(Some)
            })
        }
    };
    Some(BaseImage {
        image: image?,
        debootstrap: debootstrap?,
    })
}

fn debootstrap(diags: &mut Diagnostics<'_>, node: &Node, key: &str) -> Option<Debootstrap> {
    let entries = diags.map(node, key)?;
    diags.known_keys(entries, key, &["suite", "variant", "include", "mirror"]);
    let suite = required(diags, node, entries, key, "suite")
        .and_then(|n| diags.non_empty_text(n, &join(key, "suite")));
    let variant = optional(entries, "variant", |n| {
        diags.non_empty_text(n, &join(key, "variant"))
    });
    let include = optional(entries, "include", |n| {
        diags.text_list(n, &join(key, "include"))
    });
    let mirror = optional(entries, "mirror", |n| {
        diags.non_empty_text(n, &join(key, "mirror"))
    });
    Some(Debootstrap {
        suite: suite?,
        variant: variant?,
        include: include?.unwrap_or_default(),
        mirror: mirror?,
    })
}
