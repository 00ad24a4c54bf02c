//! The check engine against real containers: tiny busybox images built FROM scratch.

use crate::fixture::{busybox_image, Container, Project};

const ROOTFS: &[(&str, &str, u32)] = &[
    ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n", 0o644),
    ("/etc/group", "root:x:0:\nwww-data:x:33:\nstaff:x:50:app\napp:x:1000:\n", 0o644),
    (
        "/var/lib/dpkg/status",
        "Package: nginx\nStatus: install ok installed\nVersion: 1.22.1-9\n\nPackage: openssl\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\n\nPackage: apache2\nStatus: deinstall ok config-files\nVersion: 2.4.57-2\n",
        0o644,
    ),
    ("/etc/app/app.conf", "listen 8080\nworkers 4\n", 0o640),
    ("/etc/app/current", "->app.conf", 0o777),
    ("/www/index.html", "Hello busybox\n", 0o644),
    ("/tmp/.keep", "", 0o644),
];

const CHECKS: &str = r#"
- name: config mode owner content
  file: /etc/app/app.conf
  type: file
  mode: "0640"
  owner: root
  contains: ["workers 4", "/^listen \\d+$/"]
- name: config mode wrong
  file: /etc/app/app.conf
  mode: "0644"
- name: current links to the config
  file: /etc/app/current
  type: symlink
  target: app.conf
- name: missing file
  file: /etc/app/missing.conf
- name: nginx installed
  package: nginx
  version: "1.22"
- name: nginx in range
  package: nginx
  version: { version: ">= 1.22~rc1, << 1.23" }
- name: nginx with an epoch
  package: nginx
  version: { version: ">= 1:1.0" }
- name: apache installed
  package: apache2
- name: httpd runs as root
  process: httpd
  user: root
- name: nginx runs
  process: nginx
- name: port 8080
  port: 8080
- name: port 80
  port: 80
- name: page served
  http: http://localhost:8080/
  body: ["Hello busybox"]
- name: missing page
  http: http://localhost:8080/nope.html
- name: echo works
  command: echo hi
  stdout: ["hi"]
- name: failing command
  command: "echo oops >&2; exit 3"
- name: app user
  user: app
  uid: 1000
  groups: [staff]
  shell: /bin/sh
- name: ghost user
  user: ghost
- name: staff group
  group: staff
  gid: 50
- name: staff gid wrong
  group: staff
  gid: 51
"#;

fn project(name: &str, checks: &str) -> Project {
    Project::new(name)
        .file("drydock.yaml", &format!("name: {name}\nimages:\n  default: {{}}\nprovision:\n  shell: {{ script: p.sh }}\nchecks: [checks.yaml]\n"))
        .file("images/default/Dockerfile", "FROM scratch\n")
        .file("p.sh", "true\n")
        .file("checks.yaml", checks)
}

