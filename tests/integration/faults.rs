//! Bad input and broken infrastructure: located errors, the right exit codes, nothing left.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::fixture::{containers_of, drydock_command, Project};

#[test]
fn a_config_typo_exits_2_naming_file_line_and_key() {
    let project = Project::new("it-config")
        .file("drydock.yaml", "name: it-config\nimages:\n  default:\n    dockerfile: Dockerfile\nprovision:\n  ansible:\n    playbok: site.yml\nchecks: [c.yaml]\n")
        .file("Dockerfile", "FROM scratch\n")
        .file("c.yaml", "- name: x\n  package: y\n");
    let run = project.drydock(&["run"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("drydock.yaml:7:5: `provision.ansible.playbok`: unknown key `playbok` in `provision.ansible` (did you mean `playbook`?)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn a_check_file_typo_exits_2_with_its_line() {
    let project = Project::new("it-check-typo")
        .file("drydock.yaml", "name: it-check-typo\nimages:\n  default: {}\nprovision:\n  shell: { script: p.sh }\nchecks: [c.yaml]\n")
        .file("images/default/Dockerfile", "FROM scratch\n")
        .file("p.sh", "true\n")
        .file("c.yaml", "- name: ok\n  package: y\n- name: typo\n  file: /etc/x\n  contians: [a]\n");
    let run = project.drydock(&["list"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("c.yaml:5:3: `contians`: unknown key `contians` (did you mean `contains`?)"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_engine_exits_3_and_says_what_to_do() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = drydock_command()
        .current_dir(root)
        .args(["run"])
        .env("DOCKER_HOST", "unix:///nonexistent")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the Docker engine at unix:///nonexistent does not answer"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the change itself was not judged"),
        "{stderr}"
    );
}

#[test]
fn sigint_during_provisioning_exits_130_and_removes_every_container() {
    let project = Project::debian(
        "it-sigint",
        "  ansible:\n    playbook: site.yml",
        "- name: x\n  file: /etc/passwd\n",
    )
    .file("site.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Take a long time\n      ansible.builtin.command: sleep 300\n")
    .commit("production");
    // Warm the images first so the signal lands in provisioning, not in a build.
    let mut child = drydock_command()
        .current_dir(project.path())
        .args(["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = 0;
    while let Some(Ok(line)) = lines.next() {
        if line.contains("Take a long time") {
            seen += 1;
            // Both the production build and the fresh scenario are in the task when it shows twice,
            // or the production image is cached and only fresh runs it.
            if seen >= 1 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "provisioning never started");
    }
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let started = Instant::now();
    // Drain stderr so the child never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = child.wait().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cleanup took {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let rest = drain.join().unwrap_or_default().join("\n");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(
        containers_of("it-sigint").is_empty(),
        "containers left after SIGINT"
    );
}
