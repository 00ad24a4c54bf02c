//! The state diff: every divergence kind between fresh and upgraded servers, the clean case, and
//! filesystem-level idempotence with the shell provisioner.

use crate::fixture::Project;

const SHELL: &str = "  shell:\n    script: provision.sh";
const CHECKS: &str = "- name: app config present\n  file: /etc/app/app.conf\n";

/// Production (v1) state: a config, an old file, a key readable by its owner only, and a
/// `current` symlink.
const V1: &str = r#"set -e
mkdir -p /etc/app
echo "version=1" > /etc/app/app.conf
echo "legacy" > /etc/app/old.conf
echo "k" > /etc/app/key && chmod 600 /etc/app/key
ln -sfn /etc/app/app.conf /etc/app/current
[ -e /etc/app/motd ] || echo "welcome v1" > /etc/app/motd
"#;

/// The change (v2): each line is correct on a new server and leaves an old one different.
const V2: &str = r#"set -e
mkdir -p /etc/app
echo "version=2" > /etc/app/app.conf
# old.conf is no longer written, and nothing removes it: orphaned on upgraded servers.
# The key is written without chmod: a new server gets 0644, an old one keeps 0600.
echo "k" > /etc/app/key
# current becomes a copy; an old server keeps its symlink.
[ -e /etc/app/current ] || cp /etc/app/app.conf /etc/app/current
# Written only when absent: an old server keeps the v1 text.
[ -e /etc/app/motd ] || echo "welcome v2" > /etc/app/motd
"#;

