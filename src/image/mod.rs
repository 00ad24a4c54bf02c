//! The images a run needs: the base image (pulled or bootstrapped), the default image (built
//! and cached by content) and the production image (promoted, pulled or built from a git ref).

pub mod base;
pub mod context;
pub mod production;

use std::collections::HashMap;
use std::time::Instant;

use crate::config::{Platform, Project};
use crate::docker::{Engine, EngineError, LABEL_PROJECT};
use crate::event::{Ending, Events, Scope};

/// Label on images: the cache key they were built for.
pub const LABEL_CACHE_KEY: &str = "io.drydock.cache-key";
/// Label on production images: the id of the default image they were provisioned from.
pub const LABEL_DEFAULT_IMAGE: &str = "io.drydock.default-image";
/// Label on production images: the commit whose tree provisioned them.
pub const LABEL_COMMIT: &str = "io.drydock.commit";
/// Label on production images: which task of their build last wrote each path
/// (a `written::Written` as JSON), so a cached or promoted image still says.
pub const LABEL_WRITTEN_BY: &str = "io.drydock.written-by";

/// Why an image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The base image is not present, cannot be pulled, and no bootstrap is configured.
    #[error("the base image {image} is not present and cannot be pulled ({reason}); configure `images.default.base.bootstrap.debootstrap` in drydock.yaml to build it locally, or make a registry reachable")]
    BaseUnobtainable {
        /// The image.
        image: String,
        /// Why the pull failed.
        reason: String,
    },
    /// debootstrap is needed and not installed.
    #[error("building the base image {image} needs `debootstrap`, which is not installed; install it (Debian/Ubuntu: `apt-get install debootstrap`)")]
    DebootstrapMissing {
        /// The image.
        image: String,
    },
    /// debootstrap ran and failed.
    #[error("bootstrapping the base image {image} with debootstrap failed ({status}):\n{tail}")]
    DebootstrapFailed {
        /// The image.
        image: String,
        /// Exit status.
        status: String,
        /// The last lines of its output.
        tail: String,
    },
    /// The build context could not be read.
    #[error("reading the build context {path}: {reason}")]
    Context {
        /// The folder or file.
        path: String,
        /// The cause.
        reason: String,
    },
    /// A git operation for the production ref failed.
    #[error("{0}")]
    Git(String),
    /// The machine-wide lock that serialises image builds could not be taken.
    #[error("taking the machine-wide lock {path}: {reason}")]
    Lock {
        /// The lock file.
        path: String,
        /// The cause.
        reason: String,
    },
}

/// Tags of a project's images on one platform. A project without `platforms:` keeps the
/// tags it always had; with platforms, each tag names its platform:
/// `default-<platform>-<key>`, `production-<commit>-<platform>[-<host>]`,
/// `production-<platform>[-<host>]`.
pub struct Tags<'a> {
    name: &'a str,
    platform: Option<&'a str>,
}

impl<'a> Tags<'a> {
    /// The tags of project `name` on `platform` (`None`: the project has no `platforms:`).
    pub fn new(name: &'a str, platform: Option<&'a str>) -> Self {
        Tags { name, platform }
    }
    /// `drydock/<name>`.
    pub fn repo(&self) -> String {
        format!("drydock/{}", self.name)
    }
    /// `-<platform>`, or nothing.
    fn on(&self) -> String {
        self.platform.map(|p| format!("-{p}")).unwrap_or_default()
    }
    /// `drydock/<name>:default[-<platform>]`.
    pub fn default(&self) -> String {
        format!("drydock/{}:default{}", self.name, self.on())
    }
    /// `drydock/<name>:default[-<platform>]-<key>`.
    pub fn default_keyed(&self, key: &str) -> String {
        format!("drydock/{}:default{}-{key}", self.name, self.on())
    }
    /// `drydock/<name>:production[-<platform>]`.
    pub fn production(&self) -> String {
        format!("drydock/{}:production{}", self.name, self.on())
    }
    /// `drydock/<name>:production-<commit>[-<platform>]`.
    pub fn production_commit(&self, commit: &str) -> String {
        format!(
            "drydock/{}:production-{}{}",
            self.name,
            short_commit(commit),
            self.on()
        )
    }
    /// The promoted image of `host`: `drydock/<name>:production[-<platform>]-<host>`, or
    /// without the host for a single-host project (`host` is `None`).
    pub fn production_of(&self, host: Option<&str>) -> String {
        match host {
            Some(host) => format!("{}-{host}", self.production()),
            None => self.production(),
        }
    }
    /// The image of `host` built from `commit`:
    /// `drydock/<name>:production-<commit>[-<platform>][-<host>]`.
    pub fn production_commit_of(&self, commit: &str, host: Option<&str>) -> String {
        match host {
            Some(host) => format!("{}-{host}", self.production_commit(commit)),
            None => self.production_commit(commit),
        }
    }
}

