//! `drydock run` on the bundled example and on fixtures for the seed-004 failure kinds.

use crate::fixture::{containers_of, Project};

const ANSIBLE: &str = "  ansible:\n    playbook: site.yml";

fn playbook(tasks: &str) -> String {
    format!("- name: fixture\n  hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
}

const DIR_TASK: &str = "    - name: Create the config folder\n      ansible.builtin.file: { path: /etc/hello, state: directory, mode: \"0755\" }\n";
const CONF_TASK: &str = "    - name: Write the config\n      ansible.builtin.copy: { dest: /etc/hello/app.conf, content: \"port=80\\n\", mode: \"0644\" }\n";
const CONF_CHECK: &str = "- name: config written\n  file: /etc/hello/app.conf\n  contains: [\"port=80\"]\n  mode: \"0644\"\n";

#[test]
fn bundled_example_passes_and_a_second_run_reuses_both_images() {
    let root = env!("CARGO_MANIFEST_DIR");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--format", "json"];
        args.extend_from_slice(extra);
        let out = crate::fixture::drydock_command()
            .current_dir(root)
            .args(&args)
            .output()
            .expect("run");
        crate::fixture::Run::from(out)
    };
    let first = run(&[]);
    first.expect_code(0);
    let second = run(&[]);
    second.expect_code(0);
    let json = second.json();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(
        json["images"]["default_built"], false,
        "second run rebuilt the default image"
    );
    assert_eq!(
        json["images"]["production_built"], false,
        "second run rebuilt the production image"
    );
    let names: Vec<&str> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fresh", "upgrade", "idempotence"]);
    for scenario in ["fresh", "upgrade"] {
        let s = second.scenario(scenario);
        assert_eq!(s["status"], "pass");
        assert_eq!(
            s["checks"].as_array().unwrap().len(),
            8,
            "{scenario} ran every check"
        );
    }
    assert_eq!(second.scenario("idempotence")["provision"]["changed"], 0);
    let diff = &json["diff"];
    assert_eq!(diff["status"], "pass");
    assert_eq!(diff["only_in_fresh"].as_array().unwrap().len(), 0);
    assert_eq!(diff["only_in_upgrade"].as_array().unwrap().len(), 0);
    assert_eq!(
        diff["changed"].as_array().unwrap().len(),
        0,
        "false positives: {:#}",
        diff["changed"]
    );
    assert!(json["timings_ms"]["fresh"].as_u64().unwrap() > 0);
    assert!(containers_of("hello").is_empty(), "containers left behind");
    suggested_checks_pass_on_the_production_image(root);
}

