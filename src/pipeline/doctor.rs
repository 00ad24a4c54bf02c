//! `drydock doctor`: what a run needs from this machine and its engine, each answer with what to
//! do about it. `run`'s preflight asks the same questions ([`required`]), without the slow ones
//! (a boot, a pull).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::janitor::Boot;
use super::session::Session;
use crate::config::{Debootstrap, Project, ProvisionKind};
use crate::docker::{About, Engine};
use crate::error::Error;
use crate::event::Events;

/// Below this much free space where the engine keeps images, a run would fail half-way.
pub const MIN_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// How long the registry may take to hand over a base image in `doctor`.
const PULL_TIMEOUT: Duration = Duration::from_secs(60);

/// How one prerequisite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and working.
    Ok,
    /// Works, with a caveat worth knowing.
    Warn,
    /// Missing or broken: runs will fail (exit 3) until it is fixed.
    Fail,
    /// Not needed here, or not asked.
    Skip,
}

/// One prerequisite: what was found, and what to do when it is not right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked (`engine`, `ansible-playbook`, ...).
    pub name: &'static str,
    /// How it stands.
    pub status: Status,
    /// What was found, in words.
    pub found: String,
    /// What to do (for `warn` and `fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn new(name: &'static str, status: Status, found: impl Into<String>) -> Finding {
        Finding {
            name,
            status,
            found: found.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// Everything `doctor` checks, in order: the engine and what it says of itself, the tools a
/// run starts, disk, the registry (or debootstrap), and a systemd boot where the project
/// boots systemd. `project` is `None` outside a project (only the machine is examined).
pub async fn examine(
    project: Option<&Project>,
    events: &Events,
    cancel: CancellationToken,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let engine = match Engine::connect().await {
        Ok(engine) => Some(engine),
        Err(e) => {
            out.push(Finding::new("engine", Status::Fail, e.to_string()).fix(
                "start the engine (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at one (unix://, tcp:// with TLS, ssh://)",
            ));
            None
        }
    };
    let about = match &engine {
        Some(engine) => engine.about().await.ok(),
        None => None,
    };
    if let Some(about) = &about {
        out.push(engine_finding(about));
        out.push(cgroup_finding(about));
    }
    let ansible = project.is_none_or(|p| matches!(p.provision.kind, ProvisionKind::Ansible(_)));
    out.push(ansible_playbook(ansible));
    out.push(community_docker(ansible));
    out.push(docker_cli(ansible));
    out.push(git(project.is_some()));
    let bases = match (&engine, project) {
        (Some(engine), Some(project)) => absent_bases(engine, project).await,
        _ => Vec::new(),
    };
    out.push(debootstrap(project.is_some(), &bases));
    match &engine {
        Some(engine) => out.push(disk(engine).await),
        None => out.push(Finding::new("disk", Status::Skip, "no engine to ask")),
    }
    match (&engine, project) {
        (Some(engine), Some(_)) => out.push(registry(engine, &bases).await),
        (None, _) => out.push(Finding::new("registry", Status::Skip, "no engine to ask")),
        (_, None) => out.push(Finding::new(
            "registry",
            Status::Skip,
            "no project here: no base image to get",
        )),
    }
    match (&engine, project) {
        (Some(engine), Some(project)) => {
            out.extend(systemd(engine, project, about.as_ref(), events, cancel).await)
        }
        _ => out.push(Finding::new(
            "systemd",
            Status::Skip,
            "no project here, or no engine: nothing to boot",
        )),
    }
    out
}

/// `run`'s preflight: the quick questions of [`examine`] whose failure would stop a run
/// half-way, asked before anything is built. The first failing one is the error.
pub async fn required(engine: &Engine, project: &Project) -> Result<(), Error> {
    crate::provision::preflight(&project.provision.kind)?;
    if let ProvisionKind::Ansible(_) = project.provision.kind {
        for finding in [community_docker(true), docker_cli(true)] {
            failed(finding)?;
        }
    }
    failed(disk(engine).await)
}

fn failed(finding: Finding) -> Result<(), Error> {
    if finding.status != Status::Fail {
        return Ok(());
    }
    Err(Error::Infrastructure {
        part: finding.name.to_string(),
        message: match finding.fix {
            Some(fix) => format!("{}; {fix}", finding.found),
            None => finding.found,
        },
    })
}

fn engine_finding(about: &About) -> Finding {
    let found = format!(
        "{} {} on {}, API {} agreed, at {}",
        if about.version.is_empty() {
            "an engine"
        } else {
            "version"
        },
        about.version,
        if about.os.is_empty() {
            "an unnamed OS"
        } else {
            &about.os
        },
        about.api,
        about.host
    );
    let (major, minor) = about
        .api
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .unwrap_or((0, 0));
    if (major, minor) < (1, 40) {
        return Finding::new("engine", Status::Warn, found).fix(
            "API 1.40 or newer (Docker 19.03+) is what drydock is tested with; upgrade the engine",
        );
    }
    Finding::new("engine", Status::Ok, found)
}

fn cgroup_finding(about: &About) -> Finding {
    let driver = about
        .cgroup_driver
        .as_deref()
        .map(|d| format!(", {d} driver"))
        .unwrap_or_default();
    match about.cgroup_version.as_deref() {
        Some("2") => Finding::new(
            "cgroup",
            Status::Ok,
            format!("v2{driver}: systemd containers get a private cgroup namespace"),
        ),
        Some(v) => Finding::new("cgroup", Status::Ok, format!("v{v}{driver}")),
        None => Finding::new("cgroup", Status::Ok, "the engine does not say (cgroup v1)"),
    }
}

/// How to install Debian package `package` here: the exact line.
pub fn install_line(package: &str) -> String {
    let sudo = if effective_uid() == Some(0) {
        ""
    } else {
        "sudo "
    };
    if Path::new("/etc/debian_version").exists() {
        format!("{sudo}apt-get install -y {package}")
    } else {
        format!("install the `{package}` package with the system's package manager")
    }
}

/// The effective user id, from /proc (Linux).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn not_needed(name: &'static str, why: &str) -> Finding {
    Finding::new(name, Status::Skip, format!("not needed: {why}"))
}

