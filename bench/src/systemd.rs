//! Real servers: what booting systemd costs per container, a warm run of a systemd project
//! against its floor, and what `provision.ansible.requirements` costs once cached.

use std::path::Path;
use std::time::{Duration, Instant};

use drydock::config;
use drydock::docker::Engine;
use drydock::event::{Events, Scope};
use drydock::provision::ansible::requirements;
use drydock::provision::Output;
use drydock::report::Timings;
use drydock::secret::Secrets;

use crate::hosts::{bench_project, floor};
use crate::micro::start;
use crate::pipeline::{median_breakdown, run_drydock, warm_round};
use crate::soak::commit_all;
use crate::stats::Sample;

const PROJECT: &str = "bench-systemd";

const DOCKERFILE: &str = "FROM debian:bookworm-slim\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv nginx-light >/dev/null && rm -rf /var/lib/apt/lists/*\n";

const SITE: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: App config
      copy: { dest: /etc/myapp.env, content: "PORT=8080\n" }
      notify: restart myapp
    - name: App unit
      copy:
        dest: /etc/systemd/system/myapp.service
        content: |
          [Unit]
          Description=my app
          [Service]
          EnvironmentFile=/etc/myapp.env
          ExecStart=/usr/bin/python3 -m http.server ${PORT} --directory /srv
          [Install]
          WantedBy=multi-user.target
    - name: App runs and starts at boot
      systemd: { name: myapp, state: started, enabled: true, daemon_reload: true }
    - name: Site
      copy: { dest: /var/www/html/index.html, content: "hello\n" }
  handlers:
    - name: restart myapp
      systemd: { name: myapp, state: restarted }
"#;

const CHECKS: &str = "- name: nginx\n  service: nginx\n  running: true\n  enabled: true\n- name: app\n  service: myapp\n  running: true\n  enabled: true\n- name: app port\n  port: 8080\n- name: site\n  file: /var/www/html/index.html\n  contains: [hello]\n";

/// What was measured.
pub struct SystemdResult {
    boot: Sample,
    plain: Sample,
    warm: Sample,
    floor: Sample,
    breakdown: Timings,
    rounds: usize,
}

impl SystemdResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        let added = self.boot.median().as_secs_f64() - self.plain.median().as_secs_f64();
        let warm = self.warm.median().as_secs_f64();
        let floor = self.floor.median().as_secs_f64();
        let t = &self.breakdown;
        vec![
            [
                "systemd: start + boot of one container".into(),
                self.boot.show(),
                format!("boot adds {added:.2} s per container"),
                format!(
                    "target ≤ 2 s; the same image started with a sleeping shell: {}",
                    self.plain.show()
                ),
            ],
            [
                format!(
                    "systemd project: drydock run, warm caches ({} rounds)",
                    self.rounds
                ),
                self.warm.show(),
                format!("{:.2} × floor", warm / floor),
                format!(
                    "target ≤ 1.2 × floor; fresh {} ms, upgrade {}, idempotence {}, checks {}, diff {}, cleanup {}",
                    t.fresh, t.upgrade, t.idempotence, t.checks, t.diff, t.cleanup
                ),
            ],
            [
                "systemd project: floor (booted containers, ansible-playbook fresh ∥ upgrade, + idempotence)"
                    .into(),
                self.floor.show(),
                "1.00 × floor".into(),
                "same playbook, same containers, booted before the clock starts".into(),
            ],
        ]
    }
}

