//! A first run on a real repository that tells the truth: a three-host repository (haproxy in
//! front of two web servers, an INI inventory with group_vars and host_vars, a template that
//! lists the web hosts by `ansible_hostname` and address) set up with `drydock init`; failures
//! that say why; package caches like a server's.

use crate::fixture::Project;
use crate::reports::assert_valid;

const INVENTORY: &str = "[webservers]\nweb1\nweb2\n\n[loadbalancers]\nlb\n";

const HAPROXY_CFG: &str = r#"global
    daemon

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend www
    bind *:{{ http_port }}
    default_backend web

backend web
    balance roundrobin
{% for host in groups['webservers'] %}
    server {{ hostvars[host]['ansible_hostname'] }} {{ hostvars[host]['ansible_default_ipv4']['address'] }}:{{ http_port }} check
{% endfor %}
"#;

const INDEX_HTML: &str =
    "<h1>{{ page_title }}</h1>\n<p>served by {{ ansible_hostname }} for the {{ site_owner }}</p>\n";

/// The production version: every task in the plays. memcached's Debian unit is sandboxed
/// (PrivateTmp=, ProtectSystem=, PrivateDevices=, ...), as haproxy's is (BindReadOnlyPaths=).
const SITE_V1: &str = r#"- name: Web servers
  hosts: webservers
  become: true
  tasks:
    - name: Install nginx and memcached
      apt: { name: [nginx, memcached], state: present, update_cache: true, cache_valid_time: 600 }
    - name: Page
      template: { src: templates/index.html.j2, dest: /var/www/html/index.html, mode: "0644" }
    - name: nginx runs
      service: { name: nginx, state: started, enabled: true }
    - name: memcached runs
      service: { name: memcached, state: started, enabled: true }

- name: Load balancer
  hosts: loadbalancers
  become: true
  tasks:
    - name: Install haproxy
      apt: { name: haproxy, state: present, update_cache: true, cache_valid_time: 600 }
    - name: haproxy config
      template:
        src: templates/haproxy.cfg.j2
        dest: /etc/haproxy/haproxy.cfg
        mode: "0644"
        validate: haproxy -c -f %s
      notify: Restart haproxy
    - name: haproxy runs
      service: { name: haproxy, state: started, enabled: true }
  handlers:
    - name: Restart haproxy
      service: { name: haproxy, state: restarted }
"#;

/// The change: the same plays refactored into roles.
const SITE_ROLES: &str = r#"- name: Web servers
  hosts: webservers
  become: true
  roles: [web]

- name: Load balancer
  hosts: loadbalancers
  become: true
  roles: [lb]
"#;

const WEB_TASKS: &str = r#"- name: Install nginx and memcached
  apt: { name: [nginx, memcached], state: present, update_cache: true, cache_valid_time: 600 }
- name: Page
  template: { src: index.html.j2, dest: /var/www/html/index.html, mode: "0644" }
- name: nginx runs
  service: { name: nginx, state: started, enabled: true }
- name: memcached runs
  service: { name: memcached, state: started, enabled: true }
"#;

const LB_TASKS: &str = r#"- name: Install haproxy
  apt: { name: haproxy, state: present, update_cache: true, cache_valid_time: 600 }
- name: haproxy config
  template:
    src: haproxy.cfg.j2
    dest: /etc/haproxy/haproxy.cfg
    mode: "0644"
    validate: haproxy -c -f %s
  notify: Restart haproxy
- name: haproxy runs
  service: { name: haproxy, state: started, enabled: true }
"#;

const MORE_CHECKS: &str = r#"
- name: memcached runs
  service: memcached
  running: true
  hosts: [webservers]
- name: memcached listens
  port: 11211
  hosts: [webservers]
- name: the load balancer serves a page from a web host
  http: http://localhost/
  body: ["served by web"]
  hosts: [loadbalancers]
"#;

fn shop() -> Project {
    Project::new("it-shop")
        .file("inventory/hosts.ini", INVENTORY)
        .file("inventory/group_vars/all.yml", "http_port: 80\n")
        .file(
            "inventory/group_vars/webservers.yml",
            "site_owner: shop team\n",
        )
        .file("inventory/host_vars/web1.yml", "page_title: web one\n")
        .file("inventory/host_vars/web2.yml", "page_title: web two\n")
        .file("templates/haproxy.cfg.j2", HAPROXY_CFG)
        .file("templates/index.html.j2", INDEX_HTML)
        .file("site.yml", SITE_V1)
        .file(
            "ansible.cfg",
            "[defaults]\ninventory = inventory/hosts.ini\n",
        )
        .commit("three hosts behind haproxy")
}

