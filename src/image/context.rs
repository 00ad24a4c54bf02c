//! The default image's build context: packed as a deterministic tar, honouring `.dockerignore`,
//! and digested so an unchanged context is never rebuilt.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use super::ImageError;

/// drydock's own folder beside drydock.yaml, left out of every build context.
const DRYDOCK_FOLDER: &str = ".drydock";

/// A packed build context.
pub struct PackedContext {
    /// The tar sent to the engine.
    pub tar: Vec<u8>,
    /// A digest of every packed path, mode and content.
    pub digest: String,
}

/// The image the Dockerfile's first stage starts from (`None` for `FROM scratch`).
pub fn base_of(dockerfile: &str) -> Option<String> {
    let mut args: Vec<(String, String)> = Vec::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next() else {
            continue;
        };
        if instruction.eq_ignore_ascii_case("ARG") {
            if let Some((k, v)) = words.next().and_then(|a| a.split_once('=')) {
                args.push((k.to_string(), v.trim_matches('"').to_string()));
            }
        } else if instruction.eq_ignore_ascii_case("FROM") {
            let image = words.find(|w| !w.starts_with("--"))?;
            let mut image = image.to_string();
            for (k, v) in &args {
                image = image
                    .replace(&format!("${{{k}}}"), v)
                    .replace(&format!("${k}"), v);
            }
            return (!image.eq_ignore_ascii_case("scratch")).then_some(image);
        }
    }
    None
}

struct Ignore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl Ignore {
    fn load(dir: &Path) -> Ignore {
        let text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
            let pattern = pattern.trim_end_matches('/');
            for candidate in [pattern.to_string(), format!("{pattern}/**")] {
                if let Ok(glob) = GlobBuilder::new(&candidate).literal_separator(true).build() {
                    rules.push((glob.compile_matcher(), negated));
                }
            }
        }
        Ignore { rules }
    }

    /// Docker's rule: the last matching line wins.
    fn ignored(&self, relative: &Path) -> bool {
        let mut ignored = false;
        for (glob, negated) in &self.rules {
            if glob.is_match(relative) {
                ignored = !negated;
            }
        }
        ignored
    }
}

/// Packs `dir` as a build context.
pub fn pack(dir: &Path) -> Result<PackedContext, ImageError> {
    let err = |path: &Path, e: std::io::Error| ImageError::Context {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let ignore = Ignore::load(dir);
    let mut files: Vec<PathBuf> = Vec::new();
    collect(dir, dir, &ignore, &mut files).map_err(|e| err(dir, e))?;
    files.sort();

    let mut hasher = blake3::Hasher::new();
    let mut builder = tar::Builder::new(Vec::new());
    for relative in &files {
        let path = dir.join(relative);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o7777
        };
        header.set_mode(mode);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update(&mode.to_le_bytes());
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| err(&path, e))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            hasher.update(b"->");
            hasher.update(target.to_string_lossy().as_bytes());
            builder
                .append_link(&mut header, relative, &target)
                .map_err(|e| err(&path, e))?;
        } else if meta.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, relative, std::io::empty())
                .map_err(|e| err(&path, e))?;
        } else {
            let data = std::fs::read(&path).map_err(|e| err(&path, e))?;
            hasher.update(&(data.len() as u64).to_le_bytes());
            hasher.update(&data);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            builder
                .append_data(&mut header, relative, data.as_slice())
                .map_err(|e| err(&path, e))?;
        }
    }
    let tar = builder.into_inner().map_err(|e| err(dir, e))?;
    Ok(PackedContext {
        tar,
        digest: hasher.finalize().to_hex().to_string(),
    })
}

fn collect(
    root: &Path,
    dir: &Path,
    ignore: &Ignore,
    out: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        // The Dockerfile and .dockerignore are always sent, as Docker does. drydock's own
        // folder (the history store, written by every run) never is: it would change the
        // digest, and rebuild the image, after every run.
        let always = relative == Path::new(".dockerignore") || relative == Path::new("Dockerfile");
        if relative == Path::new(DRYDOCK_FOLDER) || (!always && ignore.ignored(relative)) {
            continue;
        }
        let file_type = entry.file_type()?;
        out.push(relative.to_path_buf());
        if file_type.is_dir() {
            collect(root, &path, ignore, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_base_image() {
        assert_eq!(
            base_of("# comment\nFROM debian:bookworm-slim\nRUN true\n").as_deref(),
            Some("debian:bookworm-slim")
        );
        assert_eq!(
            base_of("ARG SUITE=bookworm\nFROM --platform=linux/amd64 debian:${SUITE} AS base\n")
                .as_deref(),
            Some("debian:bookworm")
        );
        assert_eq!(base_of("FROM scratch\nCOPY x /\n"), None);
    }

    #[test]
    fn digest_follows_content_and_dockerignore() {
        let dir = std::env::temp_dir().join(format!("drydock-ctx-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.join("sub/a.txt"), "a").unwrap();
        std::fs::write(dir.join("notes.log"), "x").unwrap();
        std::fs::write(dir.join(".dockerignore"), "*.log\n").unwrap();
        let first = pack(&dir).unwrap();
        std::fs::write(dir.join("notes.log"), "changed").unwrap();
        let ignored_change = pack(&dir).unwrap();
        assert_eq!(first.digest, ignored_change.digest);
        // drydock's own folder (the history store) is never part of the context.
        std::fs::create_dir_all(dir.join(".drydock")).unwrap();
        std::fs::write(dir.join(".drydock/history.db"), "rows").unwrap();
        assert_eq!(first.digest, pack(&dir).unwrap().digest);
        std::fs::write(dir.join("sub/a.txt"), "b").unwrap();
        let real_change = pack(&dir).unwrap();
        assert_ne!(first.digest, real_change.digest);

        let mut archive = tar::Archive::new(real_change.tar.as_slice());
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, [".dockerignore", "Dockerfile", "sub", "sub/a.txt"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