fn ansible_playbook(needed: bool) -> Finding {
    if !needed {
        return not_needed("ansible-playbook", "the project provisions with `shell`");
    }
    let Some(path) = crate::process::which("ansible-playbook") else {
        return Finding::new("ansible-playbook", Status::Fail, "not found on PATH").fix(format!(
            "{} (ansible-core with community.docker), or `pip install ansible`",
            install_line("ansible")
        ));
    };
    let version = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default();
    Finding::new(
        "ansible-playbook",
        Status::Ok,
        format!("{} at {}", version.trim(), path.display()),
    )
}

/// Where Ansible looks for collections, besides its own site-packages.
fn collection_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for var in ["ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"] {
        if let Some(value) = std::env::var_os(var) {
            roots.extend(std::env::split_paths(&value));
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(&home).join(".ansible/collections"));
    }
    roots.push(PathBuf::from("/usr/share/ansible/collections"));
    // Python's package folders: the system's, and the one beside ansible-playbook (a venv).
    let mut pythons = vec![PathBuf::from("/usr/lib"), PathBuf::from("/usr/local/lib")];
    if let Some(home) = std::env::var_os("HOME") {
        pythons.push(PathBuf::from(home).join(".local/lib"));
    }
    if let Some(bin) = crate::process::which("ansible-playbook") {
        if let Some(prefix) = bin.parent().and_then(Path::parent) {
            pythons.push(prefix.join("lib"));
        }
    }
    for lib in pythons {
        let Ok(entries) = std::fs::read_dir(&lib) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                roots.push(entry.path().join("dist-packages"));
                roots.push(entry.path().join("site-packages"));
            }
        }
    }
    roots
}

fn community_docker(needed: bool) -> Finding {
    const NAME: &str = "community.docker";
    if !needed {
        return not_needed(NAME, "the project provisions with `shell`");
    }
    let found = collection_roots()
        .into_iter()
        .map(|root| root.join("ansible_collections/community/docker"))
        .find(|dir| dir.is_dir());
    if let Some(dir) = found {
        return Finding::new(NAME, Status::Ok, format!("at {}", dir.display()));
    }
    // Not where collections usually are: ask Ansible, which knows its configuration.
    let listed = crate::process::which("ansible-galaxy").and_then(|galaxy| {
        std::process::Command::new(galaxy)
            .args(["collection", "list", NAME])
            .output()
            .ok()
    });
    match listed {
        Some(out) if out.status.success() && String::from_utf8_lossy(&out.stdout).contains(NAME) => {
            Finding::new(NAME, Status::Ok, "listed by `ansible-galaxy collection list`")
        }
        _ => Finding::new(
            NAME,
            Status::Fail,
            "the collection is not installed; Ansible reaches drydock's containers through its `community.docker.docker` connection",
        )
        .fix(format!(
            "`ansible-galaxy collection install community.docker`, or {} (which brings it)",
            install_line("ansible")
        )),
    }
}

