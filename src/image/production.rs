//! The production image: the state production servers are in.
//!
//! Resolution order: the promoted `drydock/<name>:production`; the configured `production.image`
//! (local or pulled); a cached build of `production.ref` for the current default image; else a
//! build is needed, from the ref's tree taken out of git without touching the working tree.

use std::path::{Path, PathBuf};

use super::{short_commit, DefaultImage, ImageError, Tags, LABEL_COMMIT, LABEL_DEFAULT_IMAGE};
use crate::config::Project;
use crate::docker::Engine;
use crate::event::{Events, Scope};
use crate::process::git;

/// What the run will use as the production images, one per host.
#[derive(Debug)]
pub enum Resolution {
    /// Images that are ready.
    Ready {
        /// Per host (in the order asked), the reference to start its container from.
        images: Vec<String>,
        /// Why these, in words.
        why: String,
    },
    /// No usable images: provision the default image with `tree` and commit each host as its
    /// tag.
    Build {
        /// The commit whose tree provisions them.
        commit: String,
        /// The ref as configured.
        git_ref: String,
        /// The project folder inside the extracted tree.
        tree: ExtractedTree,
        /// Per host (in the order asked), the tag to commit it as.
        tags: Vec<String>,
    },
}

/// A git tree extracted to a temporary folder, removed on drop.
#[derive(Debug)]
pub struct ExtractedTree {
    dir: PathBuf,
    /// The project root inside `dir`.
    pub root: PathBuf,
}