fn check_results(run: &crate::fixture::Run) -> Vec<(String, String, String)> {
    let json = run.json();
    json["scenarios"][0]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_resource_type_passes_and_fails_with_expected_and_found() {
    let project = project("it-checks", CHECKS);
    let image = busybox_image("it-checks", "drydock/it-checks:busybox", ROOTFS);
    let container = Container::start("it-checks", &image, &["httpd -p 8080 -h /www"]);
    let run = project.drydock(&[
        "check",
        &format!("container:{}", container.id),
        "--format",
        "json",
    ]);
    run.expect_code(1);
    let results = check_results(&run);
    assert_eq!(results.len(), 20, "{results:#?}");
    let expect = |name: &str, status: &str, message: &str| {
        let (_, s, m) = results
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no result for {name}"));
        assert_eq!(s, status, "{name}: {m}");
        assert!(
            m.starts_with(message),
            "{name}: {m:?} should start with {message:?}"
        );
    };
    expect(
        "config mode owner content",
        "pass",
        "/etc/app/app.conf is a regular file",
    );
    expect(
        "config mode wrong",
        "fail",
        "mode: expected 0644, found 0640",
    );
    expect("current links to the config", "pass", "");
    expect(
        "missing file",
        "fail",
        "/etc/app/missing.conf: expected to exist, not found",
    );
    expect("nginx installed", "pass", "nginx 1.22.1-9 is installed");
    expect("nginx in range", "pass", "nginx 1.22.1-9 is installed");
    expect(
        "nginx with an epoch",
        "fail",
        "version: expected >= 1:1.0 (dpkg's ordering), found 1.22.1-9",
    );
    expect(
        "apache installed",
        "fail",
        "apache2: expected installed, not installed",
    );
    expect("httpd runs as root", "pass", "1 httpd process(es) running");
    expect(
        "nginx runs",
        "fail",
        "expected a running nginx process, found none (running: ",
    );
    expect("port 8080", "pass", "tcp/8080 is listening on");
    expect(
        "port 80",
        "fail",
        "tcp/80: expected listening, not listening (listening tcp ports: 8080)",
    );
    expect("page served", "pass", "HTTP 200");
    expect("missing page", "fail", "status: expected 200, found 404");
    expect("echo works", "pass", "exited 0");
    expect(
        "failing command",
        "fail",
        "exit status: expected 0, found 3 (\"oops\")",
    );
    expect("app user", "pass", "user app (uid 1000) exists");
    expect(
        "ghost user",
        "fail",
        "user ghost: expected to exist, not found in /etc/passwd",
    );
    expect("staff group", "pass", "group staff (gid 50) exists");
    expect("staff gid wrong", "fail", "gid: expected 51, found 50");
}

#[test]
fn checks_that_cannot_be_evaluated_are_errors_not_failures() {
    let project = project("it-check-errors", CHECKS);
    let image = busybox_image("it-check-errors", "drydock/it-check-errors:busybox", ROOTFS);
    // Without a shell no check can run: every one is an error, and the verdict is error (3).
    let broken = Container::start("it-check-errors", &image, &["rm /bin/sh"]);
    let run = project.drydock(&[
        "check",
        &format!("container:{}", broken.id),
        "--format",
        "json",
    ]);
    run.expect_code(3);
    let results = check_results(&run);
    assert_eq!(results.len(), 20);
    for (name, status, message) in &results {
        assert_eq!(status, "error", "{name}: {message}");
    }
    // Without a package database or /etc/passwd, package and user checks are errors, not
    // "not installed" or "no such user".
    let bare = Container::start(
        "it-check-errors",
        &image,
        &["rm /var/lib/dpkg/status /etc/passwd"],
    );
    let checks = "- name: a file\n  file: /etc/app/app.conf\n- name: a package\n  package: nginx\n- name: a user\n  user: app\n";
    let project = project_with_checks(project, checks);
    let run = project.drydock(&[
        "check",
        &format!("container:{}", bare.id),
        "--format",
        "json",
    ]);
    run.expect_code(3);
    let results = check_results(&run);
    assert_eq!(
        results
            .iter()
            .map(|(n, s, _)| (n.as_str(), s.as_str()))
            .collect::<Vec<_>>(),
        [
            ("a file", "pass"),
            ("a package", "error"),
            ("a user", "error")
        ]
    );
    assert_eq!(
        results[1].2,
        "no package database found in the container (dpkg, rpm or apk)"
    );
    assert_eq!(
        results[2].2,
        "the container has no readable /etc/passwd or /etc/group"
    );
}

fn project_with_checks(project: Project, checks: &str) -> Project {
    project.file("checks.yaml", checks)
}

#[test]
fn image_targets_get_a_throwaway_container_and_retried_passes_are_flaky() {
    let checks = "- name: passes on the second attempt\n  command: \"test -e /tmp/seen || { touch /tmp/seen; exit 1; }\"\n  retries: 2\n- name: config present\n  file: /etc/app/app.conf\n";
    let project = project("it-check-image", checks);
    let image = busybox_image("it-check-image", "drydock/it-check-image:busybox", ROOTFS);
    let run = project.drydock(&["check", &format!("image:{image}"), "--format", "json"]);
    run.expect_code(0);
    let json = run.json();
    let flaky = &json["scenarios"][0]["checks"][0];
    assert_eq!(flaky["status"], "pass");
    assert_eq!(flaky["flaky"], true);
    assert!(flaky["message"]
        .as_str()
        .unwrap()
        .ends_with("(passed on a retry)"));
    assert_eq!(json["scenarios"][0]["checks"][1]["status"], "pass");
    assert!(
        crate::fixture::containers_of("it-check-image").is_empty(),
        "throwaway container left behind"
    );
    // --fail-on-flaky is a run option; selection that matches nothing exits 4.
    let none = project.drydock(&["check", &format!("image:{image}"), "--tag", "nothing"]);
    none.expect_code(4);
}

#[test]
fn a_zombie_is_not_a_running_process() {
    let checks = "- name: nginx runs\n  process: nginx\n- name: no nginx\n  process: nginx\n  running: false\n";
    let project = project("it-zombie", checks);
    let image = busybox_image("it-zombie", "drydock/it-zombie:busybox", ROOTFS);
    // A parent that never waits (a shell that became `sleep`) and a child named nginx that
    // exited: the child stays a zombie, as a stopped nginx does under a PID 1 that does not
    // reap.
    let container = Container::start(
        "it-zombie",
        &image,
        &[
            "cp /bin/busybox /bin/nginx",
            "(sh -c '/bin/nginx true & exec sleep 600' &)",
            "for i in 1 2 3 4 5 6 7 8 9 10; do grep -qs '^State:.*Z' /proc/[0-9]*/status && exit 0; sleep 0.2; done; exit 1",
        ],
    );
    let run = project.drydock(&[
        "check",
        &format!("container:{}", container.id),
        "--format",
        "json",
    ]);
    run.expect_code(1);
    let results = check_results(&run);
    let (_, status, message) = &results[0];
    assert_eq!(status, "fail");
    assert!(
        message.starts_with("expected a running nginx process, found none; 1 zombie (exited, not reaped) nginx process(es) not counted (pid "),
        "{message}"
    );
    assert_eq!(results[1].1, "pass", "{results:?}");
}