/// The first 12 hex digits of a commit.
pub fn short_commit(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The default image, ready to use.
#[derive(Debug, Clone)]
pub struct DefaultImage {
    /// Its id.
    pub id: String,
    /// The tag it runs under.
    pub tag: String,
    /// Whether it was built in this run.
    pub built: bool,
}

/// Makes sure the base image is there, then builds the default image unless its cache key is
/// already built.
pub async fn ensure_default(
    engine: &Engine,
    project: &Project,
    platform: &Platform,
    events: &Events,
) -> Result<DefaultImage, ImageError> {
    let started = Instant::now();
    let scope = Scope::Images;
    let dockerfile_path = project.root.join(&platform.image.dockerfile);
    let context_dir = dockerfile_path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| project.root.clone());
    let dockerfile_text =
        std::fs::read_to_string(&dockerfile_path).map_err(|e| ImageError::Context {
            path: dockerfile_path.display().to_string(),
            reason: e.to_string(),
        })?;
    let from = context::base_of(&dockerfile_text);
    let base_id = match &from {
        Some(from) => Some(base::ensure(engine, &platform.image, from, events).await?),
        None => None,
    };

    events.stage(&scope, "hashing the build context");
    let dockerfile_name = dockerfile_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let dir = context_dir.clone();
    let ctx = tokio::task::spawn_blocking(move || context::pack(&dir))
        .await
        .map_err(|e| ImageError::Context {
            path: context_dir.display().to_string(),
            reason: e.to_string(),
        })??;
    let mut hasher = blake3::Hasher::new();
    hasher.update(base_id.as_deref().unwrap_or("no-base").as_bytes());
    hasher.update(dockerfile_name.as_bytes());
    hasher.update(ctx.digest.as_bytes());
    let key = hasher.finalize().to_hex()[..16].to_string();

    let tags = Tags::new(&project.name, platform.name.as_deref());
    let keyed = tags.default_keyed(&key);
    let _lock = machine_lock(&keyed).await?;
    if let Some(id) = engine.image_id(&keyed).await? {
        if engine.image_id(&tags.default()).await?.as_deref() != Some(id.as_str()) {
            engine.tag(&id, &tags.default()).await?;
        }
        events.note(
            &scope,
            format!("default image {keyed} reused (build context unchanged)"),
        );
        events.finished(&scope, Ending::Reused, started.elapsed());
        return Ok(DefaultImage {
            id,
            tag: keyed,
            built: false,
        });
    }

    events.stage(&scope, format!("building {keyed}"));
    let labels = HashMap::from([
        (LABEL_PROJECT.to_string(), project.name.clone()),
        (LABEL_CACHE_KEY.to_string(), key.clone()),
    ]);
    let progress_scope = scope.clone();
    let id = engine
        .build_image(&keyed, &dockerfile_name, ctx.tar, labels, |line| {
            events.progress(&progress_scope, line.to_string())
        })
        .await?;
    // The previous default image keeps its keyed tag until `drydock clean`; moving `:default`
    // is what makes it the one in use.
    engine.tag(&id, &tags.default()).await?;
    prune_superseded(engine, &project.name, std::slice::from_ref(&keyed)).await;
    events.note(&scope, format!("default image {keyed} built"));
    events.finished(&scope, Ending::Built, started.elapsed());
    Ok(DefaultImage {
        id,
        tag: keyed,
        built: true,
    })
}

/// Removes the project's images that `current` supersedes: the other `default-<key>` tags
/// of the same platform after a default build, the other `production-<commit>` tags of the
/// same platform and host after a production build. An image still used by a container
/// (another run) stays; promoted tags (`:production`, `:production-<host>`) are never touched,
/// and neither is another platform's or host's image.
pub async fn prune_superseded(engine: &Engine, project: &str, current: &[String]) {
    let Ok(images) = engine.images_with_label(LABEL_PROJECT, project).await else {
        return;
    };
    let repo = format!("drydock/{project}:");
    let current_names: Vec<&str> = current
        .iter()
        .filter_map(|t| t.strip_prefix(&repo))
        .collect();
    for (_, tags) in images {
        for tag in tags {
            let Some(name) = tag.strip_prefix(&repo) else {
                continue;
            };
            if !current.contains(&tag) && current_names.iter().any(|c| superseded_by(name, c)) {
                let _ = engine.remove_image(&tag).await;
            }
        }
    }
}

