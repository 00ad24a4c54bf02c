//! The one place that talks to the Docker engine.
//!
//! [`Engine`] wraps bollard with operations named after what drydock does (build the default
//! image, run a scenario container, exec a batch of checks, stream a path's archive, commit,
//! remove), and every failure says which of those it was, because bollard's own errors do not.
//! Nothing here knows about checks, scenarios or reports.

mod container;
mod exec;
mod image;
mod network;
mod shell;
mod tunnel;

pub use network::NetworkInfo;

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;

/// Label on everything drydock creates: the project's name.
pub const LABEL_PROJECT: &str = "io.drydock.project";
/// Label on per-run objects: the run id.
pub const LABEL_RUN: &str = "io.drydock.run";
/// Label on per-run objects: the pid of the drydock process that owns them.
pub const LABEL_PID: &str = "io.drydock.pid";
/// Label on per-run objects: the host that runs that process.
pub const LABEL_HOST: &str = "io.drydock.host";
/// Label on containers: what the container is for (fresh, upgrade, production, check, ...).
pub const LABEL_ROLE: &str = "io.drydock.role";
/// Label on containers: the project host it plays (`web`, `db`, ...).
pub const LABEL_SERVER: &str = "io.drydock.server";
/// Label on per-run objects: the creating process, exactly (boot, pid namespace, pid, start
/// time), so that a sweep knows whether it is still alive across PID namespaces and pid reuse.
pub const LABEL_PROCESS: &str = "io.drydock.process";

/// The labels a run sets on what it creates and that an image must never pass on to
/// containers started from it.
pub const RUN_LABELS: &[&str] = &[
    LABEL_RUN,
    LABEL_PID,
    LABEL_HOST,
    LABEL_PROCESS,
    LABEL_ROLE,
    LABEL_SERVER,
];

/// What went wrong while talking to the engine, and during which operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine does not answer.
    #[error(
        "the Docker engine at {host} does not answer ({reason}); {}",
        reach_hint(host, reason)
    )]
    Unreachable {
        /// Where drydock looked.
        host: String,
        /// The underlying failure.
        reason: String,
    },
    /// Any other operation failed.
    #[error("{operation}: {reason}")]
    Operation {
        /// What drydock was doing.
        operation: String,
        /// The engine's answer.
        reason: String,
    },
    /// An image could not be removed because a container uses it.
    #[error("{reference} is in use: {reason}")]
    InUse {
        /// The image reference.
        reference: String,
        /// The engine's answer.
        reason: String,
    },
    /// An image build failed in a build step.
    #[error("building {image} failed: {message}")]
    Build {
        /// The tag being built.
        image: String,
        /// The build's last output and error.
        message: String,
        /// Whose fault, decided from the engine's answer where the build failed.
        cause: BuildCause,
    },
}

/// Why an image build failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildCause {
    /// The Dockerfile or its context: a parse error, a missing file, a step that failed on
    /// its own (the project's image definition is broken).
    Definition,
    /// A step failed because a part of the infrastructure did (the package mirror, DNS, the
    /// disk): the part.
    Infrastructure(&'static str),
}

impl EngineError {
    fn op(operation: impl Into<String>, source: bollard::errors::Error) -> Self {
        if is_connection_error(&source) {
            return EngineError::Unreachable {
                host: docker_host(),
                reason: short(&source),
            };
        }
        EngineError::Operation {
            operation: operation.into(),
            reason: short(&source),
        }
    }
}

fn is_connection_error(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    match e {
        E::HyperResponseError { .. }
        | E::IOError { .. }
        | E::SocketNotFoundError(_)
        | E::RequestTimeoutError => true,
        E::DockerResponseServerError { .. } => false,
        other => {
            let text = other.to_string();
            text.contains("error trying to connect") || text.contains("Connection refused")
        }
    }
}

/// What to do when the engine at `host` does not answer for `reason`.
fn reach_hint(host: &str, reason: &str) -> &'static str {
    if reason.contains("HTTP request to an HTTPS server") {
        "the engine expects TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder holding ca.pem, cert.pem and key.pem"
    } else if host.starts_with("ssh://") {
        "check that `ssh` reaches the host without a prompt (keys, known_hosts; DRYDOCK_SSH_CONFIG names another ssh client configuration) and that its user may use /var/run/docker.sock"
    } else if host.starts_with("tcp://") {
        "check the address, that the engine listens there and, with TLS, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH"
    } else {
        "start it (e.g. `sudo systemctl start docker` or `sudo dockerd &`) or point DOCKER_HOST at a running engine"
    }
}

fn short(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string().trim().to_string(),
    }
}

fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's `label` list filter for every `(label, value)` (an empty value: the label at
/// all).
fn label_filter(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let wanted = labels
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.to_string()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    HashMap::from([("label".to_string(), wanted)])
}

/// Where the engine is expected: `DOCKER_HOST` or the default socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// The output of a finished exec.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit code of the command.
    pub exit_code: i64,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Whether the output went past the cap it was read with and was cut there.
    pub truncated: bool,
}

/// A chunk of output from a streaming exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a container is created with.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// The image.
    pub image: String,
    /// The name (engine-generated when `None`).
    pub name: Option<String>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// The host name inside the container (the engine makes one from the id when `None`).
    pub hostname: Option<String>,
    /// The network to attach it to (the engine's default bridge when `None`), and the names it
    /// answers to there.
    pub network: Option<(String, Vec<String>)>,
    /// Boot systemd as PID 1 instead of a sleeping shell.
    pub systemd: bool,
    /// Linux capabilities added to the engine's defaults (`SYS_ADMIN`, ...).
    pub cap_add: Vec<String>,
}

