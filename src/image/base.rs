//! The base image: used when present, pulled when possible, otherwise bootstrapped with
//! debootstrap and imported, which is how drydock works where no registry is reachable.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::ImageError;
use crate::config::{Debootstrap, DefaultImage};
use crate::docker::Engine;
use crate::event::{Events, Scope};

/// How long a pull may take before drydock treats the registry as unreachable.
const PULL_TIMEOUT: Duration = Duration::from_secs(300);

/// Returns the id of `image`, pulling or bootstrapping it when it is not present.
pub async fn ensure(
    engine: &Engine,
    settings: &DefaultImage,
    image: &str,
    events: &Events,
) -> Result<String, ImageError> {
    if let Some(id) = engine.image_id(image).await? {
        return Ok(id);
    }
    let _lock = super::machine_lock(&format!("base-{image}")).await?;
    if let Some(id) = engine.image_id(image).await? {
        return Ok(id);
    }
    let scope = Scope::Images;
    events.stage(&scope, format!("pulling {image}"));
    let pulled = tokio::time::timeout(PULL_TIMEOUT, engine.pull(image)).await;
    let reason = match pulled {
        Ok(Ok(())) => {
            if let Some(id) = engine.image_id(image).await? {
                return Ok(id);
            }
            "the pull finished without the image".to_string()
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no answer from the registry within {} s",
            PULL_TIMEOUT.as_secs()
        ),
    };
    let bootstrap = settings
        .base
        .as_ref()
        .filter(|b| b.image == image)
        .and_then(|b| b.debootstrap.as_ref());
    let Some(spec) = bootstrap else {
        return Err(ImageError::BaseUnobtainable {
            image: image.to_string(),
            reason,
        });
    };
    events.note(
        &scope,
        format!(
            "{image} cannot be pulled; bootstrapping it with debootstrap ({} {})",
            spec.suite,
            spec.variant.as_deref().unwrap_or("")
        ),
    );
    bootstrap_image(engine, image, spec, events).await
}

/// Removes the root filesystem folder however the bootstrap ends.
struct RootfsGuard(PathBuf);

impl Drop for RootfsGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs debootstrap into a temporary folder and imports the result as `image`.
pub async fn bootstrap_image(
    engine: &Engine,
    image: &str,
    spec: &Debootstrap,
    events: &Events,
) -> Result<String, ImageError> {
    let scope = Scope::Images;
    let started = Instant::now();
    let program =
        crate::process::which("debootstrap").ok_or_else(|| ImageError::DebootstrapMissing {
            image: image.to_string(),
        })?;
    // An owner-only folder with an unpredictable name: nobody else on the machine can put
    // files (or a link) where the root filesystem is being made.
    let dir = tempfile::Builder::new()
        .prefix("drydock-rootfs-")
        .tempdir()
        .map_err(|e| ImageError::DebootstrapFailed {
            image: image.to_string(),
            status: "no folder for the root filesystem".into(),
            tail: e.to_string(),
        })?
        .keep();
    let guard = RootfsGuard(dir.clone());
    let mut command = Command::new(program);
    if let Some(variant) = &spec.variant {
        command.arg(format!("--variant={variant}"));
    }
    if !spec.include.is_empty() {
        command.arg(format!("--include={}", spec.include.join(",")));
    }
    command.arg(&spec.suite).arg(&dir);
    if let Some(mirror) = &spec.mirror {
        command.arg(mirror);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    events.stage(&scope, format!("debootstrap {} → {image}", spec.suite));
    let mut child = command.spawn().map_err(|e| ImageError::DebootstrapFailed {
        image: image.to_string(),
        status: "could not start".into(),
        tail: e.to_string(),
    })?;
    let mut tail: Vec<String> = Vec::new();
    crate::process::for_each_line(&mut child, |line| {
        events.progress(&scope, line.clone());
        tail.push(line);
        if tail.len() > 15 {
            tail.remove(0);
        }
    })
    .await;
    let status = child
        .wait()
        .await
        .map_err(|e| ImageError::DebootstrapFailed {
            image: image.to_string(),
            status: "lost".into(),
            tail: e.to_string(),
        })?;
    if !status.success() {
        return Err(ImageError::DebootstrapFailed {
            image: image.to_string(),
            status: status.to_string(),
            tail: tail.join("\n"),
        });
    }

    events.stage(&scope, format!("importing {image}"));
    // Trim what a container never needs, as the slim images do.
    for path in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let target = dir.join(path);
        if let Ok(entries) = std::fs::read_dir(&target) {
            for entry in entries.flatten() {
                if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["--numeric-owner", "-cf", "-", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ImageError::DebootstrapFailed {
            image: image.to_string(),
            status: "could not start tar".into(),
            tail: e.to_string(),
        })?;
    let Some(stdout) = tar.stdout.take() else {
        return Err(ImageError::DebootstrapFailed {
            image: image.to_string(),
            status: "tar has no output".into(),
            tail: String::new(),
        });
    };
    let stream = tokio_util::io::ReaderStream::with_capacity(stdout, 256 * 1024);
    let id = engine.import_rootfs(image, stream).await?;
    let _ = tar.wait().await;
    drop(guard);
    events.note(
        &scope,
        format!(
            "base image {image} bootstrapped in {:.0} s",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(id)
}
