use std::path::{Path, PathBuf};

use super::render::{self, Settings};
use super::*;
use crate::config::Host;

struct Repo(PathBuf);

impl Repo {
    fn new(files: &[(&str, &str)]) -> Repo {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "drydock-scaffold-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        for (path, text) in files {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        Repo(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SITE: &str = "- hosts: webservers
  become: true
  roles: [web]
- hosts: dbservers
  tasks:
    - name: Database packages
      apt:
        name: [postgresql, \"{{ extra_pkg }}\"]
        state: present
    - name: Old client is gone
      apt: name=telnet state=absent
    - import_tasks: tasks/users.yml
";

const WEB_TASKS: &str = "- name: Install nginx
  ansible.builtin.apt: { name: nginx, update_cache: true }
- name: Site config
  template: { src: site.j2, dest: /etc/nginx/sites-enabled/site, mode: '0644' }
- block:
    - name: Web root
      file: { path: /var/www/site, state: directory }
- name: Nginx runs
  service: { name: nginx, state: started, enabled: yes }
";

fn repo() -> Repo {
    Repo::new(&[
        ("site.yml", SITE),
        ("other.yml", "- hosts: all\n  tasks: []\n"),
        ("vars.yml", "a: 1\n"),
        ("roles/web/tasks/main.yml", WEB_TASKS),
        (
            "roles/web/handlers/main.yml",
            "- name: reload nginx\n  service: { name: nginx, state: reloaded }\n",
        ),
        (
            "tasks/users.yml",
            "- name: App user\n  user: { name: app, shell: /bin/bash }\n",
        ),
        ("inventory.ini", "[webservers]\nweb1\n[dbservers]\ndb1\n"),
        ("requirements.yml", "roles: []\n"),
        ("group_vars/secret.yml", "$ANSIBLE_VAULT;1.1;AES256\n3030\n"),
    ])
}

#[test]
fn the_survey_finds_playbooks_inventory_requirements_and_vault() {
    let repo = repo();
    let s = survey(repo.path());
    assert_eq!(
        s.playbooks,
        [PathBuf::from("other.yml"), PathBuf::from("site.yml")]
    );
    assert_eq!(s.playbook, Some(PathBuf::from("site.yml")));
    assert_eq!(s.inventory, Some(PathBuf::from("inventory.ini")));
    assert_eq!(s.requirements, Some(PathBuf::from("requirements.yml")));
    assert_eq!(s.vault_files, [PathBuf::from("group_vars/secret.yml")]);
    assert_eq!(s.patterns, ["webservers", "dbservers"]);
    assert!(s.uses_services);
}

#[test]
fn tasks_suggest_checks_with_their_source() {
    let repo = repo();
    let s = survey(repo.path());
    let got: Vec<(String, Vec<String>, String, String)> = s
        .checks
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.body.clone(),
                c.pattern.clone(),
                c.source.clone(),
            )
        })
        .collect();
    let want = [
        (
            "package nginx is installed",
            vec!["  package: nginx"],
            "webservers",
            "roles/web/tasks/main.yml:1, task \"Install nginx\"",
        ),
        (
            "/etc/nginx/sites-enabled/site is in place",
            vec!["  file: /etc/nginx/sites-enabled/site", "  mode: \"0644\""],
            "webservers",
            "roles/web/tasks/main.yml:3, task \"Site config\"",
        ),
        (
            "/var/www/site is a directory",
            vec!["  file: /var/www/site", "  type: directory"],
            "webservers",
            "roles/web/tasks/main.yml:6, task \"Web root\"",
        ),
        (
            "service nginx runs and starts at boot",
            vec!["  service: nginx", "  running: true", "  enabled: true"],
            "webservers",
            "roles/web/tasks/main.yml:8, task \"Nginx runs\"",
        ),
        (
            "package postgresql is installed",
            vec!["  package: postgresql"],
            "dbservers",
            "site.yml:6, task \"Database packages\"",
        ),
        (
            "user app exists",
            vec!["  user: app"],
            "dbservers",
            "tasks/users.yml:1, task \"App user\"",
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0);
        assert_eq!(g.1, w.1, "{}", g.0);
        assert_eq!(g.2, w.2, "{}", g.0);
        assert_eq!(g.3, w.3, "{}", g.0);
    }
}

