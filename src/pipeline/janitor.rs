//! The janitor: knows every container and network a run created and removes them however the
//! run ends.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::docker::{
    Engine, LABEL_HOST, LABEL_PID, LABEL_PROJECT, LABEL_ROLE, LABEL_RUN, LABEL_SERVER,
};

/// The containers of one run.
pub struct Janitor {
    engine: Engine,
    project: String,
    run_id: String,
    containers: Mutex<Vec<(String, String)>>,
    networks: Mutex<Vec<String>>,
    systemd: std::sync::atomic::AtomicBool,
}

impl Janitor {
    /// A janitor for run `run_id` of `project`.
    pub fn new(engine: Engine, project: &str, run_id: &str) -> Self {
        Janitor {
            engine,
            project: project.to_string(),
            run_id: run_id.to_string(),
            containers: Mutex::new(Vec::new()),
            networks: Mutex::new(Vec::new()),
            systemd: std::sync::atomic::AtomicBool::new(false),
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

    /// From now on, containers boot systemd as PID 1.
    pub fn boot_systemd(&self) {
        self.systemd
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether containers boot systemd.
    pub fn boots_systemd(&self) -> bool {
        self.systemd.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Creates the labelled network of `scenario` and remembers it; returns its name.
    pub async fn network(&self, scenario: &str) -> Result<String, crate::docker::EngineError> {
        let name = format!("drydock-{}-{}-{scenario}", self.project, self.run_id);
        self.engine
            .create_network(&name, self.labels(scenario))
            .await?;
        if let Ok(mut list) = self.networks.lock() {
            list.push(name.clone());
        }
        Ok(name)
    }

    /// Starts a labelled container for `role` and remembers it. `host` is the project host it
    /// plays: its host name inside, and the name it answers to on `network`.
    pub async fn run_container(
        &self,
        image: &str,
        role: &str,
        host: Option<&str>,
        network: Option<&str>,
    ) -> Result<String, crate::docker::EngineError> {
        let mut labels = self.labels(role);
        if let Some(host) = host {
            labels.insert(LABEL_SERVER.to_string(), host.to_string());
        }
        let spec = crate::docker::ContainerSpec {
            image: image.to_string(),
            name: Some(format!("drydock-{}-{}-{role}", self.project, self.run_id)),
            labels,
            hostname: host.map(String::from),
            network: network.map(|n| (n.to_string(), host.map(String::from).into_iter().collect())),
            systemd: self.boots_systemd(),
        };
        let id = self.engine.run_container(&spec).await?;
        if let Ok(mut list) = self.containers.lock() {
            list.push((role.to_string(), id.clone()));
        }
        Ok(id)
    }

    /// Removes the network of `scenario` now (its containers must be gone).
    pub async fn remove_network(&self, scenario: &str) {
        let name = format!("drydock-{}-{}-{scenario}", self.project, self.run_id);
        let _ = self.engine.remove_network(&name).await;
        if let Ok(mut list) = self.networks.lock() {
            list.retain(|n| *n != name);
        }
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

    /// Removes every container and network of the run, also those a crash left behind: the
    /// engine is asked for the run's label, so an object whose creation answer was lost goes
    /// too.
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
        // Networks last: they cannot go while a container is attached.
        let mut networks = self.networks.lock().map(|l| l.clone()).unwrap_or_default();
        if let Ok(found) = self
            .engine
            .networks_with_labels(&[(LABEL_PROJECT, &self.project), (LABEL_RUN, &self.run_id)])
            .await
        {
            networks.extend(found.into_iter().map(|(id, _)| id));
        }
        futures_util::future::join_all(networks.iter().map(|n| self.engine.remove_network(n)))
            .await;
        if let Ok(mut list) = self.networks.lock() {
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
/// gone, and then their networks; kept containers (`--keep`) only when `kept` is true. Returns
/// how many containers were removed.
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
    for (id, labels) in engine.networks_with_labels(&filter).await? {
        let same_host = labels.get(LABEL_HOST).map(|h| h == &me).unwrap_or(true);
        let alive = labels
            .get(LABEL_PID)
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(pid_alive);
        if same_host && !alive {
            // A kept container still uses its network: that one stays until `drydock clean`.
            let _ = engine.remove_network(&id).await;
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
