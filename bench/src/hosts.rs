//! A three-host project (web, app, db, in their groups), warm caches: drydock against the
//! provisioning it cannot avoid — ansible-playbook alone on the same three containers, fresh ∥
//! upgrade, then the fresh ones again — in interleaved rounds.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use drydock::config;
use drydock::docker::Engine;
use drydock::report::Timings;
use tokio::process::Command;

use crate::micro::start;
use crate::pipeline::{median_breakdown, run_drydock, warm_round};
use crate::soak::commit_all;
use crate::stats::Sample;

const PROJECT: &str = "bench-hosts";
const HOSTS: [(&str, &str); 3] = [
    ("web", "webservers"),
    ("app", "appservers"),
    ("db", "dbservers"),
];

const SITE: &str = r#"- name: every host
  hosts: all
  tasks:
    - name: Base folder
      file: { path: /srv/site, state: directory, mode: "0755" }
    - name: Host identity
      copy: { dest: /srv/site/host.conf, content: "name={{ inventory_hostname }}\n" }
    - name: Motd
      copy: { dest: /etc/motd, content: "managed by drydock-bench\n" }
- name: web
  hosts: webservers
  tasks:
    - name: Upstream
      copy: { dest: /etc/web.conf, content: "upstream http://app:8000/\n" }
- name: app
  hosts: appservers
  tasks:
    - name: App config
      copy: { dest: /etc/app.conf, content: "db=db:5432\n" }
- name: db
  hosts: dbservers
  tasks:
    - name: Db config
      copy: { dest: /etc/db.conf, content: "listen=*\n" }
"#;

/// What was measured.
pub struct HostsResult {
    warm: Sample,
    floor: Sample,
    breakdown: Timings,
    rounds: usize,
}

impl HostsResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        let warm = self.warm.median().as_secs_f64();
        let floor = self.floor.median().as_secs_f64();
        let t = &self.breakdown;
        vec![
            [
                format!("three hosts: drydock run, warm caches ({} rounds)", self.rounds),
                self.warm.show(),
                format!("{:.2} × floor", warm / floor),
                "target ≤ 1.2 × floor".into(),
            ],
            [
                "three hosts: floor (ansible-playbook on the 3 containers, fresh ∥ upgrade, + idempotence)"
                    .into(),
                self.floor.show(),
                "1.00 × floor".into(),
                "same playbook, same containers, no checks".into(),
            ],
            [
                "  three hosts: state reading and diff, per host (median round)".into(),
                format!("{:.2} s", t.diff as f64 / 1000.0 / 3.0),
                String::new(),
                format!(
                    "target ≤ 0.5 s per host; fresh {} ms, upgrade {}, idempotence {}, checks {}, cleanup {}",
                    t.fresh, t.upgrade, t.idempotence, t.checks, t.cleanup
                ),
            ],
        ]
    }
}

