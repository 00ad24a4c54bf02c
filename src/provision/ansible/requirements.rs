//! Roles and collections from `provision.ansible.requirements`, installed with `ansible-galaxy`
//! into a cache keyed by the requirements file's content, once per content.
//!
//! The cache lives under `$DRYDOCK_CACHE_DIR`, else `$XDG_CACHE_HOME/drydock`, else
//! `~/.cache/drydock`: `galaxy/<key>/roles` and `galaxy/<key>/collections`. An install is made
//! in a private folder and renamed into place when complete, so a run cut short never leaves a
//! half-installed key behind, and two runs installing the same key at once both end well.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::super::{Failure, Output};

/// A requirements file's roles and collections, ready to use.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    /// The folder `roles_path` gains.
    pub roles: PathBuf,
    /// The folder `collections_path` gains (it holds `ansible_collections/`).
    pub collections: PathBuf,
    /// The cache key (the first 16 hex digits of the file's BLAKE3 hash).
    pub key: String,
    /// Whether this call installed them (false: they came from the cache).
    pub installed_now: bool,
    /// How long this call took.
    pub elapsed: Duration,
}

/// What a requirements file asks for, read from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wants {
    roles: bool,
    collections: bool,
}

/// Serialises installs within this process: fresh, upgrade and the production build may ask
/// for the same key at the same moment; the second finds the first's result.
static INSTALLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The folder drydock keeps caches in.
pub fn cache_dir() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("DRYDOCK_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("drydock");
    }
    match env("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("drydock"),
        None => std::env::temp_dir().join("drydock-cache"),
    }
}

/// The cache key of a requirements file's content.
pub fn key(content: &[u8]) -> String {
    blake3::hash(content).to_hex()[..16].to_string()
}

/// Installs the roles and collections `file` (relative to `root`) names, or finds them in the
/// cache. `Ok(None)` when the tree has no such file (a production ref older than it). Galaxy's
/// output goes to `output` when it runs.
pub async fn ensure(
    root: &Path,
    file: &Path,
    output: &Output<'_>,
) -> Result<Option<Installed>, Failure> {
    ensure_in(&cache_dir(), root, file, output).await
}

/// [`ensure`] with the cache in `cache`.
pub async fn ensure_in(
    cache: &Path,
    root: &Path,
    file: &Path,
    output: &Output<'_>,
) -> Result<Option<Installed>, Failure> {
    let started = Instant::now();
    let path = root.join(file);
    let content = match std::fs::read(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            output.line(&format!(
                "drydock: {} is not in this tree; no roles or collections installed",
                file.display()
            ));
            return Ok(None);
        }
        Err(e) => {
            return Err(Failure::code(format!(
                "cannot read {}: {e}",
                file.display()
            )))
        }
    };
    let key = key(&content);
    let galaxy = cache.join("galaxy");
    let dir = galaxy.join(&key);
    let installed = |installed_now: bool| Installed {
        roles: dir.join("roles"),
        collections: dir.join("collections"),
        key: key.clone(),
        installed_now,
        elapsed: started.elapsed(),
    };

    let _guard = INSTALLING.lock().await;
    if dir.join(COMPLETE).is_file() {
        output.line(&format!(
            "drydock: the roles and collections of {} from the cache (key {key})",
            file.display()
        ));
        return Ok(Some(installed(false)));
    }
    std::fs::create_dir_all(&galaxy).map_err(|e| cache_failure(&galaxy, e))?;
    let work = tempfile::Builder::new()
        .prefix(&format!(".{key}-"))
        .tempdir_in(&galaxy)
        .map_err(|e| cache_failure(&galaxy, e))?;
    let text = String::from_utf8_lossy(&content);
    let wants = wants(&text);
    output.line(&format!(
        "drydock: installing the roles and collections of {} (cache key {key})",
        file.display()
    ));
    if wants.roles {
        galaxy_install(root, &path, "role", &work.path().join("roles"), output).await?;
    }
    if wants.collections {
        galaxy_install(
            root,
            &path,
            "collection",
            &work.path().join("collections"),
            output,
        )
        .await?;
    }
    for folder in ["roles", "collections"] {
        let folder = work.path().join(folder);
        std::fs::create_dir_all(&folder).map_err(|e| cache_failure(&folder, e))?;
    }
    std::fs::write(work.path().join(COMPLETE), &content)
        .map_err(|e| cache_failure(work.path(), e))?;
    let work = work.keep();
    if let Err(e) = std::fs::rename(&work, &dir) {
        // Another process finished the same key first: theirs is as good as ours.
        let _ = std::fs::remove_dir_all(&work);
        if !dir.join(COMPLETE).is_file() {
            return Err(cache_failure(&dir, e));
        }
    }
    Ok(Some(installed(true)))
}

