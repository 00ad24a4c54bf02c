//! Where checks run: a container (through the engine), the machine drydock runs on, or a
//! server over ssh (the system `ssh` client, key-based, host keys checked). The check engine
//! asks each the same way — a command line, its exit code and output — so the one-exec fact
//! script and the command and http checks work on all three.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::docker::{Engine, ExecOutput};
use crate::session::{shell_quote, Session};

/// A shell kept open on a target between rounds (opened on first use).
pub type KeptShell = Arc<tokio::sync::Mutex<Option<Session>>>;

/// Where a command runs, and how much of its output is read.
#[derive(Clone)]
pub struct Runner {
    /// Where.
    pub place: Place,
    /// The most read of a command's stdout, and of its stderr: beyond it the output is cut,
    /// the command is left to its fate and the result says so, so that one runaway target
    /// cannot exhaust the monitor.
    pub max_output: usize,
}

/// The default of [`Runner::max_output`]: far above any fact script's output (a server's
/// whole package database is a few MB), far below what hurts.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// Where a command runs.
#[derive(Clone)]
pub enum Place {
    /// A running container.
    Container {
        /// The engine.
        engine: Engine,
        /// The container's name or id.
        id: String,
        /// With a kept shell, `/bin/sh -c` scripts run in it instead of a new exec each.
        shell: Option<KeptShell>,
    },
    /// The machine drydock runs on.
    Local,
    /// A server over ssh; with a kept shell, one ssh session carries every script.
    Ssh(Ssh, Option<KeptShell>),
}

impl Runner {
    /// Commands in `container`, each its own exec.
    pub fn container(engine: &Engine, id: &str) -> Runner {
        Runner::at(Place::Container {
            engine: engine.clone(),
            id: id.to_string(),
            shell: None,
        })
    }

    /// Commands at `place`, with the default [`MAX_OUTPUT`].
    pub fn at(place: Place) -> Runner {
        Runner {
            place,
            max_output: MAX_OUTPUT,
        }
    }

    /// The same, reading at most `max_output` bytes of each stream.
    pub fn with_max_output(mut self, max_output: usize) -> Runner {
        self.max_output = max_output.max(1024);
        self
    }
}

/// An ssh destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    /// `user@host` or `host`.
    pub destination: String,
    /// The host alone.
    pub host: String,
    /// The port, when not 22.
    pub port: Option<u16>,
    /// An ssh client configuration file (`ssh -F`), for keys and known hosts.
    pub config: Option<PathBuf>,
}

/// How long ssh may take to connect.
const SSH_CONNECT_TIMEOUT: u64 = 10;

