//! Images: inspect, pull, push, import, build, tag, commit, remove.

use std::collections::HashMap;

use base64::Engine as _;
use bollard::query_parameters::{
    BuildImageOptions, CommitContainerOptions, CreateImageOptions, ListImagesOptions,
    PushImageOptions, RemoveImageOptions, TagImageOptions,
};
use futures_util::{Stream, StreamExt};

use super::*;

impl Engine {
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
        // The whole reference as `repo`: Podman's compatible API ignores `tag` on imports.
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(reference.to_string()),
            changes: vec!["CMD [\"/bin/bash\"]".into()],
            ..Default::default()
        };
        let body = bollard::body_try_stream(tar);
        let mut stream = self.docker.create_image(Some(options), Some(body), None);
        // The last status line names the new image.
        let mut created = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| EngineError::op(format!("importing {reference}"), e))?;
            if let Some(status) = info.status.filter(|s| s.starts_with("sha256:")) {
                created = Some(status.trim().to_string());
            }
        }
        if let Some(id) = self.image_id(reference).await? {
            return Ok(id);
        }
        if let Some(created) = created {
            self.tag(&created, reference).await?;
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
        self.image_id(tag)
            .await?
            .ok_or_else(|| EngineError::Operation {
                operation: format!("building {tag}"),
                reason: "the build finished without an image".into(),
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
            Err(e) if matches!(status_of(&e), Some(409)) => Err(EngineError::InUse {
                reference: reference.to_string(),
                reason: short(&e),
            }),
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

    /// Commits a container as `reference`, a server image as `like` is one: with `labels`, with
    /// `like`'s own command, entrypoint and stop signal (not the keep-alive or systemd drydock
    /// started the container with), and without the run labels the container carried (a
    /// commit passes every container label on; these are blanked, so that a container
    /// someone starts from the image is never taken for a run's).
    pub async fn commit(
        &self,
        container: &str,
        reference: &str,
        labels: HashMap<String, String>,
        like: &str,
    ) -> Result<String, EngineError> {
        let (repo, tag) = split_reference(reference);
        let options = CommitContainerOptions {
            container: Some(container.to_string()),
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
            pause: true,
            ..Default::default()
        };
        let original = self
            .docker
            .inspect_image(like)
            .await
            .map_err(|e| EngineError::op(format!("inspecting image {like}"), e))?
            .config
            .unwrap_or_default();
        let mut all = labels;
        for key in RUN_LABELS {
            all.entry(key.to_string()).or_default();
        }
        let config = bollard::models::ContainerConfig {
            labels: Some(all),
            // Empty lists, not absent ones: the engine fills absent fields from the container.
            cmd: Some(original.cmd.unwrap_or_default()),
            entrypoint: Some(original.entrypoint.unwrap_or_default()),
            stop_signal: Some(original.stop_signal.unwrap_or_else(|| "SIGTERM".into())),
            ..Default::default()
        };
        let response = self
            .docker
            .commit_container(options, config)
            .await
            .map_err(|e| EngineError::op(format!("committing container {container}"), e))?;
        Ok(response.id)
    }
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
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
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
    // The step's output and the engine's error say whether the mirror or the disk failed;
    // anything else is the Dockerfile's own doing.
    let seen = format!("{message}\n{}", tail.join("\n"));
    let cause = match crate::outcome::infrastructure_cause(&seen) {
        Some(part) => BuildCause::Infrastructure(part),
        None => BuildCause::Definition,
    };
    EngineError::Build {
        image: tag.to_string(),
        message: text,
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_registries() {
        assert_eq!(
            registry_of("127.0.0.1:5000/hello:p"),
            Some("127.0.0.1:5000".into())
        );
        assert_eq!(registry_of("debian:bookworm"), None);
        assert_eq!(registry_of("drydock/hello:default"), None);
    }
}
