//! Several platforms (Debian bookworm and trixie, both bootstrapped with debootstrap), checks
//! selected per platform, and shards of the units merged back into one verdict.

use serde_json::Value;

use crate::fixture::Project;

/// A platform built from Debian `suite`'s base; its Dockerfile adds `extra`.
fn platform(name: &str, suite: &str) -> String {
    format!(
        "  {name}:\n    dockerfile: images/{name}/Dockerfile\n    base:\n      image: debian:{suite}-slim\n      bootstrap: {{ debootstrap: {{ suite: {suite}, variant: minbase, include: [python3] }} }}\n"
    )
}

/// A project with `platforms` (name, suite, Dockerfile lines after FROM), an Ansible playbook
/// and a check file.
fn project(name: &str, platforms: &[(&str, &str, &str)], site: &str, checks: &str) -> Project {
    let mut config = format!("name: {name}\nplatforms:\n");
    for (platform_name, suite, _) in platforms {
        config.push_str(&platform(platform_name, suite));
    }
    config.push_str("provision:\n  ansible:\n    playbook: site.yml\nproduction:\n  ref: main\nchecks: [checks.yaml]\ndiff:\n  paths: [/etc, /usr/local]\n");
    let mut project = Project::new(name)
        .file("drydock.yaml", &config)
        .file("site.yml", site)
        .file("checks.yaml", checks);
    for (platform_name, suite, extra) in platforms {
        project = project.file(
            &format!("images/{platform_name}/Dockerfile"),
            &format!("FROM debian:{suite}-slim\n{extra}"),
        );
    }
    project
}

fn playbook(tasks: &str) -> String {
    format!("- name: app\n  hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
}

const CONFIG_TASK: &str = "    - name: App config\n      ansible.builtin.copy: { dest: /etc/app.conf, content: \"port=80\\n\", mode: \"0644\" }\n";

/// The scenario `name` on `platform`.
fn scenario<'a>(json: &'a Value, name: &str, platform: &str) -> &'a Value {
    json["scenarios"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find(|s| s["name"] == name && s["platform"] == platform)
        })
        .unwrap_or_else(|| panic!("no scenario {name} on {platform} in {json:#}"))
}

/// The check `name` of a scenario.
fn check<'a>(scenario: &'a Value, name: &str) -> &'a Value {
    scenario["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {scenario:#}"))
}

