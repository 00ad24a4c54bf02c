//! Real servers: systemd as PID 1, so an upgraded server runs its services before the change
//! arrives, as production does.

use crate::fixture::Project;

/// systemd, and nginx, which Debian's package enables at boot.
const DOCKERFILE: &str = "FROM debian:bookworm-slim\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv nginx-light >/dev/null && rm -rf /var/lib/apt/lists/*\n";

/// `project`'s drydock.yaml with `images.default.init: systemd` and `extra` appended.
fn booting_systemd(project: Project, extra: &str) -> Project {
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    project.file(
        "drydock.yaml",
        &(config.replace(
            "    dockerfile: images/default/Dockerfile\n",
            "    dockerfile: images/default/Dockerfile\n    init: systemd\n",
        ) + extra),
    )
}

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

/// The port check allows the app a few seconds to bind: systemd reports a simple service
/// started as soon as it is forked, and a busy machine takes longer than a check to start
/// Python.
const CHECKS: &str = "- name: app service\n  service: myapp\n  enabled: true\n- name: app listens on 8080\n  port: 8080\n  retries: 5\n";

#[test]
fn a_config_change_without_a_restart_fails_the_upgrade_and_passes_fresh() {
    let project = Project::debian("it-systemd", "  ansible:\n    playbook: site.yml", CHECKS)
        .file("images/default/Dockerfile", DOCKERFILE)
        .file("site.yml", &site(8000, true))
        .commit("production: the app on 8000");
    let project = booting_systemd(project, "");

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

    // `drydock doctor` boots the project's default image as scenarios do, and leaves nothing.
    let doctor = project.drydock(&["doctor", "--format", "json"]);
    doctor.expect_code(0);
    let json = doctor.json();
    let systemd = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "systemd")
        .unwrap();
    assert_eq!(systemd["status"], "ok", "{json:#}");
    let found = systemd["found"].as_str().unwrap();
    assert!(
        found.starts_with("drydock/it-systemd:default booted in "),
        "{found}"
    );
    let left = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            "label=io.drydock.project=it-systemd",
        ])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "doctor left a container");
}

/// A unit that is started but not enabled.
const STARTED_NOT_ENABLED: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: Worker unit
      copy:
        dest: /etc/systemd/system/worker.service
        content: |
          [Unit]
          Description=worker
          [Service]
          ExecStart=/bin/sleep infinity
          [Install]
          WantedBy=multi-user.target
    - name: Worker runs
      systemd: { name: worker, state: started, enabled: ENABLED, daemon_reload: true }
"#;

const REBOOT_CHECKS: &str = "- name: nginx runs at boot\n  service: nginx\n  running: true\n  enabled: true\n- name: worker runs\n  service: worker\n  running: true\n";

#[test]
fn a_service_started_but_not_enabled_fails_only_after_the_reboot() {
    let project = Project::debian(
        "it-reboot",
        "  ansible:\n    playbook: site.yml",
        REBOOT_CHECKS,
    )
    .file("images/default/Dockerfile", DOCKERFILE)
    .file("site.yml", &STARTED_NOT_ENABLED.replace("ENABLED", "false"))
    .commit("production");
    let project = booting_systemd(project, "reboot: true\n");

    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let names: Vec<String> = run.json()["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "fresh",
            "upgrade",
            "idempotence",
            "fresh-reboot",
            "upgrade-reboot"
        ]
    );
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "pass", "{fresh:#}");
    assert_eq!(fresh["checks"][0]["status"], "pass", "nginx is enabled");
    let rebooted = run.scenario("fresh-reboot");
    assert_eq!(rebooted["status"], "fail", "{rebooted:#}");
    assert_eq!(rebooted["checks"][0]["status"], "pass");
    assert_eq!(rebooted["checks"][1]["name"], "worker runs");
    assert_eq!(rebooted["checks"][1]["status"], "fail");
    assert_eq!(rebooted["message"], "1 check(s) failed: worker runs");
    assert_eq!(run.scenario("upgrade")["status"], "pass");
    assert_eq!(run.scenario("upgrade-reboot")["status"], "fail");
    assert!(run.stderr.contains("rebooting"), "{}", run.stderr);

    // Enabled, it survives the reboot; `--reboot` asks for it without the project key.
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    let project = project
        .file("drydock.yaml", &config.replace("reboot: true\n", ""))
        .file("site.yml", &STARTED_NOT_ENABLED.replace("ENABLED", "true"));
    let run = project.drydock(&["run", "--reboot", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.scenario("fresh-reboot")["status"], "pass");
    assert_eq!(run.scenario("upgrade-reboot")["status"], "pass");
    assert!(run.json()["timings_ms"]["reboot"].as_u64().unwrap() > 0);
}

#[test]
fn reboot_without_systemd_is_a_usage_error() {
    let project = Project::debian(
        "it-reboot-usage",
        "  shell:\n    script: provision.sh",
        "- name: x\n  file: /etc/hostname\n",
    )
    .file("provision.sh", "#!/bin/sh\ntrue\n");
    let run = project.drydock(&["run", "--reboot"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--reboot: a reboot needs `images.default.init: systemd`"),
        "{}",
        run.stderr
    );
}
