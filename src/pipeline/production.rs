//! The production images, and the shape they share with `drydock promote` and
//! `drydock snapshot`: stand up every host from the default image on its own network, provision
//! them with a tree in one run, and commit each host's container as its image.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::janitor::Boot;
use super::session::Session;
use crate::config::{Host, Platform, Project};
use crate::error::Error;
use crate::event::{Ending, Scope};
use crate::image::{self, production::Resolution, DefaultImage};
use crate::provision::{self, Machine, Outcome, Status};
use crate::written::Written;

/// Stands up one container per host on a new network of `role`, each from its image, answering
/// to its host name there. Containers of several hosts are called `<role>-<host>`.
pub async fn stand_up(
    session: &Session,
    role: &str,
    hosts: &[Host],
    images: &[String],
    boot: &Boot,
) -> Result<Vec<Machine>, Error> {
    let network = session.janitor.network(role).await?;
    let several = hosts.len() > 1;
    let starts = hosts.iter().zip(images).map(|(host, image)| {
        let role = if several {
            format!("{role}-{}", host.name)
        } else {
            role.to_string()
        };
        let network = network.clone();
        async move {
            let container = session
                .janitor
                .run_container(image, &role, Some(&host.name), Some(&network), boot)
                .await?;
            Ok::<_, Error>(Machine {
                host: host.clone(),
                container,
            })
        }
    });
    // A stand-up that fails half-way takes its containers with it, so a retry starts clean.
    let results = futures_util::future::join_all(starts).await;
    let mut machines = Vec::new();
    let mut failure = None;
    for result in results {
        match result {
            Ok(m) => machines.push(m),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    let containers: Vec<String> = machines.iter().map(|m| m.container.clone()).collect();
    let failure = match failure {
        Some(e) => Some(e),
        None => session.wait_for_boot(&containers, boot).await.err(),
    };
    if let Some(e) = failure {
        for container in &containers {
            session.janitor.remove(container).await;
        }
        return Err(e);
    }
    futures_util::future::join_all(containers.iter().map(|c| like_a_server(session, c))).await;
    Ok(machines)
}

/// An image whose Dockerfile ends with the usual `rm -rf /var/lib/apt/lists/*` has no package
/// lists, yet the folder's fresh mtime tells Ansible's `apt: cache_valid_time=...` that the
/// cache was just updated, so it skips the update and finds no package: a failure no server
/// has (a server's lists are never empty) that depends on the clock. Empty lists are dated
/// back to 1970 so that any `cache_valid_time` updates them; lists that exist are left alone.
const EMPTY_APT_LISTS_ARE_STALE: &str = "d=/var/lib/apt/lists; [ -d \"$d\" ] || exit 0; \
     for f in \"$d\"/*_Packages*; do [ -e \"$f\" ] && exit 0; done; \
     touch -t 197001010000 \"$d\" 2>/dev/null; \
     s=/var/lib/apt/periodic/update-success-stamp; [ -e \"$s\" ] && touch -t 197001010000 \"$s\"; exit 0";

/// Makes a fresh container's package caches look like a server's (see
/// [`EMPTY_APT_LISTS_ARE_STALE`]); best effort: a container without a shell is left as it is.
async fn like_a_server(session: &Session, container: &str) {
    let cmd = ["/bin/sh", "-c", EMPTY_APT_LISTS_ARE_STALE];
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        session.engine.exec(container, &cmd, &[], None),
    )
    .await;
}

/// How many containers may provision at once (`--jobs`): a scenario (or a production build)
/// holds a permit per host while its provisioner runs.
pub type Jobs = std::sync::Arc<tokio::sync::Semaphore>;

/// Waits for permits for `hosts` provisioning containers (never more than the whole budget).
pub async fn permits(
    jobs: Option<&Jobs>,
    hosts: usize,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let jobs = jobs?;
    let wanted = (hosts.max(1) as u32).min(JOBS_MAX.min(u32::MAX as usize) as u32);
    // A project with more hosts than the budget still runs, one scenario at a time.
    let wanted = wanted.min(jobs.available_permits().max(1) as u32).max(1);
    jobs.clone().acquire_many_owned(wanted).await.ok()
}

/// The most permits a `--jobs` budget holds.
pub const JOBS_MAX: usize = 256;

/// Every host of `hosts` stood up from `image` and provisioned with the tree at `root`.
pub struct Provisioned {
    /// The image the hosts were stood up from.
    pub image: String,
    /// The hosts and their containers.
    pub machines: Vec<Machine>,
    /// How provisioning went.
    pub outcome: Outcome,
}

/// Stands up `hosts` from `image` and provisions them with the tree at `root`; the containers'
/// role is the scope's label (`production`, `promote`, ...).
#[allow(clippy::too_many_arguments)]
pub async fn provision_tree(
    session: &Session,
    project: &Project,
    platform: &Platform,
    hosts: &[Host],
    image: &str,
    root: &Path,
    role: &str,
    scope: &Scope,
    timeout: Duration,
    jobs: Option<&Jobs>,
) -> Result<Provisioned, Error> {
    let images = vec![image.to_string(); hosts.len()];
    let boot = Boot::of(&platform.image);
    let machines = stand_up(session, role, hosts, &images, &boot).await?;
    let mut request =
        provision::Request::for_project(project, &platform.image, root, &machines, scope.clone());
    request.timeout = timeout;
    let outcome = {
        let _permits = permits(jobs, hosts.len()).await;
        provision::run(&session.engine, &request, &session.events).await?
    };
    Ok(Provisioned {
        image: image.to_string(),
        machines,
        outcome,
    })
}

impl Provisioned {
    /// Per host (in host order), which task last wrote each path.
    pub fn written(&self) -> Vec<Written> {
        self.machines
            .iter()
            .map(|m| {
                self.outcome
                    .host(&m.host.name)
                    .map(|h| h.written.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Commits each host's container as its tag (in host order) with `labels` and the record
    /// of which task wrote what on it, then removes it; returns the image ids.
    pub async fn commit(
        &self,
        session: &Session,
        tags: &[String],
        labels: HashMap<String, String>,
    ) -> Result<Vec<String>, Error> {
        let mut ids = Vec::new();
        for ((machine, tag), written) in self.machines.iter().zip(tags).zip(self.written()) {
            let mut labels = labels.clone();
            labels.insert(
                image::LABEL_WRITTEN_BY.into(),
                session.secrets.mask(&written.to_label()),
            );
            let id = session
                .engine
                .commit(&machine.container, tag, labels, &self.image)
                .await?;
            session.janitor.remove(&machine.container).await;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Removes the containers now.
    pub async fn discard(&self, session: &Session) {
        for machine in &self.machines {
            session.janitor.remove(&machine.container).await;
        }
    }

    /// The failure in words, with the failing task.
    pub fn failure(&self) -> String {
        self.outcome
            .failure
            .as_ref()
            .map(|f| match &f.task {
                Some(t) => format!("task \"{t}\": {}", f.message),
                None => f.message.clone(),
            })
            .unwrap_or_default()
    }
}

/// The host names production tags carry: none for a single-host project.
pub fn tagged_hosts(hosts: &[Host]) -> Vec<String> {
    if hosts.len() > 1 {
        hosts.iter().map(|h| h.name.clone()).collect()
    } else {
        Vec::new()
    }
}

/// A message for a playbook none of whose plays matched a host, naming the patterns.
pub fn nothing_ran(outcome: &Outcome, hosts: &[Host], what: &str) -> Option<String> {
    if outcome.ran_tasks || outcome.unmatched.is_empty() {
        return None;
    }
    let plays: Vec<String> = outcome
        .unmatched
        .iter()
        .map(|p| format!("{}:{} (hosts: {})", p.file, p.line, p.pattern))
        .collect();
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    Some(format!(
        "no task ran on any host while provisioning {what}: the play(s) at {} match no host; the hosts are {}. Add the groups to `hosts:` in drydock.yaml (e.g. `hosts: {{ web: {{ groups: [{}] }} }}`) or point `provision.ansible.inventory` at an inventory that has them",
        plays.join(", "),
        hosts.join(", "),
        outcome.unmatched[0].pattern
    ))
}

/// The production images a run upgrades: one per host, where they came from, whether this
/// run built them, and which task of their build wrote what.
pub struct Production {
    /// Per host (in host order), the reference to start its container from.
    pub images: Vec<String>,
    /// Why these, in words.
    pub why: String,
    /// Whether this run built them.
    pub built: bool,
    /// The commit whose tree provisioned them, when known.
    pub commit: Option<String>,
    /// Per host (in host order), which task of the build last wrote each path (empty when the
    /// image does not say: pulled from elsewhere, built by an older drydock).
    pub written: Vec<Written>,
}

/// Which production version a scenario upgrades.
#[derive(Debug, Clone, Copy)]
pub enum Version<'a> {
    /// The one `production.ref` names: a promoted or pulled image counts.
    Current,
    /// An older ref of `production.upgrade_from`, at this commit: always its own build.
    Older(&'a str, &'a str),
}

/// Resolves the production images of `version`, building them when no usable ones exist.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(
    session: &Session,
    project: &Project,
    platform: &Platform,
    hosts: &[Host],
    default: &DefaultImage,
    version: Version<'_>,
    timeout: Duration,
    scope: &Scope,
    jobs: Option<&Jobs>,
) -> Result<Production, Error> {
    let events = &session.events;
    let started = Instant::now();
    let tagged = tagged_hosts(hosts);
    let default_key = image::short_commit(&default.id.replace("sha256:", "")).to_string();
    // One production build per (default image, version) on this machine: a concurrent run
    // waits here and then finds the cached image.
    let (_lock, resolution) = match version {
        Version::Current => {
            let lock =
                image::machine_lock(&format!("production-{}-{default_key}", project.name)).await?;
            let resolution = image::production::resolve(
                &session.engine,
                project,
                platform.name.as_deref(),
                &tagged,
                default,
                events,
            )
            .await?;
            (lock, resolution)
        }
        Version::Older(git_ref, commit) => {
            let lock = image::machine_lock(&format!(
                "production-{}-{default_key}-{}",
                project.name,
                image::short_commit(commit)
            ))
            .await?;
            let resolution = image::production::of_commit(
                &session.engine,
                project,
                platform.name.as_deref(),
                &tagged,
                default,
                git_ref,
                commit.to_string(),
            )
            .await?;
            (lock, resolution)
        }
    };
    let (commit, git_ref, tree, tags) = match resolution {
        Resolution::Ready { images, why } => {
            let (commit, written) = recorded(session, &images).await;
            events.finished(scope, Ending::Reused, started.elapsed());
            return Ok(Production {
                images,
                why,
                built: false,
                commit,
                written,
            });
        }
        Resolution::Build {
            commit,
            git_ref,
            tree,
            tags,
        } => (commit, git_ref, tree, tags),
    };
    let short = image::short_commit(&commit).to_string();
    events.stage(scope, format!("building from {git_ref} @ {short}"));
    let kind = match version {
        Version::Current => "production".to_string(),
        Version::Older(..) => format!("production-{}", container_safe(&git_ref)),
    };
    let role = match &platform.name {
        Some(name) => format!("{name}-{kind}"),
        None => kind,
    };
    let provisioned = provision_tree(
        session,
        project,
        platform,
        hosts,
        &default.tag,
        &tree.root,
        &role,
        scope,
        timeout,
        jobs,
    )
    .await?;
    let what = format!("the production version ({git_ref} @ {short})");
    if let Some(message) = nothing_ran(&provisioned.outcome, hosts, &what) {
        provisioned.discard(session).await;
        return Err(Error::Usage(message));
    }
    if provisioned.outcome.status != Status::Ok {
        provisioned.discard(session).await;
        return Err(Error::Infrastructure {
            part: "production image".into(),
            message: format!(
                "the production image of {git_ref} could not be built: provisioning the default image with {git_ref} @ {short} failed ({}); the upgrade from {git_ref} cannot be judged until that version provisions{}",
                provisioned.failure(),
                match version {
                    Version::Current => ", or a production image is promoted",
                    Version::Older(..) => "",
                }
            ),
        });
    }
    let written = provisioned.written();
    let labels = image::production::labels(project, default, &commit)
        .into_iter()
        .collect();
    provisioned.commit(session, &tags, labels).await?;
    let why = format!(
        "built from {git_ref} @ {short} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    events.finished(scope, Ending::Built, started.elapsed());
    Ok(Production {
        images: tags,
        why,
        built: true,
        commit: Some(commit),
        written,
    })
}

/// What production images say of themselves: the commit they were built from and, per image,
/// which task of the build wrote what.
async fn recorded(session: &Session, images: &[String]) -> (Option<String>, Vec<Written>) {
    let mut commit = None;
    let mut written = Vec::new();
    for image in images {
        let labels = session.engine.image_labels(image).await.unwrap_or_default();
        commit = commit.or_else(|| labels.get(image::LABEL_COMMIT).cloned());
        written.push(
            labels
                .get(image::LABEL_WRITTEN_BY)
                .map(|l| Written::from_label(l))
                .unwrap_or_default(),
        );
    }
    (commit.filter(|c| !c.is_empty()), written)
}

/// `text` as a container name allows it: letters, digits, `_`, `.`, `-`; anything else `-`.
pub fn container_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}
