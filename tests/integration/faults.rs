//! Bad input and broken infrastructure: located errors, the right exit codes, nothing left.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStderr, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::{containers_of, drydock_command, networks_of, Project};

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

/// Starts drydock in `project` and reads its progress until `needle` has shown `times` times
/// (within ten minutes); returns the child and the rest of its stderr.
fn spawn_until(
    project: &Project,
    args: &[&str],
    stdout: Stdio,
    needle: &str,
    times: usize,
) -> (Child, Lines<BufReader<ChildStderr>>) {
    let mut child = drydock_command()
        .current_dir(project.path())
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = 0;
    while seen < times {
        match lines.next() {
            Some(Ok(line)) if line.contains(needle) => seen += 1,
            Some(Ok(_)) => assert!(Instant::now() < deadline, "`{needle}` never showed"),
            _ => panic!("drydock ended before `{needle}` showed {times} time(s)"),
        }
    }
    (child, lines)
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
    // The first time the task shows, one scenario (or the production build) is inside it.
    let (mut child, lines) = spawn_until(&project, &["run"], Stdio::null(), "Take a long time", 1);
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
    assert!(
        networks_of("it-sigint").is_empty(),
        "networks left after SIGINT"
    );
}

#[test]
fn sigint_during_a_multi_host_run_leaves_no_container_or_network() {
    let project = Project::debian(
        "it-sigint-hosts",
        "  ansible:\n    playbook: site.yml",
        "- name: x\n  file: /etc/passwd\n",
    )
    .file("site.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Take a long time\n      ansible.builtin.command: sleep 300\n")
    .append("drydock.yaml", "hosts:\n  web: { groups: [webservers] }\n  db: { groups: [dbservers] }\n  cache: {}\n")
    .commit("production");
    let (mut child, lines) = spawn_until(&project, &["run"], Stdio::null(), "Take a long time", 1);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        containers_of("it-sigint-hosts").len() >= 3,
        "every host of a scenario runs at once"
    );
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    drain.join().unwrap_or_default();
    assert!(
        containers_of("it-sigint-hosts").is_empty(),
        "containers left"
    );
    assert!(networks_of("it-sigint-hosts").is_empty(), "networks left");
}

const PLAYBOOK_HEAD: &str = "- name: fixture\n  hosts: all\n  gather_facts: false\n  tasks:\n";
const WRITE_TASK: &str = "    - name: Write the config\n      ansible.builtin.copy: { dest: /etc/app.conf, content: \"port=80\\n\" }\n";
const APP_CHECK: &str = "- name: config\n  file: /etc/app.conf\n";

#[test]
fn an_unreachable_package_mirror_is_an_infrastructure_error_retried_then_exit_3() {
    let dead_mirror = "    - name: Use the internal mirror\n      ansible.builtin.copy: { dest: /etc/apt/sources.list, content: \"deb http://127.0.0.1:9/debian bookworm main\\n\" }\n    - name: Install curl\n      ansible.builtin.apt: { name: curl, update_cache: true }\n";
    let project = Project::debian("it-mirror", "  ansible:\n    playbook: site.yml", APP_CHECK)
        .file("site.yml", &format!("{PLAYBOOK_HEAD}{WRITE_TASK}"))
        .commit("production")
        .file(
            "site.yml",
            &format!("{PLAYBOOK_HEAD}{dead_mirror}{WRITE_TASK}"),
        );
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(3);
    let json = run.json();
    assert_eq!(json["verdict"], "error");
    assert_eq!(json["error"]["part"], "package mirror");
    for name in ["fresh", "upgrade"] {
        let s = run.scenario(name);
        assert_eq!(s["status"], "error", "{s:#}");
        assert_eq!(s["attempts"], 2, "retried once by default");
        assert_eq!(s["provision"]["infrastructure"], "package mirror");
        let message = s["message"].as_str().unwrap();
        assert!(
            message.contains("Could not connect to 127.0.0.1:9"),
            "{message}"
        );
        assert!(message.contains("the change was not judged"), "{message}");
    }
    assert!(containers_of("it-mirror").is_empty());
}

#[test]
fn a_real_package_failure_with_a_working_mirror_is_a_failure_never_an_error() {
    let script = "set -e\napt-get update -qq\napt-get install -y -qq ngnix\n";
    let project = Project::debian(
        "it-typo",
        "  shell:\n    script: p.sh",
        "- name: passwd\n  file: /etc/passwd\n",
    )
    .file("p.sh", "true\n")
    .commit("production")
    .file("p.sh", script);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "fail");
    assert!(
        fresh["message"]
            .as_str()
            .unwrap()
            .contains("Unable to locate package ngnix"),
        "{fresh:#}"
    );
    assert_eq!(
        fresh["attempts"].as_u64().unwrap_or(1),
        1,
        "failures are not retried"
    );
}

