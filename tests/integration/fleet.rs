//! Fleets and blame: servers at an older production version upgrade cleanly too
//! (`production.upgrade_from`), and every state-diff finding names the task that wrote it.

use serde_json::Value;

use crate::fixture::Project;

fn config(name: &str, upgrade_from: &str, env: &str) -> String {
    format!(
        "name: {name}\nimages:\n  default:\n    dockerfile: images/default/Dockerfile\n{}provision:\n  ansible:\n    playbook: site.yml\n{env}production:\n  ref: main\n{upgrade_from}checks: [checks.yaml]\ndiff:\n  paths: [/etc]\n",
        crate::fixture::BASE
    )
}

fn playbook(tasks: &str) -> String {
    format!("- name: app\n  hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
}

const APP: &str = "    - name: App config\n      ansible.builtin.copy: { dest: /etc/app.conf, content: \"port=80\\n\", mode: \"0644\" }\n";
const LEGACY: &str = "    - name: Legacy config\n      ansible.builtin.copy: { dest: /etc/legacy.conf, content: \"old=1\\n\", mode: \"0644\" }\n";
const CLEANUP: &str = "    - name: Remove the legacy config\n      ansible.builtin.file: { path: /etc/legacy.conf, state: absent }\n";
const CHECKS: &str = "- name: app config\n  file: /etc/app.conf\n  contains: [\"port=80\"]\n";

/// The commit `git_ref` names in `project`.
fn commit_of(project: &Project, git_ref: &str) -> String {
    let out = std::process::Command::new("git")
        .current_dir(project.path())
        .args(["rev-parse", git_ref])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn scenario<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name}: {json:#}"))
}

/// v1 writes a file; main removes it with a cleanup task; the change drops the cleanup:
/// servers at main are clean, servers still at v1 keep the file forever.
#[test]
fn a_cleanup_dropped_too_early_fails_only_the_upgrade_from_the_older_version() {
    let project = Project::new("it-fleet")
        .file(
            "drydock.yaml",
            &config("it-fleet", "  upgrade_from: [v1]\n", ""),
        )
        .file("images/default/Dockerfile", "FROM debian:bookworm-slim\n")
        .file("checks.yaml", CHECKS)
        .file("site.yml", &playbook(&format!("{APP}{LEGACY}")))
        .commit("v1");
    let tag = std::process::Command::new("git")
        .current_dir(project.path())
        .args(["tag", "v1"])
        .status()
        .unwrap();
    assert!(tag.success());
    let v1 = commit_of(&project, "v1");
    let project = project
        .file("site.yml", &playbook(&format!("{APP}{CLEANUP}")))
        .commit("main cleans up");

    let list = project.drydock(&["list"]);
    list.expect_code(0);
    assert!(
        list.stdout
            .contains("upgrade@v1   production image of the older v1 + working tree"),
        "{}",
        list.stdout
    );

    // The cleanup kept: every upgrade path is clean.
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    for name in ["fresh", "upgrade", "upgrade@v1", "idempotence"] {
        assert_eq!(scenario(&json, name)["status"], "pass", "{name}");
    }
    assert_eq!(json["diff"]["status"], "pass");
    assert_eq!(json["diff"]["upgrades"][0]["scenario"], "upgrade@v1");
    assert_eq!(json["diff"]["upgrades"][0]["ref"], "v1");
    assert_eq!(json["diff"]["upgrades"][0]["status"], "pass");
    assert_eq!(json["images"]["upgrade_from"][0]["scenario"], "upgrade@v1");

    // The change drops the cleanup: upgrade (from main) still passes, upgrade@v1 does not.
    let project = project.file("site.yml", &playbook(APP));
    let markdown = project.path().join("report.md");
    let run = project.drydock(&[
        "run",
        "--format",
        "json",
        "--markdown",
        markdown.to_str().unwrap(),
    ]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(scenario(&json, "upgrade")["status"], "pass");
    assert_eq!(
        scenario(&json, "upgrade@v1")["status"],
        "pass",
        "checks pass"
    );
    let diff = &json["diff"];
    assert_eq!(diff["status"], "fail");
    assert_eq!(
        diff["only_in_upgrade"],
        serde_json::json!(["upgrade@v1:/etc/legacy.conf"])
    );
    assert_eq!(diff["only_in_fresh"], serde_json::json!([]));
    let older = &diff["upgrades"][0];
    assert_eq!(older["status"], "fail");
    assert_eq!(
        older["only_in_upgrade"],
        serde_json::json!(["/etc/legacy.conf"])
    );
    assert_eq!(
        diff["written_by"]["upgrade@v1:/etc/legacy.conf"],
        serde_json::json!({
            "scenario": "production",
            "task": "Legacy config",
            "file": "site.yml",
            "line": 7,
            "ref": v1,
        })
    );
    assert_eq!(
        older["written_by"]["/etc/legacy.conf"]["task"],
        "Legacy config"
    );
    let markdown = std::fs::read_to_string(markdown).unwrap();
    assert!(
        markdown.contains("- name: Remove /etc/legacy.conf, left by older versions\n  ansible.builtin.file:\n    path: /etc/legacy.conf\n    state: absent\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "written by task **Legacy config** (`site.yml:7`) in the production build of"
        ),
        "{markdown}"
    );
    let human = project.drydock(&["run"]);
    human.expect_code(1);
    assert!(
        human.stdout.contains("  only in upgrade: upgrade@v1:/etc/legacy.conf\n                   written by task \"Legacy config\" (site.yml:7) in the production build of"),
        "{}",
        human.stdout
    );

    // A ref that names no commit stops the run before anything is built.
    let project = project.file(
        "drydock.yaml",
        &config("it-fleet", "  upgrade_from: [v0]\n", ""),
    );
    let missing = project.drydock(&["run"]);
    missing.expect_code(2);
    assert!(
        missing.stderr.contains(
            "`production.upgrade_from` names `v0`, which is neither a local ref nor `origin/v0`"
        ),
        "{}",
        missing.stderr
    );
}

/// The production version renders a vhost from a role and writes a file with a shell command;
/// the change renames the vhost, drops the command and adds a template that changes every run
/// (and shows a secret).
#[test]
fn every_finding_names_the_task_that_wrote_it_also_from_a_cached_and_a_promoted_image() {
    let vhost = |name: &str| {
        format!("- name: Vhost\n  ansible.builtin.copy:\n    dest: /etc/sites-enabled/{name}\n    content: \"server {name}\\n\"\n    mode: \"0644\"\n")
    };
    let main_site = "- name: app\n  hosts: all\n  gather_facts: false\n  pre_tasks:\n    - name: Sites folder\n      ansible.builtin.file: { path: /etc/sites-enabled, state: directory, mode: \"0755\" }\n  roles: [web]\n  tasks:\n    - name: Marker by command\n      ansible.builtin.shell: echo x > /etc/by-command\n";
    let env = "  env:\n    - { name: API_TOKEN, value: s3cr3t-canary-42, secret: true }\n";
    let project = Project::new("it-blame")
        .file("drydock.yaml", &config("it-blame", "", env))
        .file("images/default/Dockerfile", "FROM debian:bookworm-slim\n")
        .file("checks.yaml", "- name: sites\n  file: /etc/sites-enabled\n")
        .file("roles/web/tasks/main.yml", &vhost("test.dev.conf"))
        .file("site.yml", main_site)
        .commit("main");
    let main = commit_of(&project, "HEAD");
    let changed_site = "- name: app\n  hosts: all\n  gather_facts: false\n  pre_tasks:\n    - name: Sites folder\n      ansible.builtin.file: { path: /etc/sites-enabled, state: directory, mode: \"0755\" }\n  roles: [web]\n  tasks:\n    - name: Counter\n      ansible.builtin.template: { src: counter.j2, dest: /etc/counter, mode: \"0644\" }\n";
    let project = project
        .file("roles/web/tasks/main.yml", &vhost("test.conf"))
        .file("site.yml", changed_site)
        .file(
            "counter.j2",
            "token={{ lookup('env', 'API_TOKEN') }}\nrun={{ 999999999 | random }}\n",
        );

    let check = |run: &crate::fixture::Run, built: bool, commit: &str| {
        run.expect_code(1);
        assert!(
            !run.stdout.contains("s3cr3t-canary-42"),
            "a secret in a --diff"
        );
        let json = run.json();
        assert_eq!(json["images"]["production_built"], built);
        let diff = &json["diff"];
        assert_eq!(
            diff["only_in_upgrade"],
            serde_json::json!(["/etc/by-command", "/etc/sites-enabled/test.dev.conf"])
        );
        assert_eq!(
            diff["written_by"]["/etc/sites-enabled/test.dev.conf"],
            serde_json::json!({
                "scenario": "production",
                "task": "web : Vhost",
                "file": "roles/web/tasks/main.yml",
                "line": 1,
                "ref": commit,
            })
        );
        assert!(
            diff["written_by"].get("/etc/by-command").is_none(),
            "a shell command's file has no writer: {diff:#}"
        );
        assert_eq!(
            diff["written_by"]["/etc/sites-enabled/test.conf"],
            Value::Null
        );
        // The template is not idempotent: the second run shows what it changed.
        let idempotence = scenario(&json, "idempotence");
        assert_eq!(idempotence["status"], "fail");
        let changes = idempotence["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{idempotence:#}");
        assert_eq!(changes[0]["task"], "Counter");
        assert_eq!(changes[0]["file"], "site.yml");
        let text = changes[0]["diff"].as_str().unwrap();
        assert!(text.contains("--- before: /etc/counter"), "{text}");
        assert!(text.contains("\n-run="), "{text}");
        assert!(text.contains("\n+run="), "{text}");
        assert!(text.contains("token=***"), "{text}");
        assert_eq!(
            idempotence["written_by"]["/etc/counter"]["task"], "Counter",
            "{idempotence:#}"
        );
    };
    check(&project.drydock(&["run", "--format", "json"]), true, &main);
    // A cached production image still says who wrote what.
    check(&project.drydock(&["run", "--format", "json"]), false, &main);

    // Promoted, the image keeps its own record: the promote's provisioning of HEAD.
    project.drydock(&["promote"]).expect_code(0);
    check(&project.drydock(&["run", "--format", "json"]), false, &main);
}
