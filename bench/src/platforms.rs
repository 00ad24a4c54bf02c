//! Platforms and shards: the bundled example on two platforms (bookworm, trixie) against one,
//! warm caches (images, and nginx's packages in the default images), in interleaved rounds; `report merge` of 100 shard reports; planning a
//! 50-host × 3-platform project.

use std::path::{Path, PathBuf};
use std::time::Instant;

use drydock::config;
use drydock::docker::Engine;
use drydock::plan::{Plan, UnitChoice};
use drydock::report::{merge, RunReport};

use crate::pipeline::{plan, run_drydock_plan};
use crate::soak::commit_all;
use crate::stats::Sample;

const PROJECT: &str = "bench-platforms";

/// What was measured.
pub struct PlatformsResult {
    one: Sample,
    two: Sample,
    merge: Sample,
    merge_bytes: usize,
    plan: Sample,
    plan_checks: usize,
    rounds: usize,
}

impl PlatformsResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        let one = self.one.median().as_secs_f64();
        let two = self.two.median().as_secs_f64();
        vec![
            [
                format!(
                    "platforms: bundled example on bookworm + trixie, warm ({} rounds)",
                    self.rounds
                ),
                self.two.show(),
                format!("{:.2} × one platform", two / one),
                "target ≤ 1.6 × one platform".into(),
            ],
            [
                "platforms: the same, bookworm alone (--platform bookworm)".into(),
                self.one.show(),
                "1.00 × one platform".into(),
                format!("--jobs {}", drydock::pipeline::run::default_jobs()),
            ],
            [
                "report merge: 100 shard reports (read, parse, merge, JSON + JUnit + markdown)"
                    .into(),
                format!(
                    "{:.3} s ({:.3}–{:.3})",
                    self.merge.median().as_secs_f64(),
                    self.merge.min().as_secs_f64(),
                    self.merge.max().as_secs_f64()
                ),
                format!("{:.1} MB of reports", self.merge_bytes as f64 / 1e6),
                "target ≤ 1 s".into(),
            ],
            [
                "plan: 50 hosts × 3 platforms (config, checks, plan, every placement)".into(),
                format!(
                    "{:.1} ms ({:.1}–{:.1})",
                    self.plan.median().as_secs_f64() * 1000.0,
                    self.plan.min().as_secs_f64() * 1000.0,
                    self.plan.max().as_secs_f64() * 1000.0
                ),
                format!("{} check placements", self.plan_checks),
                "target ≤ 50 ms".into(),
            ],
        ]
    }
}

/// Runs the three measurements.
pub async fn run(engine: &Engine, rounds: usize) -> Result<PlatformsResult, String> {
    let dir = project_dir()?;
    let project = config::load_project(&dir.join("drydock.yaml")).map_err(|e| e.to_string())?;
    let checks = drydock::check::load_checks(&project).map_err(|e| e.to_string())?;
    let choose = |platforms: &[&str]| UnitChoice {
        platforms: platforms.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    };
    eprintln!("platforms: warming both platforms' images (bootstraps trixie's base once)");
    let warm = run_drydock_plan(engine, plan(&project, &checks, &choose(&[])).await?).await?;
    let mut result = PlatformsResult {
        one: Sample::default(),
        two: Sample::default(),
        merge: Sample::default(),
        merge_bytes: 0,
        plan: Sample::default(),
        plan_checks: 0,
        rounds,
    };
    for round in 1..=rounds {
        eprintln!("platforms: round {round}/{rounds}: bookworm + trixie");
        let started = Instant::now();
        run_drydock_plan(engine, plan(&project, &checks, &choose(&[])).await?).await?;
        result.two.push(started.elapsed());
        eprintln!("platforms: round {round}/{rounds}: bookworm alone");
        let started = Instant::now();
        run_drydock_plan(
            engine,
            plan(&project, &checks, &choose(&["bookworm"])).await?,
        )
        .await?;
        result.one.push(started.elapsed());
    }
    let _ = drydock::pipeline::janitor::clean(engine, Some(PROJECT), true, None).await;
    let _ = std::fs::remove_dir_all(&dir);

    eprintln!("platforms: report merge of 100 shard reports");
    let shards = tempfile::tempdir().map_err(|e| e.to_string())?;
    let files = shard_reports(&warm, shards.path(), 100)?;
    result.merge_bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len() as usize).unwrap_or(0))
        .sum();
    for _ in 0..10 {
        let started = Instant::now();
        merge_files(&files)?;
        result.merge.push(started.elapsed());
    }

    eprintln!("platforms: planning 50 hosts × 3 platforms");
    let big = plan_project()?;
    for _ in 0..20 {
        let started = Instant::now();
        result.plan_checks = plan_everything(&big).await?;
        result.plan.push(started.elapsed());
    }
    let _ = std::fs::remove_dir_all(&big);
    Ok(result)
}