/// What tells one container from another of the same image: its id and its addresses on
/// every network it is attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    /// The full container id.
    pub id: String,
    /// IPv4 addresses.
    pub ipv4: Vec<String>,
    /// The prefix length of each IPv4 address (in the order of `ipv4`).
    pub ipv4_prefix: Vec<u8>,
    /// The gateways of its networks.
    pub gateways: Vec<String>,
    /// Global IPv6 addresses.
    pub ipv6: Vec<String>,
    /// MAC addresses.
    pub macs: Vec<String>,
}

/// Counts of engine objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inventory {
    /// Containers, in any state.
    pub containers: usize,
    /// Images without a tag.
    pub dangling_images: usize,
    /// Networks.
    pub networks: usize,
    /// Volumes.
    pub volumes: usize,
}

/// A connected engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// For `DOCKER_HOST=ssh://…`: the ssh process forwarding the remote engine's socket to a
    /// local one, alive as long as any clone of the engine is.
    tunnel: Option<std::sync::Arc<tunnel::Tunnel>>,
}

impl Engine {
    /// Connects through `DOCKER_HOST` (`unix://`, `tcp://` — with TLS when
    /// `DOCKER_TLS_VERIFY` is set, certificates from `DOCKER_CERT_PATH` —, or `ssh://`) or the
    /// default socket, and agrees on an API version.
    pub async fn connect() -> Result<Engine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            host: docker_host(),
            reason: reason.trim().to_string(),
        };
        let host = docker_host();
        let (docker, tunnel) = match host.strip_prefix("ssh://") {
            Some(destination) => {
                let tunnel = tunnel::Tunnel::open(destination)
                    .await
                    .map_err(&unreachable)?;
                let docker =
                    Docker::connect_with_unix(&tunnel.uri(), 120, bollard::API_DEFAULT_VERSION)
                        .map_err(|e| unreachable(short(&e)))?;
                (docker, Some(std::sync::Arc::new(tunnel)))
            }
            None => (
                Docker::connect_with_defaults().map_err(|e| unreachable(short(&e)))?,
                None,
            ),
        };
        let docker = docker.with_timeout(Duration::from_secs(3600));
        let docker = tokio::time::timeout(Duration::from_secs(20), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 20 s".into()))?
            .map_err(|e| unreachable(short(&e)))?;
        tokio::time::timeout(Duration::from_secs(20), docker.ping())
            .await
            .map_err(|_| unreachable("no answer within 20 s".into()))?
            .map_err(|e| unreachable(short(&e)))?;
        Ok(Engine { docker, tunnel })
    }

    /// What tools drydock starts (Ansible's docker connection, through the docker CLI) set
    /// `DOCKER_HOST` to, so that they reach this very engine: the forwarded socket of an ssh
    /// engine; `None` when the environment already says (unix, tcp with TLS).
    pub fn host_for_tools(&self) -> Option<String> {
        self.tunnel.as_ref().map(|t| t.uri())
    }

    /// Whether the engine runs on this machine (its data root can be looked at here).
    pub fn is_local(&self) -> bool {
        self.tunnel.is_none() && docker_host().starts_with("unix://")
    }

    /// What the engine says of itself, for `drydock doctor`.
    pub async fn about(&self) -> Result<About, EngineError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| EngineError::op("asking the engine about itself", e))?;
        let api = self.docker.client_version();
        let shown = |v: Option<String>| v.filter(|v| !v.is_empty());
        Ok(About {
            host: docker_host(),
            version: info.server_version.unwrap_or_default(),
            api: format!("{}.{}", api.major_version, api.minor_version),
            os: info.operating_system.unwrap_or_default(),
            cgroup_version: shown(info.cgroup_version.map(|v| v.to_string())),
            cgroup_driver: shown(info.cgroup_driver.map(|v| v.to_string())),
            data_root: info.docker_root_dir,
        })
    }

    /// Free bytes on the engine's data root, when the engine says.
    pub async fn info_data_root(&self) -> Option<String> {
        self.docker
            .info()
            .await
            .ok()
            .and_then(|i| i.docker_root_dir)
    }
}

/// An engine's description of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// Where it was reached (`DOCKER_HOST` or the default socket).
    pub host: String,
    /// Its version, e.g. `20.10.24` (Podman reports its own).
    pub version: String,
    /// The API version agreed on, e.g. `1.41`.
    pub api: String,
    /// The OS it runs on.
    pub os: String,
    /// `1` or `2`, when it says.
    pub cgroup_version: Option<String>,
    /// `cgroupfs` or `systemd`, when it says.
    pub cgroup_driver: Option<String>,
    /// Where it keeps images and containers.
    pub data_root: Option<String>,
}

/// `repo:tag` split at the tag's colon (not a registry port's); `latest` when there is no tag.
pub fn split_reference(reference: &str) -> (&str, &str) {
    let last_slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_references() {
        assert_eq!(
            split_reference("debian:bookworm-slim"),
            ("debian", "bookworm-slim")
        );
        assert_eq!(
            split_reference("drydock/hello"),
            ("drydock/hello", "latest")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/hello:production"),
            ("127.0.0.1:5000/hello", "production")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/hello"),
            ("127.0.0.1:5000/hello", "latest")
        );
    }
}
