//! `drydock init` in an existing Ansible repository, and a `drydock run` right after it.

use crate::fixture::Project;

const SITE: &str = r#"- name: Web tier
  hosts: webservers
  gather_facts: false
  tasks:
    - name: Web config
      copy: { dest: /etc/web.conf, content: "port 80\n", mode: "0644" }
    - name: Web root
      file: { path: /srv/www, state: directory }
    - name: Web user
      user: { name: webapp }

- name: Database tier
  hosts: dbservers
  gather_facts: false
  tasks:
    - name: Database unit
      copy:
        dest: /etc/systemd/system/db.service
        content: |
          [Unit]
          Description=database
          [Service]
          ExecStart=/bin/sleep infinity
          [Install]
          WantedBy=multi-user.target
    - name: Database runs
      systemd: { name: db, state: started, enabled: true, daemon_reload: true }
"#;

#[test]
fn init_writes_a_project_that_runs_and_never_overwrites() {
    let project = Project::new("it-init")
        .file("site.yml", SITE)
        .file("inventory.ini", "[webservers]\nweb1\n\n[dbservers]\ndb1\n")
        .commit("an existing Ansible repository");

    let init = project.drydock(&["init"]);
    init.expect_code(0);
    assert!(
        init.stdout
            .contains("inventory     inventory.ini (2 host(s): "),
        "{}",
        init.stdout
    );
    assert!(init
        .stdout
        .contains("wrote checks/starter.yaml (5 check(s) from the tasks)"));
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    assert!(config.contains("    init: systemd\n"), "{config}");
    assert!(config.contains("    playbook: site.yml\n"), "{config}");
    assert!(
        config.contains("    inventory: inventory.ini\n"),
        "{config}"
    );
    let checks = std::fs::read_to_string(project.path().join("checks/starter.yaml")).unwrap();
    assert!(
        checks.contains(
            "- name: service db runs and starts at boot\n  # from site.yml:26, task \"Database runs\"\n  service: db\n  running: true\n  enabled: true\n  hosts: [dbservers]\n"
        ),
        "{checks}"
    );
    assert_eq!(checks.matches("- name: ").count(), 5, "{checks}");

    // The project name comes from the folder; rename it to the one the fixture cleans up.
    let name_line = config.lines().find(|l| l.starts_with("name: ")).unwrap();
    let config = config.replace(name_line, "name: it-init");
    let project = project.file("drydock.yaml", &config);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["checks"].as_array().unwrap().len(), 5, "{fresh:#}");
    assert_eq!(report["hosts"].as_array().unwrap().len(), 2);
    assert_eq!(report["unmatched_plays"], serde_json::Value::Null);

    // A second init changes nothing.
    let before = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    let again = project.drydock(&["init"]);
    again.expect_code(2);
    assert!(
        again.stderr.contains("already exists") && again.stderr.contains("never overwrites"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap(),
        before
    );
}

#[test]
fn init_without_a_playbook_says_so() {
    let project = Project::new("it-init-empty").file("README.md", "nothing here\n");
    let run = project.drydock(&["init"]);
    run.expect_code(2);
    assert!(run.stderr.contains("no playbook in "), "{}", run.stderr);
    assert!(!project.path().join("drydock.yaml").exists());
}