/// The bundled example's Dockerfile (with the package lists and nginx's packages in the
/// image, as a warm apt cache — a proxy, a mirror nearby — gives them: the mirror's speed,
/// which varies by the minute, stays out), playbook and checks.
pub struct WarmExample {
    /// The default image's Dockerfile.
    pub dockerfile: String,
    /// playbooks/site.yml.
    pub playbook: String,
    /// tests/web.yaml.
    pub checks: String,
}

/// The bundled example's base image and how to bootstrap it where no registry answers.
pub const EXAMPLE_BASE: &str = "    base:\n      image: debian:bookworm-slim\n      bootstrap: { debootstrap: { suite: bookworm, variant: minbase, include: [python3] } }\n";

impl WarmExample {
    /// Read from the bundled example in the current folder.
    pub fn read() -> Result<WarmExample, String> {
        let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
        let bundled = config::load_project(&config::discover(&cwd).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let read = |path: &str| {
            std::fs::read_to_string(bundled.root.join(path)).map_err(|e| format!("{path}: {e}"))
        };
        Ok(WarmExample {
            dockerfile: read("images/default/Dockerfile")?
                + "RUN apt-get update -qq && apt-get install -y -qq --download-only nginx >/dev/null\n",
            playbook: read("playbooks/site.yml")?,
            checks: read("tests/web.yaml")?,
        })
    }
}

/// Writes `files` under `dir` (a new folder).
pub fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<(), String> {
    for (path, text) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(dir)).map_err(|e| e.to_string())?;
        std::fs::write(full, text).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The bundled example's playbook and checks on two platforms.
fn project_dir() -> Result<PathBuf, String> {
    let example = WarmExample::read()?;
    let dir = std::env::temp_dir().join(format!("drydock-bench-{PROJECT}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let platform = |suite: &str| {
        format!("  {suite}:\n    dockerfile: images/{suite}/Dockerfile\n    base:\n      image: debian:{suite}-slim\n      bootstrap: {{ debootstrap: {{ suite: {suite}, variant: minbase, include: [python3] }} }}\n")
    };
    let config = format!(
        "name: {PROJECT}\nplatforms:\n{}{}provision:\n  ansible:\n    playbook: playbooks/site.yml\nproduction:\n  ref: main\nchecks: [tests/*.yaml]\ndiff:\n  paths: [/etc, /var/www, /usr/local, /opt, /srv]\n",
        platform("bookworm"),
        platform("trixie")
    );
    let trixie = example
        .dockerfile
        .replace("debian:bookworm-slim", "debian:trixie-slim");
    write_files(
        &dir,
        &[
            ("drydock.yaml", &config),
            ("images/bookworm/Dockerfile", &example.dockerfile),
            ("images/trixie/Dockerfile", &trixie),
            ("playbooks/site.yml", &example.playbook),
            ("tests/web.yaml", &example.checks),
        ],
    )?;
    commit_all(&dir)?;
    Ok(dir)
}

/// `count` one-unit shard reports made from `report`'s bookworm results, units p000….
fn shard_reports(report: &RunReport, dir: &Path, count: usize) -> Result<Vec<PathBuf>, String> {
    let units: Vec<String> = (0..count).map(|i| format!("p{i:03}")).collect();
    let mut one = serde_json::to_value(report).map_err(|e| e.to_string())?;
    // One unit's share: bookworm's scenarios.
    if let Some(scenarios) = one["scenarios"].as_array_mut() {
        scenarios.retain(|s| s["platform"] == "bookworm");
    }
    one["source"] = serde_json::json!({
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "dirty": false,
        "config_digest": "bench",
        "partition": null,
        "all_units": units,
    });
    let text = one.to_string();
    let mut files = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        let shard = text
            .replace("\"bookworm\"", &format!("\"{unit}\""))
            .replace("\"trixie\"", &format!("\"{unit}\""));
        let mut value: serde_json::Value =
            serde_json::from_str(&shard).map_err(|e| e.to_string())?;
        value["units"] = serde_json::json!([unit]);
        value["platforms"] = serde_json::json!([unit]);
        value["source"]["partition"] = serde_json::json!(format!("hash:{}/{count}", i + 1));
        let path = dir.join(format!("shard-{i:03}.json"));
        std::fs::write(&path, value.to_string()).map_err(|e| e.to_string())?;
        files.push(path);
    }
    Ok(files)
}

/// What `drydock report merge` does with the files, short of writing them.
fn merge_files(files: &[PathBuf]) -> Result<(), String> {
    let mut reports = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        let report: RunReport = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        reports.push((file.display().to_string(), report));
    }
    let merged = merge::merge(reports, false).map_err(|e| e.to_string())?;
    if !merged.missing_units.is_empty() {
        return Err(format!("units not merged: {:?}", merged.missing_units));
    }
    let json = drydock::report::to_json(&merged.report);
    let junit = drydock::report::junit::render(&merged.report);
    let markdown =
        drydock::report::markdown::render(&merged.report, drydock::report::markdown::LIMIT);
    std::hint::black_box((json, junit, markdown));
    Ok(())
}