fn docker_cli(needed: bool) -> Finding {
    const NAME: &str = "docker CLI";
    if !needed {
        return not_needed(NAME, "the project provisions with `shell`");
    }
    match crate::process::which("docker") {
        Some(path) => Finding::new(NAME, Status::Ok, format!("at {}", path.display())),
        None => Finding::new(
            NAME,
            Status::Fail,
            "`docker` is not on PATH; Ansible's docker connection runs it to reach the containers",
        )
        .fix(format!(
            "{} (the client is enough; with Podman, `podman-docker`)",
            install_line("docker.io")
        )),
    }
}

fn git(needed: bool) -> Finding {
    if !needed {
        return not_needed("git", "no project here");
    }
    match crate::process::which("git") {
        Some(path) => Finding::new("git", Status::Ok, format!("at {}", path.display())),
        None => Finding::new(
            "git",
            Status::Fail,
            "`git` is not on PATH; the production image is built from `production.ref`'s tree",
        )
        .fix(install_line("git")),
    }
}

/// A base image that is not on the engine: its reference, and how to bootstrap it if the
/// project says.
struct AbsentBase {
    image: String,
    bootstrap: Option<Debootstrap>,
}

async fn absent_bases(engine: &Engine, project: &Project) -> Vec<AbsentBase> {
    let mut out: Vec<AbsentBase> = Vec::new();
    for platform in &project.platforms {
        let settings = &platform.image;
        let image = match &settings.base {
            Some(base) => Some(base.image.clone()),
            None => std::fs::read_to_string(project.root.join(&settings.dockerfile))
                .ok()
                .and_then(|text| crate::image::context::base_of(&text)),
        };
        let Some(image) = image else { continue };
        if out.iter().any(|b| b.image == image)
            || matches!(engine.image_id(&image).await, Ok(Some(_)))
        {
            continue;
        }
        let bootstrap = settings
            .base
            .as_ref()
            .filter(|b| b.image == image)
            .and_then(|b| b.debootstrap.clone());
        out.push(AbsentBase { image, bootstrap });
    }
    out
}

fn debootstrap(project: bool, bases: &[AbsentBase]) -> Finding {
    const NAME: &str = "debootstrap";
    if !project {
        return not_needed(NAME, "no project here");
    }
    let wanted: Vec<&str> = bases
        .iter()
        .filter(|b| b.bootstrap.is_some())
        .map(|b| b.image.as_str())
        .collect();
    let path = crate::process::which("debootstrap");
    match (wanted.is_empty(), path) {
        (true, Some(path)) => Finding::new(
            NAME,
            Status::Ok,
            format!("at {} (no base image needs it now)", path.display()),
        ),
        (true, None) => not_needed(NAME, "every base image is present or pulled"),
        (false, Some(path)) => Finding::new(
            NAME,
            Status::Ok,
            format!(
                "at {}; {} will be bootstrapped with it if no registry answers",
                path.display(),
                wanted.join(", ")
            ),
        ),
        (false, None) => Finding::new(
            NAME,
            Status::Fail,
            format!(
                "not installed, and {} is not on the engine: it is bootstrapped with debootstrap when no registry answers",
                wanted.join(", ")
            ),
        )
        .fix(install_line("debootstrap")),
    }
}

