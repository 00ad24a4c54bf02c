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
/// processes (`sleep`), closed ports; and, for the mixed benchmark, files with digests and
/// matchers, services, names, mounts, kernel parameters, interfaces, commands and
/// unreachable addresses.
#[derive(Default)]
pub struct Mix {
    pub files: usize,
    pub packages: usize,
    pub users: usize,
    pub groups: usize,
    pub processes: usize,
    pub ports: usize,
    pub digests: usize,
    pub services: usize,
    pub names: usize,
    pub mounts: usize,
    pub kernel_params: usize,
    pub interfaces: usize,
    pub commands: usize,
    pub addrs: usize,
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
    for i in 0..mix.digests {
        y.push_str(&format!("- name: digest {i}\n  file: /srv/checks/f{i:03}\n  filetype: file\n  size: {{ gt: 0 }}\n  md5: 401b30e3b8b5d629635a5c613cdb7919\n  contains: [\"/^x$/\", \"!/y/\"]\n"));
    }
    for i in 0..mix.services {
        y.push_str(&format!(
            "- name: service {i}\n  service: absent{i}\n  running: false\n"
        ));
    }
    for i in 0..mix.names {
        y.push_str(&format!(
            "- name: name {i}\n  dns: localhost\n  addrs: {{ any: [127.0.0.1, \"::1\"] }}\n"
        ));
    }
    const MOUNTS: &[(&str, &str)] = &[
        ("/proc", "proc"),
        ("/dev/shm", "tmpfs"),
        ("/etc/hosts", "/./"),
        ("/sys", "sysfs"),
    ];
    for i in 0..mix.mounts {
        let (path, fs) = MOUNTS[i % MOUNTS.len()];
        y.push_str(&format!(
            "- name: mount {i}\n  mount: {path}\n  filesystem: {fs:?}\n"
        ));
    }
    const PARAMS: &[(&str, &str)] = &[
        ("kernel.ostype", "Linux"),
        ("kernel.pid_max", "{ gt: 0 }"),
        ("net.ipv4.tcp_rmem", "/^[0-9]+ /"),
        ("kernel.osrelease", "/./"),
    ];
    for i in 0..mix.kernel_params {
        let (key, value) = PARAMS[i % PARAMS.len()];
        y.push_str(&format!(
            "- name: kernel param {i}\n  kernel_param: {key}\n  value: {value}\n"
        ));
    }
    for i in 0..mix.interfaces {
        let name = if i % 2 == 0 { "lo" } else { "eth0" };
        y.push_str(&format!(
            "- name: interface {i}\n  interface: {name}\n  mtu: {{ ge: 576 }}\n"
        ));
    }
    for i in 0..mix.commands {
        y.push_str(&format!(
            "- name: command {i}\n  command: test -d /etc\n  exit_status: {{ lt: 1 }}\n"
        ));
    }
    for i in 0..mix.addrs {
        y.push_str(&format!(
            "- name: addr {i}\n  addr: tcp://127.0.0.1:{}\n  reachable: false\n  timeout: 2s\n",
            20000 + i
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

/// The 500 declarative checks of the classic benchmark.
pub const DECLARATIVE: Mix = Mix {
    files: 100,
    packages: 100,
    users: 100,
    groups: 100,
    processes: 50,
    ports: 50,
    digests: 0,
    services: 0,
    names: 0,
    mounts: 0,
    kernel_params: 0,
    interfaces: 0,
    commands: 0,
    addrs: 0,
};

/// 500 checks of every kind a slim image can answer (`http` needs a client and a server in it).
pub const MIXED: Mix = Mix {
    files: 60,
    packages: 60,
    users: 40,
    groups: 40,
    processes: 30,
    ports: 30,
    digests: 20,
    services: 10,
    names: 20,
    mounts: 40,
    kernel_params: 107,
    interfaces: 40,
    commands: 2,
    addrs: 1,
};

/// Runs the check benchmark `rounds` times on `image` with the checks of `mix`.
pub async fn checks(
    engine: &Engine,
    image: &str,
    rounds: usize,
    mix: &Mix,
) -> Result<ChecksResult, String> {
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
        let yaml = checks_yaml(mix, &words(&packages.stdout), &words(&users.stdout), &words(&groups.stdout));
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