#[test]
fn the_rendered_config_and_checks_are_valid_drydock_files() {
    let repo = repo();
    let s = survey(repo.path());
    let hosts = [
        Host {
            name: "web1".into(),
            groups: vec!["webservers".into()],
        },
        Host {
            name: "db1".into(),
            groups: vec!["dbservers".into()],
        },
    ];
    let config = render::config(
        &s,
        &Settings {
            name: "my-repo",
            production_ref: "main",
            inventory_hosts: Some(&hosts),
            dockerfile: render::DOCKERFILE,
            checks: "checks/*.yaml",
        },
    );
    assert!(config.contains("    init: systemd\n"), "{config}");
    assert!(config.contains("    inventory: inventory.ini\n"));
    assert!(config.contains("    requirements: requirements.yml\n"));
    assert!(config.contains("# vault_password_from_env: ANSIBLE_VAULT_PASSWORD"));
    assert!(config.contains("Other playbooks found: other.yml"));
    std::fs::write(repo.path().join("drydock.yaml"), &config).unwrap();
    std::fs::create_dir_all(repo.path().join("images/default")).unwrap();
    std::fs::write(repo.path().join(render::DOCKERFILE), render::dockerfile(&s)).unwrap();
    let checks = render::checks(&s, &hosts);
    std::fs::create_dir_all(repo.path().join("checks")).unwrap();
    std::fs::write(repo.path().join("checks/starter.yaml"), &checks).unwrap();
    let project = crate::config::load_project(&repo.path().join("drydock.yaml"))
        .unwrap_or_else(|e| panic!("{e}\n{config}"));
    assert!(!project.reboot && project.hosts.is_empty());
    let loaded = crate::check::load_checks(&project).unwrap_or_else(|e| panic!("{e}\n{checks}"));
    assert_eq!(loaded.len(), 6);
    assert_eq!(
        loaded[0].hosts.as_deref(),
        Some(&["webservers".to_string()][..])
    );
    assert!(checks.contains("  # from roles/web/tasks/main.yml:1, task \"Install nginx\"\n"));
}

#[test]
fn without_an_inventory_each_group_gets_a_host() {
    let s = Survey {
        patterns: vec![
            "webservers".into(),
            "db_servers".into(),
            "all".into(),
            "web:&prod".into(),
        ],
        ..Survey::default()
    };
    let hosts = render::hosts(&s, None);
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["webservers", "db-servers"]);
    assert_eq!(hosts[1].groups, ["db_servers"]);
    let only_all = Survey {
        patterns: vec!["all".into()],
        ..Survey::default()
    };
    assert!(render::hosts(&only_all, None).is_empty());
}

#[test]
fn project_names_are_made_valid() {
    assert_eq!(render::project_name("My Ansible_Repo"), "my-ansible_repo");
    assert_eq!(render::project_name("--x"), "x");
    assert_eq!(render::project_name("!!!"), "project");
}

#[test]
fn the_default_image_is_made_like_a_server_and_keeps_its_apt_lists() {
    let plain = render::dockerfile(&Survey::default());
    let install = plain
        .lines()
        .find(|l| l.contains("apt-get install"))
        .expect("an install line");
    for package in [
        "python3",
        "python3-apt",
        "iproute2",
        "procps",
        "sudo",
        "ca-certificates",
    ] {
        assert!(
            install.split_whitespace().any(|w| w == package),
            "{package} missing from {install}"
        );
        assert!(
            plain.contains(&format!("#   {package} ")),
            "{package} has no reason given"
        );
    }
    assert!(!install.contains("systemd"));
    // Empty lists with a fresh mtime make `apt: cache_valid_time=...` skip its update.
    assert!(!plain.contains("rm -rf /var/lib/apt/lists"), "{plain}");
    let services = render::dockerfile(&Survey {
        uses_services: true,
        ..Survey::default()
    });
    assert!(
        services.contains(" systemd systemd-sysv dbus >/dev/null"),
        "{services}"
    );
}
