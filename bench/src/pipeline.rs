//! drydock against Molecule and against the provisioning floor, on the bundled example, in
//! interleaved rounds (drydock warm, floor, Molecule, drydock with a cold production image).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use drydock::config;
use drydock::docker::{Engine, LABEL_PROJECT};
use drydock::event::Events;
use drydock::pipeline::run::{run as drydock_run, RunOptions};
use drydock::report::{RunReport, Timings, Verdict};
use tokio::process::Command;

use crate::stats::Sample;

/// Everything measured.
pub struct PipelineResult {
    warm: Sample,
    cold: Sample,
    floor: Sample,
    molecule: Option<Sample>,
    molecule_steps: Vec<(String, Duration)>,
    breakdown: Timings,
    rounds: usize,
}

impl PipelineResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        let warm = self.warm.median().as_secs_f64();
        let floor = self.floor.median().as_secs_f64();
        let mut rows = vec![[
            format!("drydock run, warm caches ({} rounds)", self.rounds),
            self.warm.show(),
            format!("{:.2} × floor", warm / floor),
            "target ≤ 1.15 × floor, ≤ 0.25 × Molecule".into(),
        ]];
        rows.push([
            "drydock run, cold production image".into(),
            self.cold.show(),
            format!("{:.2} × floor", self.cold.median().as_secs_f64() / floor),
            "target ≤ 0.5 × Molecule".into(),
        ]);
        rows.push([
            "floor: ansible-playbook alone (fresh ∥ upgrade, + idempotence)".into(),
            self.floor.show(),
            "1.00 × floor".into(),
            "same playbook, same containers, no checks".into(),
        ]);
        match &self.molecule {
            Some(m) => {
                let mol = m.median().as_secs_f64();
                rows.push([
                    "Molecule: test -s default; test -s upgrade".into(),
                    m.show(),
                    format!("{:.2} × floor", mol / floor),
                    format!(
                        "drydock warm = {:.2} × Molecule, cold = {:.2} ×",
                        warm / mol,
                        self.cold.median().as_secs_f64() / mol
                    ),
                ]);
                let steps: Vec<String> = self
                    .molecule_steps
                    .iter()
                    .map(|(s, d)| format!("{s} {:.1}", d.as_secs_f64()))
                    .collect();
                if !steps.is_empty() {
                    rows.push([
                        "  Molecule steps (last round, s)".into(),
                        String::new(),
                        String::new(),
                        steps.join(", "),
                    ]);
                }
            }
            None => rows.push([
                "Molecule".into(),
                "not measured".into(),
                String::new(),
                "see stderr".into(),
            ]),
        }
        let t = &self.breakdown;
        rows.push([
            "  where drydock's warm time goes (ms, median round)".into(),
            String::new(),
            String::new(),
            format!(
                "images {}, production {}, fresh {}, upgrade {}, idempotence {}, checks {}, diff {}, cleanup {}",
                t.images, t.production, t.fresh, t.upgrade, t.idempotence, t.checks, t.diff, t.cleanup
            ),
        ]);
        rows
    }
}

/// The bundled example's production image, when present.
pub async fn largest_project_image(engine: &Engine) -> Option<String> {
    let images = engine
        .images_with_label(LABEL_PROJECT, "hello")
        .await
        .ok()?;
    images
        .into_iter()
        .flat_map(|(_, tags)| tags)
        .find(|t| t.contains(":production"))
}

/// One in-process `drydock run` that must pass.
pub async fn run_drydock(
    engine: &Engine,
    project: &config::Project,
    checks: &[drydock::check::Check],
) -> Result<RunReport, String> {
    run_drydock_plan(engine, plan(project, checks, &Default::default()).await?).await
}

/// The plan of `project` for the units `choice` takes, hosts from its inventory.
pub async fn plan(
    project: &config::Project,
    checks: &[drydock::check::Check],
    choice: &drydock::plan::UnitChoice,
) -> Result<drydock::plan::Plan, String> {
    let hosts = drydock::provision::inventory::hosts(project)
        .await
        .map_err(|e| e.to_string())?;
    drydock::plan::Plan::new(
        project.clone(),
        checks.to_vec(),
        Default::default(),
        hosts,
        choice,
    )
    .map_err(|e| e.to_string())
}

