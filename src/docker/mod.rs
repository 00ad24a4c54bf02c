//! The one place that talks to the Docker engine.
//!
//! [`Engine`] wraps bollard with operations named after what drydock does (build the default
//! image, run a scenario container, exec a batch of checks, stream a path's archive, commit,
//! remove), and every failure says which of those it was, because bollard's own errors do not.
//! Nothing here knows about checks, scenarios or reports.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, ContainerSummary, HostConfig};
use bollard::query_parameters::{
    BuildImageOptions, CommitContainerOptions, CreateContainerOptions, CreateImageOptions,
    DownloadFromContainerOptions, ListContainersOptions, ListImagesOptions, PushImageOptions,
    RemoveContainerOptions, RemoveImageOptions, TagImageOptions, UploadToContainerOptions,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt, TryStreamExt};

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

/// What went wrong while talking to the engine, and during which operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine does not answer.
    #[error("the Docker engine at {host} does not answer ({reason}); start it (e.g. `sudo systemctl start docker` or `sudo dockerd &`) or point DOCKER_HOST at a running engine")]
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
    /// An image build failed in a build step.
    #[error("building {image} failed: {message}")]
    Build {
        /// The tag being built.
        image: String,
        /// The build's last output and error.
        message: String,
    },
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

fn short(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
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
}

/// How a scenario container stays up: a shell that sleeps until it is told to stop. The image's
/// own entrypoint is not used because provisioning, not the image, starts the services.
const KEEPALIVE: &str = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