/// Runs the comparison on a throwaway project.
pub async fn run(engine: &Engine, rounds: usize) -> Result<HostsResult, String> {
    let dir = project_dir()?;
    let path = dir.join("drydock.yaml");
    let project = config::load_project(&path).map_err(|e| e.to_string())?;
    let checks = drydock::check::load_checks(&project).map_err(|e| e.to_string())?;
    eprintln!("hosts: warming the images with one drydock run");
    let first = run_drydock(engine, &project, &checks).await?;
    let default = first.images.default.clone();
    let production: Vec<String> = first
        .images
        .production
        .split(", ")
        .map(String::from)
        .collect();
    let mut result = HostsResult {
        warm: Sample::default(),
        floor: Sample::default(),
        breakdown: Timings::default(),
        rounds,
    };
    let mut breakdowns = Vec::new();
    for round in 1..=rounds {
        eprintln!("hosts: round {round}/{rounds}: drydock (warm)");
        let (elapsed, timings) = warm_round(engine, &project, &checks).await?;
        result.warm.push(elapsed);
        breakdowns.push((elapsed, timings));
        eprintln!("hosts: round {round}/{rounds}: floor");
        result.floor.push(
            floor(
                engine,
                &dir,
                Path::new("site.yml"),
                &HOSTS,
                &default,
                &production,
                false,
            )
            .await?,
        );
    }
    result.breakdown = median_breakdown(breakdowns);
    let _ = drydock::pipeline::janitor::clean(engine, Some(PROJECT), true, None).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// The project: the bundled example's base image, three hosts, one playbook, a check each.
fn project_dir() -> Result<PathBuf, String> {
    let hosts: String = HOSTS
        .iter()
        .map(|(h, g)| format!("  {h}: {{ groups: [{g}] }}\n"))
        .collect();
    bench_project(
        PROJECT,
        "",
        &format!("provision:\n  ansible:\n    playbook: site.yml\nproduction:\n  ref: main\nchecks: [checks.yaml]\ndiff:\n  paths: [/etc, /srv]\nhosts:\n{hosts}"),
        &[
            ("site.yml", SITE),
            (
                "checks.yaml",
                "- name: identity\n  file: /srv/site/host.conf\n- name: web config\n  hosts: [webservers]\n  file: /etc/web.conf\n",
            ),
        ],
    )
}

/// A benchmark project in a new git repository under the temporary folder: the bundled
/// example's base image (and Dockerfile, unless `files` has one), `image_keys` under
/// `images.default`, `rest` after it, and `files`.
pub fn bench_project(
    name: &str,
    image_keys: &str,
    rest: &str,
    files: &[(&str, &str)],
) -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let bundled = config::load_project(&config::discover(&cwd).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let dockerfile =
        std::fs::read_to_string(bundled.root.join(&bundled.platforms[0].image.dockerfile))
            .map_err(|e| e.to_string())?;
    let base =
        std::fs::read_to_string(bundled.root.join("drydock.yaml")).map_err(|e| e.to_string())?;
    let base_block: String = base
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("base:"))
        .take_while(|l| !l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = std::env::temp_dir().join(format!("drydock-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |path: &str, text: &str| -> Result<(), String> {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(&dir)).map_err(|e| e.to_string())?;
        std::fs::write(full, text).map_err(|e| e.to_string())
    };
    write(
        "drydock.yaml",
        &format!(
            "name: {name}\nimages:\n  default:\n    dockerfile: images/default/Dockerfile\n{image_keys}{base_block}{rest}"
        ),
    )?;
    write("images/default/Dockerfile", &dockerfile)?;
    for (path, text) in files {
        write(path, text)?;
    }
    commit_all(&dir)?;
    Ok(dir)
}

/// ansible-playbook alone (`playbook`, run from `dir`): the hosts' fresh containers and upgrade
/// containers, started (and booted, with `systemd`) before the clock starts, provisioned at
/// once (one run each), then the fresh ones again.
pub async fn floor(
    engine: &Engine,
    dir: &Path,
    playbook: &Path,
    hosts: &[(&str, &str)],
    default: &str,
    production: &[String],
    systemd: bool,
) -> Result<Duration, String> {
    let mut fresh = Vec::new();
    let mut upgrade = Vec::new();
    for (i, _) in hosts.iter().enumerate() {
        fresh.push(start(engine, default, systemd).await?);
        let image = production.get(i).cloned().unwrap_or_default();
        upgrade.push(start(engine, &image, systemd).await?);
    }
    let inventory = |ids: &[String]| -> String {
        let mut out = String::new();
        for ((host, group), id) in hosts.iter().zip(ids) {
            out.push_str(&format!("[{group}]\n{host} ansible_host={id}\n"));
        }
        out
    };
    let inventories = tempfile::tempdir().map_err(|e| e.to_string())?;
    let fresh_inventory = inventories.path().join("fresh.ini");
    let upgrade_inventory = inventories.path().join("upgrade.ini");
    std::fs::write(&fresh_inventory, inventory(&fresh)).map_err(|e| e.to_string())?;
    std::fs::write(&upgrade_inventory, inventory(&upgrade)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let playbook_run = |inventory: PathBuf| async move {
        let status = Command::new("ansible-playbook")
            .current_dir(dir)
            .arg("-i")
            .arg(&inventory)
            .args(["-c", "community.docker.docker"])
            .arg(playbook)
            .env("ANSIBLE_PIPELINING", "1")
            .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|e| e.to_string())?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("ansible-playbook failed with {}", inventory.display()))
    };
    let fresh_path = async {
        playbook_run(fresh_inventory.clone()).await?;
        playbook_run(fresh_inventory.clone()).await
    };
    let outcome = tokio::try_join!(fresh_path, playbook_run(upgrade_inventory.clone()));
    let elapsed = started.elapsed();
    for id in fresh.iter().chain(&upgrade) {
        let _ = engine.remove_container(id).await;
    }
    outcome.map(|_| elapsed)
}
