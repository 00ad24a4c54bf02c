//! `DOCKER_HOST=ssh://[user@]host[:port]`: the remote engine's socket forwarded to a private
//! local one by the system `ssh` client (batch mode, host keys checked), which drydock and the
//! tools it starts then use like a local engine. `DRYDOCK_SSH_CONFIG` names an ssh client
//! configuration (keys, known hosts) when the user's own is not the one to use.

use std::path::PathBuf;
use std::time::Duration;

/// How long the forward may take to come up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The remote engine's socket on its host.
const REMOTE_SOCKET: &str = "/var/run/docker.sock";

/// A running forward; the ssh process ends when this is dropped.
pub struct Tunnel {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Tunnel {
    /// Forwards the engine socket of `destination` (`[user@]host[:port]`).
    pub async fn open(destination: &str) -> Result<Tunnel, String> {
        let destination = destination.trim_end_matches('/');
        let (target, port) = match destination.rsplit_once(':') {
            Some((t, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => (t, Some(p)),
            _ => (destination, None),
        };
        if target.is_empty() || target.starts_with('-') {
            return Err(format!("`ssh://{destination}` is not an ssh destination"));
        }
        let dir = tempfile::Builder::new()
            .prefix("drydock-engine-")
            .tempdir()
            .map_err(|e| format!("a private folder for the forwarded socket: {e}"))?;
        let socket = dir.path().join("docker.sock");
        let mut command = crate::process::piped("ssh");
        command
            .args(["-N", "-T"])
            .args(["-o", "BatchMode=yes"])
            .args(["-o", "ExitOnForwardFailure=yes"])
            .args(["-o", "StreamLocalBindUnlink=yes"])
            .args(["-o", "ConnectTimeout=20"])
            .args(["-o", "ServerAliveInterval=15"])
            .arg("-L")
            .arg(format!("{}:{REMOTE_SOCKET}", socket.display()));
        if let Some(port) = port {
            command.args(["-p", port]);
        }
        if let Some(config) = std::env::var_os("DRYDOCK_SSH_CONFIG") {
            command.arg("-F").arg(config);
        }
        command.arg("--").arg(target);
        // ssh's messages go to a file, read when it ends early: a pipe nobody reads during a
        // long run could fill up and stall the forward.
        let log_path = dir.path().join("ssh.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("a log file for ssh: {e}"))?;
        command.stdout(std::process::Stdio::null()).stderr(log);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start ssh: {e}"))?;
        let started = std::time::Instant::now();
        while !socket.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                let said = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "ssh to {target} ended ({status}) before the engine's socket was forwarded: {}",
                    said.trim()
                ));
            }
            if started.elapsed() > OPEN_TIMEOUT {
                return Err(format!(
                    "ssh to {target} did not forward the engine's socket within {} s",
                    OPEN_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Tunnel {
            _child: child,
            _dir: dir,
            socket,
        })
    }

    /// The local socket as a `unix://` URI.
    pub fn uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}
