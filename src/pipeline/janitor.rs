//! The janitor: knows every container and network a run created and removes them however the
//! run ends; sweeps what dead runs left behind, and nothing else (see [`super::owner`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::owner::{liveness, owns_container, owns_network, process_alive, Liveness, Owner};
use crate::docker::{Engine, EngineError, LABEL_PROJECT, LABEL_ROLE, LABEL_RUN, LABEL_SERVER};

/// The containers of one run.
pub struct Janitor {
    engine: Engine,
    project: String,
    run_id: String,
    owner: Owner,
    containers: Mutex<Vec<(String, String)>>,
    networks: Mutex<Vec<String>>,
}

/// How a container starts: what runs as PID 1, and with which capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Boot {
    /// systemd as PID 1.
    pub systemd: bool,
    /// Capabilities added to the engine's defaults.
    pub cap_add: Vec<String>,
}

impl Boot {
    /// How containers of a platform whose default image is `image` start.
    pub fn of(image: &crate::config::DefaultImage) -> Boot {
        Boot {
            systemd: image.init == crate::config::Init::Systemd,
            cap_add: image.capabilities(),
        }
    }
}

impl Janitor {
    /// A janitor for run `run_id` of `project`.
    pub fn new(engine: Engine, project: &str, run_id: &str) -> Self {
        Janitor {
            engine,
            project: project.to_string(),
            run_id: run_id.to_string(),
            owner: Owner::me(),
            containers: Mutex::new(Vec::new()),
            networks: Mutex::new(Vec::new()),
        }
    }

    /// The labels of a container of this run with `role`.
    pub fn labels(&self, role: &str) -> HashMap<String, String> {
        let mut labels = self.owner.labels(&self.project, &self.run_id);
        labels.insert(LABEL_ROLE.to_string(), role.to_string());
        labels
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
        boot: &Boot,
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
            systemd: boot.systemd,
            cap_add: boot.cap_add.clone(),
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
    /// too (when it is this run's own, by name and labels).
    pub async fn cleanup(&self) {
        let mut ids: Vec<String> = self.held().into_iter().map(|(_, id)| id).collect();
        let run = [
            (LABEL_PROJECT, self.project.as_str()),
            (LABEL_RUN, self.run_id.as_str()),
        ];
        if let Ok(found) = self.engine.containers_with_labels(&run).await {
            let mine = self.owner.process_label();
            ids.extend(found.into_iter().filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let name = c.names.unwrap_or_default().into_iter().next()?;
                let ours = owns_container(&name, &labels, &HashMap::new(), Some(&self.project))
                    && labels.get(crate::docker::LABEL_PROCESS) == Some(&mine);
                ours.then_some(c.id?)
            }));
        }
        ids.sort();
        ids.dedup();
        futures_util::future::join_all(ids.iter().map(|id| self.engine.remove_container(id))).await;
        if let Ok(mut list) = self.containers.lock() {
            list.clear();
        }
        // Networks last: they cannot go while a container is attached.
        let mut networks = self.networks.lock().map(|l| l.clone()).unwrap_or_default();
        if let Ok(found) = self.engine.networks_with_labels(&run).await {
            networks.extend(
                found
                    .into_iter()
                    .filter(|n| owns_network(&n.name, &n.labels, Some(&self.project)))
                    .map(|n| n.id),
            );
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

/// What a sweep may remove besides the containers of runs whose process is gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reach {
    /// Containers kept with `--keep` (only `drydock clean` removes them).
    pub kept: bool,
    /// Containers of runs this process cannot see (another machine, boot or PID namespace)
    /// created longer ago than this (`drydock clean --older-than`).
    pub unseen_older_than: Option<Duration>,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Containers removed.
    pub removed: usize,
    /// Containers of runs whose process this one cannot see, left alone.
    pub unseen: usize,
}

/// Removes the containers of `project`'s runs (every project's when `None`) whose drydock
/// process is gone, and then their networks; kept containers and containers of unseen runs
/// only as `reach` allows. A container is a run's only when drydock created it for that run
/// ([`owns_container`]): a container someone started from a drydock image is never touched.
pub async fn sweep(
    engine: &Engine,
    project: Option<&str>,
    reach: Reach,
) -> Result<Swept, EngineError> {
    let filter: Vec<(&str, &str)> = vec![(LABEL_PROJECT, project.unwrap_or("")), (LABEL_RUN, "")];
    let containers = engine.containers_with_labels(&filter).await?;
    let me = Owner::me();
    let now = chrono::Utc::now().timestamp();
    let mut image_labels: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut swept = Swept::default();
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let Some(name) = c.names.unwrap_or_default().into_iter().next() else {
            continue;
        };
        let image = c.image_id.unwrap_or_default();
        if !image_labels.contains_key(&image) {
            let found = engine.image_labels(&image).await.unwrap_or_default();
            image_labels.insert(image.clone(), found);
        }
        if !owns_container(&name, &labels, &image_labels[&image], project) {
            continue;
        }
        let is_kept = name.ends_with(KEPT_SUFFIX);
        let old_enough = |age: Duration| {
            c.created
                .is_some_and(|created| now.saturating_sub(created) >= age.as_secs() as i64)
        };
        let remove = match liveness(&labels, &me, process_alive) {
            Liveness::Alive => false,
            Liveness::Gone => reach.kept || !is_kept,
            Liveness::Unknown => {
                let collect = reach.unseen_older_than.is_some_and(old_enough);
                if !collect {
                    swept.unseen += 1;
                }
                collect
            }
        };
        if remove {
            if let Some(id) = c.id {
                engine.remove_container(&id).await?;
                swept.removed += 1;
            }
        }
    }
    for network in engine.networks_with_labels(&filter).await? {
        if !owns_network(&network.name, &network.labels, project) {
            continue;
        }
        let remove = match liveness(&network.labels, &me, process_alive) {
            Liveness::Alive => false,
            Liveness::Gone => true,
            Liveness::Unknown => reach.unseen_older_than.is_some(),
        };
        if remove {
            // A kept container, or a live run elsewhere, still uses its network: the engine
            // refuses, and the network stays until its containers are gone.
            let _ = engine.remove_network(&network.id).await;
        }
    }
    Ok(swept)
}

/// What `drydock clean` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// The sweep of containers.
    pub swept: Swept,
    /// Images removed.
    pub images: usize,
    /// Images left because a container (not drydock's) still uses them: reference and why.
    pub images_in_use: Vec<(String, String)>,
}

/// `drydock clean`: containers of dead runs (kept ones too), and optionally the project's
/// images; an image a container still uses is left, and said.
pub async fn clean(
    engine: &Engine,
    project: Option<&str>,
    images: bool,
    unseen_older_than: Option<Duration>,
) -> Result<Cleaned, EngineError> {
    let reach = Reach {
        kept: true,
        unseen_older_than,
    };
    let mut cleaned = Cleaned {
        swept: sweep(engine, project, reach).await?,
        ..Cleaned::default()
    };
    let Some(project) = project.filter(|_| images) else {
        return Ok(cleaned);
    };
    for (id, tags) in engine.images_with_label(LABEL_PROJECT, project).await? {
        let references = if tags.is_empty() {
            vec![id.clone()]
        } else {
            tags
        };
        let mut removed = true;
        for reference in &references {
            match engine.remove_image(reference).await {
                Ok(()) => {}
                Err(EngineError::InUse { reason, .. }) => {
                    cleaned.images_in_use.push((reference.clone(), reason));
                    removed = false;
                }
                Err(other) => return Err(other),
            }
        }
        if removed {
            cleaned.images += 1;
        }
    }
    Ok(cleaned)
}
