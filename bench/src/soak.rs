//! Many consecutive runs of a small project: nothing may accumulate in the engine.

use std::time::Instant;

use drydock::config;
use drydock::docker::{Engine, Inventory};

/// What the soak found.
pub struct SoakResult {
    /// Runs made.
    pub runs: usize,
    /// Engine counts before and after.
    pub before: Inventory,
    /// Engine counts after.
    pub after: Inventory,
    /// Tags of the project's images after the runs.
    pub project_images: usize,
    /// Total wall time.
    pub seconds: f64,
}

const PROJECT: &str = "drydock-soak";

/// Runs git in `dir`; an error when it fails.
pub fn git(dir: &std::path::Path, args: &[&str]) -> Result<(), String> {
    let status = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("git {args:?} failed"))
}

/// Makes `dir` a git repository on `main` with everything in it committed.
pub fn commit_all(dir: &std::path::Path) -> Result<(), String> {
    git(dir, &["init", "-q", "-b", "main"])?;
    commit(dir, "bench")
}

/// Commits everything in the repository `dir`.
pub fn commit(dir: &std::path::Path, message: &str) -> Result<(), String> {
    git(dir, &["add", "-A"])?;
    git(
        dir,
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-qm",
            message,
        ],
    )
}

/// Runs a shell-provisioned project `runs` times, a new commit every tenth run.
pub async fn soak(engine: &Engine, runs: usize) -> Result<SoakResult, String> {
    let dir = std::env::temp_dir().join(format!("drydock-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("images/default")).map_err(|e| e.to_string())?;
    let write =
        |path: &str, text: &str| std::fs::write(dir.join(path), text).map_err(|e| e.to_string());
    write(
        "drydock.yaml",
        &format!("name: {PROJECT}\nimages:\n  default:\n    dockerfile: images/default/Dockerfile\nprovision:\n  shell:\n    script: p.sh\nchecks: [c.yaml]\ndiff:\n  paths: [/etc]\n"),
    )?;
    write("images/default/Dockerfile", "FROM debian:bookworm-slim\n")?;
    write("c.yaml", "- name: config\n  file: /etc/app.conf\n")?;
    write("p.sh", "echo v0 > /etc/app.conf\n")?;
    git(&dir, &["init", "-q", "-b", "main"])?;
    let commit = |n: usize| -> Result<(), String> {
        git(&dir, &["add", "-A"])?;
        git(
            &dir,
            &[
                "-c",
                "user.name=s",
                "-c",
                "user.email=s@s",
                "commit",
                "-q",
                "-m",
                &format!("v{n}"),
            ],
        )
    };
    commit(0)?;
    let project = config::load_project(&dir.join("drydock.yaml")).map_err(|e| e.to_string())?;
    let checks = drydock::check::load_checks(&project).map_err(|e| e.to_string())?;
    let before = engine.inventory().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    for i in 1..=runs {
        if i % 10 == 0 {
            write("p.sh", &format!("echo v{i} > /etc/app.conf\n"))?;
            commit(i)?;
        }
        crate::pipeline::run_drydock(engine, &project, &checks)
            .await
            .map_err(|e| format!("run {i}: {e}"))?;
        eprintln!("soak: run {i}/{runs} passed");
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = engine.inventory().await.map_err(|e| e.to_string())?;
    let project_images = engine
        .images_with_label(drydock::docker::LABEL_PROJECT, PROJECT)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|(_, tags)| tags.len())
        .sum();
    drydock::pipeline::janitor::clean(engine, Some(PROJECT), true, None)
        .await
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SoakResult {
        runs,
        before,
        after,
        project_images,
        seconds,
    })
}
