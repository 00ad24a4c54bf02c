//! Fleets and blame, warm caches, interleaved rounds on the bundled example: a run that
//! upgrades from two production versions (`upgrade_from: [v1]`) against one, and a run that
//! records which task wrote which path (with the second run's `--diff`) against one that
//! does not.

use std::time::Instant;

use drydock::config;
use drydock::docker::Engine;
use drydock::pipeline::run::{run as drydock_run, RunOptions};
use drydock::report::{RunReport, Verdict};

use crate::pipeline::plan;
use crate::platforms::{write_files, WarmExample, EXAMPLE_BASE};
use crate::stats::Sample;

const PROJECT: &str = "bench-fleet";

/// What was measured.
pub struct FleetResult {
    one_ref: Sample,
    two_refs: Sample,
    no_blame: Sample,
    rounds: usize,
}

impl FleetResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        let one = self.one_ref.median().as_secs_f64();
        let two = self.two_refs.median().as_secs_f64();
        let bare = self.no_blame.median().as_secs_f64();
        vec![
            [
                format!(
                    "fleet: bundled example, upgrade from main and v1, warm ({} rounds)",
                    self.rounds
                ),
                self.two_refs.show(),
                format!("{:.2} × one ref", two / one),
                "target ≤ 1.25 × one ref".into(),
            ],
            [
                "fleet: the same, upgrade from main only (blame on)".into(),
                self.one_ref.show(),
                format!("blame costs {:+.1} %", (one / bare - 1.0) * 100.0),
                "target ≤ 3 % of a warm run".into(),
            ],
            [
                "fleet: the same, blame off (no write records, no --diff)".into(),
                self.no_blame.show(),
                "1.00".into(),
                String::new(),
            ],
        ]
    }
}

/// Runs the comparison on a throwaway project with a two-commit history.
pub async fn run(engine: &Engine, rounds: usize) -> Result<FleetResult, String> {
    let dir = project_dir()?;
    let load = |file: &str| -> Result<(config::Project, Vec<drydock::check::Check>), String> {
        let project = config::load_project(&dir.join(file)).map_err(|e| e.to_string())?;
        let checks = drydock::check::load_checks(&project).map_err(|e| e.to_string())?;
        Ok((project, checks))
    };
    let one = load("drydock.yaml")?;
    let two = load("drydock-fleet.yaml")?;
    let once = |(project, checks): &(config::Project, Vec<drydock::check::Check>), blame: bool| {
        let (project, checks) = (project.clone(), checks.clone());
        async move {
            let plan = plan(&project, &checks, &Default::default()).await?;
            let options = RunOptions {
                blame,
                ..RunOptions::new(plan)
            };
            let started = Instant::now();
            let report: RunReport = drydock_run(
                engine,
                options,
                &drydock::event::Events::silent(),
                tokio_util::sync::CancellationToken::new(),
            )
            .await
            .map_err(|e| e.to_string())?;
            if report.verdict != Verdict::Pass {
                return Err(format!(
                    "the bench run did not pass: {}",
                    drydock::report::to_json(&report)
                ));
            }
            Ok::<_, String>(started.elapsed())
        }
    };
    eprintln!("fleet: warming the images of main and v1");
    once(&two, true).await?;
    let mut result = FleetResult {
        one_ref: Sample::default(),
        two_refs: Sample::default(),
        no_blame: Sample::default(),
        rounds,
    };
    for round in 1..=rounds {
        eprintln!("fleet: round {round}/{rounds}: upgrade from main and v1");
        result.two_refs.push(once(&two, true).await?);
        eprintln!("fleet: round {round}/{rounds}: upgrade from main");
        result.one_ref.push(once(&one, true).await?);
        eprintln!("fleet: round {round}/{rounds}: upgrade from main, blame off");
        result.no_blame.push(once(&one, false).await?);
    }
    let _ = drydock::pipeline::janitor::clean(engine, Some(PROJECT), true, None).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// The bundled example at two versions: v1 (another page, an extra config file), then main.
fn project_dir() -> Result<std::path::PathBuf, String> {
    let example = WarmExample::read()?;
    let dir = std::env::temp_dir().join(format!("drydock-bench-{PROJECT}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = |extra: &str| {
        format!("name: {PROJECT}\nimages:\n  default:\n    dockerfile: images/default/Dockerfile\n{EXAMPLE_BASE}provision:\n  ansible:\n    playbook: playbooks/site.yml\nproduction:\n  ref: main\n{extra}checks: [tests/*.yaml]\ndiff:\n  paths: [/etc, /var/www, /usr/local, /opt, /srv]\n  allow: [/etc/nginx/conf.d/v1.conf]\n")
    };
    let v1 = example.playbook.replace("Hello world", "Hello old world")
        + "\n- name: v1 only\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: A v1 config\n      ansible.builtin.copy: { dest: /etc/nginx/conf.d/v1.conf, content: \"# v1\\n\", mode: \"0644\" }\n";
    write_files(
        &dir,
        &[
            ("drydock.yaml", &config("")),
            ("drydock-fleet.yaml", &config("  upgrade_from: [v1]\n")),
            ("images/default/Dockerfile", &example.dockerfile),
            ("playbooks/site.yml", &v1),
            ("tests/web.yaml", &example.checks),
        ],
    )?;
    crate::soak::commit_all(&dir)?;
    crate::soak::git(&dir, &["tag", "v1"])?;
    write_files(&dir, &[("playbooks/site.yml", &example.playbook)])?;
    crate::soak::commit(&dir, "main")?;
    Ok(dir)
}