/// Moves the plays into roles in the working tree (production stays at the plays).
fn refactor_into_roles(project: Project) -> Project {
    let _ = std::fs::remove_dir_all(project.path().join("templates"));
    project
        .file("site.yml", SITE_ROLES)
        .file("roles/web/tasks/main.yml", WEB_TASKS)
        .file("roles/web/templates/index.html.j2", INDEX_HTML)
        .file("roles/lb/tasks/main.yml", LB_TASKS)
        .file(
            "roles/lb/handlers/main.yml",
            "- name: Restart haproxy\n  service: { name: haproxy, state: restarted }\n",
        )
        .file("roles/lb/templates/haproxy.cfg.j2", HAPROXY_CFG)
}

#[test]
fn a_three_host_repository_runs_after_init_and_a_refactor_into_roles_is_no_drift() {
    let project = shop();
    project.drydock(&["init"]).expect_code(0);
    let dockerfile =
        std::fs::read_to_string(project.path().join("images/default/Dockerfile")).unwrap();
    for package in ["iproute2", "procps", "sudo", "python3-apt", "systemd"] {
        assert!(dockerfile.contains(package), "{dockerfile}");
    }
    // The project takes its name from the folder; the fixture cleans up by its own name.
    let config = std::fs::read_to_string(project.path().join("drydock.yaml")).unwrap();
    let name_line = config.lines().find(|l| l.starts_with("name: ")).unwrap();
    let config = config.replace(name_line, "name: it-shop");
    let project = project
        .file("drydock.yaml", &config)
        .append("checks/starter.yaml", MORE_CHECKS)
        .commit("drydock init");

    // Production is the plays; the change is the same plays as roles.
    let project = refactor_into_roles(project);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["hosts"].as_array().unwrap().len(), 3);
    for name in ["fresh", "upgrade"] {
        let scenario = run.scenario(name);
        let checks = scenario["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 18, "{scenario:#}");
        assert!(checks.iter().all(|c| c["status"] == "pass"), "{scenario:#}");
    }
    // The load balancer's config lists its backends' addresses, which differ between the
    // fresh and the upgrade network only because they are other containers: not drift.
    assert_eq!(report["diff"]["status"], "pass", "{:#}", report["diff"]);
    assert_eq!(report["diff"]["changed"], serde_json::json!([]));

    // A change that breaks haproxy's config fails, with haproxy's own words.
    let broken = HAPROXY_CFG.replace(
        "    balance roundrobin\n",
        "    balance roundrobin\n    bogus_keyword on\n",
    );
    let project = project.file("roles/lb/templates/haproxy.cfg.j2", &broken);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    assert_valid(&run);
    let fresh = run.scenario("fresh");
    let provision = &fresh["provision"];
    assert_eq!(provision["failed_task"], "lb : haproxy config");
    assert_eq!(provision["failed_task_file"], "roles/lb/tasks/main.yml");
    let stderr = provision["detail"]["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("unknown keyword 'bogus_keyword' in 'backend' section"),
        "{provision:#}"
    );
    assert!(fresh["message"]
        .as_str()
        .unwrap()
        .contains("unknown keyword 'bogus_keyword'"));
    let lb = provision["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "lb")
        .unwrap();
    assert_eq!(lb["status"], "fail");
    assert!(lb["detail"]["stderr"]
        .as_str()
        .unwrap()
        .contains("bogus_keyword"));

    // Refusing the capability sandboxed units need: haproxy cannot start, and the report
    // says why, with the unit's status and journal.
    let project = project
        .file("roles/lb/templates/haproxy.cfg.j2", HAPROXY_CFG)
        .file(
            "drydock.yaml",
            &config.replace(
                "    init: systemd\n",
                "    init: systemd\n    cap_add: []\n",
            ),
        );
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    assert_valid(&run);
    let provision = &run.scenario("fresh")["provision"];
    let detail = &provision["detail"];
    let unit = detail["unit_status"].as_str().unwrap();
    assert!(unit.contains("status=226/NAMESPACE"), "{provision:#}");
    assert!(
        detail["hint"]
            .as_str()
            .unwrap()
            .contains("`images.default.cap_add: [SYS_ADMIN]`"),
        "{provision:#}"
    );
}

const PLAIN_SITE: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: nothing yet\n      debug: { msg: production }\n";

#[test]
fn failures_say_why_and_name_what_a_thin_image_lacks() {
    // The fixture's default image is a minimal Debian: no ps, no ip, no sudo.
    let project = Project::debian(
        "it-why",
        "  ansible:\n    playbook: site.yml",
        "- name: the system is there\n  file: /etc/os-release\n",
    )
    .file("site.yml", PLAIN_SITE)
    .commit("production");

    let failing_shell = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Migrate the schema\n      shell: \"echo migrating; echo 'schema.sql:3: syntax error near SELEKT' >&2; exit 3\"\n";
    let project = project.file("site.yml", failing_shell);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    assert_valid(&run);
    let fresh = run.scenario("fresh");
    let provision = &fresh["provision"];
    assert_eq!(provision["failed_task"], "Migrate the schema");
    assert_eq!(provision["detail"]["rc"], 3);
    assert_eq!(
        provision["detail"]["stderr"],
        "schema.sql:3: syntax error near SELEKT"
    );
    assert_eq!(provision["detail"]["stdout"], "migrating");
    assert!(provision["detail"]["cmd"]
        .as_str()
        .unwrap()
        .starts_with("echo migrating;"));
    assert_eq!(
        fresh["message"],
        "provisioning failed: task \"Migrate the schema\" failed: non-zero return code (rc 3: schema.sql:3: syntax error near SELEKT)"
    );
    let human = project.drydock(&["run"]);
    human.expect_code(1);
    assert!(
        human
            .stdout
            .contains("  command:\n    echo migrating; echo 'schema.sql:3: syntax error near SELEKT' >&2; exit 3 (exit 3)\n  stderr:\n    schema.sql:3: syntax error near SELEKT\n"),
        "{}",
        human.stdout
    );

    let pgrep = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Is nginx up\n      command: pgrep nginx\n";
    let project = project.file("site.yml", pgrep);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let detail = &run.scenario("fresh")["provision"]["detail"];
    assert_eq!(
        detail["hint"],
        "`pgrep` is not installed in the container: add `procps` to the packages `images/default/Dockerfile` installs, as a Debian server has it"
    );

    let facts = "- hosts: all\n  tasks:\n    - name: Address file\n      copy: { dest: /etc/address, content: \"{{ ansible_default_ipv4.address }}\\n\" }\n";
    let project = project.file("site.yml", facts);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let fresh = run.scenario("fresh");
    assert!(
        fresh["message"]
            .as_str()
            .unwrap()
            .contains("Ansible gathered no network facts because the container has no `ip` command: add `iproute2` to the packages `images/default/Dockerfile` installs"),
        "{fresh:#}"
    );

    // drydock connects as root; becoming another user needs sudo.
    let as_root = "- hosts: all\n  gather_facts: false\n  become: true\n  become_user: nobody\n  tasks:\n    - name: As nobody\n      command: id -u\n";
    let project = project.file("site.yml", as_root);
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(1);
    let fresh = run.scenario("fresh");
    assert!(
        fresh["message"]
            .as_str()
            .unwrap()
            .contains("`become` needs sudo, which the container lacks: add `sudo`"),
        "{fresh:#}"
    );
}

#[test]
fn apt_cache_valid_time_installs_on_an_image_whose_lists_were_removed_a_minute_ago() {
    // The everyday Dockerfile idiom: the lists are removed, their folder's mtime is the build
    // time, and `cache_valid_time` would take the empty cache for a fresh one.
    let role = "- name: Update the cache\n  apt: { update_cache: true, cache_valid_time: 600 }\n- name: Install hello\n  apt: { name: hello, state: present }\n";
    let project = Project::debian(
        "it-aptcache",
        "  ansible:\n    playbook: site.yml",
        "- name: hello is installed\n  package: hello\n",
    )
    .file(
        "images/default/Dockerfile",
        "FROM debian:bookworm-slim\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-apt >/dev/null && rm -rf /var/lib/apt/lists/*\n",
    )
    .file("roles/hello/tasks/main.yml", role)
    .file("site.yml", "- hosts: all\n  roles: [hello]\n")
    .commit("a role that updates the cache with cache_valid_time");
    // The default image is built by this very run, seconds before the role runs.
    let run = project.drydock(&["run", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["images"]["default_built"], true);
    assert_eq!(report["images"]["production_built"], true);
    for name in ["fresh", "upgrade"] {
        assert_eq!(run.scenario(name)["status"], "pass");
    }
}