#[test]
fn a_container_killed_from_outside_is_an_infrastructure_error() {
    let slow = "    - name: Take a long time\n      ansible.builtin.command: sleep 120\n";
    let project = Project::debian("it-killed", "  ansible:\n    playbook: site.yml", APP_CHECK)
        .file("site.yml", &format!("{PLAYBOOK_HEAD}{WRITE_TASK}"))
        .commit("production")
        .file("site.yml", &format!("{PLAYBOOK_HEAD}{WRITE_TASK}{slow}"));
    // Twice: both the fresh and the upgrade scenario are inside the slow task.
    let (child, lines) = spawn_until(
        &project,
        &["run", "--retries", "0", "--format", "json"],
        Stdio::piped(),
        "Take a long time",
        2,
    );
    std::thread::sleep(Duration::from_secs(1));
    let killed = remove_scenario_containers("it-killed");
    assert_eq!(killed, 2);
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let output = child.wait_with_output().expect("wait");
    let _ = drain.join();
    let run = crate::fixture::Run::from(output);
    run.expect_code(3);
    for name in ["fresh", "upgrade"] {
        let s = run.scenario(name);
        assert_eq!(s["status"], "error");
        let message = s["message"].as_str().unwrap();
        assert!(
            message.contains("the container stopped or was removed while it was being provisioned"),
            "{message}"
        );
    }
    assert!(containers_of("it-killed").is_empty());
}

/// Removes the fresh and upgrade containers of `project` as an outside actor would.
fn remove_scenario_containers(project: &str) -> usize {
    crate::fixture::with_engine(|engine| async move {
        let mut n = 0;
        for role in ["fresh", "upgrade"] {
            let found = engine
                .containers_with_labels(&[
                    (drydock::docker::LABEL_PROJECT, project),
                    (drydock::docker::LABEL_ROLE, role),
                ])
                .await
                .expect("list");
            for c in found {
                engine
                    .remove_container(c.id.as_deref().unwrap_or_default())
                    .await
                    .expect("remove");
                n += 1;
            }
        }
        n
    })
}

#[test]
fn sigterm_during_an_image_build_exits_130_quickly() {
    let project = Project::debian("it-sigterm", "  shell:\n    script: p.sh", APP_CHECK)
        .file(
            "images/default/Dockerfile",
            "FROM debian:bookworm-slim\nRUN sleep 120\n",
        )
        .file("p.sh", "true\n")
        .commit("production");
    let (mut child, lines) = spawn_until(&project, &["run"], Stdio::null(), "RUN sleep 120", 1);
    std::thread::sleep(Duration::from_secs(1));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let started = Instant::now();
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = child.wait().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let _ = drain.join();
    assert!(containers_of("it-sigterm").is_empty());
}