/// One in-process `drydock run` of `plan` that must pass.
pub async fn run_drydock_plan(
    engine: &Engine,
    plan: drydock::plan::Plan,
) -> Result<RunReport, String> {
    let options = RunOptions::new(plan);
    let report = drydock_run(
        engine,
        options,
        &Events::silent(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .map_err(|e| e.to_string())?;
    if report.verdict != Verdict::Pass {
        return Err(format!(
            "drydock run did not pass: {}",
            drydock::report::to_json(&report)
        ));
    }
    Ok(report)
}

/// Runs the comparison.
pub async fn run(engine: &Engine, rounds: usize) -> Result<PipelineResult, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let path = config::discover(&cwd).map_err(|e| e.to_string())?;
    let project = config::load_project(&path).map_err(|e| e.to_string())?;
    let checks = drydock::check::load_checks(&project).map_err(|e| e.to_string())?;
    eprintln!("pipeline: warming the images with one drydock run");
    let first = run_drydock(engine, &project, &checks).await?;
    let production = first.images.production.clone();
    let default = first.images.default.clone();
    let molecule = match prepare_molecule(&project.root, &project.production.git_ref).await {
        Ok(dir) => Some(dir),
        Err(e) => {
            eprintln!("pipeline: Molecule is not measured: {e}");
            None
        }
    };
    let mut result = PipelineResult {
        warm: Sample::default(),
        cold: Sample::default(),
        floor: Sample::default(),
        molecule: molecule.as_ref().map(|_| Sample::default()),
        molecule_steps: Vec::new(),
        breakdown: Timings::default(),
        rounds,
    };
    let mut breakdowns: Vec<(Duration, Timings)> = Vec::new();
    for round in 1..=rounds {
        eprintln!("pipeline: round {round}/{rounds}: drydock (warm)");
        let (elapsed, timings) = warm_round(engine, &project, &checks).await?;
        result.warm.push(elapsed);
        breakdowns.push((elapsed, timings));

        eprintln!("pipeline: round {round}/{rounds}: floor");
        result
            .floor
            .push(floor(engine, &project, &default, &production).await?);

        if let (Some(dir), Some(sample)) = (&molecule, result.molecule.as_mut()) {
            eprintln!("pipeline: round {round}/{rounds}: Molecule");
            let (elapsed, steps) = run_molecule(dir).await?;
            sample.push(elapsed);
            result.molecule_steps = steps;
        }

        eprintln!("pipeline: round {round}/{rounds}: drydock (cold production image)");
        engine
            .remove_image(&production)
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let report = run_drydock(engine, &project, &checks).await?;
        result.cold.push(started.elapsed());
        if !report.images.production_built {
            return Err("the cold round did not rebuild the production image".into());
        }
    }
    result.breakdown = median_breakdown(breakdowns);
    Ok(result)
}

/// One warm `drydock run`: its wall time and its own timings.
pub async fn warm_round(
    engine: &Engine,
    project: &config::Project,
    checks: &[drydock::check::Check],
) -> Result<(Duration, Timings), String> {
    let started = Instant::now();
    let report = run_drydock(engine, project, checks).await?;
    Ok((started.elapsed(), report.timings_ms))
}

/// The timings of the median round by wall time.
pub fn median_breakdown(mut rounds: Vec<(Duration, Timings)>) -> Timings {
    rounds.sort_by_key(|(d, _)| *d);
    rounds
        .get(rounds.len() / 2)
        .map(|(_, t)| t.clone())
        .unwrap_or_default()
}

/// The provisioning drydock cannot avoid, with nothing else: ansible-playbook on a fresh and
/// an upgrade container at once, then the fresh one again.
async fn floor(
    engine: &Engine,
    project: &config::Project,
    default: &str,
    production: &str,
) -> Result<Duration, String> {
    let config::ProvisionKind::Ansible(config::AnsibleSettings { playbook, .. }) =
        &project.provision.kind
    else {
        return Err("the floor is measured for the ansible provisioner".into());
    };
    crate::hosts::floor(
        engine,
        &project.root,
        playbook,
        &[(project.name.as_str(), "bench")],
        default,
        &[production.to_string()],
        false,
    )
    .await
}

/// Makes the throwaway venv and the Molecule project (from `bench/molecule`) once.
async fn prepare_molecule(root: &Path, git_ref: &str) -> Result<PathBuf, String> {
    let work = std::env::temp_dir().join("drydock-bench");
    let venv = work.join("venv");
    if !venv.join("bin/molecule").exists() {
        eprintln!(
            "pipeline: installing Molecule into {} (once)",
            venv.display()
        );
        run_quiet(Command::new("python3").arg("-m").arg("venv").arg(&venv)).await?;
        run_quiet(
            Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "-r"])
                .arg(root.join("bench/molecule/requirements.txt")),
        )
        .await?;
    }
    let project = work.join("project");
    let _ = std::fs::remove_dir_all(&project);
    copy_dir(&root.join("bench/molecule"), &project).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(project.join("playbooks")).map_err(|e| e.to_string())?;
    std::fs::copy(
        root.join("playbooks/site.yml"),
        project.join("playbooks/site.yml"),
    )
    .map_err(|e| e.to_string())?;
    let production = Command::new("git")
        .current_dir(root)
        .args(["show", &format!("{git_ref}:playbooks/site.yml")])
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !production.status.success() {
        return Err(format!("git show {git_ref}:playbooks/site.yml failed"));
    }
    std::fs::write(project.join("playbooks/production.yml"), production.stdout)
        .map_err(|e| e.to_string())?;
    Ok(project)
}