/// Whether tag `name` is an older build of the same slot as `current`: both are
/// `<kind>[-<platform>]-<hex>[-<rest>]` with the same kind, platform and rest and another hex
/// key or commit (`default-bookworm-<key>`, `production-<commit>-bookworm-web`).
fn superseded_by(name: &str, current: &str) -> bool {
    fn slot(tag: &str) -> Option<(String, &str)> {
        // The hex key or commit is the first part of 12 or more hex digits.
        let parts: Vec<&str> = tag.split('-').collect();
        let at = parts
            .iter()
            .position(|p| p.len() >= 12 && p.chars().all(|c| c.is_ascii_hexdigit()))?;
        let (before, after) = (parts[..at].join("-"), parts[at + 1..].join("-"));
        Some((format!("{before}|{after}"), parts[at]))
    }
    match (slot(name), slot(current)) {
        (Some((a, key_a)), Some((b, key_b))) => a == b && key_a != key_b,
        _ => false,
    }
}

/// An exclusive lock shared by every drydock process on this machine, held until dropped.
///
/// Two runs that need the same image (the base bootstrap, a default build, a production
/// build) take the same lock; the second waits and then finds the image built.
pub struct MachineLock {
    _file: std::fs::File,
}

/// Where the machine-wide locks live: a folder of this user's, not the world-writable temp
/// folder (where anyone could make the lock file first, or a link in its place).
fn lock_dir() -> std::path::PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("DRYDOCK_CACHE_DIR") {
        return std::path::PathBuf::from(dir).join("locks");
    }
    if let Some(dir) = env("XDG_RUNTIME_DIR") {
        return std::path::PathBuf::from(dir).join("drydock");
    }
    match env("HOME") {
        Some(home) => std::path::PathBuf::from(home).join(".cache/drydock/locks"),
        None => std::env::temp_dir().join(format!("drydock-locks-{}", uid())),
    }
}

/// This process's user id.
fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

/// Takes the machine-wide lock called `name`, waiting for it.
pub async fn machine_lock(name: &str) -> Result<MachineLock, ImageError> {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = lock_dir().join(format!("{safe}.lock"));
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(MachineLock { _file: file })
    })
    .await
    .map_err(|e| ImageError::Lock {
        path: shown.clone(),
        reason: e.to_string(),
    })?
    .map_err(|e| ImageError::Lock {
        path: shown,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_older_builds_of_the_same_slot_are_pruned() {
        let c = "production-0123456789ab";
        assert!(superseded_by("production-fedcba987654", c));
        assert!(!superseded_by("production-0123456789ab", c));
        assert!(!superseded_by("production-web", c), "a promoted tag");
        assert!(!superseded_by("production", c));
        let web = "production-0123456789ab-bookworm-web";
        assert!(superseded_by("production-fedcba987654-bookworm-web", web));
        assert!(!superseded_by("production-fedcba987654-trixie-web", web));
        assert!(!superseded_by("production-fedcba987654-bookworm-db", web));
        let default = "default-bookworm-9e1c00d688312200";
        assert!(superseded_by("default-bookworm-0000111122223333", default));
        assert!(!superseded_by("default-trixie-0000111122223333", default));
        assert!(superseded_by(
            "default-0000111122223333",
            "default-9e1c00d688312200"
        ));
        assert!(!superseded_by(
            "default-trixie-0000111122223333",
            "default-9e1c00d688312200"
        ));
    }

    #[test]
    fn platforms_go_into_the_tags_only_when_there_are_platforms() {
        let tags = Tags::new("site", Some("trixie"));
        assert_eq!(tags.default(), "drydock/site:default-trixie");
        assert_eq!(
            tags.default_keyed("0011"),
            "drydock/site:default-trixie-0011"
        );
        assert_eq!(
            tags.production_commit_of("0123456789abcdef", Some("web")),
            "drydock/site:production-0123456789ab-trixie-web"
        );
        assert_eq!(tags.production_of(None), "drydock/site:production-trixie");
    }

    #[test]
    fn production_tags_carry_the_host_only_for_several_hosts() {
        let tags = Tags::new("site", None);
        assert_eq!(tags.production_of(None), "drydock/site:production");
        assert_eq!(
            tags.production_of(Some("web")),
            "drydock/site:production-web"
        );
        assert_eq!(
            tags.production_commit_of("0123456789abcdef", Some("db")),
            "drydock/site:production-0123456789ab-db"
        );
    }
}