/// Written last into a key's folder: the install is whole.
const COMPLETE: &str = ".complete";

fn cache_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::infrastructure(
        format!(
            "cannot write the requirements cache {}: {e}",
            path.display()
        ),
        "requirements cache",
    )
}

/// Runs `ansible-galaxy KIND install -r FILE -p TARGET` from `root` (so its `ansible.cfg`
/// and relative sources apply).
async fn galaxy_install(
    root: &Path,
    file: &Path,
    kind: &str,
    target: &Path,
    output: &Output<'_>,
) -> Result<(), Failure> {
    let mut command = crate::process::piped("ansible-galaxy");
    command
        .current_dir(root)
        .args([kind, "install", "--force", "-r"])
        .arg(file)
        .arg("-p")
        .arg(target)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0");
    let mut child = command.spawn().map_err(|e| {
        Failure::infrastructure(
            format!("cannot start ansible-galaxy: {e}"),
            "ansible-galaxy",
        )
    })?;
    let mut text = String::new();
    crate::process::for_each_line(&mut child, |line| {
        let line = output.line(&line);
        text.push_str(&line);
        text.push('\n');
    })
    .await;
    let status = child.wait().await.map_err(|e| {
        Failure::infrastructure(format!("waiting for ansible-galaxy: {e}"), "ansible-galaxy")
    })?;
    if status.success() {
        return Ok(());
    }
    Err(classify(kind, &text))
}

/// Why `ansible-galaxy` failed: a requirements file that cannot be read, or names a version
/// its source does not have, is the code's failure; a source that cannot be reached is the
/// infrastructure's.
fn classify(kind: &str, output: &str) -> Failure {
    let reason = output
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Starting galaxy"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let reason = if reason.is_empty() {
        "ansible-galaxy failed without a message".to_string()
    } else {
        reason
    };
    let message = format!("installing the requirements' {kind}s failed: {reason}");
    const THE_CODE: &[&str] = &[
        "Failed to parse the requirements",
        "did not match any file(s) known to git",
        "does not appear to have a meta/main.yml",
        "Expecting requirements file",
        "Expected a list",
        "is not a valid",
        "Invalid role",
        "Invalid collection",
        "Neither the collection requirement entry key",
        "must contain a",
    ];
    if THE_CODE.iter().any(|p| output.contains(p)) {
        Failure::code(message)
    } else {
        Failure::infrastructure(message, "requirements source")
    }
}

/// What the file asks for: a list is roles only (the old format); a mapping has `roles`,
/// `collections` or both. A file that is not YAML is handed to Galaxy, which says why.
fn wants(text: &str) -> Wants {
    use crate::config::yaml::{parse, Value};
    match parse(text) {
        Ok(Some(node)) => match node.value {
            Value::Seq(_) => Wants {
                roles: true,
                collections: false,
            },
            Value::Map(entries) => Wants {
                roles: entries.iter().any(|e| e.key == "roles"),
                collections: entries.iter().any(|e| e.key == "collections"),
            },
            Value::Scalar { .. } => Wants {
                roles: true,
                collections: false,
            },
        },
        Ok(None) => Wants {
            roles: false,
            collections: false,
        },
        Err(_) => Wants {
            roles: true,
            collections: false,
        },
    }
}

