//! What drydock owns on the engine: only what its runs created. A container someone starts
//! from a drydock image survives every sweep; production images are server images; two runs
//! that share an engine, a second and a pid never take each other's containers.

use std::process::Command;

use crate::fixture::{containers_of, networks_of, Project};

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker CLI");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn exists(container: &str) -> bool {
    docker(&["inspect", "--format", "{{.Id}}", container]).0
}

/// Removes the containers a test started itself, however it ends.
struct Started(Vec<String>);

impl Drop for Started {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker(&["rm", "-f", "-v", name]);
        }
    }
}

fn project(name: &str) -> Project {
    Project::debian(
        name,
        "  shell:\n    script: p.sh",
        "- name: app config\n  file: /etc/app.conf\n  contains: [\"port=80\"]\n",
    )
    .file("p.sh", "echo port=80 > /etc/app.conf\n")
    .commit("production")
}

#[test]
fn a_container_started_from_a_production_image_survives_run_and_clean() {
    let project = project("it-owned");
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let production = run.json()["images"]["production"]
        .as_str()
        .unwrap()
        .to_string();

    // A server image: no run labels passed on, its own command, not drydock's keep-alive.
    let (ok, labels) = docker(&[
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &production,
    ]);
    assert!(ok, "{labels}");
    let labels: serde_json::Value = serde_json::from_str(labels.trim()).unwrap();
    assert_eq!(labels["io.drydock.project"], "it-owned");
    for key in [
        "io.drydock.run",
        "io.drydock.pid",
        "io.drydock.host",
        "io.drydock.process",
    ] {
        assert!(
            labels[key].as_str().unwrap_or("").is_empty(),
            "{key} passed on: {labels:#}"
        );
    }
    let (ok, said) = docker(&["run", "--rm", &production, "echo", "hi"]);
    assert!(ok, "{said}");
    assert_eq!(said, "hi\n");

    // A person looks around in production, with a volume of their notes.
    let mine = format!("it-owned-person-{}", std::process::id());
    let started = Started(vec![mine.clone()]);
    let (ok, out) = docker(&[
        "run",
        "-d",
        "--name",
        &mine,
        "-v",
        "/notes",
        &production,
        "sleep",
        "600",
    ]);
    assert!(ok, "{out}");
    // And a container from an image an older drydock committed with its run labels baked in,
    // even under a drydock-like name: the labels are the image's, not the container's.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let old = crate::fixture::dockerfile_image(
        "it-owned",
        "drydock/it-owned:old-production",
        &format!("FROM {production}\nLABEL io.drydock.run=64f0c0de0001 io.drydock.pid=999999 io.drydock.host={hostname}\n"),
    );
    let lookalike = "drydock-it-owned-64f0c0de0001-mine".to_string();
    let started = Started([started.0.clone(), vec![lookalike.clone()]].concat());
    let (ok, out) = docker(&["run", "-d", "--name", &lookalike, &old, "sleep", "600"]);
    assert!(ok, "{out}");

    project.drydock(&["run"]).expect_code(0);
    assert!(exists(&mine), "drydock run removed a person's container");
    assert!(
        exists(&lookalike),
        "drydock run removed a person's container"
    );
    let clean = project.drydock(&["clean", "--images"]);
    clean.expect_code(0);
    assert!(exists(&mine), "drydock clean removed a person's container");
    assert!(
        exists(&lookalike),
        "drydock clean removed a person's container"
    );
    // The images those containers use are left, and said.
    assert!(
        clean.stdout.contains(&format!("left {production}:")),
        "{}",
        clean.stdout
    );
    drop(started);
    assert!(containers_of("it-owned").is_empty());
    assert!(networks_of("it-owned").is_empty());
}

#[test]
fn two_runs_with_the_same_pid_in_the_same_second_both_pass_and_leave_nothing() {
    let unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .output()
        .expect("unshare (util-linux)");
    assert!(
        unshare.status.success(),
        "this test needs `unshare --pid` (root, util-linux)"
    );
    let project = project("it-twins");
    // Warm the images, so both runs reach their containers at the same moment.
    project.drydock(&["run"]).expect_code(0);
    let spawn = || {
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(env!("CARGO_BIN_EXE_drydock"))
            .args(["run", "--format", "json"])
            .current_dir(project.path())
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start drydock in its own PID namespace")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("first run"),
        b.wait_with_output().expect("second run"),
    );
    let mut ids = Vec::new();
    for out in [&a, &b] {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(
            out.status.code(),
            Some(0),
            "{report:#}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ids.push(report["run_id"].as_str().unwrap().to_string());
    }
    // Both ran as pid 1 of their namespace, started together: time and pid alone collide.
    assert_ne!(ids[0], ids[1]);
    assert!(containers_of("it-twins").is_empty());
    assert!(networks_of("it-twins").is_empty());
}
