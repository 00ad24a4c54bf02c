//! The janitor: knows every container a run created and removes them however the run ends.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::docker::{Engine, LABEL_HOST, LABEL_PID, LABEL_PROJECT, LABEL_ROLE, LABEL_RUN};

/// The containers of one run.
pub struct Janitor {
    engine: Engine,
    project: String,
    run_id: String,
    containers: Mutex<Vec<(String, String)>>,
}

impl Janitor {
    /// A janitor for run `run_id` of `project`.
    pub fn new(engine: Engine, project: &str, run_id: &str) -> Self {
        Janitor {
            engine,
            project: project.to_string(),
            run_id: run_id.to_string(),
            containers: Mutex::new(Vec::new()),
        }
    }

    /// The labels of a container of this run with `role`.
    pub fn labels(&self, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_PROJECT.to_string(), self.project.clone()),
            (LABEL_RUN.to_string(), self.run_id.clone()),
            (LABEL_PID.to_string(), std::process::id().to_string()),
            (LABEL_HOST.to_string(), hostname()),
            (LABEL_ROLE.to_string(), role.to_string()),
        ])
    }

    /// Starts a labelled container for `role` and remembers it; `hostname` is the name it
    /// answers to inside (the engine's random one when `None`).
    pub async fn run_container(
        &self,
        image: &str,
        role: &str,
        hostname: Option<&str>,
    ) -> Result<String, crate::docker::EngineError> {
        let spec = crate::docker::ContainerSpec {
            image: image.to_string(),
            name: Some(format!("drydock-{}-{}-{role}", self.project, self.run_id)),
            labels: self.labels(role),
            hostname: hostname.map(String::from),
        };
        let id = self.engine.run_container(&spec).await?;
        if let Ok(mut list) = self.containers.lock() {
            list.push((role.to_string(), id.clone()));
        }
        Ok(id)
    }

    /// Removes one container now.
    pub async fn remove(&self, id: &str) {
        let _ = self.engine.remove_container(id).await;
        if let Ok(mut list) = self.containers.lock() {
            list.retain(|(_, c)| c != id);
        }
    }

    /// Marks every held container as kept: renamed with a `-kept` suffix, which start-up
    /// sweeps leave alone (only `drydock clean` removes them). Returns (role, id) pairs.
    pub async fn keep(&self) -> Vec<(String, String)> {
        let held = self.held();
        for (role, id) in &held {
            let name = format!(
                "drydock-{}-{}-{role}{KEPT_SUFFIX}",
                self.project, self.run_id
            );
            let _ = self.engine.rename(id, &name).await;
        }
        held
    }

    /// The containers still held, with their roles.
    pub fn held(&self) -> Vec<(String, String)> {
        self.containers
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Removes every container of the run, also those a crash left behind: the engine is asked
    /// for the run's label, so a container whose creation answer was lost goes too.
    pub async fn cleanup(&self) {
        let mut ids: Vec<String> = self.held().into_iter().map(|(_, id)| id).collect();
        if let Ok(found) = self
            .engine
            .containers_with_labels(&[(LABEL_PROJECT, &self.project), (LABEL_RUN, &self.run_id)])
            .await
        {
            ids.extend(found.into_iter().filter_map(|c| c.id));
        }
        ids.sort();
        ids.dedup();
        futures_util::future::join_all(ids.iter().map(|id| self.engine.remove_container(id))).await;
        if let Ok(mut list) = self.containers.lock() {
            list.clear();
        }
    }
}

/// The name suffix of containers kept with `--keep`.
pub const KEPT_SUFFIX: &str = "-kept";

/// This machine's name, to tell our own leftovers from another host's on a shared engine.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether process `pid` is alive on this machine.
pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes containers of `project` (or of every project when `None`) whose drydock process is
/// gone; kept containers (`--keep`) only when `kept` is true. Returns how many were removed.
pub async fn sweep(
    engine: &Engine,
    project: Option<&str>,
    kept: bool,
) -> Result<usize, crate::docker::EngineError> {
    let filter: Vec<(&str, &str)> = match project {
        Some(p) => vec![(LABEL_PROJECT, p)],
        None => vec![(LABEL_PROJECT, "")],
    };
    let containers = engine.containers_with_labels(&filter).await?;
    let me = hostname();
    let mut removed = 0;
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let same_host = labels.get(LABEL_HOST).map(|h| h == &me).unwrap_or(true);
        let alive = labels
            .get(LABEL_PID)
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(pid_alive);
        let is_kept = c
            .names
            .unwrap_or_default()
            .iter()
            .any(|n| n.ends_with(KEPT_SUFFIX));
        if same_host && !alive && (kept || !is_kept) {
            if let Some(id) = c.id {
                engine.remove_container(&id).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// `drydock clean`: containers of dead runs, and optionally the project's images.
pub async fn clean(
    engine: &Engine,
    project: Option<&str>,
    images: bool,
) -> Result<(usize, usize), crate::docker::EngineError> {
    let containers = sweep(engine, project, true).await?;
    let mut removed_images = 0;
    if images {
        let label_value = project.unwrap_or("");
        let found = if label_value.is_empty() {
            Vec::new()
        } else {
            engine.images_with_label(LABEL_PROJECT, label_value).await?
        };
        for (id, tags) in found {
            for tag in &tags {
                engine.remove_image(tag).await?;
            }
            if tags.is_empty() {
                engine.remove_image(&id).await?;
            }
            removed_images += 1;
        }
    }
    Ok((containers, removed_images))
}