impl Runner {
    /// Runs `argv` and collects its output (at most [`Runner::max_output`] of each stream:
    /// `truncated` says when more came); `Err` means it could not be run at all (the target
    /// cannot be reached), not that it failed.
    pub async fn exec(&self, argv: &[&str]) -> Result<ExecOutput, String> {
        let cap = self.max_output;
        match &self.place {
            Place::Container { engine, id, shell } => {
                if let Some(kept) = shell {
                    let open = || async { engine.open_shell(id).await.ok() };
                    if let Some(out) = in_kept_shell(kept, open, argv, cap).await {
                        return Ok(out);
                    }
                }
                engine
                    .exec_capped(id, argv, cap)
                    .await
                    .map_err(|e| e.to_string())
            }
            Place::Local => {
                let (program, args) = argv.split_first().ok_or("nothing to run")?;
                let mut command = crate::process::piped(program);
                command.args(args);
                crate::process::output_capped(command, cap)
                    .await
                    .map(exec_output)
                    .map_err(|e| format!("cannot run {program}: {e}"))
            }
            Place::Ssh(ssh, shell) => {
                if let Some(kept) = shell {
                    let open = || async {
                        let mut command = tokio::process::Command::new("ssh");
                        crate::process::scrub(&mut command);
                        command
                            .args(ssh.options())
                            .arg("--")
                            .arg(&ssh.destination)
                            .arg("/bin/sh");
                        Session::spawn(command).ok()
                    };
                    if let Some(out) = in_kept_shell(kept, open, argv, cap).await {
                        return Ok(out);
                    }
                }
                let line: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
                let mut command = crate::process::piped("ssh");
                command
                    .args(ssh.options())
                    .arg("--")
                    .arg(&ssh.destination)
                    .arg(line.join(" "));
                let out = crate::process::output_capped(command, cap)
                    .await
                    .map(exec_output)
                    .map_err(|e| format!("cannot run ssh: {e}"))?;
                if out.exit_code == 255 {
                    return Err(format!(
                        "ssh to {} failed: {}",
                        ssh.destination,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                Ok(out)
            }
        }
    }

    /// Whether the target answers at all: `Err` with why not. A container is asked of the
    /// engine (no exec: an exec costs the engine a process); the others run `true`.
    pub async fn reach(&self, timeout: Duration) -> Result<(), String> {
        if let Place::Container { engine, id, .. } = &self.place {
            return match tokio::time::timeout(timeout, engine.is_running(id)).await {
                Err(_) => Err(format!(
                    "the engine did not answer within {} s",
                    timeout.as_secs()
                )),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(format!("container {id} is not running")),
            };
        }
        match tokio::time::timeout(timeout, self.exec(&["/bin/sh", "-c", "true"])).await {
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
            Ok(Err(e)) => Err(e),
            Ok(Ok(out)) if out.exit_code == 0 => Ok(()),
            Ok(Ok(out)) => Err(format!(
                "/bin/sh did not run (exit {}): {}",
                out.exit_code,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }
}

fn exec_output(c: crate::process::Captured) -> ExecOutput {
    ExecOutput {
        exit_code: c.exit_code,
        stdout: c.stdout,
        stderr: c.stderr,
        truncated: c.truncated,
    }
}

/// Runs a `/bin/sh -c SCRIPT [NAME ARGS...]` command line in the kept shell, opening it with
/// `open` when there is none; `None` when it is not such a command line or the shell failed
/// (the shell is then dropped, and the caller runs the command its usual way).
async fn in_kept_shell<F, Fut>(
    kept: &KeptShell,
    open: F,
    argv: &[&str],
    cap: usize,
) -> Option<ExecOutput>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Option<Session>>,
{
    let ["/bin/sh", "-c", script, rest @ ..] = argv else {
        return None;
    };
    let args = rest.get(1..).unwrap_or(&[]);
    let mut guard = kept.lock().await;
    if guard.is_none() {
        *guard = open().await;
    }
    match guard.as_mut()?.run(script, args, cap).await {
        Ok(ran) => {
            // A run cut short left the shell mid-output: the next one opens another (and
            // dropping this one ends the runaway command with it).
            if ran.truncated {
                *guard = None;
            }
            Some(ExecOutput {
                exit_code: ran.exit_code,
                stdout: ran.stdout,
                stderr: ran.stderr,
                truncated: ran.truncated,
            })
        }
        Err(_) => {
            *guard = None;
            None
        }
    }
}

impl Ssh {
    /// The client's options: batch mode (no prompt), host keys checked.
    fn options(&self) -> Vec<String> {
        let mut o: Vec<String> = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        o.push("-o".into());
        o.push(format!("ConnectTimeout={SSH_CONNECT_TIMEOUT}"));
        if let Some(config) = &self.config {
            o.push("-F".into());
            o.push(config.display().to_string());
        }
        if let Some(port) = self.port {
            o.push("-p".into());
            o.push(port.to_string());
        }
        o
    }

    /// Reads `ssh://[user@]host[:port]`.
    pub fn parse(url: &str, config: Option<PathBuf>) -> Result<Ssh, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("`{url}` is not an ssh:// address"))?;
        let rest = rest.trim_end_matches('/');
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                Some(p.parse::<u16>().map_err(|_| {
                    format!("`{url}`: `{p}` is not a port; expected ssh://[user@]host[:port]")
                })?),
            ),
            _ => (hostport, None),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c))
        };
        // A host or user starting with `-` would be read by ssh as an option.
        let valid = |s: &str| valid(s) && !s.starts_with('-');
        if !valid(host) || user.is_some_and(|u| !valid(u)) {
            return Err(format!(
                "`{url}` is not an ssh address; expected ssh://[user@]host[:port]"
            ));
        }
        Ok(Ssh {
            destination: match user {
                Some(u) => format!("{u}@{host}"),
                None => host.to_string(),
            },
            host: host.to_string(),
            port,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_addresses_are_read() {
        let s = Ssh::parse("ssh://deploy@web1.example:2222", None).unwrap();
        assert_eq!(
            (s.destination.as_str(), s.host.as_str(), s.port),
            ("deploy@web1.example", "web1.example", Some(2222))
        );
        let s = Ssh::parse("ssh://10.0.0.5", None).unwrap();
        assert_eq!((s.destination.as_str(), s.port), ("10.0.0.5", None));
        assert!(Ssh::parse("ssh://x:port", None).is_err());
        assert!(Ssh::parse("ssh://a b", None).is_err());
        assert!(Ssh::parse("http://x", None).is_err());
        assert!(Ssh::parse("ssh://-oProxyCommand=x", None).is_err());
        assert!(Ssh::parse("ssh://-x@host", None).is_err());
    }
}