/// Boot cost, then warm drydock rounds interleaved with the floor.
pub async fn run(engine: &Engine, rounds: usize) -> Result<SystemdResult, String> {
    let dir = bench_project(
        PROJECT,
        "    init: systemd\n",
        "provision:\n  ansible:\n    playbook: site.yml\nproduction:\n  ref: main\nchecks: [checks.yaml]\n",
        &[
            ("images/default/Dockerfile", DOCKERFILE),
            ("site.yml", SITE),
            ("checks.yaml", CHECKS),
        ],
    )?;
    let project = config::load_project(&dir.join("drydock.yaml")).map_err(|e| e.to_string())?;
    let checks = drydock::check::load_checks(&project).map_err(|e| e.to_string())?;
    eprintln!("systemd: warming the images with one drydock run");
    let first = run_drydock(engine, &project, &checks).await?;
    let default = first.images.default.clone();
    let production = vec![first.images.production.clone()];
    let mut result = SystemdResult {
        boot: Sample::default(),
        plain: Sample::default(),
        warm: Sample::default(),
        floor: Sample::default(),
        breakdown: Timings::default(),
        rounds,
    };
    for round in 1..=rounds.max(5) {
        eprintln!("systemd: boot {round}");
        for systemd in [false, true] {
            let started = Instant::now();
            let id = start(engine, &default, systemd).await?;
            let elapsed = started.elapsed();
            let _ = engine.remove_container(&id).await;
            if systemd {
                result.boot.push(elapsed);
            } else {
                result.plain.push(elapsed);
            }
        }
    }
    let mut breakdowns = Vec::new();
    for round in 1..=rounds {
        eprintln!("systemd: round {round}/{rounds}: drydock (warm)");
        let (elapsed, timings) = warm_round(engine, &project, &checks).await?;
        result.warm.push(elapsed);
        breakdowns.push((elapsed, timings));
        eprintln!("systemd: round {round}/{rounds}: floor");
        result.floor.push(
            floor(
                engine,
                &dir,
                Path::new("site.yml"),
                &[(PROJECT, "all_hosts")],
                &default,
                &production,
                true,
            )
            .await?,
        );
    }
    result.breakdown = median_breakdown(breakdowns);
    let _ = drydock::pipeline::janitor::clean(engine, Some(PROJECT), true, None).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// The requirements cache: one install, then calls that find the key in the cache.
pub struct RequirementsResult {
    install: Duration,
    cached: Sample,
}

impl RequirementsResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        vec![[
            "requirements: a role from a local git repository, cached".into(),
            format!(
                "{:.2} ms ({:.2}–{:.2})",
                self.cached.median().as_secs_f64() * 1000.0,
                self.cached.min().as_secs_f64() * 1000.0,
                self.cached.max().as_secs_f64() * 1000.0
            ),
            format!(
                "first install {:.2} s, then from the cache",
                self.install.as_secs_f64()
            ),
            "target: a cached run spends < 0.2 s on them".into(),
        ]]
    }
}

/// Installs a requirements file into a new cache, then asks again `rounds` times.
pub async fn requirements(rounds: usize) -> Result<RequirementsResult, String> {
    let dir = std::env::temp_dir().join(format!("drydock-bench-req-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let role = dir.join("role");
    std::fs::create_dir_all(role.join("tasks")).map_err(|e| e.to_string())?;
    std::fs::write(
        role.join("tasks/main.yml"),
        "- name: hello\n  debug: { msg: hi }\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(role.join("meta")).map_err(|e| e.to_string())?;
    std::fs::write(
        role.join("meta/main.yml"),
        "galaxy_info: { author: b, description: b, license: MIT, min_ansible_version: '2.14', platforms: [] }\ndependencies: []\n",
    )
    .map_err(|e| e.to_string())?;
    commit_all(&role)?;
    std::fs::write(
        dir.join("requirements.yml"),
        format!(
            "roles:\n  - name: hello\n    src: git+file://{}\n    version: main\n",
            role.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let events = Events::silent();
    let scope = Scope::Scenario("fresh".into());
    let secrets = Secrets::default();
    let cache = dir.join("cache");
    let once = || async {
        let output = Output::new(&events, &scope, &secrets);
        let started = Instant::now();
        let installed =
            requirements::ensure_in(&cache, &dir, Path::new("requirements.yml"), &output)
                .await
                .map_err(|f| f.message)?
                .ok_or("the requirements file was not found")?;
        Ok::<_, String>((started.elapsed(), installed.installed_now))
    };
    let (install, installed_now) = once().await?;
    if !installed_now {
        return Err("the first call did not install".into());
    }
    let mut cached = Sample::default();
    for _ in 0..rounds.max(5) {
        let (elapsed, installed_now) = once().await?;
        if installed_now {
            return Err("a cached call installed again".into());
        }
        cached.push(elapsed);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(RequirementsResult { install, cached })
}