#[test]
fn each_divergence_kind_is_reported_with_path_and_field() {
    let project = Project::debian("it-drift", SHELL, CHECKS)
        .file("provision.sh", V1)
        .commit("production: v1")
        .file("provision.sh", V2);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(run.scenario("fresh")["status"], "pass");
    assert_eq!(run.scenario("upgrade")["status"], "pass");
    assert_eq!(run.scenario("idempotence")["status"], "pass");
    let diff = &json["diff"];
    assert_eq!(diff["status"], "fail");
    assert_eq!(diff["only_in_fresh"], serde_json::json!([]));
    assert_eq!(
        diff["only_in_upgrade"],
        serde_json::json!(["/etc/app/old.conf"])
    );
    let changed: Vec<(String, Vec<String>)> = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            (
                "/etc/app/current".to_string(),
                vec!["type".to_string(), "mode".to_string()]
            ),
            ("/etc/app/key".to_string(), vec!["mode".to_string()]),
            ("/etc/app/motd".to_string(), vec!["content".to_string()]),
        ]
    );
    let motd = &diff["changed"][2];
    assert_eq!(
        motd["unified"],
        "--- fresh/etc/app/motd\n+++ upgrade/etc/app/motd\n@@ -1 +1 @@\n-welcome v2\n+welcome v1\n"
    );
    assert_eq!(diff["changed"][1]["detail"], "mode: 0644 → 0600");
    assert!(diff["changed"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("type: file → symlink to /etc/app/app.conf"));
    // The human summary shows the same findings.
    let human = project.drydock(&["run"]);
    human.expect_code(1);
    assert!(
        human.stdout.contains("only in upgrade: /etc/app/old.conf"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("-welcome v2"), "{}", human.stdout);
}

#[test]
fn a_clean_change_has_zero_findings_and_allow_accepts_known_differences() {
    let v1 = "mkdir -p /etc/app /srv/www\necho 'version=1' > /etc/app/app.conf\necho hello > /srv/www/index.html\n";
    let v2 = "mkdir -p /etc/app /srv/www\necho 'version=2' > /etc/app/app.conf\necho hello > /srv/www/index.html\nchmod 0644 /etc/app/app.conf\n";
    let project = Project::debian("it-clean-state", SHELL, CHECKS)
        .file("provision.sh", v1)
        .commit("production")
        .file("provision.sh", v2);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let diff = &run.json()["diff"];
    assert_eq!(diff["status"], "pass");
    assert_eq!(diff["changed"], serde_json::json!([]));
    assert_eq!(diff["only_in_fresh"], serde_json::json!([]));
    assert_eq!(diff["only_in_upgrade"], serde_json::json!([]));
    assert!(
        diff["compared"][0].as_u64().unwrap() > 100,
        "the roots were read: {diff}"
    );

    // An orphan the team accepts on purpose.
    let v3 = "mkdir -p /etc/app /srv/www\necho 'version=2' > /etc/app/app.conf\necho hello > /srv/www/index.html\n";
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    let project = project
        .file("provision.sh", "mkdir -p /etc/app /srv/www\necho 'version=1' > /etc/app/app.conf\necho legacy > /etc/app/old.conf\n")
        .commit("production with an old file")
        .file("provision.sh", v3)
        .file("drydock.yaml", &config.replace("diff:\n", "diff:\n  allow: [/etc/app/old.conf]\n"));
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let diff = &run.json()["diff"];
    assert_eq!(diff["status"], "pass");
    assert_eq!(diff["allowed"], serde_json::json!(["/etc/app/old.conf"]));
}

#[test]
fn a_script_that_appends_on_every_run_fails_filesystem_idempotence() {
    let script = "mkdir -p /etc/app\necho 'version=1' > /etc/app/app.conf\necho \"deployed\" >> /etc/app/history\n";
    let project = Project::debian("it-shell-idempotence", SHELL, CHECKS)
        .file("provision.sh", script)
        .commit("production");
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let idem = run.scenario("idempotence");
    assert_eq!(idem["status"], "fail");
    // The shell provisioner cannot count changes; the filesystem can.
    assert_eq!(idem["provision"]["changed"], serde_json::Value::Null);
    assert_eq!(idem["changed_paths"][0]["path"], "/etc/app/history");
    assert_eq!(
        idem["changed_paths"][0]["fields"],
        serde_json::json!(["content"])
    );
    assert_eq!(
        idem["changed_paths"][0]["unified"],
        "--- first/etc/app/history\n+++ second/etc/app/history\n@@ -1 +1,2 @@\n deployed\n+deployed\n"
    );
    assert_eq!(idem["changed_paths"].as_array().unwrap().len(), 1);
}

#[test]
fn diff_and_snapshot_commands() {
    let project = Project::debian("it-diff-cmd", SHELL, CHECKS)
        .file(
            "provision.sh",
            "mkdir -p /etc/app\necho 'version=1' > /etc/app/app.conf\n",
        )
        .commit("production");
    let snap = project.drydock(&["snapshot"]);
    snap.expect_code(0);
    let text = std::fs::read_to_string(project.path().join("drydock.state")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("/etc/app/app.conf\t"))
        .expect("app.conf in the snapshot");
    assert!(
        line.starts_with("/etc/app/app.conf\tfile 0644 0:0 10 "),
        "{line}"
    );
    // The run reports the working tree against the committed snapshot; --locked fails on it.
    let project = project.file(
        "provision.sh",
        "mkdir -p /etc/app\necho 'version=22' > /etc/app/app.conf\n",
    );
    let run = project.drydock(&["run", "--locked", "--format", "json"]);
    run.expect_code(1);
    let snapshot = &run.json()["snapshot"];
    assert_eq!(snapshot["status"], "fail");
    let differences = snapshot["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{snapshot}");
    assert!(
        differences[0]
            .as_str()
            .unwrap()
            .starts_with("~ /etc/app/app.conf: file 0644 0:0 10 "),
        "{snapshot}"
    );

    // drydock diff between two images: the default image and the base it comes from.
    let image_a = "image:debian:bookworm-slim";
    let same = project.drydock(&[
        "diff", image_a, image_a, "--paths", "/etc", "--format", "json",
    ]);
    same.expect_code(0);
    assert_eq!(same.json()["diff"]["status"], "pass");
    assert!(same.json()["diff"]["compared"][0].as_u64().unwrap() > 100);
}
