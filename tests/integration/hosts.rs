//! Real playbooks: groups, several hosts that reach each other by name, inventories with
//! group_vars and host_vars, plays that match no host, a user's ansible.cfg, and a production
//! build that fails.

use crate::fixture::Project;

const ANSIBLE: &str = "  ansible:\n    playbook: site.yml";

/// `app` serves a page; `web` is configured to reach it by name.
const SITE: &str = r#"- name: the app
  hosts: appservers
  gather_facts: false
  tasks:
    - name: App folder
      file: { path: /srv/app, state: directory, mode: "0755" }
    - name: App page
      copy: { dest: /srv/app/index.html, content: "app ok\n" }
    - name: Serve the app
      shell: cd /srv/app && (nohup python3 -m http.server 8000 >/dev/null 2>&1 &)
      changed_when: false
- name: the web server
  hosts: webservers
  gather_facts: false
  tasks:
    - name: Web config names the app by host name
      copy: { dest: /etc/web.conf, content: "upstream http://app:8000/\n" }
- name: the databases
  hosts: dbservers
  tasks:
    - name: Never runs here
      command: "true"
"#;

const CHECKS: &str = r#"- name: web reaches the app by name
  hosts: [webservers]
  command: python3 -c "import urllib.request; print(urllib.request.urlopen('http://app:8000/').read().decode())"
  stdout: ["app ok"]
  retries: 5
- name: app page
  hosts: [app]
  file: /srv/app/index.html
  contains: ["app ok"]
- name: passwd everywhere
  file: /etc/passwd
"#;

const HOSTS: &str = "hosts:\n  web: { groups: [webservers] }\n  app: { groups: [appservers] }\n";

fn names(value: &serde_json::Value, key: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn two_hosts_reach_each_other_by_name_and_drift_is_reported_per_host() {
    let project = Project::debian("it-hosts", ANSIBLE, CHECKS)
        .append("drydock.yaml", HOSTS)
        .file("site.yml", SITE)
        .commit("production");
    let junit = project.path().join("junit.xml");
    let junit_arg = junit.display().to_string();
    let run = project.drydock(&["run", "--format", "json", "--junit", &junit_arg]);
    run.expect_code(0);
    crate::reports::assert_valid(&run);
    let json = run.json();
    assert_eq!(json["schema_version"], 2);
    // One testsuite per scenario and host (3 × 2), plus the diff's.
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let (suites, _, failures, errors, _) = crate::reports::junit_counts(&xml);
    assert_eq!((suites, failures, errors), (7, 0, 0), "{xml}");
    assert!(xml.contains("name=\"fresh web\""), "{xml}");
    assert_eq!(names(&json["hosts"], "name"), ["web", "app"]);
    let fresh = run.scenario("fresh");
    // Pinned checks ran only where they belong; the unpinned one ran on both hosts.
    let checks: Vec<(String, String)> = fresh["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["host"].as_str().unwrap().to_string(),
                c["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("web".to_string(), "web reaches the app by name".to_string()),
            ("web".to_string(), "passwd everywhere".to_string()),
            ("app".to_string(), "app page".to_string()),
            ("app".to_string(), "passwd everywhere".to_string()),
        ]
    );
    assert_eq!(names(&fresh["provision"]["hosts"], "host"), ["web", "app"]);
    assert_eq!(names(&json["diff"]["hosts"], "host"), ["web", "app"]);
    assert_eq!(json["diff"]["status"], "pass");
    // The play for an absent group is reported with its line, and does not fail the run.
    assert_eq!(
        json["unmatched_plays"],
        serde_json::json!([{ "play": "the databases", "pattern": "dbservers", "file": "site.yml", "line": 18 }])
    );

    // The change stops writing a file on web only: an upgraded web keeps it.
    let project = project
        .file(
            "site.yml",
            &SITE.replace(
                "content: \"upstream http://app:8000/\\n\" }\n",
                "content: \"upstream http://app:8000/\\n\" }\n    - name: Old config\n      copy: { dest: /etc/web-old.conf, content: \"old\\n\" }\n",
            ),
        )
        .commit("production with an old file");
    let project = project.file("site.yml", SITE);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    crate::reports::assert_valid(&run);
    let json = run.json();
    assert_eq!(json["diff"]["status"], "fail");
    assert_eq!(
        json["diff"]["only_in_upgrade"],
        serde_json::json!(["web:/etc/web-old.conf"])
    );
    let per_host = json["diff"]["hosts"].as_array().unwrap();
    assert_eq!(per_host[0]["host"], "web");
    assert_eq!(per_host[0]["status"], "fail");
    assert_eq!(
        per_host[0]["only_in_upgrade"],
        serde_json::json!(["/etc/web-old.conf"])
    );
    assert_eq!(per_host[1]["host"], "app");
    assert_eq!(per_host[1]["status"], "pass");
    // The production images are per host.
    let production = json["images"]["production"].as_str().unwrap();
    assert!(
        production.contains("-web") && production.contains("-app"),
        "{production}"
    );
}

#[test]
fn an_inventory_folder_brings_its_groups_and_variables() {
    let inventory = "[webservers]\nweb1 ansible_host=10.1.2.3 ansible_user=deploy ansible_port=2222\nweb2\n\n[dbservers]\ndb1\n";
    let site = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: Say where the variables came from
      copy:
        dest: /etc/drydock-vars
        content: "{{ greeting | default('none') }} / {{ db_role | default('none') }} / {{ app_env }}\n"
"#;
    let checks = r#"- name: web gets its group_vars
  hosts: [webservers]
  file: /etc/drydock-vars
  contains: ["hello from group_vars / none / test"]
- name: db gets its host_vars
  hosts: [db1]
  file: /etc/drydock-vars
  contains: ["none / primary / test"]
"#;
    let provision = "  ansible:\n    playbook: site.yml\n    inventory: inventories/staging\n    extra_vars: { app_env: test }";
    let project = Project::debian("it-inventory", provision, checks)
        .append("drydock.yaml", "hosts:\n  web1: {}\n  db1: {}\n")
        .file("inventories/staging/hosts", inventory)
        .file(
            "inventories/staging/group_vars/webservers.yml",
            "greeting: hello from group_vars\n",
        )
        .file(
            "inventories/staging/host_vars/db1.yml",
            "db_role: primary\n",
        )
        .file("site.yml", site)
        .commit("production");
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    // `hosts:` picked two of the inventory's three; the groups are the inventory's.
    assert_eq!(
        json["hosts"],
        serde_json::json!([
            { "name": "web1", "groups": ["webservers"] },
            { "name": "db1", "groups": ["dbservers"] }
        ])
    );
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "pass", "{fresh:#}");
    assert_eq!(fresh["checks"].as_array().unwrap().len(), 2);
}