async fn run_quiet(command: &mut Command) -> Result<(), String> {
    let out = command.output().await.map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .to_string())
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// `molecule test -s default` then `-s upgrade`, timed; returns the wall time and the steps of
/// the last scenario pair.
async fn run_molecule(project: &Path) -> Result<(Duration, Vec<(String, Duration)>), String> {
    let work = project.parent().unwrap_or(project).to_path_buf();
    let venv_bin = work.join("venv/bin");
    let home = work.join("home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let mut steps = Vec::new();
    for scenario in ["default", "upgrade"] {
        let mut child = Command::new(venv_bin.join("molecule"))
            .current_dir(project)
            .args(["test", "-s", scenario])
            .env("PATH", &path)
            .env("HOME", &home)
            .env("ANSIBLE_HOME", home.join(".ansible"))
            .env("PY_COLORS", "0")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("NO_COLOR", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start molecule: {e}"))?;
        let scenario_started = Instant::now();
        let mut lines: Vec<(Duration, String)> = Vec::new();
        drydock::process::for_each_line(&mut child, |line| {
            lines.push((scenario_started.elapsed(), line));
        })
        .await;
        let status = child.wait().await.map_err(|e| e.to_string())?;
        let end = scenario_started.elapsed();
        if !status.success() {
            let tail: Vec<&str> = lines
                .iter()
                .rev()
                .take(15)
                .map(|(_, l)| l.as_str())
                .collect();
            return Err(format!(
                "molecule test -s {scenario} failed:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        for (step, d) in molecule_steps(&lines, end) {
            steps.push((format!("{scenario}.{step}"), d));
        }
    }
    Ok((started.elapsed(), steps))
}

/// Per-step durations from Molecule's `[scenario > step] Executing` lines: a step lasts until
/// the next step starts (the last one until the end).
pub fn molecule_steps(lines: &[(Duration, String)], end: Duration) -> Vec<(String, Duration)> {
    let starts: Vec<(String, Duration)> = lines
        .iter()
        .filter_map(|(t, line)| {
            let inside = line.split_once('[')?.1;
            let (head, rest) = inside.split_once(']')?;
            if !rest.trim_start().starts_with("Executing") {
                return None;
            }
            let step = head.split_once('>')?.1.trim();
            (!step.is_empty() && step.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .then(|| (step.to_string(), *t))
        })
        .collect();
    let mut out: Vec<(String, Duration)> = Vec::new();
    for (i, (step, t)) in starts.iter().enumerate() {
        let until = starts.get(i + 1).map(|(_, t)| *t).unwrap_or(end);
        let duration = until.saturating_sub(*t);
        match out.iter_mut().find(|(s, _)| s == step) {
            Some((_, total)) => *total += duration,
            None => out.push((step.clone(), duration)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_molecule_steps_and_sums_repeated_ones() {
        let s = Duration::from_secs;
        let lines = vec![
            (s(1), "INFO     [default > destroy] Executing".to_string()),
            (s(3), "INFO     [default > create] Executing".to_string()),
            (s(12), "PLAY [Create] ****".to_string()),
            (s(13), "INFO     [default > converge] Executing".to_string()),
            (
                s(24),
                "INFO     [default > idempotence] Executing".to_string(),
            ),
            (s(31), "INFO     [default > destroy] Executing".to_string()),
            (
                s(33),
                "TASK [Wait for instance(s) deletion to complete] ***".to_string(),
            ),
        ];
        let steps = molecule_steps(&lines, s(39));
        assert_eq!(
            steps,
            vec![
                ("destroy".to_string(), s(2 + 8)),
                ("create".to_string(), s(10)),
                ("converge".to_string(), s(11)),
                ("idempotence".to_string(), s(7)),
            ]
        );
    }

    #[test]
    fn drydock_json_timings_carry_every_stage() {
        let timings = Timings {
            images: 1,
            production: 2,
            fresh: 3,
            upgrade: 4,
            idempotence: 5,
            reboot: 9,
            checks: 6,
            diff: 7,
            cleanup: 8,
        };
        let json = serde_json::to_value(&timings).unwrap();
        for (key, want) in [
            ("images", 1),
            ("production", 2),
            ("fresh", 3),
            ("upgrade", 4),
            ("idempotence", 5),
            ("checks", 6),
            ("diff", 7),
            ("cleanup", 8),
            ("reboot", 9),
        ] {
            assert_eq!(json[key], want, "{key}");
        }
    }
}