/// A project of 50 hosts in 5 groups on 3 platforms, 120 checks aimed at hosts, groups and
/// platforms.
fn plan_project() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("drydock-bench-plan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |path: &str, text: &str| -> Result<(), String> {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(&dir)).map_err(|e| e.to_string())?;
        std::fs::write(full, text).map_err(|e| e.to_string())
    };
    let mut config = "name: bench-plan\nplatforms:\n".to_string();
    for suite in ["bullseye", "bookworm", "trixie"] {
        config.push_str(&format!(
            "  {suite}: {{ dockerfile: images/Dockerfile, base: {{ image: debian:{suite}-slim }} }}\n"
        ));
        write("images/Dockerfile", "FROM scratch\n")?;
    }
    config.push_str("hosts:\n");
    for i in 0..50 {
        config.push_str(&format!("  host{i:02}: {{ groups: [group{}] }}\n", i % 5));
    }
    config.push_str("provision:\n  ansible:\n    playbook: site.yml\nproduction:\n  ref: main\nchecks: [checks/*.yaml]\n");
    write("drydock.yaml", &config)?;
    write("site.yml", "- hosts: all\n  tasks: []\n")?;
    let mut checks = String::new();
    for i in 0..120 {
        checks.push_str(&format!("- name: check {i}\n  file: /etc/app{i}.conf\n"));
        match i % 4 {
            0 => checks.push_str(&format!("  hosts: [group{}]\n", i % 5)),
            1 => checks.push_str(&format!(
                "  hosts: [host{:02}]\n  platforms: [trixie]\n",
                i % 50
            )),
            2 => checks.push_str("  skip_platforms: [bullseye]\n"),
            _ => {}
        }
    }
    write("checks/app.yaml", &checks)?;
    Ok(dir)
}

/// Loads and plans the project, and places every check on every unit, scenario and host.
async fn plan_everything(dir: &Path) -> Result<usize, String> {
    let project = config::load_project(&dir.join("drydock.yaml")).map_err(|e| e.to_string())?;
    let checks = drydock::check::load_checks(&project).map_err(|e| e.to_string())?;
    let plan: Plan = plan(&project, &checks, &UnitChoice::default()).await?;
    let mut placements = 0;
    for unit in &plan.units {
        for scenario in &unit.scenarios {
            for host in &plan.hosts {
                let (runs, skipped) = plan.checks_for(unit, scenario, host);
                placements += runs.len() + skipped.len();
            }
        }
    }
    Ok(placements)
}
