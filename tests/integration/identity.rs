//! No false drift: the same host is the same host in both scenarios. Values that differ only
//! because fresh and upgrade are different containers (host name, addresses), per-machine
//! secrets (SSH host keys, the snakeoil certificate) and dated fields are not drift; real drift
//! next to them still is.

use crate::fixture::Project;

const ANSIBLE: &str = "  ansible:\n    playbook: site.yml";
const CHECKS: &str = "- name: node config\n  file: /etc/app/node.conf\n  contains: [\"node=it-identity\"]\n- name: sshd installed\n  package: openssh-server\n";

/// Everything a real playbook takes from the machine it runs on.
const SITE: &str = r#"- hosts: all
  tasks:
    - name: Install sshd, the snakeoil certificate and ip
      apt:
        name: [openssh-server, ssl-cert, iproute2]
        update_cache: true
        install_recommends: false
    - name: Gather facts again, now that ip is there
      setup:
    - name: Config folder
      file: { path: /etc/app, state: directory, mode: "0755" }
    - name: Node name from the inventory and the facts
      copy:
        dest: /etc/app/node.conf
        content: "node={{ inventory_hostname }}\nhostname={{ ansible_hostname }}\nfqdn={{ ansible_fqdn }}\n"
    - name: Listen on the default address
      copy:
        dest: /etc/app/listen.conf
        content: "listen {{ ansible_default_ipv4.address }}:8080;\nmac {{ ansible_default_ipv4.macaddress }}\n"
    - name: Host name from the command
      shell: hostname > /etc/app/hostname.txt
      args: { creates: /etc/app/hostname.txt }
    - name: A service user
      user: { name: app, system: true, shell: /usr/sbin/nologin }
"#;

#[test]
fn host_names_addresses_host_keys_and_users_are_not_drift() {
    let change = format!(
        "{SITE}    - name: A new setting\n      copy: {{ dest: /etc/app/extra.conf, content: \"x=1\\n\" }}\n"
    );
    let project = Project::debian("it-identity", ANSIBLE, CHECKS)
        .file("site.yml", SITE)
        .commit("production")
        .file("site.yml", &change);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    let diff = &json["diff"];
    assert_eq!(diff["status"], "pass", "{diff:#}");
    assert_eq!(diff["changed"], serde_json::json!([]));
    // The new setting is written on both servers.
    assert_eq!(diff["only_in_fresh"], serde_json::json!([]));
    assert_eq!(diff["only_in_upgrade"], serde_json::json!([]));
    let normalised: Vec<&str> = diff["normalised"]
        .as_array()
        .expect("normalised paths are listed")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for path in [
        "/etc/app/listen.conf",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_rsa_key.pub",
        "/etc/ssl/private/ssl-cert-snakeoil.key",
    ] {
        assert!(normalised.contains(&path), "{path} not in {normalised:?}");
    }
    // The host's name was the same everywhere: nothing to normalise in these.
    assert!(
        !normalised.contains(&"/etc/app/node.conf"),
        "{normalised:?}"
    );
    assert!(
        !normalised.contains(&"/etc/app/hostname.txt"),
        "{normalised:?}"
    );
    let summary = project.drydock(&["run"]);
    summary.expect_code(0);
    assert!(
        summary
            .stdout
            .contains("equal once per-machine values were set aside"),
        "{}",
        summary.stdout
    );
}

#[test]
fn real_drift_beside_identity_values_still_fails() {
    let production = r#"- hosts: all
  tasks:
    - name: Install sshd
      apt: { name: openssh-server, update_cache: true, install_recommends: false }
    - name: An extra host key
      command: ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_extra_key
      args: { creates: /etc/ssh/ssh_host_extra_key }
    - name: Group-readable host key
      file: { path: /etc/ssh/ssh_host_ed25519_key, mode: "0640" }
    - name: Config folder
      file: { path: /etc/app, state: directory, mode: "0755" }
    - name: Node config, written once
      copy:
        dest: /etc/app/node.conf
        content: "node={{ inventory_hostname }}\nport=1\n"
        force: false
"#;
    let change = r#"- hosts: all
  tasks:
    - name: Install sshd
      apt: { name: openssh-server, update_cache: true, install_recommends: false }
    - name: Config folder
      file: { path: /etc/app, state: directory, mode: "0755" }
    - name: Node config, written once
      copy:
        dest: /etc/app/node.conf
        content: "node={{ inventory_hostname }}\nport=2\n"
        force: false
"#;
    let checks = "- name: node config\n  file: /etc/app/node.conf\n";
    let project = Project::debian("it-identity-drift", ANSIBLE, checks)
        .file("site.yml", production)
        .commit("production")
        .file("site.yml", change);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(run.scenario("fresh")["status"], "pass");
    assert_eq!(run.scenario("upgrade")["status"], "pass");
    let diff = &json["diff"];
    assert_eq!(diff["status"], "fail");
    assert_eq!(diff["only_in_fresh"], serde_json::json!([]));
    assert_eq!(
        diff["only_in_upgrade"],
        serde_json::json!([
            "/etc/ssh/ssh_host_extra_key",
            "/etc/ssh/ssh_host_extra_key.pub"
        ])
    );
    let changed: Vec<(String, serde_json::Value)> = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_string(), c["fields"].clone()))
        .collect();
    assert_eq!(
        changed,
        vec![
            (
                "/etc/app/node.conf".to_string(),
                serde_json::json!(["content"])
            ),
            (
                "/etc/ssh/ssh_host_ed25519_key".to_string(),
                serde_json::json!(["mode"])
            ),
        ]
    );
    assert_eq!(
        diff["changed"][0]["unified"],
        "--- fresh/etc/app/node.conf\n+++ upgrade/etc/app/node.conf\n@@ -1,2 +1,2 @@\n node=it-identity-drift\n-port=2\n+port=1\n"
    );
}
