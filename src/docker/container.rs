//! Containers: run, inspect, list, rename, remove, and copy files in and out.

use bollard::models::{ContainerCreateBody, ContainerSummary, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, ListContainersOptions, ListImagesOptions,
    RemoveContainerOptions, UploadToContainerOptions,
};
use futures_util::{Stream, StreamExt, TryStreamExt};

use super::*;

/// systemd, as PID 1 of a container that boots.
const SYSTEMD: &str = "/lib/systemd/systemd";

/// How a scenario container stays up: a shell that sleeps until it is told to stop. The image's
/// own entrypoint is not used because provisioning, not the image, starts the services.
const KEEPALIVE: &str = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

impl Engine {
    /// Creates and starts a container that stays up until removed.
    pub async fn run_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: spec.hostname.clone(),
            networking_config: spec.network.as_ref().map(|(network, aliases)| {
                bollard::models::NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(
                        network.clone(),
                        bollard::models::EndpointSettings {
                            aliases: Some(aliases.clone()),
                            ..Default::default()
                        },
                    )])),
                }
            }),
            entrypoint: Some(if spec.systemd {
                vec![SYSTEMD.into()]
            } else {
                vec!["/bin/sh".into(), "-c".into(), KEEPALIVE.into()]
            }),
            cmd: Some(vec![]),
            labels: Some(spec.labels.clone()),
            env: spec.systemd.then(|| vec!["container=docker".to_string()]),
            stop_signal: spec.systemd.then(|| "SIGRTMIN+3".to_string()),
            host_config: Some(if spec.systemd {
                // Not privileged: systemd needs its runtime folders on tmpfs and the cgroup
                // hierarchy to read (cgroup v1, as this engine has; see the README for v2).
                HostConfig {
                    init: Some(false),
                    tmpfs: Some(HashMap::from([
                        ("/run".to_string(), String::new()),
                        ("/run/lock".to_string(), String::new()),
                    ])),
                    binds: Some(vec!["/sys/fs/cgroup:/sys/fs/cgroup:ro".to_string()]),
                    network_mode: spec.network.as_ref().map(|(n, _)| n.clone()),
                    cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                    ..Default::default()
                }
            } else {
                HostConfig {
                    init: Some(true),
                    network_mode: spec.network.as_ref().map(|(n, _)| n.clone()),
                    cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                    ..Default::default()
                }
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: spec.name.clone(),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| EngineError::op(format!("creating a container from {}", spec.image), e))?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove_container(&created.id).await;
            return Err(EngineError::op(
                format!("starting a container from {}", spec.image),
                e,
            ));
        }
        Ok(created.id)
    }

    /// Renames a container.
    pub async fn rename(&self, container: &str, name: &str) -> Result<(), EngineError> {
        let options = bollard::query_parameters::RenameContainerOptions {
            name: name.to_string(),
        };
        self.docker
            .rename_container(container, options)
            .await
            .map_err(|e| EngineError::op(format!("renaming container {container}"), e))
    }

    /// How many containers, dangling images, networks and volumes the engine has: the figures a
    /// leak would grow.
    pub async fn inventory(&self) -> Result<Inventory, EngineError> {
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .map_err(|e| EngineError::op("listing containers", e))?
            .len();
        let dangling = HashMap::from([("dangling".to_string(), vec!["true".to_string()])]);
        let dangling_images = self
            .docker
            .list_images(Some(ListImagesOptions {
                filters: Some(dangling),
                ..Default::default()
            }))
            .await
            .map_err(|e| EngineError::op("listing images", e))?
            .len();
        let networks = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(|e| EngineError::op("listing networks", e))?
            .len();
        let volumes = self
            .docker
            .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
            .await
            .map_err(|e| EngineError::op("listing volumes", e))?
            .volumes
            .map(|v| v.len())
            .unwrap_or(0);
        Ok(Inventory {
            containers,
            dangling_images,
            networks,
            volumes,
        })
    }

    /// Whether the container exists and runs.
    pub async fn is_running(&self, container: &str) -> Result<bool, EngineError> {
        match self.docker.inspect_container(container, None).await {
            Ok(c) => Ok(c.state.and_then(|s| s.running).unwrap_or(false)),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(EngineError::op(
                format!("inspecting container {container}"),
                e,
            )),
        }
    }

    /// A container's labels, its image's among them (empty when it is gone).
    pub async fn container_labels(
        &self,
        container: &str,
    ) -> Result<std::collections::HashMap<String, String>, EngineError> {
        match self.docker.inspect_container(container, None).await {
            Ok(c) => Ok(c.config.and_then(|c| c.labels).unwrap_or_default()),
            Err(e) if status_of(&e) == Some(404) => Ok(Default::default()),
            Err(e) => Err(EngineError::op(
                format!("inspecting container {container}"),
                e,
            )),
        }
    }

    /// The container's id when it exists (by name or id).
    pub async fn container_id(&self, container: &str) -> Result<Option<String>, EngineError> {
        match self.docker.inspect_container(container, None).await {
            Ok(c) => Ok(c.id),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(EngineError::op(
                format!("inspecting container {container}"),
                e,
            )),
        }
    }

    /// Stops a container (its stop signal, then SIGKILL after `grace`).
    pub async fn stop_container(
        &self,
        container: &str,
        grace: std::time::Duration,
    ) -> Result<(), EngineError> {
        let options = bollard::query_parameters::StopContainerOptions {
            t: Some(grace.as_secs() as i32),
            ..Default::default()
        };
        self.docker
            .stop_container(container, Some(options))
            .await
            .map_err(|e| EngineError::op(format!("stopping container {container}"), e))
    }

    /// Removes a container by force; a container that is already gone is not an error.
    pub async fn remove_container(&self, container: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(status_of(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(EngineError::op(
                format!("removing container {container}"),
                e,
            )),
        }
    }

    /// Containers (all states) carrying every `label=value` of `labels`.
    pub async fn containers_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let filters = label_filter(labels);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|e| EngineError::op("listing containers", e))
    }

    /// Writes a tar archive into the container, extracted at `path`.
    pub async fn upload(
        &self,
        container: &str,
        path: &str,
        tar: Vec<u8>,
    ) -> Result<(), EngineError> {
        let options = UploadToContainerOptions {
            path: path.to_string(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(container, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| EngineError::op(format!("copying files into {container}:{path}"), e))
    }

    /// A tar stream of `path` in the container; `Ok(None)` when the path does not exist.
    pub async fn download(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<impl Stream<Item = Result<bytes::Bytes, EngineError>> + use<>>, EngineError>
    {
        let options = DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let mut stream = self
            .docker
            .download_from_container(container, Some(options))
            .boxed();
        let operation = format!("reading {container}:{path}");
        // The first chunk tells whether the path exists (404 arrives as the first item).
        let first = match stream.next().await {
            None => None,
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(e)) if status_of(&e) == Some(404) => return Ok(None),
            Some(Err(e)) => return Err(EngineError::op(operation, e)),
        };
        let op = operation.clone();
        let rest = stream.map_err(move |e| EngineError::op(op.clone(), e));
        Ok(Some(futures_util::stream::iter(first.map(Ok)).chain(rest)))
    }

    /// A tar stream of the container's whole filesystem (`docker export`): the I/O floor the
    /// state benchmark measures itself against.
    pub fn export(
        &self,
        container: &str,
    ) -> impl Stream<Item = Result<bytes::Bytes, EngineError>> + use<> {
        let op = format!("exporting {container}");
        self.docker
            .export_container(container)
            .map_err(move |e| EngineError::op(op.clone(), e))
    }

    /// Waits until systemd in `container` says the system is up (`running`, or `degraded`
    /// with the failed units listed); anything else, or no answer within `timeout`, is an
    /// error. Returns the failed units.
    pub async fn wait_for_boot(
        &self,
        container: &str,
        timeout: std::time::Duration,
    ) -> Result<Vec<String>, EngineError> {
        let operation = || {
            format!(
                "waiting for systemd to boot in {}",
                crate::ids::short_id(container)
            )
        };
        let cmd = ["systemctl", "is-system-running", "--wait"];
        // Until systemd has created /run/systemd/system, systemctl answers `offline`; until
        // it has opened its bus, it cannot ask anything. Both mean "not yet": ask again.
        let ask = async {
            loop {
                let out = self.exec(container, &cmd, &[], None).await?;
                if !boot_not_started(&out.stdout, &out.stderr) {
                    return Ok::<_, EngineError>(out);
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        let out =
            tokio::time::timeout(timeout, ask)
                .await
                .map_err(|_| EngineError::Operation {
                    operation: operation(),
                    reason: format!(
                        "the system was not up within {} s (`systemctl is-system-running --wait`)",
                        timeout.as_secs()
                    ),
                })??;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match state.as_str() {
            "running" => Ok(Vec::new()),
            "degraded" => {
                let cmd = ["systemctl", "--failed", "--no-legend", "--plain"];
                let failed = self.exec(container, &cmd, &[], None).await?;
                Ok(String::from_utf8_lossy(&failed.stdout)
                    .lines()
                    .filter_map(|l| l.split_whitespace().next().map(String::from))
                    .collect())
            }
            other => Err(EngineError::Operation {
                operation: operation(),
                reason: format!(
                    "systemd says the system is `{}`{}",
                    if other.is_empty() { "unknown" } else { other },
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .next()
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default()
                ),
            }),
        }
    }

    /// Restarts a container, as a reboot of the server it plays.
    pub async fn restart(&self, container: &str) -> Result<(), EngineError> {
        let options = bollard::query_parameters::RestartContainerOptions {
            t: Some(30),
            ..Default::default()
        };
        self.docker
            .restart_container(container, Some(options))
            .await
            .map_err(|e| EngineError::op(format!("restarting container {container}"), e))
    }

    /// The container's id and its addresses on every network.
    pub async fn addresses(&self, container: &str) -> Result<Addresses, EngineError> {
        let inspected = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| EngineError::op(format!("inspecting container {container}"), e))?;
        let mut out = Addresses {
            id: inspected.id.unwrap_or_default(),
            ..Default::default()
        };
        let networks = inspected
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        let present = |v: Option<String>| v.filter(|v| !v.is_empty());
        for endpoint in networks.into_values() {
            if let Some(ip) = present(endpoint.ip_address) {
                out.ipv4.push(ip);
                out.ipv4_prefix
                    .push(endpoint.ip_prefix_len.unwrap_or(32).clamp(0, 32) as u8);
            }
            out.gateways.extend(present(endpoint.gateway));
            out.ipv6.extend(present(endpoint.global_ipv6_address));
            out.macs.extend(present(endpoint.mac_address));
        }
        Ok(out)
    }
}

/// Whether `systemctl is-system-running` answered before systemd was far enough into its
/// boot to say anything: `offline` (no `/run/systemd/system` yet) or no bus to connect to.
fn boot_not_started(stdout: &[u8], stderr: &[u8]) -> bool {
    String::from_utf8_lossy(stdout).trim() == "offline"
        || String::from_utf8_lossy(stderr).contains("Failed to connect to bus")
}

#[cfg(test)]
mod tests {
    use super::boot_not_started;

    #[test]
    fn offline_and_a_missing_bus_mean_not_yet_booted() {
        assert!(boot_not_started(b"offline\n", b""));
        assert!(boot_not_started(
            b"",
            b"Failed to connect to bus: No such file or directory\n"
        ));
        assert!(!boot_not_started(b"running\n", b""));
        assert!(!boot_not_started(b"degraded\n", b""));
        assert!(!boot_not_started(b"maintenance\n", b""));
    }
}