impl Drop for ExtractedTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Decides which production images to use for `hosts` (the host names of a multi-host
/// project; empty for a single-host project, whose tags carry no host).
pub async fn resolve(
    engine: &Engine,
    project: &Project,
    platform: Option<&str>,
    hosts: &[String],
    default: &DefaultImage,
    events: &Events,
) -> Result<Resolution, ImageError> {
    let tags = Tags::new(&project.name, platform);
    let each = each_host(hosts);
    let promoted: Vec<String> = each.iter().map(|h| tags.production_of(*h)).collect();
    if all_present(engine, &promoted).await? {
        let labels = engine.image_labels(&promoted[0]).await?;
        let commit = labels
            .get(LABEL_COMMIT)
            .map(|c| format!(" of commit {}", short_commit(c)))
            .unwrap_or_default();
        let why = format!("promoted image {}{commit}", shown(&promoted));
        return Ok(Resolution::Ready {
            images: promoted,
            why,
        });
    }
    if let Some(remote) = &project.production.image {
        let remotes: Vec<String> = each
            .iter()
            .map(|h| remote_reference(remote, platform, *h))
            .collect();
        if all_present(engine, &remotes).await? {
            let why = format!("{} (present locally)", shown(&remotes));
            return Ok(Resolution::Ready {
                images: remotes,
                why,
            });
        }
        events.stage(&Scope::Production, format!("pulling {}", shown(&remotes)));
        let mut pulled = Ok(());
        for r in &remotes {
            pulled = pulled.and(engine.pull(r).await);
        }
        match pulled {
            Ok(()) => {
                let why = format!("{} (pulled)", shown(&remotes));
                return Ok(Resolution::Ready {
                    images: remotes,
                    why,
                });
            }
            Err(e) => events.note(
                &Scope::Production,
                format!(
                    "{remote} could not be pulled ({e}); building from {}",
                    project.production.git_ref
                ),
            ),
        }
    }

    let git_ref = &project.production.git_ref;
    let commit = resolve_commit(&project.root, git_ref).await?;
    of_commit(engine, project, platform, hosts, default, git_ref, commit).await
}

/// The production images of `git_ref` (at `commit`) for `hosts`: a cached build on the current
/// default image, else a build is needed. How an `upgrade_from` ref's images are had.
pub async fn of_commit(
    engine: &Engine,
    project: &Project,
    platform: Option<&str>,
    hosts: &[String],
    default: &DefaultImage,
    git_ref: &str,
    commit: String,
) -> Result<Resolution, ImageError> {
    let tags = Tags::new(&project.name, platform);
    let each = each_host(hosts);
    let built: Vec<String> = each
        .iter()
        .map(|h| tags.production_commit_of(&commit, *h))
        .collect();
    let mut cached = true;
    for tag in &built {
        let labels = engine.image_labels(tag).await?;
        cached &= labels.get(LABEL_DEFAULT_IMAGE) == Some(&default.id);
    }
    if cached {
        return Ok(Resolution::Ready {
            why: format!(
                "cached build of {git_ref} @ {} on the current default image",
                short_commit(&commit)
            ),
            images: built,
        });
    }
    let tree = extract(&project.root, &commit).await?;
    Ok(Resolution::Build {
        commit,
        git_ref: git_ref.to_string(),
        tree,
        tags: built,
    })
}

/// Each host's name, or the one unnamed host of a single-host project.
fn each_host(hosts: &[String]) -> Vec<Option<&str>> {
    if hosts.is_empty() {
        vec![None]
    } else {
        hosts.iter().map(|h| Some(h.as_str())).collect()
    }
}

async fn all_present(engine: &Engine, images: &[String]) -> Result<bool, ImageError> {
    for image in images {
        if engine.image_id(image).await?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The registry reference of the production image of `host` on `platform`:
/// `production.image`, with `-<platform>` and `-<host>` appended where there are several.
pub fn remote_reference(remote: &str, platform: Option<&str>, host: Option<&str>) -> String {
    let mut reference = remote.to_string();
    for part in [platform, host].into_iter().flatten() {
        reference.push('-');
        reference.push_str(part);
    }
    reference
}

/// One image as it is; several as `a, b and c`.
fn shown(images: &[String]) -> String {
    match images {
        [one] => one.clone(),
        _ => images.join(", "),
    }
}

/// The commit `git_ref` names (trying `origin/<ref>` too).
pub async fn resolve_commit(root: &Path, git_ref: &str) -> Result<String, ImageError> {
    if let Err(e) = git(root, &["rev-parse", "--show-toplevel"]).await {
        return Err(ImageError::Git(format!(
            "the production image is built from git ref `{git_ref}` (`production.ref`), but {} is not in a git repository ({e}); commit the production version, or set `production.image`, or run `drydock promote` once",
            root.display()
        )));
    }
    for candidate in [git_ref.to_string(), format!("origin/{git_ref}")] {
        let spec = format!("{candidate}^{{commit}}");
        if let Ok(out) = git(root, &["rev-parse", "--verify", "--quiet", &spec]).await {
            let commit = String::from_utf8_lossy(&out).trim().to_string();
            if !commit.is_empty() {
                return Ok(commit);
            }
        }
    }
    Err(ImageError::Git(format!(
        "`production.ref` names `{git_ref}`, which is neither a local ref nor `origin/{git_ref}` in the repository at {}; fetch it, or change `production.ref` in drydock.yaml",
        root.display()
    )))
}

/// The commit HEAD points at.
pub async fn head_commit(root: &Path) -> Result<String, ImageError> {
    resolve_commit(root, "HEAD").await
}

/// Extracts the project's folder as it is in `commit` into a temporary folder.
pub async fn extract(root: &Path, commit: &str) -> Result<ExtractedTree, ImageError> {
    let prefix = git(root, &["rev-parse", "--show-prefix"])
        .await
        .map(|p| String::from_utf8_lossy(&p).trim().to_string())
        .map_err(ImageError::Git)?;
    let treeish = if prefix.is_empty() {
        commit.to_string()
    } else {
        format!("{commit}:{}", prefix.trim_end_matches('/'))
    };
    let archive = git(root, &["archive", "--format=tar", &treeish])
        .await
        .map_err(|e| ImageError::Git(format!("reading the tree of {commit}: {e}")))?;
    // Owner-only, with an unpredictable name: the tree may hold vault files and keys.
    let dir = tempfile::Builder::new()
        .prefix(&format!("drydock-tree-{}-", short_commit(commit)))
        .tempdir()
        .map_err(|e| ImageError::Git(format!("a folder for the tree of {commit}: {e}")))?
        .keep();
    let tree = ExtractedTree {
        dir: dir.clone(),
        root: dir.clone(),
    };
    let unpack_dir = dir.clone();
    tokio::task::spawn_blocking(move || tar::Archive::new(archive.as_slice()).unpack(&unpack_dir))
        .await
        .map_err(|e| ImageError::Git(e.to_string()))?
        .map_err(|e| ImageError::Git(format!("extracting the tree of {commit}: {e}")))?;
    Ok(tree)
}

/// Labels for a production image built from `commit` on `default`.
pub fn labels(project: &Project, default: &DefaultImage, commit: &str) -> Vec<(String, String)> {
    vec![
        (crate::docker::LABEL_PROJECT.into(), project.name.clone()),
        (LABEL_DEFAULT_IMAGE.into(), default.id.clone()),
        (LABEL_COMMIT.into(), commit.to_string()),
    ]
}
