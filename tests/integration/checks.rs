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

/// What each check of `run` said, by name.
fn verdicts(run: &crate::fixture::Run) -> std::collections::BTreeMap<String, (String, String)> {
    check_results(run)
        .into_iter()
        .map(|(name, status, message)| (name, (status, message)))
        .collect()
}

fn expect_in(
    results: &std::collections::BTreeMap<String, (String, String)>,
    name: &str,
    status: &str,
    message: &str,
) {
    let (s, m) = results
        .get(name)
        .unwrap_or_else(|| panic!("no result for {name}: {results:#?}"));
    assert_eq!(s, status, "{name}: {m}");
    assert!(
        m.starts_with(message),
        "{name}: {m:?} should start with {message:?}"
    );
}

#[test]
fn dns_mount_kernel_param_interface_and_addr_pass_and_fail_on_a_real_container() {
    let pid = std::process::id();
    let (network, web_name) = (
        format!("drydock-it-kinds-{pid}"),
        format!("it-kinds-web-{pid}"),
    );
    let image = busybox_image("it-kinds", "drydock/it-kinds:busybox", ROOTFS);
    crate::fixture::network("it-kinds", &network);
    let web = Container::start_on(
        "it-kinds",
        &image,
        Some((&network, &web_name)),
        &["httpd -p 8080 -h /www"],
    );
    let target = Container::start_on(
        "it-kinds",
        &image,
        Some((&network, &format!("it-kinds-target-{pid}"))),
        &[],
    );
    let (web_ip, _) = crate::fixture::address_of(&web.id);
    let (target_ip, prefix) = crate::fixture::address_of(&target.id);
    let checks = format!(
        r#"
- name: shm is a tmpfs
  mount: /dev/shm
  filesystem: tmpfs
  opts: [nosuid, noexec]
- name: shm allows exec
  mount: /dev/shm
  opts: [exec]
- name: nothing on /srv
  mount: /srv
- name: the kernel is Linux
  kernel_param: kernel.ostype
  value: Linux
- name: the kernel is a BSD
  kernel_param: kernel.ostype
  value: /BSD/
- name: no such parameter
  kernel_param: kernel.no_such_param
- name: eth0 on the scenario network
  interface: eth0
  addrs: ["{target_ip}/{prefix}"]
  mtu: {{ ge: 576 }}
- name: eth0 has jumbo frames
  interface: eth0
  mtu: {{ ge: 9000 }}
- name: eth1
  interface: eth1
- name: web resolves
  dns: {web_name}
  addrs: ["{web_ip}"]
- name: nowhere resolves
  dns: nowhere.invalid
- name: nowhere does not resolve
  dns: nowhere.invalid
  resolvable: false
- name: web answers on 8080
  addr: tcp://{web_name}:8080
  timeout: 3s
- name: web answers on 81
  addr: tcp://{web_name}:81
  timeout: 3s
- name: config by digest and size
  file: /etc/app/app.conf
  filetype: file
  size: {{ gt: 5 }}
  md5: 9cd8a8dc4c4c6bdc6e16b2a0a5e9f1f5
  sha512: {zeros}
"#,
        zeros = "0".repeat(128)
    );
    let project = project("it-kinds", &checks);
    let run = project.drydock(&[
        "check",
        &format!("container:{}", target.id),
        "--format",
        "json",
    ]);
    run.expect_code(1);
    let results = verdicts(&run);
    assert_eq!(results.len(), 15, "{results:#?}");
    let expect =
        |name: &str, status: &str, message: &str| expect_in(&results, name, status, message);
    expect(
        "shm is a tmpfs",
        "pass",
        "/dev/shm is mounted from shm (tmpfs)",
    );
    expect(
        "shm allows exec",
        "fail",
        "opts: expected { contains: [\"exec\"] }, found rw,nosuid,nodev,noexec",
    );
    expect(
        "nothing on /srv",
        "fail",
        "/srv: expected a mount point, nothing is mounted there",
    );
    expect("the kernel is Linux", "pass", "kernel.ostype = Linux");
    expect(
        "the kernel is a BSD",
        "fail",
        "value: expected /BSD/, found Linux",
    );
    expect(
        "no such parameter",
        "fail",
        "kernel parameter kernel.no_such_param does not exist (/proc/sys/kernel/no_such_param is not readable)",
    );
    expect(
        "eth0 on the scenario network",
        "pass",
        &format!("eth0 is up with {target_ip}/{prefix}"),
    );
    expect(
        "eth0 has jumbo frames",
        "fail",
        "mtu: expected { ge: 9000 }, found 1500",
    );
    expect(
        "eth1",
        "fail",
        "interface eth1: expected to exist, not found (interfaces: eth0, lo)",
    );
    expect(
        "web resolves",
        "pass",
        &format!("{web_name} resolves to {web_ip}"),
    );
    expect(
        "nowhere resolves",
        "fail",
        "nowhere.invalid: expected to resolve, it does not",
    );
    expect(
        "nowhere does not resolve",
        "pass",
        "nowhere.invalid does not resolve",
    );
    expect(
        "web answers on 8080",
        "pass",
        &format!("tcp://{web_name}:8080 is reachable"),
    );
    expect(
        "web answers on 81",
        "fail",
        &format!("tcp://{web_name}:81: expected reachable, can't connect to remote host ({web_ip}): Connection refused"),
    );
    expect(
        "config by digest and size",
        "fail",
        &format!(
            "sha512: expected {}, found {}; md5: expected 9cd8a8dc4c4c6bdc6e16b2a0a5e9f1f5, found {}",
            "0".repeat(128),
            digest_of("sha512sum", "listen 8080\nworkers 4\n"),
            digest_of("md5sum", "listen 8080\nworkers 4\n")
        ),
    );
}

