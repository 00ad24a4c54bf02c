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
}

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

pub(super) fn images(diags: &mut Diagnostics<'_>, node: &Node) -> Option<DefaultImage> {
    let entries = diags.map(node, "images")?;
    diags.known_keys(entries, "images", &["default"]);
    let default = required(diags, node, entries, "images", "default")?;
    let entries = diags.map(default, "images.default")?;
    diags.known_keys(entries, "images.default", &["dockerfile", "base", "init"]);
    let dockerfile = match get(entries, "dockerfile") {
        Some(n) => diags.non_empty_text(n, "images.default.dockerfile")?,
        None => "images/default/Dockerfile".to_string(),
    };
    let base = match get(entries, "base") {
        Some(n) => Some(base(diags, n)?),
        None => None,
    };
    let init = match get(entries, "init") {
        None => Init::None,
        Some(n) => match diags.text(n, "images.default.init")?.as_str() {
            "systemd" => Init::Systemd,
            "none" => Init::None,
            other => {
                diags.error(
                    n.pos,
                    "images.default.init",
                    format!("unknown init `{other}`; expected systemd or none"),
                );
                return None;
            }
        },
    };
    Some(DefaultImage {
        dockerfile: PathBuf::from(dockerfile),
        base,
        init,
    })
}

fn base(diags: &mut Diagnostics<'_>, node: &Node) -> Option<BaseImage> {
    const KEY: &str = "images.default.base";
    let entries = diags.map(node, KEY)?;
    diags.known_keys(entries, KEY, &["image", "bootstrap"]);
    let image = required(diags, node, entries, KEY, "image")
        .and_then(|n| diags.non_empty_text(n, "images.default.base.image"));
    let debootstrap = match get(entries, "bootstrap") {
        None => Some(None),
        Some(b) => {
            let key = "images.default.base.bootstrap";
            diags.map(b, key).and_then(|bs| {
                diags.known_keys(bs, key, &["debootstrap"]);
                let d = required(diags, b, bs, key, "debootstrap")?;
                debootstrap(diags, d).map(Some)
            })
        }
    };
    Some(BaseImage {
        image: image?,
        debootstrap: debootstrap?,
    })
}

fn debootstrap(diags: &mut Diagnostics<'_>, node: &Node) -> Option<Debootstrap> {
    const KEY: &str = "images.default.base.bootstrap.debootstrap";
    let entries = diags.map(node, KEY)?;
    diags.known_keys(entries, KEY, &["suite", "variant", "include", "mirror"]);
    let suite = required(diags, node, entries, KEY, "suite")
        .and_then(|n| diags.non_empty_text(n, &join(KEY, "suite")));
    let variant = optional(entries, "variant", |n| {
        diags.non_empty_text(n, &join(KEY, "variant"))
    });
    let include = optional(entries, "include", |n| {
        diags.text_list(n, &join(KEY, "include"))
    });
    let mirror = optional(entries, "mirror", |n| {
        diags.non_empty_text(n, &join(KEY, "mirror"))
    });
    Some(Debootstrap {
        suite: suite?,
        variant: variant?,
        include: include?.unwrap_or_default(),
        mirror: mirror?,
    })
}
