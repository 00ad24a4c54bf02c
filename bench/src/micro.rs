//! Micro-benchmarks of the two engines drydock owns: check evaluation and the state diff.

use std::time::{Duration, Instant};

use drydock::docker::{ContainerSpec, Engine};
use drydock::event::{Events, Scope};
use drydock::state::diff;

use crate::stats::Sample;

/// The project label of the benchmark's containers (removed by `drydock clean --all`).
const PROJECT: &str = "drydock-bench";

/// A labelled container of the benchmark, on the engine's default network; with `systemd`,
/// booted and running.
pub async fn start(engine: &Engine, image: &str, systemd: bool) -> Result<String, String> {
    // Labelled and named as a run's containers are: one the benchmark leaves behind (a crash,
    // Ctrl-C) is swept like any dead run's.
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.get_or_init(drydock::ids::new_run_id);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let spec = ContainerSpec {
        image: image.to_string(),
        name: Some(format!("drydock-{PROJECT}-{run}-bench{n}")),
        labels: drydock::pipeline::owner::Owner::me().labels(PROJECT, run),
        hostname: None,
        network: None,
        systemd,
        cap_add: if systemd {
            vec!["SYS_ADMIN".to_string()]
        } else {
            Vec::new()
        },
    };
    let id = engine
        .run_container(&spec)
        .await
        .map_err(|e| e.to_string())?;
    if systemd {
        engine
            .wait_for_boot(&id, drydock::pipeline::session::BOOT_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(id)
}

/// Check evaluation: 500 declarative checks against one container.
pub struct ChecksResult {
    /// Wall time of one evaluation of all checks.
    pub evaluate: Sample,
    /// Number of checks.
    pub checks: usize,
    /// Wall time of one `docker exec true` through the API.
    pub exec: Sample,
}

/// How many checks of each kind: files (`/srv/checks/fNNN`), packages, users, groups,
/// processes (`sleep`), closed ports.
pub struct Mix {
    pub files: usize,
    pub packages: usize,
    pub users: usize,
    pub groups: usize,
    pub processes: usize,
    pub ports: usize,
}

/// Checks of the kinds and numbers `mix` says, naming the image's own packages, users and
/// groups.
pub fn checks_yaml(mix: &Mix, packages: &[String], users: &[String], groups: &[String]) -> String {
    let mut y = String::new();
    for i in 0..mix.files {
        y.push_str(&format!("- name: file {i}\n  file: /srv/checks/f{i:03}\n  type: file\n  mode: \"0644\"\n  owner: root\n"));
    }
    for i in 0..mix.packages {
        y.push_str(&format!(
            "- name: package {i}\n  package: {}\n",
            packages[i % packages.len()]
        ));
    }
    for i in 0..mix.users {
        y.push_str(&format!(
            "- name: user {i}\n  user: {}\n",
            users[i % users.len()]
        ));
    }
    for i in 0..mix.groups {
        y.push_str(&format!(
            "- name: group {i}\n  group: {}\n",
            groups[i % groups.len()]
        ));
    }
    for i in 0..mix.processes {
        y.push_str(&format!("- name: process {i}\n  process: sleep\n"));
    }
    for i in 0..mix.ports {
        y.push_str(&format!(
            "- name: port {i}\n  port: {}\n  listening: false\n",
            10000 + i
        ));
    }
    y
}

pub fn words(output: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(output)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Runs the check benchmark `rounds` times on `image`.
pub async fn checks(engine: &Engine, image: &str, rounds: usize) -> Result<ChecksResult, String> {
    let id = start(engine, image, false).await?;
    let result = async {
        let setup = "mkdir -p /srv/checks && for i in $(seq -w 0 99); do echo x > /srv/checks/f0$i; done; chmod 644 /srv/checks/*";
        let out = engine.exec(&id, &["/bin/sh", "-c", setup], &[], None).await.map_err(|e| e.to_string())?;
        if out.exit_code != 0 {
            return Err(format!("setup failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let packages = engine
            .exec(&id, &["/bin/sh", "-c", "dpkg-query -W -f='${Package}\\n'"], &[], None)
            .await
            .map_err(|e| e.to_string())?;
        let users = engine.exec(&id, &["/bin/sh", "-c", "cut -d: -f1 /etc/passwd"], &[], None).await.map_err(|e| e.to_string())?;
        let groups = engine.exec(&id, &["/bin/sh", "-c", "cut -d: -f1 /etc/group"], &[], None).await.map_err(|e| e.to_string())?;
        let mix = Mix { files: 100, packages: 100, users: 100, groups: 100, processes: 50, ports: 50 };
        let yaml = checks_yaml(&mix, &words(&packages.stdout), &words(&users.stdout), &words(&groups.stdout));
        let checks = drydock::check::parse_checks(std::path::Path::new("bench.yaml"), &yaml)
            .map_err(|d| format!("{} invalid checks", d.len()))?;
        let refs: Vec<&drydock::check::Check> = checks.iter().collect();
        let events = Events::silent();
        let scope = Scope::Scenario("bench".into());
        let mut evaluate = Sample::default();
        for _ in 0..rounds {
            let started = Instant::now();
            let results = drydock::check::evaluate(engine, &id, &refs, &scope, &events).await;
            evaluate.push(started.elapsed());
            let passed = results.iter().filter(|r| r.status == drydock::report::Verdict::Pass).count();
            if passed != refs.len() {
                let first = results.iter().find(|r| r.status != drydock::report::Verdict::Pass);
                return Err(format!("only {passed} of {} checks passed: {first:?}", refs.len()));
            }
        }
        let mut exec = Sample::default();
        for _ in 0..rounds.max(20) {
            let started = Instant::now();
            engine.exec(&id, &["true"], &[], None).await.map_err(|e| e.to_string())?;
            exec.push(started.elapsed());
        }
        Ok(ChecksResult {
            evaluate,
            checks: refs.len(),
            exec,
        })
    }
    .await;
    let _ = engine.remove_container(&id).await;
    result
}

/// State diff of two containers of one image.
pub struct StateResult {
    /// Wall time: both manifests (concurrently) and the comparison.
    pub diff: Sample,
    /// Paths per manifest.
    pub paths: usize,
    /// Bytes of file content streamed per container.
    pub bytes: u64,
    /// `docker export` of one container drained to nowhere.
    pub export: Sample,
    /// Peak resident memory of this process, in bytes, after all rounds.
    pub peak_rss: u64,
    /// CPU seconds drydock itself used per round (user + system).
    pub cpu: f64,
}

/// User + system CPU seconds of this process so far.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs the state benchmark `rounds` times on `image`, comparing the whole filesystem.
pub async fn state(engine: &Engine, image: &str, rounds: usize) -> Result<StateResult, String> {
    let a = start(engine, image, false).await?;
    let b = match start(engine, image, false).await {
        Ok(b) => b,
        Err(e) => {
            let _ = engine.remove_container(&a).await;
            return Err(e);
        }
    };
    let result = async {
        // The rules of a real run: default ignores and per-machine content, dated fields, and
        // each container's identity normalised.
        let roots = vec!["/".to_string()];
        let settings = drydock::config::DiffSettings {
            paths: roots.clone(),
            ..Default::default()
        };
        let ignore = drydock::pipeline::capture::rules(&settings)?;
        let allow = diff::allow_set(&[]).map_err(|e| e.to_string())?;
        let mut sample = Sample::default();
        let cpu_before = cpu_seconds();
        let mut paths = 0;
        let mut bytes = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let (left, right) = tokio::try_join!(
                drydock::pipeline::capture::manifest_of(engine, &a, &roots, ignore.clone()),
                drydock::pipeline::capture::manifest_of(engine, &b, &roots, ignore.clone()),
            )?;
            let comparison = diff::compare(&left, &right, &allow, ("a/", "b/"));
            sample.push(started.elapsed());
            if !comparison.is_empty() {
                return Err(format!(
                    "two containers of one image differ in {} paths: {:?} {:?} {:?}",
                    comparison.len(),
                    comparison.only_left,
                    comparison.only_right,
                    comparison
                        .changed
                        .iter()
                        .map(|c| (&c.path, &c.fields))
                        .collect::<Vec<_>>()
                ));
            }
            paths = left.entries.len();
            bytes = left.entries.values().map(|e| e.size).sum();
        }
        let cpu = (cpu_seconds() - cpu_before) / rounds.max(1) as f64;
        // The I/O floor: both containers exported at once and thrown away.
        let drain = |id: String| async move {
            use futures_util::StreamExt;
            let mut stream = Box::pin(engine.export(&id));
            while let Some(chunk) = stream.next().await {
                chunk.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        };
        let mut export = Sample::default();
        for _ in 0..rounds {
            let started = Instant::now();
            tokio::try_join!(drain(a.clone()), drain(b.clone()))?;
            export.push(started.elapsed());
        }
        Ok(StateResult {
            diff: sample,
            paths,
            bytes,
            export,
            peak_rss: peak_rss(),
            cpu,
        })
    }
    .await;
    let _ = engine.remove_container(&a).await;
    let _ = engine.remove_container(&b).await;
    result
}

/// VmHWM of this process.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Seconds with millisecond precision.
pub fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}