#[test]
fn two_concurrent_runs_both_finish_and_build_the_production_image_once() {
    let project = Project::debian("it-concurrent", "  shell:\n    script: p.sh", APP_CHECK)
        .file("p.sh", "echo port=80 > /etc/app.conf\n")
        .commit("production")
        .file("p.sh", "echo port=8080 > /etc/app.conf\n");
    let spawn = || {
        drydock_command()
            .current_dir(project.path())
            .args(["run", "--format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let runs: Vec<crate::fixture::Run> = [a, b]
        .into_iter()
        .map(|c| crate::fixture::Run::from(c.wait_with_output().expect("wait")))
        .collect();
    let mut built = 0;
    let mut run_ids = Vec::new();
    for run in &runs {
        run.expect_code(0);
        let json = run.json();
        if json["images"]["production_built"] == true {
            built += 1;
        }
        run_ids.push(json["run_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        built, 1,
        "the production image was built by exactly one run"
    );
    assert_ne!(run_ids[0], run_ids[1]);
    assert!(containers_of("it-concurrent").is_empty());
}

#[test]
fn a_canary_secret_never_reaches_logs_or_reports() {
    const CANARY: &str = "canary-9f3c1e7d-secret";
    let v1 = "mkdir -p /etc/app\necho \"token is $API_TOKEN\"\n[ -e /etc/app/token ] || echo \"$API_TOKEN-v1\" > /etc/app/token\n";
    let v2 = "mkdir -p /etc/app\necho \"token is $API_TOKEN\"\n[ -e /etc/app/token ] || echo \"$API_TOKEN-v2\" > /etc/app/token\ntest -e /nonexistent-$API_TOKEN\n";
    let project = Project::debian(
        "it-secret",
        "  shell:\n    script: p.sh\n  env:\n    - { name: API_TOKEN, from_env: DRYDOCK_IT_CANARY }",
        "- name: token\n  file: /etc/app/token\n  contains: [nothing-like-this]\n",
    )
    .file("p.sh", v1)
    .commit("production")
    .file("p.sh", v2);
    let env = [("DRYDOCK_IT_CANARY", CANARY)];
    let json = project.drydock_env(&["run", "--format", "json"], &env);
    json.expect_code(1);
    assert!(
        !json.stdout.contains(CANARY),
        "the JSON report leaks the secret"
    );
    assert!(
        !json.stderr.contains(CANARY),
        "progress output leaks the secret"
    );
    assert!(
        json.stdout.contains("token is ***"),
        "the log is kept, masked"
    );
    let junit = project.path().join("junit.xml");
    let markdown = project.path().join("comment.md");
    let human = project.drydock_env(
        &[
            "run",
            "--junit",
            junit.to_str().unwrap(),
            "--markdown",
            markdown.to_str().unwrap(),
        ],
        &env,
    );
    assert!(
        !human.stdout.contains(CANARY) && !human.stderr.contains(CANARY),
        "the summary leaks the secret"
    );
    for file in [&junit, &markdown] {
        let text = std::fs::read_to_string(file).expect("report written");
        assert!(
            !text.contains(CANARY),
            "{} leaks the secret",
            file.display()
        );
        assert!(
            text.contains("***"),
            "{} has the masked value",
            file.display()
        );
    }
}

#[test]
fn a_hung_provisioner_is_stopped_at_the_timeout_and_reported_with_its_last_output() {
    let hang = "    - name: Hang forever\n      ansible.builtin.command: sleep 600\n";
    let project = Project::debian(
        "it-timeout",
        "  ansible:\n    playbook: site.yml",
        APP_CHECK,
    )
    .file("site.yml", &format!("{PLAYBOOK_HEAD}{WRITE_TASK}"))
    .commit("production")
    .file("site.yml", &format!("{PLAYBOOK_HEAD}{WRITE_TASK}{hang}"));
    let started = Instant::now();
    let run = project.drydock(&[
        "run",
        "--provision-timeout",
        "8s",
        "--retries",
        "0",
        "--format",
        "json",
    ]);
    run.expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "error");
    assert_eq!(fresh["provision"]["infrastructure"], "timeout");
    assert_eq!(fresh["provision"]["failed_task"], "Hang forever");
    let message = fresh["message"].as_str().unwrap();
    assert!(
        message.contains(
            "did not finish within 8 s (provision.timeout) and was stopped; last output:"
        ),
        "{message}"
    );
    assert!(message.contains("TASK [Hang forever]"), "{message}");
    assert!(containers_of("it-timeout").is_empty());
}

#[test]
fn wait_for_infra_counts_down_then_gives_up_with_3() {
    let root = env!("CARGO_MANIFEST_DIR");
    let started = Instant::now();
    let out = drydock_command()
        .current_dir(root)
        .args(["run", "--wait-for-infra", "3s"])
        .env("DOCKER_HOST", "unix:///nonexistent")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "gave up after {:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("waiting for the Docker engine:"),
        "{stderr}"
    );
    assert!(stderr.contains("s left"), "{stderr}");
}

#[test]
fn a_tree_that_does_not_provision_is_exit_1_in_run_and_in_snapshot_alike() {
    let project = Project::debian("it-exit-fail", "  shell:\n    script: p.sh", APP_CHECK)
        .file("p.sh", "echo port=80 > /etc/app.conf\n")
        .commit("production")
        .file("p.sh", "echo 'config.sh: syntax error' >&2; exit 4\n");
    project.drydock(&["run"]).expect_code(1);
    let snapshot = project.drydock(&["snapshot"]);
    snapshot.expect_code(1);
    assert!(
        snapshot
            .stderr
            .contains("the working tree does not provision cleanly, so there is no state to snapshot: provisioning failed: p.sh exited with code 4"),
        "{}",
        snapshot.stderr
    );
    assert!(!project.path().join("drydock.state").exists());
}

#[test]
fn config_given_as_a_bare_file_name_is_the_project_in_this_folder() {
    let project = Project::debian("it-bare-config", "  shell:\n    script: p.sh", APP_CHECK)
        .file("p.sh", "true\n");
    // A glob, which is matched under the project's folder.
    let config = std::fs::read_to_string(project.path().join("drydock.yaml"))
        .unwrap()
        .replace("checks: [checks.yaml]", "checks: [\"check*.yaml\"]");
    let project = project.file("drydock.yaml", &config);
    let list = project.drydock(&["list", "--config", "drydock.yaml"]);
    list.expect_code(0);
    assert!(list.stdout.contains("config"), "{}", list.stdout);
    assert!(list.stdout.contains("checks.yaml"), "{}", list.stdout);
}