/// `drydock suggest` on the example's production image writes checks, each naming where it
/// came from, that pass there; it never overwrites its file.
fn suggested_checks_pass_on_the_production_image(root: &str) {
    let dir = std::env::temp_dir().join(format!("drydock-it-suggest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("images/default")).unwrap();
    let output = dir.join("suggested.yaml");
    let drydock = |cwd: &std::path::Path, args: &[&str]| {
        crate::fixture::Run::from(
            crate::fixture::drydock_command()
                .current_dir(cwd)
                .args(args)
                .output()
                .expect("drydock"),
        )
    };
    let suggest = drydock(
        std::path::Path::new(root),
        &["suggest", "--output", output.to_str().unwrap()],
    );
    suggest.expect_code(0);
    let text = std::fs::read_to_string(&output).expect("the suggested file");
    for expected in [
        "# written by task \"Write the hello world page\" (playbooks/site.yml:34)\n- name: \"/var/www/html/index.html is as the playbook wrote it\"\n  file: \"/var/www/html/index.html\"\n  type: file\n  mode: \"0644\"\n",
        "# written by task \"Configure the default site (port 80)\" (playbooks/site.yml:17)\n",
        "- name: \"nginx is installed\"\n  package: \"nginx\"\n",
        "- name: \"nginx starts at boot\"\n  service: \"nginx\"\n",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    assert!(
        !text.contains("libbsd0"),
        "a dependency was suggested:\n{text}"
    );
    let again = drydock(
        std::path::Path::new(root),
        &["suggest", "--output", output.to_str().unwrap()],
    );
    again.expect_code(2);
    // The same image, checked with only the suggested file.
    for file in ["drydock.yaml", "images/default/Dockerfile"] {
        std::fs::copy(std::path::Path::new(root).join(file), dir.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(dir.join("drydock.yaml"))
        .unwrap()
        .replace("playbook: playbooks/site.yml", "playbook: site.yml")
        .replace("checks: [tests/*.yaml]", "checks: [suggested.yaml]");
    std::fs::write(dir.join("drydock.yaml"), config).unwrap();
    std::fs::copy(
        std::path::Path::new(root).join("playbooks/site.yml"),
        dir.join("site.yml"),
    )
    .unwrap();
    let image = text
        .lines()
        .next()
        .and_then(|l| l.split("from image:").nth(1))
        .and_then(|l| l.split(": one check").next())
        .expect("the image in the header")
        .to_string();
    let check = drydock(
        &dir,
        &[
            "check",
            &format!("image:{image}"),
            "--tag",
            "suggested",
            "--format",
            "json",
        ],
    );
    check.expect_code(0);
    let checks = check.json()["scenarios"][0]["checks"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(checks, text.matches("\n- name: ").count());
    assert!(checks >= 4, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_change_that_breaks_only_a_fresh_install_fails_fresh_and_passes_upgrade() {
    let project = Project::debian("it-fresh-only", ANSIBLE, CONF_CHECK)
        .file("site.yml", &playbook(&format!("{DIR_TASK}{CONF_TASK}")))
        .commit("production: creates the folder, then the config")
        // The change drops the folder task: servers that have the folder still work.
        .file("site.yml", &playbook(CONF_TASK));
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    assert_eq!(run.json()["verdict"], "fail");
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "fail");
    assert_eq!(fresh["provision"]["failed_task"], "Write the config");
    let message = fresh["message"].as_str().unwrap();
    assert!(
        message.contains("Destination directory /etc/hello does not exist"),
        "{message}"
    );
    let upgrade = run.scenario("upgrade");
    assert_eq!(upgrade["status"], "pass");
    assert_eq!(upgrade["checks"][0]["status"], "pass");
    assert!(containers_of("it-fresh-only").is_empty());
}

#[test]
fn a_change_that_breaks_only_an_upgrade_fails_upgrade_and_passes_fresh() {
    let v1 = "    - name: Deploy into a folder\n      ansible.builtin.file: { path: /opt/app/current, state: directory, mode: \"0755\" }\n    - name: Write the page\n      ansible.builtin.copy: { dest: /opt/app/current/index.html, content: \"v1\\n\" }\n";
    let v2 = "    - name: Create the release\n      ansible.builtin.file: { path: /opt/app/releases/2, state: directory, mode: \"0755\" }\n    - name: Write the page\n      ansible.builtin.copy: { dest: /opt/app/releases/2/index.html, content: \"v2\\n\" }\n    - name: Point current at the release\n      ansible.builtin.file: { src: /opt/app/releases/2, dest: /opt/app/current, state: link }\n";
    let checks = "- name: page\n  file: /opt/app/current/index.html\n  contains: [v2]\n";
    let project = Project::debian("it-upgrade-only", ANSIBLE, checks)
        .file("site.yml", &playbook(v1))
        .commit("production: a plain folder")
        .file("site.yml", &playbook(v2));
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "pass");
    assert_eq!(fresh["checks"][0]["status"], "pass");
    let upgrade = run.scenario("upgrade");
    assert_eq!(upgrade["status"], "fail");
    assert_eq!(
        upgrade["provision"]["failed_task"],
        "Point current at the release"
    );
    assert!(
        upgrade["message"]
            .as_str()
            .unwrap()
            .contains("/opt/app/current"),
        "{}",
        upgrade["message"]
    );
}

#[test]
fn a_task_that_changes_on_every_run_fails_idempotence_and_is_named() {
    let tasks = format!("{DIR_TASK}{CONF_TASK}    - name: Record the deployment\n      ansible.builtin.shell: date >> /etc/hello/deployments\n");
    let project = Project::debian("it-idempotence", ANSIBLE, CONF_CHECK)
        .file("site.yml", &playbook(&format!("{DIR_TASK}{CONF_TASK}")))
        .commit("production")
        .file("site.yml", &playbook(&tasks));
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    assert_eq!(run.scenario("fresh")["status"], "pass");
    assert_eq!(run.scenario("upgrade")["status"], "pass");
    let idem = run.scenario("idempotence");
    assert_eq!(idem["status"], "fail");
    assert_eq!(idem["provision"]["changed"], 1);
    assert_eq!(
        idem["provision"]["changed_tasks"],
        serde_json::json!(["Record the deployment"])
    );
    let message = idem["message"].as_str().unwrap();
    assert!(message.contains("\"Record the deployment\""), "{message}");
    let paths: Vec<&str> = idem["changed_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/etc/hello/deployments"]);
}

#[test]
fn a_clean_change_passes_with_exit_0_and_a_readable_summary() {
    let changed_conf = CONF_TASK.replace("port=80", "port=80\\nworkers=4");
    let project = Project::debian("it-clean", ANSIBLE, CONF_CHECK)
        .file("site.yml", &playbook(&format!("{DIR_TASK}{CONF_TASK}")))
        .commit("production")
        .file("site.yml", &playbook(&format!("{DIR_TASK}{changed_conf}")));
    let run = project.drydock(&["run"]);
    run.expect_code(0);
    assert!(run.stdout.contains("verdict: pass"), "{}", run.stdout);
    assert!(run.stdout.contains("fresh        pass"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("diff         pass  fresh and upgrade states match"),
        "{}",
        run.stdout
    );
    // Plain progress goes to stderr when it is not a terminal.
    assert!(run.stderr.contains("Write the config"), "{}", run.stderr);
    assert!(containers_of("it-clean").is_empty());
}