/// Free space where the engine keeps images and containers (a local engine only).
async fn disk(engine: &Engine) -> Finding {
    const NAME: &str = "disk";
    if !engine.is_local() {
        return Finding::new(
            NAME,
            Status::Skip,
            "a remote engine: its disk cannot be looked at from here",
        );
    }
    let Some(root) = engine.info_data_root().await else {
        return Finding::new(
            NAME,
            Status::Skip,
            "the engine does not say where it keeps images",
        );
    };
    let out = crate::process::piped("df")
        .args(["-Pk", &root])
        .output()
        .await
        .ok();
    let free = out.and_then(|out| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let gib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    match free {
        None => Finding::new(
            NAME,
            Status::Skip,
            format!("cannot read the free space under {root}"),
        ),
        Some(free) if free < MIN_FREE_BYTES => Finding::new(
            NAME,
            Status::Fail,
            format!(
                "only {:.1} GiB free under {root}, where the engine keeps images and containers",
                gib(free)
            ),
        )
        .fix("free some space (`drydock clean --images`, `docker system prune`) and run again"),
        Some(free) => Finding::new(
            NAME,
            Status::Ok,
            format!("{:.1} GiB free under {root}", gib(free)),
        ),
    }
}

/// Whether the base images that are not on the engine can be had: pulled, or else bootstrapped.
async fn registry(engine: &Engine, bases: &[AbsentBase]) -> Finding {
    const NAME: &str = "registry";
    if bases.is_empty() {
        return not_needed(NAME, "every base image is on the engine");
    }
    let mut unobtainable = Vec::new();
    let mut bootstrapped = Vec::new();
    let mut pulled = Vec::new();
    for base in bases {
        match tokio::time::timeout(PULL_TIMEOUT, engine.pull(&base.image)).await {
            Ok(Ok(())) => pulled.push(base.image.clone()),
            outcome => {
                let reason = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {} s", PULL_TIMEOUT.as_secs()),
                };
                match base.bootstrap {
                    Some(_) => bootstrapped.push(format!("{} ({reason})", base.image)),
                    None => unobtainable.push(format!("{} ({reason})", base.image)),
                }
            }
        }
    }
    if !unobtainable.is_empty() {
        return Finding::new(
            NAME,
            Status::Fail,
            format!("cannot pull {}", unobtainable.join(", ")),
        )
        .fix("make a registry reachable, or say how to build the base image locally with `images.default.base.bootstrap.debootstrap` (README, \"Configuration\")");
    }
    if !bootstrapped.is_empty() {
        return Finding::new(
            NAME,
            Status::Warn,
            format!(
                "cannot pull {}; drydock bootstraps it with debootstrap instead",
                bootstrapped.join(", ")
            ),
        )
        .fix("nothing to do if debootstrap is installed (about 45 s, once per machine)");
    }
    Finding::new(NAME, Status::Ok, format!("pulled {}", pulled.join(", ")))
}

/// Boots each systemd platform's default image once, as scenarios boot it.
async fn systemd(
    engine: &Engine,
    project: &Project,
    about: Option<&About>,
    events: &Events,
    cancel: CancellationToken,
) -> Vec<Finding> {
    const NAME: &str = "systemd";
    let booting: Vec<_> = project
        .platforms
        .iter()
        .filter(|p| p.image.init == crate::config::Init::Systemd)
        .collect();
    if booting.is_empty() {
        return vec![not_needed(
            NAME,
            "no platform boots systemd (`init: systemd`)",
        )];
    }
    let cgroup = about
        .and_then(|a| a.cgroup_version.as_deref())
        .unwrap_or("1");
    let mut out = Vec::new();
    for platform in booting {
        let tag = crate::image::Tags::new(&project.name, platform.name.as_deref()).default();
        if !matches!(engine.image_id(&tag).await, Ok(Some(_))) {
            out.push(Finding::new(
                NAME,
                Status::Skip,
                format!(
                    "not booted: {tag} is not built yet (`drydock run` builds it); cgroup v{cgroup} is supported"
                ),
            ));
            continue;
        }
        let boot = Boot::of(&platform.image);
        let session = Session::start(
            engine,
            &project.name,
            events,
            crate::secret::Secrets::default(),
            cancel.clone(),
        );
        let started = Instant::now();
        let booted = session
            .guard(async {
                let id = session
                    .janitor
                    .run_container(&tag, "doctor", None, None, &boot)
                    .await?;
                session.wait_for_boot(&[id], &boot).await
            })
            .await;
        out.push(match booted {
            Ok(()) => Finding::new(
                NAME,
                Status::Ok,
                format!(
                    "{tag} booted in {:.1} s (cgroup v{cgroup})",
                    started.elapsed().as_secs_f64()
                ),
            ),
            Err(e) => Finding::new(NAME, Status::Fail, format!("{tag} did not boot: {e}")).fix(
                "systemd containers need the engine's cgroup mounts (cgroup v1, or v2 with private cgroup namespaces: Docker 20.10+) and the capabilities in `cap_add`; see the README, \"Booting systemd\"",
            ),
        });
    }
    out
}
