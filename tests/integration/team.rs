//! The team workflow: promote after merge (pushed to a real local registry and pulled back),
//! the pre-push hook, and the GitHub workflow files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::Project;

/// A Registry v2 (Debian's docker-registry) on a free loopback port, stopped when dropped.
struct Registry {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Registry {
    fn start() -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let dir = std::env::temp_dir().join(format!("drydock-it-registry-{port}"));
        std::fs::create_dir_all(&dir).expect("registry folder");
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed (apt-get install docker-registry)");
        let registry = Registry { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if registry.answers() {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the registry did not answer on port {port}");
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn remove_images(references: &[&str]) {
    crate::fixture::with_engine(|engine| async move {
        for r in references {
            engine.remove_image(r).await.expect("remove image");
        }
    });
}

#[test]
fn promote_pushes_to_a_real_registry_and_a_clean_engine_pulls_it_back() {
    let registry = Registry::start();
    let remote = format!("127.0.0.1:{}/it-promote:production", registry.port);
    let project = Project::debian(
        "it-promote",
        "  shell:\n    script: p.sh",
        "- name: config\n  file: /etc/app.conf\n  contains: [\"/^version=1$/\"]\n",
    )
    .file("p.sh", "echo version=1 > /etc/app.conf\n")
    .commit("v1");
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).expect("config");
    let project = project
        .file(
            "drydock.yaml",
            &config.replace(
                "  ref: main\n",
                &format!("  ref: main\n  image: {remote}\n"),
            ),
        )
        .commit("production image in a registry");

    let promoted = project.drydock(&["promote", "--push", "--format", "json"]);
    promoted.expect_code(0);
    let json = promoted.json();
    assert_eq!(
        json["images"]["production"],
        "drydock/it-promote:production"
    );
    assert!(json["images"]["production_source"]
        .as_str()
        .unwrap()
        .contains(&format!("pushed to {remote}")));

    // The committed image carries the OCI labels.
    let labels = crate::fixture::with_engine(|engine| async move {
        engine
            .image_labels("drydock/it-promote:production")
            .await
            .expect("labels")
    });
    let head = String::from_utf8(
        Command::new("git")
            .current_dir(project.path())
            .args(["rev-parse", "HEAD"])
            .output()
            .expect("git")
            .stdout,
    )
    .unwrap();
    assert_eq!(
        labels
            .get("org.opencontainers.image.revision")
            .map(String::as_str),
        Some(head.trim())
    );
    assert!(labels
        .get("org.opencontainers.image.created")
        .is_some_and(|c| c.ends_with('Z')));
    assert!(labels.contains_key("org.opencontainers.image.source"));

    // A clean engine: no local production image at all. The run pulls it from the registry.
    let keyed = format!("drydock/it-promote:production-{}", &head.trim()[..12]);
    remove_images(&["drydock/it-promote:production", &keyed, &remote]);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["images"]["production"], remote.as_str());
    assert_eq!(
        json["images"]["production_source"],
        format!("{remote} (pulled)")
    );
    assert_eq!(json["images"]["production_built"], false);
    assert_eq!(run.scenario("upgrade")["status"], "pass");

    // A failing HEAD is refused.
    let project = project
        .file("p.sh", "echo version=2 > /etc/app.conf\n")
        .commit("v2 breaks the check");
    let refused = project.drydock(&["promote", "--format", "json"]);
    refused.expect_code(1);
    assert!(refused.json()["scenarios"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nothing promoted"));
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git")
}

#[test]
fn the_pre_push_hook_blocks_a_push_when_the_run_fails() {
    let project = Project::debian(
        "it-hook",
        "  shell:\n    script: p.sh",
        "- name: config\n  file: /etc/app.conf\n  contains: [\"/^ok$/\"]\n",
    )
    .file("p.sh", "echo ok > /etc/app.conf\n")
    .commit("good");
    let remote = project.bare_origin();

    let installed = project.drydock(&["hook", "install"]);
    installed.expect_code(0);
    assert!(
        installed.stdout.contains("pre-push"),
        "{}",
        installed.stdout
    );

    let project = project
        .file("p.sh", "echo broken > /etc/app.conf\n")
        .commit("breaks the config");
    let blocked = git(project.path(), &["push", "-q", "origin", "main"]);
    assert!(!blocked.status.success(), "the push went through");
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert!(
        stderr.contains("drydock: push blocked (drydock run exited 1)"),
        "{stderr}"
    );
    assert!(stderr.contains("contains: /^ok$/ not found"), "{stderr}");

    let project = project
        .file("p.sh", "echo ok > /etc/app.conf\n")
        .commit("fixed");
    let pushed = git(project.path(), &["push", "-q", "origin", "main"]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    let removed = project.drydock(&["hook", "uninstall"]);
    removed.expect_code(0);
    assert!(!project.path().join(".git/hooks/pre-push").exists());
    let _ = std::fs::remove_dir_all(&remote);
}

/// A validator installed by scripts/test (`target/test-tools`, or `DRYDOCK_TEST_TOOLS`).
pub(crate) fn validator(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("DRYDOCK_TEST_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/bin"));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/test installs it (pip install check-jsonschema kubernetes-validate into target/test-tools)",
        path.display()
    );
    path
}

/// Runs `program args files`; its exit status and output.
pub(crate) fn validate(program: &Path, args: &[&str], files: &[&Path]) -> (bool, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The CI files drydock ships validate against their platforms' schemas (GitHub's workflow
/// schema, GitLab CI's, Kubernetes' Job), and a broken copy of each does not.
#[test]
fn ci_examples_validate_against_their_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let jsonschema = validator("check-jsonschema");
    let kubernetes = validator("kubernetes-validate");
    let workflows: Vec<std::path::PathBuf> = [
        ".github/workflows/ci.yml",
        "examples/github/pull-request.yml",
        "examples/github/promote.yml",
        "examples/github/nightly.yml",
        "examples/github/matrix.yml",
        ".github/workflows/release.yml",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    let files: Vec<&Path> = workflows.iter().map(|p| p.as_path()).collect();
    let github = ["--builtin-schema", "vendor.github-workflows"];
    let (ok, said) = validate(&jsonschema, &github, &files);
    assert!(ok, "{said}");
    let action = root.join("action.yml");
    let actions = ["--builtin-schema", "vendor.github-actions"];
    let (ok, said) = validate(&jsonschema, &actions, &[&action]);
    assert!(ok, "{said}");
    let gitlab_file = root.join("examples/gitlab/.gitlab-ci.yml");
    let gitlab = ["--builtin-schema", "vendor.gitlab-ci"];
    let (ok, said) = validate(&jsonschema, &gitlab, &[&gitlab_file]);
    assert!(ok, "{said}");
    let job = root.join("examples/kubernetes/indexed-job.yaml");
    let (ok, said) = validate(&kubernetes, &["--strict"], &[&job]);
    assert!(ok, "{said}");

    // The validators do reject: a broken copy of each fails.
    let broken = std::env::temp_dir().join(format!("drydock-it-broken-{}", std::process::id()));
    std::fs::create_dir_all(&broken).unwrap();
    let corrupt = |from: &Path, name: &str, what: &str, into: &str| {
        let text = std::fs::read_to_string(from).unwrap();
        assert!(text.contains(what), "{}: no `{what}`", from.display());
        let path = broken.join(name);
        std::fs::write(&path, text.replacen(what, into, 1)).unwrap();
        path
    };
    let bad = corrupt(&workflows[4], "matrix.yml", "runs-on:", "runs_on:");
    assert!(!validate(&jsonschema, &github, &[&bad]).0);
    let bad = corrupt(&action, "action.yml", "using: composite", "using: compost");
    assert!(!validate(&jsonschema, &actions, &[&bad]).0);
    let bad = corrupt(&gitlab_file, "gitlab.yml", "parallel: 4", "parallel: many");
    assert!(!validate(&jsonschema, &gitlab, &[&bad]).0);
    let bad = corrupt(&job, "job.yaml", "completionMode:", "completionModes:");
    assert!(!validate(&kubernetes, &["--strict"], &[&bad]).0);
    let _ = std::fs::remove_dir_all(&broken);

    // What each example is for.
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    assert!(read("examples/github/pull-request.yml").contains("drydock run --junit"));
    assert!(read("examples/github/promote.yml").contains("drydock promote --push"));
    assert!(read("examples/github/nightly.yml").contains("schedule"));
    let matrix = read("examples/github/matrix.yml");
    for needed in [
        "fail-fast: false",
        "--partition \"hash:${{ matrix.shard }}/${SHARDS}\"",
        "drydock report merge shards/*.json --rerun-flaky rerun.txt",
    ] {
        assert!(matrix.contains(needed), "matrix.yml: no `{needed}`");
    }
    // The action labels exit 3 as an infrastructure error; releases carry checksums that the
    // action's installer verifies.
    let action = read("action.yml");
    assert!(action.contains("infrastructure error (not a test failure)"));
    assert!(action.contains("actions/upload-artifact@v4"));
    assert!(read(".github/workflows/release.yml").contains("sha256sum"));
    assert!(read("scripts/action-install").contains("sha256sum -c"));
    let gitlab = read("examples/gitlab/.gitlab-ci.yml");
    for needed in [
        "parallel: 4",
        "hash:${CI_NODE_INDEX}/${CI_NODE_TOTAL}",
        "drydock report merge shard-*.json",
    ] {
        assert!(gitlab.contains(needed), ".gitlab-ci.yml: no `{needed}`");
    }
    let job = read("examples/kubernetes/indexed-job.yaml");
    for needed in [
        "completionMode: Indexed",
        "hash:$((JOB_COMPLETION_INDEX + 1))/4",
        "podFailurePolicy:",
        "values: [3]",
    ] {
        assert!(job.contains(needed), "indexed-job.yaml: no `{needed}`");
    }
}