fn digest_of(tool: &str, text: &str) -> String {
    let out = std::process::Command::new(tool)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("a digest tool");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// A TLS server on 127.0.0.1 that echoes what it was sent and redirects `/away`.
const ECHO_SERVER: &str = r#"
import http.server, ssl, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def answer(self):
        if self.path == "/away":
            self.send_response(302); self.send_header("Location", "/"); self.end_headers(); return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        text = "%s %s token=%s body=%s" % (self.command, self.path, self.headers.get("X-Token"), body)
        self.send_response(200); self.send_header("Content-Type", "text/plain"); self.end_headers()
        self.wfile.write(text.encode())
    do_GET = do_POST = do_PUT = answer
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

#[test]
fn http_requests_take_methods_bodies_headers_redirects_and_tls_options() {
    let project = Project::new("it-http-options").file("p.sh", "true\n");
    let tls = project.dir.join("tls");
    crate::fixture::certificates(&tls);
    std::fs::write(project.dir.join("echo.py"), ECHO_SERVER).unwrap();
    let port = crate::fixture::free_port();
    let _server = crate::fixture::Daemon::start(
        "python3",
        &[
            project.dir.join("echo.py").to_str().unwrap(),
            &port.to_string(),
            tls.join("server-cert.pem").to_str().unwrap(),
            tls.join("server-key.pem").to_str().unwrap(),
        ],
        &project.dir.join("echo.log"),
    );
    crate::fixture::wait_for_port(port);
    let url = format!("https://127.0.0.1:{port}");
    let ca = tls.join("ca.pem");
    let ca = ca.display();
    let checks = format!(
        r#"
- name: verified with the CA
  http: {url}/
  ca_file: {ca}
  body: ["GET / token=None"]
- name: unverified without it
  http: {url}/
- name: insecure
  http: {url}/
  insecure: true
  status: {{ lt: 300 }}
- name: a post with a body and a header
  http: {url}/items
  method: post
  request_body: "name=web"
  request_headers: {{ X-Token: s3cret }}
  insecure: true
  body: ["POST /items token=s3cret body=name=web"]
- name: the redirect itself
  http: {url}/away
  insecure: true
  no_follow_redirects: true
  status: 302
  headers: {{ Location: "/" }}
- name: where the redirect leads
  http: {url}/away
  insecure: true
  body: ["GET / "]
- name: the certificate lasts a day
  http: {url}/
  insecure: true
  cert_days_left: {{ ge: 1 }}
- name: the certificate lasts a month
  http: {url}/
  insecure: true
  cert_days_left: {{ ge: 30 }}
"#
    );
    let project = project
        .file("drydock.yaml", "name: it-http-options\nimages:\n  default: {}\nprovision:\n  shell: { script: p.sh }\nchecks: [checks.yaml]\n")
        .file("images/default/Dockerfile", "FROM scratch\n")
        .file("checks.yaml", &checks);
    let run = project.drydock(&["check", "local", "--format", "json"]);
    run.expect_code(1);
    let results = verdicts(&run);
    assert_eq!(results.len(), 8, "{results:#?}");
    let expect =
        |name: &str, status: &str, message: &str| expect_in(&results, name, status, message);
    expect("verified with the CA", "pass", "HTTP 200");
    expect(
        "unverified without it",
        "fail",
        &format!(
            "GET {url}/ failed: request failed: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED]"
        ),
    );
    expect("insecure", "pass", "HTTP 200");
    expect("a post with a body and a header", "pass", "HTTP 200");
    expect("the redirect itself", "pass", "HTTP 302");
    expect("where the redirect leads", "pass", "HTTP 200");
    expect(
        "the certificate lasts a day",
        "pass",
        "HTTP 200; certificate valid 1 more days",
    );
    expect(
        "the certificate lasts a month",
        "fail",
        "cert_days_left: expected { ge: 30 }, found 1",
    );
}

const GOSS: &str = r#"
file:
  /etc/app/app.conf:
    exists: true
    mode: "0640"
    owner: root
    filetype: file
    contents: ["workers 4", "/^listen \\d+$/", "!debug"]
package:
  nginx:
    installed: true
    versions: { semver-constraint: ">=1.22 <1.23" }
user:
  app:
    exists: true
    uid: 1000
    groups: [staff]
group:
  staff:
    gid: { lt: 100 }
process:
  httpd:
    running: true
port:
  tcp:8080:
    listening: true
command:
  echo hi:
    exit-status: 0
    stdout: [hi]
kernel-param:
  kernel.ostype:
    value: { have-prefix: Lin }
http:
  http://localhost:8080/:
    status: 200
    body: [Hello busybox]
    username: admin
gossfile:
  more.yaml: {}
matching:
  one:
    content: 1
    matches: 1
"#;

#[test]
fn a_goss_file_imports_names_what_it_skipped_and_its_checks_run() {
    let project = Project::new("it-goss")
        .file("drydock.yaml", "name: it-goss\nimages:\n  default: {}\nprovision:\n  shell: { script: p.sh }\nchecks: [imported.yaml]\n")
        .file("images/default/Dockerfile", "FROM scratch\n")
        .file("p.sh", "true\n")
        .file("goss.yaml", GOSS);
    let import = project.drydock(&["checks", "import", "goss.yaml", "--output", "imported.yaml"]);
    import.expect_code(0);
    assert_eq!(
        import.stdout.trim(),
        "wrote imported.yaml: 9 check(s) converted from goss.yaml; not converted, or converted with another meaning:\n  goss.yaml:38: http `http://localhost:8080/`: `username` not converted: drydock has no equivalent\n  goss.yaml:40: gossfile `more.yaml` not converted: goss includes another file; import it too: drydock checks import more.yaml\n  goss.yaml:42: matching `one` not converted: `matching` tests values written in the goss file, not the target"
    );
    let again = project.drydock(&["checks", "import", "goss.yaml", "--output", "imported.yaml"]);
    again.expect_code(2);
    assert!(
        again.stderr.contains(
            "imported.yaml already exists; `drydock checks import` never overwrites a file"
        ),
        "{}",
        again.stderr
    );
    let image = busybox_image("it-goss", "drydock/it-goss:busybox", ROOTFS);
    let container = Container::start("it-goss", &image, &["httpd -p 8080 -h /www"]);
    let run = project.drydock(&[
        "check",
        &format!("container:{}", container.id),
        "--format",
        "json",
    ]);
    let results = verdicts(&run);
    assert_eq!(results.len(), 9, "{results:#?}");
    for (name, (status, message)) in &results {
        assert_eq!(status, "pass", "{name}: {message}");
    }
    run.expect_code(0);
}