impl Engine {
    /// Connects through `DOCKER_HOST` or the default socket and agrees on an API version.
    pub async fn connect() -> Result<Engine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            host: docker_host(),
            reason,
        };
        let docker = Docker::connect_with_defaults().map_err(|e| unreachable(short(&e)))?;
        let docker = docker.with_timeout(Duration::from_secs(3600));
        let docker = tokio::time::timeout(Duration::from_secs(20), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 20 s".into()))?
            .map_err(|e| unreachable(short(&e)))?;
        tokio::time::timeout(Duration::from_secs(20), docker.ping())
            .await
            .map_err(|_| unreachable("no answer within 20 s".into()))?
            .map_err(|e| unreachable(short(&e)))?;
        Ok(Engine { docker })
    }

    /// Free bytes on the engine's data root, when the engine says.
    pub async fn info_data_root(&self) -> Option<String> {
        self.docker
            .info()
            .await
            .ok()
            .and_then(|i| i.docker_root_dir)
    }

    /// The id of a local image, or `None` when it is not present.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(EngineError::op(format!("inspecting image {reference}"), e)),
        }
    }

    /// A local image's labels (empty when absent).
    pub async fn image_labels(
        &self,
        reference: &str,
    ) -> Result<HashMap<String, String>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.config.and_then(|c| c.labels).unwrap_or_default()),
            Err(e) if status_of(&e) == Some(404) => Ok(HashMap::new()),
            Err(e) => Err(EngineError::op(format!("inspecting image {reference}"), e)),
        }
    }

    /// Pulls an image from its registry.
    pub async fn pull(&self, reference: &str) -> Result<(), EngineError> {
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptions {
            from_image: Some(repo.to_string()),
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .create_image(Some(options), None, registry_credentials(reference));
        while let Some(item) = stream.next().await {
            item.map_err(|e| EngineError::op(format!("pulling {reference}"), e))?;
        }
        Ok(())
    }

    /// Pushes a local image to its registry.
    pub async fn push(&self, reference: &str) -> Result<(), EngineError> {
        let (repo, tag) = split_reference(reference);
        let options = PushImageOptions {
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .push_image(repo, Some(options), registry_credentials(reference));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| EngineError::op(format!("pushing {reference}"), e))?;
            if let Some(error) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Operation {
                    operation: format!("pushing {reference}"),
                    reason: error,
                });
            }
        }
        Ok(())
    }

    /// Imports a root filesystem tar stream as an image (`docker import`).
    pub async fn import_rootfs<S>(&self, reference: &str, tar: S) -> Result<String, EngineError>
    where
        S: Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
    {
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
            changes: vec!["CMD [\"/bin/bash\"]".into()],
            ..Default::default()
        };
        let body = bollard::body_try_stream(tar);
        let mut stream = self.docker.create_image(Some(options), Some(body), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| EngineError::op(format!("importing {reference}"), e))?;
        }
        self.image_id(reference)
            .await?
            .ok_or_else(|| EngineError::Operation {
                operation: format!("importing {reference}"),
                reason: "the engine did not create the image".into(),
            })
    }

    /// Builds an image from a context tar; `on_line` receives the build's output lines.
    pub async fn build_image(
        &self,
        tag: &str,
        dockerfile: &str,
        context: Vec<u8>,
        labels: HashMap<String, String>,
        mut on_line: impl FnMut(&str),
    ) -> Result<String, EngineError> {
        let options = BuildImageOptions {
            dockerfile: dockerfile.to_string(),
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            labels: Some(labels),
            ..Default::default()
        };
        let body = bollard::body_full(context.into());
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            on_line(line);
                            tail.push(line.to_string());
                            if tail.len() > 12 {
                                tail.remove(0);
                            }
                        }
                    }
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(build_failure(tag, &tail, &message));
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(build_failure(tag, &tail, &error));
                }
                Err(e) if status_of(&e) == Some(400) || status_of(&e) == Some(500) => {
                    return Err(build_failure(tag, &tail, &short(&e)));
                }
                Err(e) => return Err(EngineError::op(format!("building {tag}"), e)),
            }
        }
        self.image_id(tag).await?.ok_or_else(|| EngineError::Build {
            image: tag.to_string(),
            message: "the build finished without an image".into(),
        })
    }

    /// Adds `target` as a tag of `image`.
    pub async fn tag(&self, image: &str, target: &str) -> Result<(), EngineError> {
        let (repo, tag) = split_reference(target);
        let options = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
        };
        self.docker
            .tag_image(image, Some(options))
            .await
            .map_err(|e| EngineError::op(format!("tagging {image} as {target}"), e))
    }

    /// Removes an image reference; absent is fine.
    pub async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        let options = RemoveImageOptions {
            noprune: false,
            ..Default::default()
        };
        match self
            .docker
            .remove_image(reference, Some(options), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(status_of(&e), Some(404)) => Ok(()),
            Err(e) => Err(EngineError::op(format!("removing image {reference}"), e)),
        }
    }

    /// Image references (repo:tag) of local images carrying `label=value`.
    pub async fn images_with_label(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<(String, Vec<String>)>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{label}={value}")])]);
        let options = ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| EngineError::op("listing images", e))?;
        Ok(images.into_iter().map(|i| (i.id, i.repo_tags)).collect())
    }

    /// Creates and starts a container that stays up until removed.
    pub async fn run_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), KEEPALIVE.into()]),
            cmd: Some(vec![]),
            labels: Some(spec.labels.clone()),
            host_config: Some(HostConfig {
                init: Some(true),
                ..Default::default()
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
        let filters = HashMap::from([(
            "label".to_string(),
            labels
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.to_string()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect(),
        )]);
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

    /// Commits a container as `reference`, with labels.
    pub async fn commit(
        &self,
        container: &str,
        reference: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let (repo, tag) = split_reference(reference);
        let options = CommitContainerOptions {
            container: Some(container.to_string()),
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
            pause: true,
            ..Default::default()
        };
        let config = bollard::models::ContainerConfig {
            labels: Some(labels),
            ..Default::default()
        };
        let response = self
            .docker
            .commit_container(options, config)
            .await
            .map_err(|e| EngineError::op(format!("committing container {container}"), e))?;
        Ok(response.id)
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

    /// A tar stream of the container's whole filesystem (`docker export`).
    pub fn export(
        &self,
        container: &str,
    ) -> impl Stream<Item = Result<bytes::Bytes, EngineError>> + use<> {
        let op = format!("exporting {container}");
        self.docker
            .export_container(container)
            .map_err(move |e| EngineError::op(op.clone(), e))
    }

    /// Runs a command in the container and collects its output.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[&str],
        env: &[String],
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, EngineError> {
        let mut out = ExecOutput::default();
        let code = self
            .exec_streaming(container, cmd, env, stdin, |stream, bytes| match stream {
                OutputStream::Stdout => out.stdout.extend_from_slice(bytes),
                OutputStream::Stderr => out.stderr.extend_from_slice(bytes),
            })
            .await?;
        out.exit_code = code;
        // The runtime reports a command it could not start as output and exit 126/127: that is
        // an engine failure, not the command's answer.
        if matches!(code, 126 | 127) {
            let said = String::from_utf8_lossy(&out.stdout);
            if let Some(line) = said.lines().find(|l| l.contains("OCI runtime exec failed")) {
                return Err(EngineError::Operation {
                    operation: format!(
                        "running `{}` in {}",
                        cmd.first().unwrap_or(&""),
                        short_id(container)
                    ),
                    reason: line.trim().to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Runs a command in the container, passing output chunks to `on_output` as they come.
    pub async fn exec_streaming(
        &self,
        container: &str,
        cmd: &[&str],
        env: &[String],
        stdin: Option<Vec<u8>>,
        mut on_output: impl FnMut(OutputStream, &[u8]),
    ) -> Result<i64, EngineError> {
        use bollard::container::LogOutput;
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use tokio::io::AsyncWriteExt;

        let operation = || format!("running `{}` in {}", cmd.join(" "), short_id(container));
        let options = CreateExecOptions {
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            env: Some(env.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(stdin.is_some()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(|e| EngineError::op(operation(), e))?;
        let started = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| EngineError::op(operation(), e))?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        else {
            return Err(EngineError::Operation {
                operation: operation(),
                reason: "the engine did not attach to the command".into(),
            });
        };
        if let Some(data) = stdin {
            let written = async {
                input.write_all(&data).await?;
                input.shutdown().await
            }
            .await;
            written.map_err(|e| EngineError::Operation {
                operation: operation(),
                reason: format!("writing its input: {e}"),
            })?;
        }
        drop(input);
        while let Some(item) = output.next().await {
            match item.map_err(|e| EngineError::op(operation(), e))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    on_output(OutputStream::Stdout, &message)
                }
                LogOutput::StdErr { message } => on_output(OutputStream::Stderr, &message),
                LogOutput::StdIn { .. } => {}
            }
        }
        let inspected = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| EngineError::op(operation(), e))?;
        Ok(inspected.exit_code.unwrap_or(-1))
    }
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

/// The first 12 characters of an id, as `docker ps` shows it.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Credentials for the reference's registry from `DRYDOCK_REGISTRY_USER`/`_PASSWORD`, or the
/// Docker config's `auths` entry.
fn registry_credentials(reference: &str) -> Option<bollard::auth::DockerCredentials> {
    let registry = registry_of(reference)?;
    if let (Ok(username), Ok(password)) = (
        std::env::var("DRYDOCK_REGISTRY_USER"),
        std::env::var("DRYDOCK_REGISTRY_PASSWORD"),
    ) {
        return Some(bollard::auth::DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(registry),
            ..Default::default()
        });
    }
    let config_dir = std::env::var("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .ok()
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .map(|h| std::path::Path::new(&h).join(".docker"))
        })?;
    let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auth = json.get("auths")?.get(&registry)?.get("auth")?.as_str()?;
    let decoded = base64_decode(auth)?;
    let (username, password) = decoded.split_once(':')?;
    Some(bollard::auth::DockerCredentials {
        username: Some(username.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(registry),
        ..Default::default()
    })
}

fn registry_of(reference: &str) -> Option<String> {
    let first = reference.split('/').next()?;
    (reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost"))
        .then(|| first.to_string())
}

fn base64_decode(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}

fn build_failure(tag: &str, tail: &[String], message: &str) -> EngineError {
    let mut text = message.trim().to_string();
    let context: Vec<&String> = tail.iter().rev().take(6).collect();
    if !context.is_empty() {
        text.push_str("\nlast build output:");
        for line in context.into_iter().rev() {
            text.push_str("\n  ");
            text.push_str(line);
        }
    }
    EngineError::Build {
        image: tag.to_string(),
        message: text,
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

    #[test]
    fn finds_registries_and_decodes_auth() {
        assert_eq!(
            registry_of("127.0.0.1:5000/hello:p"),
            Some("127.0.0.1:5000".into())
        );
        assert_eq!(registry_of("debian:bookworm"), None);
        assert_eq!(registry_of("drydock/hello:default"), None);
        assert_eq!(base64_decode("dXNlcjpwYXNz").as_deref(), Some("user:pass"));
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