/// The search path for `kind` (`roles` or `collections`) with `first` in front of what the
/// tree's Ansible configuration (environment, then `ansible.cfg`) or Ansible's defaults give.
pub fn search_path(
    first: &Path,
    kind: &str,
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    let (variables, keys, defaults): (&[&str], &[&str], &[&str]) = match kind {
        "roles" => (
            &["ANSIBLE_ROLES_PATH"],
            &["roles_path"],
            &[
                "~/.ansible/roles",
                "/usr/share/ansible/roles",
                "/etc/ansible/roles",
            ],
        ),
        _ => (
            &["ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"],
            &["collections_path", "collections_paths"],
            &["~/.ansible/collections", "/usr/share/ansible/collections"],
        ),
    };
    let home = env("HOME").unwrap_or_default();
    let expand = |p: &str, base: &Path| -> String {
        let p = match p.strip_prefix("~/") {
            Some(rest) => format!("{home}/{rest}"),
            None => p.to_string(),
        };
        if Path::new(&p).is_absolute() {
            p
        } else {
            base.join(p).display().to_string()
        }
    };
    let mut parts = vec![first.display().to_string()];
    if let Some(value) = variables.iter().find_map(|v| env(v)) {
        parts.extend(value.split(':').map(|p| expand(p, root)));
    } else if let Some((value, base)) = configured(root, keys, env) {
        parts.extend(value.split(':').map(|p| expand(p.trim(), &base)));
    } else {
        parts.extend(defaults.iter().map(|p| expand(p, root)));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(":")
}

/// The value of the first of `keys` in the `[defaults]` section of the Ansible configuration
/// file that applies from `root`, with the folder relative paths in it start from.
fn configured(
    root: &Path,
    keys: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, PathBuf)> {
    let mut candidates = Vec::new();
    if let Some(file) = env("ANSIBLE_CONFIG") {
        candidates.push(root.join(file));
    }
    candidates.push(root.join("ansible.cfg"));
    if let Some(home) = env("HOME") {
        candidates.push(Path::new(&home).join(".ansible.cfg"));
    }
    candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    let file = candidates.into_iter().find(|f| f.is_file())?;
    let text = std::fs::read_to_string(&file).ok()?;
    let base = file.parent().unwrap_or(root).to_path_buf();
    crate::config::ansible_cfg::value(&text, "defaults", keys).map(|v| (v, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_says_what_to_install() {
        let w = |t: &str| {
            let w = wants(t);
            (w.roles, w.collections)
        };
        assert_eq!(w("- src: geerlingguy.nginx\n"), (true, false));
        assert_eq!(w("roles:\n  - name: a\n"), (true, false));
        assert_eq!(w("collections:\n  - name: a.b\n"), (false, true));
        assert_eq!(w("roles: []\ncollections: []\n"), (true, true));
        assert_eq!(w(""), (false, false));
        assert_eq!(w("roles: [ {name: x\n"), (true, false));
    }

    #[test]
    fn galaxy_failures_are_classified() {
        let unreachable = "[WARNING]: - nope was NOT installed successfully: - command /usr/bin/git clone file:///x nope failed (rc=128) fatal: '/x' does not appear to be a git repository\nERROR! - you can use --ignore-errors to skip failed roles and finish processing the list.";
        let f = classify("role", unreachable);
        assert_eq!(f.infrastructure.as_deref(), Some("requirements source"));
        assert!(f.message.starts_with(
            "installing the requirements' roles failed: [WARNING]: - nope was NOT installed"
        ));
        let galaxy = "[WARNING]: - geerlingguy.nginx was NOT installed successfully: Unknown error when attempting to call Galaxy at 'https://galaxy.ansible.com/api/'";
        assert!(classify("role", galaxy).infrastructure.is_some());
        let broken =
            "ERROR! Failed to parse the requirements yml at '/tmp/r.yml' with the following error:";
        assert_eq!(classify("role", broken).infrastructure, None);
        let version = "checkout v9 failed (rc=1) - error: pathspec 'v9' did not match any file(s) known to git";
        assert_eq!(classify("role", version).infrastructure, None);
    }

    #[test]
    fn search_paths_keep_what_the_tree_configures() {
        let root = std::env::temp_dir().join(format!("drydock-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let first = Path::new("/cache/roles");
        let home = |name: &str| (name == "HOME").then(|| "/home/u".to_string());
        assert_eq!(
            search_path(first, "roles", &root, &home),
            "/cache/roles:/home/u/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"
        );
        std::fs::write(
            root.join("ansible.cfg"),
            "[defaults]\n# roles here\nroles_path = ./roles:vendor/roles:/opt/roles\ncollections_path=./collections\n[galaxy]\nroles_path = /ignored\n",
        )
        .unwrap();
        assert_eq!(
            search_path(first, "roles", &root, &home),
            format!(
                "/cache/roles:{0}/./roles:{0}/vendor/roles:/opt/roles",
                root.display()
            )
        );
        assert_eq!(
            search_path(Path::new("/c"), "collections", &root, &home),
            format!("/c:{}/./collections", root.display())
        );
        let set = |name: &str| (name == "ANSIBLE_ROLES_PATH").then(|| "/mine".to_string());
        assert_eq!(
            search_path(first, "roles", &root, &set),
            "/cache/roles:/mine"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn keys_follow_the_content() {
        assert_eq!(key(b"roles: []\n"), key(b"roles: []\n"));
        assert_ne!(key(b"roles: []\n"), key(b"roles: [] \n"));
        assert_eq!(key(b"x").len(), 16);
    }
}
