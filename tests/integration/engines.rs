//! Engines other than the local default: a second `dockerd` on its own socket and data root
//! (over its unix socket and over TCP with TLS), the local engine reached over `ssh://`, and
//! Podman's Docker-compatible socket.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::fixture::{certificates, free_port, Daemon, Project, Sshd};

/// A playbook and checks that need no network: the second engine's containers have none
/// beyond their own bridge.
fn offline_project(name: &str, platforms: &[&str]) -> Project {
    let mut config = format!("name: {name}\nplatforms:\n");
    for p in platforms {
        config.push_str(&format!(
            "  {p}:\n    dockerfile: images/{p}/Dockerfile\n    base:\n      image: debian:bookworm-slim\n      bootstrap: {{ debootstrap: {{ suite: bookworm, variant: minbase, include: [python3] }} }}\n"
        ));
    }
    config.push_str("hosts:\n  web: {}\n  db: {}\nprovision:\n  ansible:\n    playbook: site.yml\nproduction:\n  ref: main\nchecks: [checks.yaml]\ndiff:\n  paths: [/etc]\n");
    let mut project = Project::new(name)
        .file("drydock.yaml", &config)
        .file(
            "site.yml",
            "- name: app\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: App config\n      ansible.builtin.copy: { dest: /etc/app.conf, content: \"role={{ inventory_hostname }}\\n\", mode: \"0644\" }\n",
        )
        .file(
            "checks.yaml",
            "- name: app config\n  file: /etc/app.conf\n  contains: [\"role=\"]\n",
        );
    for p in platforms {
        project = project.file(
            &format!("images/{p}/Dockerfile"),
            "FROM debian:bookworm-slim\n",
        );
    }
    project.commit("app")
}

