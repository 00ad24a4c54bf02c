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
/// until both are closed. Bytes that are not UTF-8 are read as U+FFFD (a tool's output is
/// never cut short by a stray byte). The caller waits for the child afterwards.
pub async fn for_each_line(child: &mut Child, mut on_line: impl FnMut(String)) {
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return;
    };
    let (mut out, mut err) = (BufReader::new(stdout), BufReader::new(stderr));
    let (mut out_line, mut err_line) = (Vec::new(), Vec::new());
    let (mut out_done, mut err_done) = (false, false);
    while !(out_done && err_done) {
        let line = tokio::select! {
            n = out.read_until(b'\n', &mut out_line), if !out_done => {
                take_line(n, &mut out_line, &mut out_done)
            }
            n = err.read_until(b'\n', &mut err_line), if !err_done => {
                take_line(n, &mut err_line, &mut err_done)
            }
        };
        if let Some(line) = line {
            on_line(line);
        }
    }
}

/// The line `read_until` just completed in `buffer` (without its newline, decoded lossily);
/// marks the stream `done` at its end (or a read error).
fn take_line(
    read: std::io::Result<usize>,
    buffer: &mut Vec<u8>,
    done: &mut bool,
) -> Option<String> {
    match read {
        Ok(0) | Err(_) => {
            *done = true;
            if buffer.is_empty() {
                return None;
            }
        }
        Ok(_) => {}
    }
    if buffer.last() == Some(&b'\n') {
        buffer.pop();
        if buffer.last() == Some(&b'\r') {
            buffer.pop();
        }
    }
    let line = String::from_utf8_lossy(buffer).into_owned();
    buffer.clear();
    Some(line)
}

/// Runs `command` (stdout and stderr piped) and collects its output, at most `cap` bytes of
/// each: when either goes past it, the child is killed and the output marked `truncated`.
pub async fn output_capped(mut command: Command, cap: usize) -> std::io::Result<Captured> {
    use tokio::io::AsyncReadExt;
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(std::io::Error::other("the child has no pipes"));
    };
    let mut captured = Captured::default();
    let (mut out_done, mut err_done) = (false, false);
    let (mut out_buf, mut err_buf) = ([0u8; 8192], [0u8; 8192]);
    while !(out_done && err_done) {
        tokio::select! {
            n = stdout.read(&mut out_buf), if !out_done => match n {
                Ok(0) | Err(_) => out_done = true,
                Ok(n) => captured.stdout.extend_from_slice(&out_buf[..n]),
            },
            n = stderr.read(&mut err_buf), if !err_done => match n {
                Ok(0) | Err(_) => err_done = true,
                Ok(n) => captured.stderr.extend_from_slice(&err_buf[..n]),
            },
        }
        if captured.stdout.len() > cap || captured.stderr.len() > cap {
            captured.stdout.truncate(cap);
            captured.stderr.truncate(cap);
            captured.truncated = true;
            let _ = child.kill().await;
            captured.exit_code = -1;
            return Ok(captured);
        }
    }
    captured.exit_code = i64::from(child.wait().await?.code().unwrap_or(-1));
    Ok(captured)
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// Its exit code (-1 when killed or cut short).
    pub exit_code: i64,
    /// Its stdout (at most the cap).
    pub stdout: Vec<u8>,
    /// Its stderr (at most the cap).
    pub stderr: Vec<u8>,
    /// Whether more came than the cap and the command was stopped.
    pub truncated: bool,
}

/// A command whose stdin is closed and whose output is piped: the shape every tool drydock
/// drives is started in. Killed when dropped, so a cancelled run leaves no child behind, and
/// started without drydock's secret variables ([`scrub`]).
pub fn piped(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    scrub(&mut command);
    command
}

/// The environment variables that hold drydock's own secrets.
const SECRET_VARIABLES: &[&str] = &[
    "DRYDOCK_WEBHOOK_SECRET",
    "DRYDOCK_SMTP_PASSWORD",
    "DRYDOCK_API_TOKEN",
    "DRYDOCK_REGISTRY_PASSWORD",
];

/// Host variables the project names as holding secrets (`from_env`, `vault_password_from_env`,
/// `password_from_env`), registered once the project is read.
static HIDDEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// From now on, children do not inherit the variables `names` (they hold secrets a tool is
/// given explicitly where it needs one).
pub fn hide_from_children(names: impl IntoIterator<Item = String>) {
    if let Ok(mut hidden) = HIDDEN.lock() {
        for name in names {
            if !hidden.contains(&name) {
                hidden.push(name);
            }
        }
    }
}

/// Removes every secret variable from what `command` inherits: ansible-playbook, git, ssh
/// and the rest never see drydock's secrets unless given one explicitly (`command.env` after
/// this wins).
pub fn scrub(command: &mut Command) {
    for name in SECRET_VARIABLES {
        command.env_remove(name);
    }
    if let Ok(hidden) = HIDDEN.lock() {
        for name in hidden.iter() {
            command.env_remove(name);
        }
    }
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
    async fn a_stray_byte_is_not_the_end_of_the_output() {
        let mut child = piped("sh")
            .args(["-c", "printf 'caf\\351\\n'; echo after"])
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for_each_line(&mut child, |l| lines.push(l)).await;
        child.wait().await.unwrap();
        assert_eq!(lines, ["caf\u{fffd}", "after"]);
    }

    #[tokio::test]
    async fn output_past_the_cap_is_cut_and_the_child_stopped() {
        let mut command = piped("sh");
        command.args(["-c", "yes runaway"]);
        let out = output_capped(command, 64 * 1024).await.unwrap();
        assert!(out.truncated);
        assert_eq!(out.stdout.len(), 64 * 1024);
        let mut command = piped("sh");
        command.args(["-c", "echo fine; exit 3"]);
        let out = output_capped(command, 64 * 1024).await.unwrap();
        assert_eq!((out.exit_code, out.truncated), (3, false));
        assert_eq!(out.stdout, b"fine\n");
    }

    #[tokio::test]
    async fn children_never_inherit_a_secret_variable() {
        // SAFETY: tests of this module do not read these variables concurrently.
        unsafe {
            std::env::set_var("DRYDOCK_WEBHOOK_SECRET", "hook-s3cret");
            std::env::set_var("DRYDOCK_TEST_VAULT", "vault-s3cret");
        }
        hide_from_children(["DRYDOCK_TEST_VAULT".to_string()]);
        let mut command = piped("env");
        command.env("GIVEN", "explicitly");
        let out = command.output().await.unwrap();
        let env = String::from_utf8_lossy(&out.stdout);
        assert!(!env.contains("s3cret"), "{env}");
        assert!(env.contains("GIVEN=explicitly"));
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
