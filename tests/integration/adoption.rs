//! Adopting drydock: the first command resolves to the one binary, `doctor` says what is
//! missing and what to do, the pre-commit hook refuses a broken push, and the JSON Schemas
//! accept every example and reject a typo. (The GitHub Action and the release workflow are
//! validated with the CI examples, in `team.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture::{drydock_command, Project, Run};
use crate::team::{validate, validator};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The folder cargo builds into (the test binary's), so `cargo run` finds drydock built.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_drydock"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

#[test]
fn cargo_run_and_cargo_install_resolve_to_drydock_alone() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", target_dir())
        .args(["run", "--quiet", "--offline", "--", "--version"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("drydock {}\n", env!("CARGO_PKG_VERSION"))
    );
    // `cargo install --path .` installs the root package's binaries: drydock, and only it.
    let out = Command::new(&cargo)
        .current_dir(root())
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .output()
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "drydock")
        .unwrap();
    let binaries: Vec<&str> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"][0] == "bin")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(binaries, ["drydock"]);
}

fn names(json: &serde_json::Value) -> Vec<String> {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn doctor_names_every_prerequisite_and_what_to_do_when_one_is_missing() {
    // The bundled example on this machine: everything a run needs is here.
    let run = Run::from(
        drydock_command()
            .current_dir(root())
            .args(["doctor", "--format", "json"])
            .output()
            .unwrap(),
    );
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["project"], "hello");
    assert_eq!(
        names(&json),
        [
            "engine",
            "cgroup",
            "ansible-playbook",
            "community.docker",
            "docker CLI",
            "git",
            "debootstrap",
            "disk",
            "registry",
            "systemd"
        ]
    );
    let status = |name: &str| {
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    for name in [
        "engine",
        "ansible-playbook",
        "community.docker",
        "docker CLI",
        "git",
        "disk",
    ] {
        assert_eq!(status(name), "ok", "{name}: {json:#}");
    }
    assert_eq!(
        status("systemd"),
        "skip",
        "the example does not boot systemd"
    );

    // Without Ansible on PATH: doctor says so with the install line, exit 3, and `run` stops
    // before building anything, the same way.
    let bin = std::env::temp_dir().join(format!("drydock-it-path-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["docker", "git", "df"] {
        let found = drydock::process::which(tool).unwrap();
        let _ = std::os::unix::fs::symlink(found, bin.join(tool));
    }
    let path = bin.to_str().unwrap();
    let run = Run::from(
        drydock_command()
            .current_dir(root())
            .env("PATH", path)
            .args(["doctor"])
            .output()
            .unwrap(),
    );
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("  FAIL ansible-playbook  not found on PATH\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("apt-get install -y ansible (ansible-core with community.docker)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("not ready: 1 problem(s) above"),
        "{}",
        run.stdout
    );
    let run = Run::from(
        drydock_command()
            .current_dir(root())
            .env("PATH", path)
            .args(["run"])
            .output()
            .unwrap(),
    );
    run.expect_code(3);
    assert!(
        run.stderr.contains("Ansible is not installed"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&bin);
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_pre_commit_hook_refuses_a_broken_push_and_lets_a_good_one_through() {
    let pre_commit = validator("pre-commit");
    // The hook repository: drydock's .pre-commit-hooks.yaml, committed.
    let hooks = Project::new("it-hooks-repo").file(
        ".pre-commit-hooks.yaml",
        &std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap(),
    );
    let hooks = hooks.commit("hooks");
    let rev = String::from_utf8_lossy(&git(hooks.path(), &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: drydock\n",
        hooks.path().display()
    );
    let project = Project::debian(
        "it-precommit",
        "  shell:\n    script: p.sh",
        "- name: config\n  file: /etc/app.conf\n  contains: [\"/^ok$/\"]\n",
    )
    .file("p.sh", "echo ok > /etc/app.conf\n")
    .file(".pre-commit-config.yaml", &config)
    .commit("good");
    let remote = project.bare_origin();
    let cache = project.path().with_extension("pre-commit-cache");
    let drydock_dir = Path::new(env!("CARGO_BIN_EXE_drydock")).parent().unwrap();
    let path = format!(
        "{}:{}",
        drydock_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = project.path().to_path_buf();
    let with_env = |mut command: Command| {
        command
            .current_dir(&work)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", &cache)
            .env("NO_COLOR", "1");
        command
    };
    let mut install = with_env(Command::new(&pre_commit));
    let installed = install
        .args(["install", "--hook-type", "pre-push"])
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );

    let project = project
        .file("p.sh", "echo broken > /etc/app.conf\n")
        .commit("breaks the config");
    let mut push = with_env(Command::new("git"));
    let blocked = push
        .args(["push", "-q", "origin", "main"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&blocked.stdout),
        String::from_utf8_lossy(&blocked.stderr)
    );
    assert!(!blocked.status.success(), "the push went through: {said}");
    assert!(said.contains("drydock run"), "{said}");
    assert!(said.contains("Failed"), "{said}");
    assert!(said.contains("contains: /^ok$/ not found"), "{said}");

    let _project = project
        .file("p.sh", "echo ok > /etc/app.conf\n")
        .commit("fixed");
    let mut push = with_env(Command::new("git"));
    let pushed = push
        .args(["push", "-q", "origin", "main"])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}{}",
        String::from_utf8_lossy(&pushed.stdout),
        String::from_utf8_lossy(&pushed.stderr)
    );
    let _ = std::fs::remove_dir_all(&remote);
    let _ = std::fs::remove_dir_all(&cache);
}

/// The README's YAML blocks: drydock.yaml (whole or a part), check files, and others (Ansible
/// playbooks and tasks), told apart by their shape.
fn readme_blocks() -> Vec<(usize, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in readme.lines().enumerate() {
        match (&mut current, line) {
            (None, "```yaml") => current = Some((n + 2, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn the_schemas_accept_every_example_and_reject_a_typo_with_its_path() {
    let jsonschema = validator("check-jsonschema");
    let dir = std::env::temp_dir().join(format!("drydock-it-schemas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = |which: &str| {
        let run = Run::from(drydock_command().args(["schema", which]).output().unwrap());
        run.expect_code(0);
        let path = dir.join(format!("{which}.schema.json"));
        std::fs::write(&path, &run.stdout).unwrap();
        path
    };
    let config = schema("config");
    let checks = schema("checks");
    // A part of drydock.yaml is checked against the schema without its required keys.
    let mut relaxed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let top = relaxed.as_object_mut().unwrap();
    top.remove("required");
    top.remove("oneOf");
    let part = dir.join("config-part.schema.json");
    std::fs::write(&part, relaxed.to_string()).unwrap();

    let mut whole = vec![root().join("drydock.yaml")];
    let mut parts = Vec::new();
    let mut check_files: Vec<PathBuf> = std::fs::read_dir(root().join("tests"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    for (line, text) in readme_blocks() {
        let path = dir.join(format!("readme-{line}.yaml"));
        std::fs::write(&path, &text).unwrap();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let ansible = text.contains("\n  tasks:") || text.contains("ansible.builtin.");
        match (first.starts_with("- "), ansible) {
            (true, true) => {}
            (true, false) => check_files.push(path),
            (false, _) if text.starts_with("name:") => whole.push(path),
            (false, _) => parts.push(path),
        }
    }
    assert!(
        whole.len() >= 2 && parts.len() >= 7 && check_files.len() >= 4,
        "{} whole, {} parts, {} check files",
        whole.len(),
        parts.len(),
        check_files.len()
    );
    for (schema, files) in [(&config, &whole), (&part, &parts), (&checks, &check_files)] {
        let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let (ok, said) = validate(
            &jsonschema,
            &["--schemafile", schema.to_str().unwrap()],
            &files,
        );
        assert!(ok, "{said}");
    }

    // A typo is rejected, naming where.
    let typo = dir.join("typo.yaml");
    let bundled = std::fs::read_to_string(root().join("drydock.yaml")).unwrap();
    std::fs::write(&typo, bundled.replace("playbook:", "playbok:")).unwrap();
    let (ok, said) = validate(
        &jsonschema,
        &["--schemafile", config.to_str().unwrap()],
        &[&typo],
    );
    assert!(!ok);
    assert!(
        said.contains(
            "$.provision.ansible: Additional properties are not allowed ('playbok' was unexpected)"
        ),
        "{said}"
    );
    let typo = dir.join("typo-checks.yaml");
    std::fs::write(
        &typo,
        "- name: page\n  file: /var/www/html/index.html\n  contians: [Hello]\n",
    )
    .unwrap();
    let (ok, said) = validate(
        &jsonschema,
        &["--schemafile", checks.to_str().unwrap()],
        &[&typo],
    );
    assert!(!ok);
    assert!(
        said.contains("$[0]: Additional properties are not allowed ('contians' was unexpected)"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completions_and_the_manual_page_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let run = Run::from(
            drydock_command()
                .args(["completions", shell])
                .output()
                .unwrap(),
        );
        run.expect_code(0);
        for command in ["run", "doctor", "schema", "report", "watch"] {
            assert!(run.stdout.contains(command), "{shell}: no `{command}`");
        }
    }
    let bash = Run::from(
        drydock_command()
            .args(["completions", "bash"])
            .output()
            .unwrap(),
    );
    let script = std::env::temp_dir().join(format!("drydock-it-completion-{}", std::process::id()));
    std::fs::write(&script, &bash.stdout).unwrap();
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let _ = std::fs::remove_file(&script);
    let man = Run::from(drydock_command().arg("man").output().unwrap());
    man.expect_code(0);
    assert!(man.stdout.contains(".TH drydock 1"), "{}", man.stdout);
    assert!(man.stdout.contains("doctor"), "{}", man.stdout);
    let bad = Run::from(
        drydock_command()
            .args(["completions", "tcsh"])
            .output()
            .unwrap(),
    );
    bad.expect_code(2);
}
