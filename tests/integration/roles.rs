//! Roles and collections from `requirements.yml`, and the repository's `ansible.cfg`, in the
//! working tree and in the production ref's tree. Offline: the sources are a local git
//! repository and a local collection tarball.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture::Project;

/// A folder outside the project, removed when dropped.
struct Sources {
    dir: PathBuf,
}

impl Drop for Sources {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A git repository holding role `greeter`, tagged v1 (writes "v1") and v2 (writes "v2"), and
/// a collection tarball `acme.tools` with the filter `shout`.
fn sources(name: &str) -> Sources {
    let dir = std::env::temp_dir().join(format!("drydock-it-src-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let role = dir.join("greeter");
    std::fs::create_dir_all(role.join("tasks")).unwrap();
    std::fs::create_dir_all(role.join("meta")).unwrap();
    std::fs::write(
        role.join("meta/main.yml"),
        "galaxy_info: { author: t, description: t, license: MIT, min_ansible_version: '2.14', platforms: [] }\ndependencies: []\n",
    )
    .unwrap();
    run(&role, "git", &["init", "-q", "-b", "main"]);
    for version in ["v1", "v2"] {
        std::fs::write(
            role.join("tasks/main.yml"),
            format!(
                "- name: Greeting\n  copy: {{ dest: /etc/greeting, content: \"{version}\\n\" }}\n"
            ),
        )
        .unwrap();
        run(&role, "git", &["add", "-A"]);
        run(
            &role,
            "git",
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                version,
            ],
        );
        run(&role, "git", &["tag", version]);
    }
    run(
        &dir,
        "ansible-galaxy",
        &["collection", "init", "acme.tools", "--init-path", "coll"],
    );
    let collection = dir.join("coll/acme/tools");
    std::fs::create_dir_all(collection.join("plugins/filter")).unwrap();
    std::fs::write(
        collection.join("plugins/filter/shout.py"),
        "def shout(s):\n    return str(s).upper() + '!'\n\nclass FilterModule(object):\n    def filters(self):\n        return {'shout': shout}\n",
    )
    .unwrap();
    let out = dir.display().to_string();
    run(
        &collection,
        "ansible-galaxy",
        &["collection", "build", "--output-path", &out],
    );
    Sources { dir }
}

const CFG: &str =
    "[defaults]\nroles_path = vendor/roles\nfilter_plugins = plugins/filter\nlibrary = library\n";

const VENDORED: &str =
    "- name: Vendored marker\n  copy: { dest: /etc/vendored, content: \"yes\\n\" }\n";

const TWICE: &str = "def twice(s):\n    return '%s %s' % (s, s)\n\nclass FilterModule(object):\n    def filters(self):\n        return {'twice': twice}\n";

const MODULE: &str = "#!/usr/bin/python3\nfrom ansible.module_utils.basic import AnsibleModule\n\ndef main():\n    m = AnsibleModule(argument_spec=dict(name=dict(type='str', required=True)))\n    m.exit_json(changed=False, greeting='hello ' + m.params['name'])\n\nmain()\n";

/// The playbook: a role from requirements, one from ansible.cfg's roles_path, a module from
/// its library, a filter from its filter_plugins and, when `shout`, one from the collection.
fn site(shout: bool) -> String {
    let banner = if shout {
        "{{ hello.greeting | twice }} {{ 'x' | acme.tools.shout }}"
    } else {
        "{{ hello.greeting | twice }}"
    };
    format!(
        "- hosts: all\n  gather_facts: false\n  roles: [greeter, vendored]\n  tasks:\n    - name: Greeting from the library module\n      hello_fact: {{ name: drydock }}\n      register: hello\n    - name: Banner\n      copy: {{ dest: /etc/banner, content: \"{banner}\\n\" }}\n"
    )
}

const CHECKS: &str = "- name: greeting v2\n  file: /etc/greeting\n  contains: [v2]\n- name: vendored role ran\n  file: /etc/vendored\n- name: banner\n  file: /etc/banner\n  contains: [\"hello drydock hello drydock X!\"]\n- name: production greeting v1\n  tags: [production]\n  file: /etc/greeting\n  contains: [v1]\n";

#[test]
fn roles_and_collections_come_from_requirements_and_the_ref_uses_its_own() {
    let sources = sources("req");
    let repo = sources.dir.join("greeter").display().to_string();
    let tarball = sources
        .dir
        .join("acme-tools-1.0.0.tar.gz")
        .display()
        .to_string();
    let provision = "  ansible:\n    playbook: site.yml\n    requirements: requirements.yml";
    let project = Project::debian("it-requirements", provision, CHECKS)
        .file("ansible.cfg", CFG)
        .file("vendor/roles/vendored/tasks/main.yml", VENDORED)
        .file("plugins/filter/twice.py", TWICE)
        .file("library/hello_fact.py", MODULE)
        .file(
            "requirements.yml",
            &format!("roles:\n  - name: greeter\n    src: git+file://{repo}\n    version: v1\n"),
        )
        .file("site.yml", &site(false))
        .commit("production: greeter v1, no collection");
    let project = project
        .file(
            "requirements.yml",
            &format!("roles:\n  - name: greeter\n    src: git+file://{repo}\n    version: v2\ncollections:\n  - name: {tarball}\n    type: file\n"),
        )
        .file("site.yml", &site(true));
    let cache = sources.dir.join("cache");
    let cache_env = cache.display().to_string();
    let env = [("DRYDOCK_CACHE_DIR", cache_env.as_str())];

    let run = project.drydock_env(
        &["run", "--skip-tag", "production", "--format", "json"],
        &env,
    );
    run.expect_code(0);
    for scenario in ["fresh", "upgrade"] {
        let checks = &run.scenario(scenario)["checks"];
        assert_eq!(checks.as_array().unwrap().len(), 3, "{checks:#}");
        assert!(
            checks
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["status"] == "pass"),
            "{scenario}: {checks:#}"
        );
    }
    let keys = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("galaxy"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let installed = keys(&cache);
    assert_eq!(
        installed.len(),
        2,
        "one key per requirements file: {installed:?}"
    );
    assert!(
        installed
            .iter()
            .all(|k| k.len() == 16 && !k.starts_with('.')),
        "no half-installed folder is left: {installed:?}"
    );

    // The production image was provisioned with the ref's requirements: greeter v1.
    let production = run.json()["images"]["production"]
        .as_str()
        .unwrap()
        .to_string();
    let check = project.drydock(&[
        "check",
        &format!("image:{production}"),
        "--tag",
        "production",
        "--format",
        "json",
    ]);
    check.expect_code(0);

    // A second run installs nothing: the log says where the roles came from.
    let again = project.drydock_env(
        &["run", "--skip-tag", "production", "--format", "json"],
        &env,
    );
    again.expect_code(0);
    assert_eq!(keys(&cache), installed);
    let log = again.scenario("fresh")["provision"]["log"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(log.contains("from the cache"), "{log}");
    assert!(!log.contains("installing the roles"), "{log}");
}

#[test]
fn an_unreachable_source_is_an_infrastructure_error_and_a_missing_role_the_codes() {
    let sources = sources("unreachable");
    let cache = sources.dir.join("cache").display().to_string();
    let env = [("DRYDOCK_CACHE_DIR", cache.as_str())];
    let missing = sources.dir.join("no-such-repo").display().to_string();
    let repo = sources.dir.join("greeter").display().to_string();
    let provision = "  ansible:\n    playbook: site.yml\n    requirements: requirements.yml";
    let project = Project::debian(
        "it-requirements-bad",
        provision,
        "- name: greeting\n  file: /etc/greeting\n",
    )
    .file(
        "requirements.yml",
        &format!("roles:\n  - name: greeter\n    src: git+file://{repo}\n    version: v2\n"),
    )
    .file(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [greeter]\n",
    )
    .commit("production");

    // The change points the role at a source that cannot be reached.
    let project = project.file(
        "requirements.yml",
        &format!("roles:\n  - name: greeter\n    src: git+file://{missing}\n"),
    );
    let run = project.drydock_env(&["run", "--retries", "0", "--format", "json"], &env);
    run.expect_code(3);
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "error");
    assert_eq!(fresh["provision"]["infrastructure"], "requirements source");
    let message = fresh["message"].as_str().unwrap();
    assert!(
        message.contains("does not appear to be a git repository"),
        "{message}"
    );
    assert_eq!(run.json()["error"]["part"], "requirements source");

    // Reachable requirements, but the playbook names a role nobody installs: the code's failure.
    let project = project
        .file(
            "requirements.yml",
            &format!("roles:\n  - name: greeter\n    src: git+file://{repo}\n    version: v2\n"),
        )
        .file(
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  roles: [greeter, not_installed]\n",
        );
    let run = project.drydock_env(&["run", "--retries", "0", "--format", "json"], &env);
    run.expect_code(1);
    let fresh = run.scenario("fresh");
    assert_eq!(fresh["status"], "fail");
    let message = fresh["message"].as_str().unwrap();
    assert!(
        message.contains("the role 'not_installed' was not found"),
        "{message}"
    );
}