#[test]
fn a_change_that_breaks_only_on_trixie_fails_only_there_and_checks_are_chosen_per_platform() {
    let checks = "- name: app config\n  file: /etc/app.conf\n  contains: [\"port=80\"]\n- name: python 3.11 site\n  file: /usr/lib/python3.11/os.py\n  platforms: [bookworm]\n- name: no bookworm sources\n  file: /etc/os-release\n  contains: [trixie]\n  skip_platforms: [bookworm]\n";
    let project = project(
        "it-platforms",
        &[("bookworm", "bookworm", ""), ("trixie", "trixie", "")],
        &playbook(CONFIG_TASK),
        checks,
    )
    .commit("app config");

    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["platforms"], serde_json::json!(["bookworm", "trixie"]));
    assert_eq!(json["units"], serde_json::json!(["bookworm", "trixie"]));
    assert_eq!(json["scenarios"].as_array().unwrap().len(), 6, "{json:#}");
    for platform in ["bookworm", "trixie"] {
        for name in ["fresh", "upgrade", "idempotence"] {
            assert_eq!(scenario(&json, name, platform)["status"], "pass");
        }
    }
    let bookworm = scenario(&json, "fresh", "bookworm");
    assert_eq!(check(bookworm, "python 3.11 site")["status"], "pass");
    let skipped = check(bookworm, "no bookworm sources");
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(
        skipped["message"],
        "skipped on bookworm: the check's `skip_platforms` lists bookworm"
    );
    let trixie = scenario(&json, "upgrade", "trixie");
    assert_eq!(check(trixie, "no bookworm sources")["status"], "pass");
    let skipped = check(trixie, "python 3.11 site");
    assert_eq!(skipped["status"], "skipped", "{trixie:#}");
    assert_eq!(skipped["platform"], "trixie");
    assert_eq!(
        skipped["message"],
        "skipped on trixie: the check's `platforms` is bookworm"
    );
    // Every platform has its own images, tagged with its name.
    let tags = crate::fixture::with_engine(|engine| async move {
        engine
            .images_with_label(drydock::docker::LABEL_PROJECT, "it-platforms")
            .await
            .unwrap()
            .into_iter()
            .flat_map(|(_, tags)| tags)
            .collect::<Vec<_>>()
    });
    for platform in ["bookworm", "trixie"] {
        assert!(
            tags.iter()
                .any(|t| t.starts_with(&format!("drydock/it-platforms:default-{platform}-"))),
            "{tags:?}"
        );
        assert!(
            tags.iter()
                .any(|t| t.starts_with("drydock/it-platforms:production-")
                    && t.ends_with(&format!("-{platform}"))),
            "{tags:?}"
        );
    }

    // The snapshot holds each platform's state under its name; a subset rewrites its part alone
    // and is compared with its part alone.
    project.drydock(&["snapshot"]).expect_code(0);
    let state = std::fs::read_to_string(project.path().join("drydock.state")).unwrap();
    assert!(
        state.contains("\nbookworm/it-platforms:/etc/app.conf\t"),
        "{state}"
    );
    assert!(
        state.contains("\ntrixie/it-platforms:/etc/app.conf\t"),
        "{state}"
    );
    let subset = project.drydock(&["snapshot", "--platform", "trixie"]);
    subset.expect_code(0);
    assert!(
        subset
            .stdout
            .contains("on trixie; the other platforms' state kept"),
        "{}",
        subset.stdout
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("drydock.state")).unwrap(),
        state
    );
    project
        .drydock(&["run", "--platform", "bookworm", "--locked"])
        .expect_code(0);
    std::fs::remove_file(project.path().join("drydock.state")).unwrap();

    // A path that exists only where Python is 3.11: the change works on bookworm, not on trixie.
    let project = project.file(
        "site.yml",
        &playbook(&format!("{CONFIG_TASK}    - name: Site customisation\n      ansible.builtin.copy: {{ dest: /usr/lib/python3.11/sitecustomize.py, content: \"import os\\n\", mode: \"0644\" }}\n")),
    );
    let junit = project.path().join("junit.xml");
    let markdown = project.path().join("report.md");
    let run = project.drydock(&[
        "run",
        "--format",
        "json",
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        markdown.to_str().unwrap(),
    ]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(json["verdict"], "fail");
    for name in ["fresh", "upgrade", "idempotence"] {
        assert_eq!(
            scenario(&json, name, "bookworm")["status"],
            "pass",
            "{name}"
        );
    }
    for name in ["fresh", "upgrade"] {
        let broken = scenario(&json, name, "trixie");
        assert_eq!(broken["status"], "fail", "{broken:#}");
        let provision = &broken["provision"];
        assert_eq!(provision["platform"], "trixie");
        assert_eq!(provision["status"], "fail", "{provision:#}");
        assert!(
            provision["failed_task"]
                .as_str()
                .unwrap_or_default()
                .contains("Site customisation"),
            "{provision:#}"
        );
    }
    let junit = std::fs::read_to_string(junit).unwrap();
    assert!(junit.contains("name=\"trixie fresh\""), "{junit}");
    assert!(junit.contains("name=\"bookworm fresh\""), "{junit}");
    let markdown = std::fs::read_to_string(markdown).unwrap();
    assert!(markdown.contains("trixie"), "{markdown}");

    // The subset runs the platform alone, which passes.
    let run = project.drydock(&["run", "--platform", "bookworm", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.json()["units"], serde_json::json!(["bookworm"]));
    let unknown = project.drydock(&["run", "--platform", "jessie"]);
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains(
            "--platform jessie: not a platform of the project; its platforms are bookworm, trixie"
        ),
        "{}",
        unknown.stderr
    );
}

