//! What real repositories rely on: tasks tagged to be skipped on the idempotence run, and
//! Ansible Vault with its password kept out of every output.

use crate::fixture::Project;

const ANSIBLE: &str = "  ansible:\n    playbook: site.yml";

#[test]
fn skip_tags_leave_a_tagged_non_idempotent_task_out_of_the_second_run() {
    let site = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: Config
      copy: { dest: /etc/app.conf, content: "x\n" }
    - name: Restart the app
      command: "true"
      tags: [notest]
"#;
    let project = Project::debian(
        "it-skiptags",
        ANSIBLE,
        "- name: config\n  file: /etc/app.conf\n",
    )
    .file("site.yml", site)
    .commit("production");
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let idempotence = run.scenario("idempotence");
    assert_eq!(idempotence["status"], "fail");
    assert_eq!(
        idempotence["message"],
        "the provisioner reported 1 change(s) on the second run: \"Restart the app\""
    );

    let project = project.append("drydock.yaml", "idempotence:\n  skip_tags: [notest]\n");
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let idempotence = run.scenario("idempotence");
    assert_eq!(idempotence["status"], "pass");
    assert_eq!(
        idempotence["provision"]["changed_tasks"],
        serde_json::json!([])
    );
}

/// The vault password, and the secret it protects (the same text, so that the playbook's own
/// output would show it if drydock did not mask it).
const CANARY: &str = "canary-vault-pw-4711";

fn encrypted(dir: &std::path::Path) {
    let password = dir.join("pw.tmp");
    std::fs::write(&password, CANARY).expect("write password");
    let status = std::process::Command::new("ansible-vault")
        .current_dir(dir)
        .args(["encrypt", "--vault-password-file"])
        .arg(&password)
        .arg("secret.yml")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("ansible-vault");
    assert!(status.success(), "ansible-vault encrypt");
    std::fs::remove_file(password).expect("remove password");
}

#[test]
fn vault_encrypted_vars_decrypt_and_the_password_appears_nowhere() {
    let site = r#"- hosts: all
  gather_facts: false
  vars_files: [secret.yml]
  tasks:
    - name: Show the secret
      debug: { msg: "the secret is {{ db_password }}" }
    - name: Config with the secret
      copy: { dest: /etc/app.conf, content: "pw={{ db_password }}\n" }
"#;
    let checks = format!(
        "- name: secret reached the config\n  file: /etc/app.conf\n  contains: [\"pw={CANARY}\"]\n"
    );
    let provision = format!("{ANSIBLE}\n    vault_password_from_env: DRYDOCK_IT_VAULT");
    let project = Project::debian("it-vault", &provision, &checks)
        .file("secret.yml", &format!("db_password: {CANARY}\n"))
        .file("site.yml", site);
    encrypted(project.path());
    let project = project.commit("production");
    assert!(!std::fs::read_to_string(project.path().join("secret.yml"))
        .unwrap()
        .contains(CANARY));
    let (junit, markdown) = (project.path().join("j.xml"), project.path().join("m.md"));
    let (junit_arg, markdown_arg) = (junit.display().to_string(), markdown.display().to_string());
    let args = [
        "run",
        "--format",
        "json",
        "--junit",
        &junit_arg,
        "--markdown",
        &markdown_arg,
    ];
    let run = project.drydock_env(&args, &[("DRYDOCK_IT_VAULT", CANARY)]);
    run.expect_code(0);
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["checks"][0]["status"], "pass");
    assert!(fresh["provision"]["log"]
        .as_str()
        .unwrap()
        .contains("the secret is ***"));
    for (what, text) in [
        ("json", run.stdout.clone()),
        ("progress", run.stderr.clone()),
        ("junit", std::fs::read_to_string(&junit).unwrap()),
        ("markdown", std::fs::read_to_string(&markdown).unwrap()),
    ] {
        assert!(
            !text.contains(CANARY),
            "the vault password is in the {what}"
        );
    }

    // The same from a password file in the repository.
    std::fs::write(project.path().join(".vault-pass"), format!("{CANARY}\n")).unwrap();
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    let project = project.file(
        "drydock.yaml",
        &config.replace(
            "vault_password_from_env: DRYDOCK_IT_VAULT",
            "vault_password_file: .vault-pass",
        ),
    );
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    assert!(!run.stdout.contains(CANARY) && !run.stderr.contains(CANARY));
}