/// Copies `image` from the local engine into the one `env` points at (`docker save | docker
/// load`).
fn copy_image(image: &str, env: &[(&str, String)]) {
    let mut save = Command::new("docker")
        .args(["save", image])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker save");
    let mut load = Command::new("docker");
    load.args(["load", "-q"])
        .stdin(save.stdout.take().expect("docker save's output"));
    for (k, v) in env {
        load.env(k, v);
    }
    let out = load.output().expect("docker load");
    assert!(
        save.wait().is_ok_and(|s| s.success()),
        "docker save {image} failed"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tags of images labelled for `project` on the engine `env` points at.
fn project_images(project: &str, env: &[(&str, String)]) -> Vec<String> {
    let mut command = Command::new("docker");
    command.args([
        "images",
        "--filter",
        &format!("label=io.drydock.project={project}"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("docker images");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// A second Docker engine with its own socket, data root and bridge, listening also on a
/// loopback TCP port with TLS. Stopped (gracefully) and removed when dropped.
struct SecondEngine {
    dir: PathBuf,
    bridge: String,
    port: u16,
    child: std::process::Child,
}

impl SecondEngine {
    fn start(dir: &Path) -> SecondEngine {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        certificates(&dir.join("certs"));
        // Its own bridge: with `--bridge none` dockerd would delete the default docker0.
        let bridge = format!("dd{}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", "10.213.77.1/24", "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .current_dir(dir)
            .args(["--config-file", "daemon.json"])
            .arg("-H")
            .arg(format!("unix://{}/docker.sock", dir.display()))
            .arg("-H")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .args([
                "--tlsverify",
                "--tlscacert",
                "certs/ca.pem",
                "--tlscert",
                "certs/server-cert.pem",
                "--tlskey",
                "certs/server-key.pem",
            ])
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let engine = SecondEngine {
            dir: dir.to_path_buf(),
            bridge,
            port,
            child,
        };
        for _ in 0..120 {
            let ok = Command::new("docker")
                .envs(engine.unix())
                .args(["info", "--format", "{{.ID}}"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return engine;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "the second dockerd did not start:\n{}",
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
    }

    /// The environment that points at its unix socket.
    fn unix(&self) -> Vec<(&'static str, String)> {
        vec![(
            "DOCKER_HOST",
            format!("unix://{}/docker.sock", self.dir.display()),
        )]
    }

    /// The environment that points at its TCP port, with TLS.
    fn tls(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DOCKER_HOST", format!("tcp://127.0.0.1:{}", self.port)),
            ("DOCKER_TLS_VERIFY", "1".into()),
            (
                "DOCKER_CERT_PATH",
                self.dir.join("certs").display().to_string(),
            ),
        ]
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..120 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn with_env(
    project: &Project,
    args: &[&str],
    env: &[(&'static str, String)],
) -> crate::fixture::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    project.drydock_env(args, &env)
}

/// Shard 1 over the second engine's unix socket, shard 2 over its TLS port: every image and
/// container (Ansible's docker connection included) is on that engine, none on the local one.
#[test]
fn a_second_engine_runs_the_shards_over_its_socket_and_over_tls() {
    let engine = SecondEngine::start(
        &std::env::temp_dir().join(format!("drydock-it-engine-{}", std::process::id())),
    );
    copy_image("debian:bookworm-slim", &engine.unix());
    // The shards of hash:K/2: {bookworm-tools} and {bookworm}.
    let project = offline_project("it-engine2", &["bookworm", "bookworm-tools"]);
    let shard = |k: u32, env: &[(&'static str, String)]| {
        let path = project.path().join(format!("shard-{k}.json"));
        let run = with_env(
            &project,
            &[
                "run",
                "--partition",
                &format!("hash:{k}/2"),
                "--json",
                path.to_str().unwrap(),
            ],
            env,
        );
        run.expect_code(0);
        path
    };
    let first = shard(1, &engine.unix());
    let second = shard(2, &engine.tls());
    let merged = project.drydock(&[
        "report",
        "merge",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "--format",
        "json",
    ]);
    merged.expect_code(0);
    let json = merged.json();
    assert_eq!(
        json["units"],
        serde_json::json!(["bookworm", "bookworm-tools"])
    );
    assert_eq!(json["scenarios"].as_array().unwrap().len(), 6);

    let mut there = project_images("it-engine2", &engine.unix());
    there.sort();
    assert!(
        there
            .iter()
            .any(|t| t.starts_with("drydock/it-engine2:production-")
                && t.ends_with("-bookworm-tools-web")),
        "{there:?}"
    );
    assert_eq!(
        there.len(),
        8,
        "per platform: default (its key and the moving tag), production (web and db): {there:?}"
    );
    assert_eq!(
        project_images("it-engine2", &[]),
        Vec::<String>::new(),
        "nothing on the local engine"
    );
    let left = Command::new("docker")
        .envs(engine.unix())
        .args(["ps", "-aq", "--filter", "label=io.drydock.project"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "containers left on the second engine"
    );

    // Without TLS settings the TLS port says what is missing.
    let plain = with_env(
        &project,
        &["run"],
        &[("DOCKER_HOST", format!("tcp://127.0.0.1:{}", engine.port))],
    );
    plain.expect_code(3);
    assert!(
        plain
            .stderr
            .contains("the engine expects TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"),
        "{}",
        plain.stderr
    );
}

/// `DOCKER_HOST=ssh://` to Debian's sshd on a loopback port, which forwards the local engine's
/// socket: the bundled example passes, in one ssh connection, and the forward ends with the run.
#[test]
fn the_bundled_example_runs_over_ssh() {
    let dir = std::env::temp_dir().join(format!("drydock-it-ssh-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sshd = Sshd::start(&dir);
    let root = env!("CARGO_MANIFEST_DIR");
    let run = crate::fixture::drydock_command()
        .current_dir(root)
        .args(["run", "--format", "json"])
        .env("DOCKER_HOST", format!("ssh://root@127.0.0.1:{}", sshd.port))
        .env("DRYDOCK_SSH_CONFIG", sshd.ssh_config())
        .output()
        .expect("run");
    let run = crate::fixture::Run::from(run);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["verdict"], "pass");
    for name in ["fresh", "upgrade"] {
        assert_eq!(run.scenario(name)["checks"].as_array().unwrap().len(), 8);
    }
    let log = sshd.log();
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");
    // The forwarded socket's folder is gone with the run.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("drydock-engine-")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // An engine ssh cannot reach without a prompt is unreachable, with what to check.
    std::fs::write(dir.join("known_hosts"), "").unwrap();
    let refused = crate::fixture::drydock_command()
        .current_dir(root)
        .args(["run"])
        .env("DOCKER_HOST", format!("ssh://root@127.0.0.1:{}", sshd.port))
        .env("DRYDOCK_SSH_CONFIG", sshd.ssh_config())
        .output()
        .expect("run");
    let refused = crate::fixture::Run::from(refused);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("Host key verification failed"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("DRYDOCK_SSH_CONFIG"),
        "{}",
        refused.stderr
    );
    drop(sshd);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Podman's Docker-compatible API (`podman system service`): two hosts with a network,
/// Ansible's docker connection, checks, diff; nothing left behind.
#[test]
fn podman_runs_the_pipeline_through_its_docker_socket() {
    let dir = std::env::temp_dir().join(format!("drydock-it-podman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Podman (as root) raises the containers' open-file and process limits to values this
    // machine's hard limits refuse; lower them, as containers.conf allows.
    std::fs::write(
        dir.join("containers.conf"),
        "[containers]\ndefault_ulimits = [\"nofile=10000:10000\", \"nproc=10000:10000\"]\n",
    )
    .unwrap();
    let socket = dir.join("podman.sock");
    let service = {
        let log = std::fs::File::create(dir.join("podman.log")).unwrap();
        let child = Command::new("podman")
            .env("CONTAINERS_CONF", dir.join("containers.conf"))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("podman system service");
        Daemon { child }
    };
    for _ in 0..80 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let env = vec![("DOCKER_HOST", format!("unix://{}", socket.display()))];
    copy_image("debian:bookworm-slim", &env);
    let project = offline_project("it-podman", &["bookworm"]);
    let run = with_env(&project, &["run", "--format", "json"], &env);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["diff"]["status"], "pass", "{json:#}");
    for name in ["fresh", "upgrade"] {
        let s = run.scenario(name);
        assert_eq!(s["status"], "pass");
        assert_eq!(s["checks"].as_array().unwrap().len(), 2, "web and db");
    }
    let clean = with_env(&project, &["clean", "--images"], &env);
    clean.expect_code(0);
    assert_eq!(project_images("it-podman", &env), Vec::<String>::new());
    let left = Command::new("docker")
        .envs(env.clone())
        .args([
            "ps",
            "-aq",
            "--filter",
            "label=io.drydock.project=it-podman",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "");
    let networks = Command::new("docker")
        .envs(env.clone())
        .args([
            "network",
            "ls",
            "-q",
            "--filter",
            "label=io.drydock.project=it-podman",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&networks.stdout).trim(), "");
    let _ = Command::new("docker")
        .envs(env.clone())
        .args(["rmi", "debian:bookworm-slim"])
        .output();
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}
