//! Real servers: systemd as PID 1, so an upgraded server runs its services before the change
//! arrives, as production does.

use crate::fixture::Project;

const DOCKERFILE: &str = "FROM debian:bookworm-slim\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv >/dev/null && rm -rf /var/lib/apt/lists/*\n";

/// The app listens on `port`; the unit starts it at boot.
fn site(port: u16, restart: bool) -> String {
    let notify = if restart {
        "      notify: restart myapp\n"
    } else {
        ""
    };
    let handlers = if restart {
        "  handlers:\n    - name: restart myapp\n      systemd: { name: myapp, state: restarted }\n"
    } else {
        ""
    };
    format!(
        r#"- hosts: all
  gather_facts: false
  tasks:
    - name: App config
      copy: {{ dest: /etc/myapp.env, content: "PORT={port}\n" }}
{notify}    - name: App unit
      copy:
        dest: /etc/systemd/system/myapp.service
        content: |
          [Unit]
          Description=my app
          [Service]
          EnvironmentFile=/etc/myapp.env
          ExecStart=/usr/bin/python3 -m http.server ${{PORT}} --directory /srv
          [Install]
          WantedBy=multi-user.target
    - name: App runs and starts at boot
      systemd: {{ name: myapp, state: started, enabled: true, daemon_reload: true }}
{handlers}"#
    )
}

const CHECKS: &str = "- name: app service\n  service: myapp\n  enabled: true\n- name: app listens on 8080\n  port: 8080\n";

#[test]
fn a_config_change_without_a_restart_fails_the_upgrade_and_passes_fresh() {
    let project = Project::debian("it-systemd", "  ansible:\n    playbook: site.yml", CHECKS)
        .file("images/default/Dockerfile", DOCKERFILE)
        .file("site.yml", &site(8000, true))
        .commit("production: the app on 8000");
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    let project = project.file(
        "drydock.yaml",
        &config.replace(
            "    dockerfile: images/default/Dockerfile\n",
            "    dockerfile: images/default/Dockerfile\n    init: systemd\n",
        ),
    );

    // The change moves the app to 8080 but forgets the restart: running servers keep 8000.
    let project = project.file("site.yml", &site(8080, false));
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "pass", "{fresh:#}");
    let upgrade = run.scenario("upgrade");
    assert_eq!(upgrade["status"], "fail");
    let checks = upgrade["checks"].as_array().unwrap();
    assert_eq!(checks[0]["name"], "app service");
    assert_eq!(
        checks[0]["status"], "pass",
        "the upgraded server booted with the app running"
    );
    assert_eq!(checks[1]["name"], "app listens on 8080");
    assert_eq!(checks[1]["status"], "fail");
    assert_eq!(run.json()["diff"]["status"], "pass");

    // With the handler, both pass.
    let project = project.file("site.yml", &site(8080, true));
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.scenario("upgrade")["checks"][1]["status"], "pass");
}