/// Four units from two bases; `trixie-min` lacks what a check wants. The shards of
/// `hash:K/2` are {bookworm-tools, trixie} and {bookworm, trixie-min}.
#[test]
fn two_shards_merged_give_the_unsharded_verdict_and_counts() {
    let platforms = [
        (
            "bookworm",
            "bookworm",
            "RUN mkdir -p /usr/local/share/tools\n",
        ),
        (
            "bookworm-tools",
            "bookworm",
            "RUN mkdir -p /usr/local/share/tools && echo on > /usr/local/share/tools/enabled\n",
        ),
        ("trixie", "trixie", "RUN mkdir -p /usr/local/share/tools\n"),
        ("trixie-min", "trixie", ""),
    ];
    let checks = "- name: app config\n  file: /etc/app.conf\n  contains: [\"port=80\"]\n- name: tools folder\n  file: /usr/local/share/tools\n  type: directory\n- name: tools enabled\n  file: /usr/local/share/tools/enabled\n  platforms: [bookworm-tools]\n";
    let project =
        project("it-shards", &platforms, &playbook(CONFIG_TASK), checks).commit("four platforms");

    let list = project.drydock(&["list", "--format", "json"]);
    list.expect_code(0);
    let ids: Vec<String> = list.json()["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["bookworm", "bookworm-tools", "trixie", "trixie-min"]);
    let shard = |k: u32| -> Vec<String> {
        let list = project.drydock(&[
            "list",
            "--format",
            "json",
            "--partition",
            &format!("hash:{k}/2"),
        ]);
        list.expect_code(0);
        list.json()["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(shard(1), ["bookworm-tools", "trixie"]);
    assert_eq!(shard(2), ["bookworm", "trixie-min"]);
    // A shard without units passes at once, without an engine.
    let empty = (1..=16)
        .find(|k| {
            let list = project.drydock(&[
                "list",
                "--format",
                "json",
                "--partition",
                &format!("hash:{k}/16"),
            ]);
            list.json()["units"].as_array().unwrap().is_empty()
        })
        .expect("an empty shard of 16");
    let run = project.drydock_env(
        &[
            "run",
            "--format",
            "json",
            "--partition",
            &format!("hash:{empty}/16"),
        ],
        &[("DOCKER_HOST", "unix:///nonexistent")],
    );
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["verdict"], "pass");
    assert!(json.get("units").is_none(), "no units: {json:#}");
    assert!(json
        .get("scenarios")
        .is_none_or(|s| s == &serde_json::json!([])));
    assert_eq!(json["source"]["all_units"].as_array().unwrap().len(), 4);

    let whole = project.drydock(&["run", "--format", "json"]);
    whole.expect_code(1);
    let whole = whole.json();
    let mut reports = Vec::new();
    for k in 1..=2 {
        let path = project.path().join(format!("shard-{k}.json"));
        let run = project.drydock(&[
            "run",
            "--partition",
            &format!("hash:{k}/2"),
            "--json",
            path.to_str().unwrap(),
        ]);
        // Shard 2 holds trixie-min, whose fresh and upgrade fail.
        run.expect_code(if k == 2 { 1 } else { 0 });
        reports.push(path);
    }
    let junit = project.path().join("merged.xml");
    let mut args = vec![
        "report",
        "merge",
        "--format",
        "json",
        "--junit",
        junit.to_str().unwrap(),
    ];
    args.extend(reports.iter().map(|p| p.to_str().unwrap()));
    let merged = project.drydock(&args);
    merged.expect_code(1);
    let merged = merged.json();
    assert_eq!(merged["verdict"], whole["verdict"]);
    assert_eq!(merged["units"], whole["units"]);
    assert_eq!(counts(&merged), counts(&whole));
    assert_eq!(
        counts(&whole),
        Counts {
            scenarios: 12,
            failed_scenarios: 2,
            passed: 16,
            failed: 2,
            skipped: 6
        }
    );
    let junit = std::fs::read_to_string(junit).unwrap();
    assert_eq!(junit.matches("<failure").count(), 2, "{junit}");

    // A report of another commit is refused.
    let mut other: Value =
        serde_json::from_str(&std::fs::read_to_string(&reports[1]).unwrap()).unwrap();
    other["source"]["commit"] = Value::String("0123456789abcdef0123456789abcdef01234567".into());
    let other_path = reports[1].with_file_name("other-commit.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let refused = crate::fixture::drydock_command()
        .args([
            "report",
            "merge",
            reports[0].to_str().unwrap(),
            other_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let refused = crate::fixture::Run::from(refused);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("different commits"),
        "{}",
        refused.stderr
    );

    // A shard that did not report leaves its units unjudged: an error, never a pass.
    let partial = crate::fixture::drydock_command()
        .args(["report", "merge", reports[0].to_str().unwrap()])
        .output()
        .unwrap();
    let partial = crate::fixture::Run::from(partial);
    partial.expect_code(3);
    let said = format!("{}{}", partial.stdout, partial.stderr);
    assert!(
        said.contains("no report covers the unit(s) bookworm, trixie-min"),
        "{said}"
    );
}

#[derive(Debug, PartialEq)]
struct Counts {
    scenarios: usize,
    failed_scenarios: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
}

fn counts(report: &Value) -> Counts {
    let scenarios = report["scenarios"].as_array().unwrap();
    let checks: Vec<&Value> = scenarios
        .iter()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .collect();
    let with = |status: &str| checks.iter().filter(|c| c["status"] == status).count();
    Counts {
        scenarios: scenarios.len(),
        failed_scenarios: scenarios.iter().filter(|s| s["status"] == "fail").count(),
        passed: with("pass"),
        failed: with("fail"),
        skipped: with("skipped"),
    }
}
