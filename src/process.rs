//! Child processes: finding programs, streaming a child's output as lines, and the one `git`
//! helper every part of drydock uses.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The full path of `program` on PATH (or in the sbin folders, where tools like debootstrap
/// live even when PATH lacks them).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Calls `on_line` with every line the child writes to stdout or stderr, in arrival order,
/// until both are closed. The caller waits for the child afterwards.
pub async fn for_each_line(child: &mut Child, mut on_line: impl FnMut(String)) {
    let stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
    let stderr = child.stderr.take().map(|s| BufReader::new(s).lines());
    let (Some(mut out), Some(mut err)) = (stdout, stderr) else {
        return;
    };
    let (mut out_done, mut err_done) = (false, false);
    while !(out_done && err_done) {
        let line = tokio::select! {
            l = out.next_line(), if !out_done => l.ok().flatten().or_else(|| { out_done = true; None }),
            l = err.next_line(), if !err_done => l.ok().flatten().or_else(|| { err_done = true; None }),
        };
        if let Some(line) = line {
            on_line(line);
        }
    }
}

/// A command whose stdin is closed and whose output is piped: the shape every tool drydock
/// drives is started in. Killed when dropped, so a cancelled run leaves no child behind.
pub fn piped(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `git -C root ARGS`; its stdout, or its stderr as the error.
pub async fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = piped("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .await
        .map_err(git_missing)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

fn git_missing(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "git is not installed; drydock reads the production version from git (Debian/Ubuntu: `apt-get install git`)".into()
    } else {
        format!("cannot run git: {e}")
    }
}

/// [`git`] for callers that are not async (the hook installer).
pub fn git_blocking(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(git_missing)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_not_a_made_up_program() {
        assert!(which("sh").is_some());
        assert!(which("drydock-no-such-program").is_none());
    }

    #[tokio::test]
    async fn reads_both_streams_as_lines() {
        let mut child = piped("sh")
            .args(["-c", "echo out; echo err >&2; echo out2"])
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for_each_line(&mut child, |l| lines.push(l)).await;
        child.wait().await.unwrap();
        lines.sort();
        assert_eq!(lines, ["err", "out", "out2"]);
    }

    #[tokio::test]
    async fn git_reports_its_error() {
        let dir = std::env::temp_dir();
        let err = git(&dir.join("drydock-no-such-dir"), &["status"])
            .await
            .unwrap_err();
        assert!(!err.is_empty());
    }
}