#[test]
fn a_playbook_for_a_group_without_hosts_is_a_configuration_error() {
    let site =
        "- hosts: webservers\n  tasks:\n    - name: Install nginx\n      apt: { name: nginx }\n";
    let project = Project::debian("it-nohosts", ANSIBLE, "- name: x\n  package: nginx\n")
        .file("site.yml", site)
        .commit("production");
    let run = project.drydock(&["run"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("site.yml:1 (hosts: webservers) match no host"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("it-nohosts"), "{}", run.stderr);
    assert!(!run.stdout.contains("checks passed"), "{}", run.stdout);
}

#[test]
fn a_users_ansible_cfg_cannot_hide_what_failed() {
    let cfg = "[defaults]\ncallback_result_format = yaml\ndisplay_ok_hosts = false\ndisplay_skipped_hosts = false\n";
    let site = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: Change something
      command: "true"
    - name: Break here
      fail: { msg: "the disk is not formatted as expected" }
"#;
    let project = Project::debian("it-ansiblecfg", ANSIBLE, "- name: x\n  file: /etc/passwd\n")
        .file("ansible.cfg", cfg)
        .file("site.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Fine\n      command: \"true\"\n")
        .commit("production")
        .file("site.yml", site);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "fail");
    let provision = &fresh["provision"];
    assert_eq!(provision["failed_task"], "Break here");
    assert_eq!(provision["failed_task_file"], "site.yml");
    assert_eq!(provision["failed_task_line"], 6);
    assert_eq!(
        provision["message"],
        "the disk is not formatted as expected"
    );
    assert_eq!(
        provision["changed_tasks"],
        serde_json::json!(["Change something"])
    );
    assert_eq!(provision["changed"], 1);
    // The human log is kept as Ansible printed it.
    assert!(provision["log"]
        .as_str()
        .unwrap()
        .contains("TASK [Break here]"));
}

#[test]
fn a_broken_production_build_does_not_hide_a_failing_fresh_install() {
    let broken = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Old break\n      fail: { msg: old version broken }\n";
    let change = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: New break\n      fail: { msg: new version broken }\n";
    let project = Project::debian("it-prodfail", ANSIBLE, "- name: x\n  file: /etc/passwd\n")
        .file("site.yml", broken)
        .commit("production")
        .file("site.yml", change);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    assert_eq!(run.json()["verdict"], "fail");
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "fail");
    assert_eq!(fresh["provision"]["failed_task"], "New break");
    let upgrade = run.scenario("upgrade");
    assert_eq!(upgrade["status"], "error");
    let message = upgrade["message"].as_str().unwrap();
    assert!(
        message.contains("the production image of main could not be built")
            && message.contains("Old break"),
        "{message}"
    );
}
