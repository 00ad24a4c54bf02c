//! `drydock hook install|uninstall`: a git pre-push hook that runs `drydock run` and blocks the
//! push when the verdict is not `pass` (quiet unless it fails).

use std::path::{Path, PathBuf};

/// The marker that tells drydock's hook from one somebody else wrote.
const MARKER: &str = "# drydock pre-push hook";

/// Why the hook could not be installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Not in a git repository.
    #[error("{0} is not in a git repository; run `git init` first")]
    NotGit(String),
    /// Another pre-push hook exists.
    #[error("{0} exists and was not written by drydock; remove it or pass --force to replace it")]
    Foreign(String),
    /// A file operation failed.
    #[error("{0}")]
    Io(String),
}

fn hooks_dir(root: &Path) -> Result<PathBuf, HookError> {
    let out = crate::process::git_blocking(root, &["rev-parse", "--git-path", "hooks"])
        .map_err(|_| HookError::NotGit(root.display().to_string()))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out).trim());
    Ok(if path.is_absolute() {
        path
    } else {
        root.join(path)
    })
}

/// The hook script running `drydock` (this binary) in the project folder.
pub fn script(drydock: &Path, project_root: &Path) -> String {
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    format!(
        "#!/bin/sh\n{MARKER}: runs `drydock run` before every push; `git push --no-verify` skips it.\n\
         # Remove with `drydock hook uninstall`.\n\
         out=$(mktemp) || exit 1\n\
         cd {root} || exit 1\n\
         {bin} run --quiet >\"$out\" 2>&1\n\
         code=$?\n\
         if [ \"$code\" -ne 0 ]; then\n\
         \tcat \"$out\" >&2\n\
         \techo \"drydock: push blocked (drydock run exited $code); fix it, or push with --no-verify\" >&2\n\
         fi\n\
         rm -f \"$out\"\n\
         exit \"$code\"\n",
        root = quote(project_root),
        bin = quote(drydock),
    )
}

/// Installs the hook; returns its path.
pub fn install(project_root: &Path, drydock: &Path, force: bool) -> Result<PathBuf, HookError> {
    let dir = hooks_dir(project_root)?;
    let path = dir.join("pre-push");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.contains(MARKER) && !force {
            return Err(HookError::Foreign(path.display().to_string()));
        }
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| HookError::Io(format!("creating {}: {e}", dir.display())))?;
    std::fs::write(&path, script(drydock, project_root))
        .map_err(|e| HookError::Io(format!("writing {}: {e}", path.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| HookError::Io(format!("making {} executable: {e}", path.display())))?;
    Ok(path)
}

/// Removes drydock's hook; returns its path when there was one.
pub fn uninstall(project_root: &Path) -> Result<Option<PathBuf>, HookError> {
    let path = hooks_dir(project_root)?.join("pre-push");
    match std::fs::read_to_string(&path) {
        Ok(text) if text.contains(MARKER) => {
            std::fs::remove_file(&path)
                .map_err(|e| HookError::Io(format!("removing {}: {e}", path.display())))?;
            Ok(Some(path))
        }
        Ok(_) => Err(HookError::Foreign(path.display().to_string())),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_quotes_paths_and_blocks_on_failure() {
        let s = script(Path::new("/opt/it's/drydock"), Path::new("/src/app"));
        assert!(s.starts_with("#!/bin/sh\n# drydock pre-push hook"));
        assert!(s.contains("'/opt/it'\\''s/drydock' run --quiet"));
        assert!(s.contains("cd '/src/app' || exit 1"));
        assert!(s.contains("exit \"$code\""));
    }
}
