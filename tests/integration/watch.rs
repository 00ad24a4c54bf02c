//! `drydock watch` against real targets and real receivers on 127.0.0.1: a webhook receiver,
//! Debian's Alertmanager, an SMTP server (aiosmtpd), sshd.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixture::{
    certificates, dockerfile_image, free_port, http_get, wait_for_port, Container, Daemon, Project,
    Sshd,
};

/// nginx on Debian, started by hand (the container's PID 1 sleeps).
const NGINX: &str = "FROM debian:bookworm-slim\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light python3 >/dev/null && rm -rf /var/lib/apt/lists/*\n";

const CHECKS: &str = r#"- name: nginx runs
  process: nginx
- name: page is served
  requires: [nginx runs]
  http: http://localhost/
- name: port 80 from the monitor
  requires: [nginx runs]
  from: drydock
  port: 80
- name: warm-up
  command: "test -f /tmp/warm || { touch /tmp/warm; exit 1; }"
- name: nginx error log
  tags: [diagnostic]
  command: "ls /var/log/nginx"
"#;

/// A webhook receiver: every request's headers and body, answered 200 (or as told).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A receiver's answer to every request.
const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

impl Receiver {
    /// A receiver on a port of its own.
    fn any() -> Receiver {
        Receiver::start(0)
    }

    fn start(port: u16) -> Receiver {
        Receiver::answering(port, OK)
    }

    /// A receiver that answers every request with `answer` (an empty one: never answers).
    fn answering(port: u16, answer: &'static str) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                g.lock()
                    .unwrap()
                    .push((head, String::from_utf8_lossy(&body).into_owned()));
                let mut stream = reader.into_inner();
                if answer.is_empty() {
                    // A receiver that hangs: the connection stays open, unanswered.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(60));
                        drop(stream);
                    });
                    continue;
                }
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Receiver {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    /// The JSON bodies received so far.
    fn bodies(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).expect("a JSON body"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn exec(container: &Container, command: &str) {
    let id = container.id.clone();
    let command = command.to_string();
    crate::fixture::with_engine(|engine| async move {
        let out = engine
            .exec(&id, &["/bin/sh", "-c", &command], &[], None)
            .await
            .expect("exec");
        assert_eq!(
            out.exit_code,
            0,
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn project(name: &str) -> Project {
    Project::new(name)
        .file(
            "drydock.yaml",
            &format!("name: {name}\nimages:\n  default:\n    dockerfile: Dockerfile\nprovision:\n  shell: {{ script: p.sh }}\nchecks: [checks.yaml]\n"),
        )
        .file("Dockerfile", "FROM scratch\n")
        .file("p.sh", "true\n")
        .file("checks.yaml", CHECKS)
}

fn events(bodies: &[serde_json::Value], event: &str) -> Vec<serde_json::Value> {
    bodies
        .iter()
        .filter(|b| b["event"] == event)
        .cloned()
        .collect()
}

/// Alertmanager's active alerts named `alertname`.
fn active_alerts(port: u16, alertname: &str) -> usize {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("alertmanager");
    write!(
        stream,
        "GET /api/v2/alerts?active=true HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("[]");
    // Chunked or not, the alert names appear as plain text.
    body.matches(&format!("\"alertname\":\"{alertname}\""))
        .count()
}

/// A project `name` watching a new nginx container: the project, the container, the target.
fn watching_nginx(name: &str) -> (Project, Container, String) {
    let project = project(name);
    let image = dockerfile_image(name, &format!("drydock/{name}:nginx"), NGINX);
    let nginx = Container::start(name, &image, &["nginx"]);
    let target = format!("container:{}", nginx.id);
    (project, nginx, target)
}

#[test]
fn a_stopped_nginx_is_notified_once_and_its_recovery_once_on_every_channel() {
    let (project, nginx, target) = watching_nginx("it-watch");
    let dir = project.path().to_path_buf();

    let hook = Receiver::any();
    let am_port = free_port();
    let am_config = dir.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route: { receiver: none, group_wait: 1s }\nreceivers: [ { name: none } ]\n",
    )
    .unwrap();
    let _alertmanager = Daemon::start(
        "prometheus-alertmanager",
        &[
            &format!("--config.file={}", am_config.display()),
            &format!("--web.listen-address=127.0.0.1:{am_port}"),
            &format!("--storage.path={}", dir.join("am").display()),
            "--cluster.listen-address=",
        ],
        &dir.join("alertmanager.log"),
    );
    let smtp_port = free_port();
    let maildir = dir.join("mail");
    // Debian's python3, which has aiosmtpd.
    let _smtp = Daemon::start(
        "/usr/bin/python3",
        &[
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{smtp_port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            &maildir.display().to_string(),
        ],
        &dir.join("smtp.log"),
    );
    wait_for_port(am_port);
    wait_for_port(smtp_port);

    let hook_url = format!("http://127.0.0.1:{}/hook", hook.port);
    let am_url = format!("http://127.0.0.1:{am_port}");
    let smtp = format!("127.0.0.1:{smtp_port}");
    let round = || {
        let run = project.drydock_env(
            &[
                "watch",
                &target,
                "--once",
                "--confirm-interval",
                "300ms",
                "--webhook",
                &hook_url,
                "--alertmanager",
                &am_url,
                "--smtp",
                &smtp,
                "--mail-from",
                "drydock@example.org",
                "--mail-to",
                "ops@example.org",
                "--format",
                "json",
            ],
            &[("DRYDOCK_WEBHOOK_SECRET", "s3cret")],
        );
        assert!(
            run.code == 0 || run.code == 1,
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        run
    };

    // The warm-up check fails once and passes on the confirmation re-run: a flap, no alert.
    let first = round();
    first.expect_code(0);
    let json = first.json();
    let warm = json["targets"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "warm-up")
        .cloned()
        .unwrap();
    assert_eq!(warm["status"], "pass");
    assert_eq!(warm["flapped"], true);
    assert_eq!(json["notifications"], serde_json::json!([]));
    assert!(hook.bodies().is_empty());

    // nginx stops: one failing notification (the dependent checks are skipped, not alerted).
    exec(&nginx, "nginx -s stop; sleep 0.5");
    let down = round();
    down.expect_code(1);
    let json = down.json();
    let checks = json["targets"][0]["checks"].as_array().unwrap().clone();
    let status = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status("nginx runs"), "fail");
    assert_eq!(status("page is served"), "skipped");
    assert_eq!(status("port 80 from the monitor"), "skipped");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    let failing = &bodies[0];
    assert_eq!(failing["event"], "failing");
    assert_eq!(failing["check"], "nginx runs");
    assert_eq!(failing["target"], target.as_str());
    assert_eq!(failing["diagnostics"][0]["name"], "nginx error log");
    let (head, body) = hook.got.lock().unwrap()[0].clone();
    let signature = drydock::watch::notify::signature("s3cret", body.as_bytes());
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-drydock-signature: {signature}")),
        "{head}"
    );
    assert_eq!(active_alerts(am_port, "DrydockCheckFailing"), 1);
    let mails: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .expect("the SMTP server got mail")
        .flatten()
        .collect();
    assert_eq!(mails.len(), 1);
    // Quoted-printable soft line breaks and folded headers undone.
    let mail = std::fs::read_to_string(mails[0].path())
        .unwrap()
        .replace("=\n", "")
        .replace("\n ", " ");
    for field in [
        "Subject: [drydock] FAILING: nginx runs on container:",
        "Event:         failing",
        "Check:         nginx runs",
        "Target:        container:",
        "Since:         20",
        "Message:       ",
        "Failure rate:  0 of the last day's 1 round(s) before this one failed",
        "drydock:       ",
        "[pass] nginx error log",
    ] {
        assert!(mail.contains(field), "{field} not in\n{mail}");
    }

    // Still down: nothing new.
    round().expect_code(1);
    assert_eq!(hook.bodies().len(), 1);

    // Back: recovered after two passing rounds, once.
    exec(&nginx, "nginx");
    round().expect_code(1);
    assert_eq!(
        events(&hook.bodies(), "recovered").len(),
        0,
        "one pass is not a recovery"
    );
    round().expect_code(0);
    let recovered = events(&hook.bodies(), "recovered");
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0]["check"], "nginx runs");
    assert_eq!(recovered[0]["since"], failing["since"]);
    assert_eq!(hook.bodies().len(), 2);
    assert_eq!(active_alerts(am_port, "DrydockCheckFailing"), 0, "resolved");

    let outages = project.drydock(&["outages", "--format", "json"]);
    outages.expect_code(0);
    let list = outages.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(list[0]["check"], "nginx runs");
    assert_eq!(list[0]["kind"], "check");
    let lasted = list[0]["to"].as_i64().unwrap() - list[0]["from"].as_i64().unwrap();
    assert!(lasted > 0, "{list:#}");
    let text = project.drydock(&["outages"]);
    assert!(
        text.stdout.contains("Checks that failed: 1"),
        "{}",
        text.stdout
    );
}

#[test]
fn an_unreachable_target_is_never_a_failure_and_a_late_receiver_gets_the_same_id() {
    let (project, nginx, target) = watching_nginx("it-watch-gone");
    let port = free_port();
    let hook_url = format!("http://127.0.0.1:{port}/hook");
    let round = || {
        project.drydock(&[
            "watch",
            &target,
            "--once",
            "--confirm-interval",
            "200ms",
            "--webhook",
            &hook_url,
            "--format",
            "json",
        ])
    };
    round().expect_code(0);

    // The receiver is down, and the target is stopped: unknown, not failing.
    let id = nginx.id.clone();
    crate::fixture::with_engine(|engine| async move {
        engine
            .stop_container(&id, Duration::from_secs(1))
            .await
            .expect("stop");
    });
    let gone = round();
    gone.expect_code(3);
    let json = gone.json();
    assert_eq!(json["targets"][0]["status"], "unknown");
    assert!(json["targets"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "unknown" && c["state"] == "passing"));
    let sent = &json["notifications"];
    assert_eq!(sent.as_array().unwrap().len(), 1);
    assert_eq!(sent[0]["event"], "unreachable");
    let first_id = sent[0]["id"].as_str().unwrap().to_string();
    assert_eq!(json["pending"], 1);
    let again = round();
    again.expect_code(3);
    assert_eq!(again.json()["notifications"], serde_json::json!([]));
    assert_eq!(again.json()["pending"], 1);

    // The receiver is back: the queued notification arrives with its id. (Its retry is due
    // a few seconds after the failed attempts.)
    let hook = Receiver::start(port);
    let mut delivered = Vec::new();
    for _ in 0..20 {
        let r = round();
        r.expect_code(3);
        delivered = hook.bodies();
        if !delivered.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    assert_eq!(delivered[0]["event"], "unreachable");
    assert_eq!(delivered[0]["id"], first_id.as_str());

    let history = project.drydock(&["outages", "--format", "json"]);
    let list = history.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["kind"], "unreachable");
    assert!(list[0]["to"].is_null(), "still unreachable");
}

#[test]
fn local_and_ssh_targets_run_the_same_checks() {
    let project = project("it-watch-ssh");
    let dir = project.path().to_path_buf();
    let sshd = Sshd::start(&dir);
    let port = sshd.port;
    let project = project.file(
        "checks.yaml",
        &format!("- name: root exists\n  user: root\n- name: os release\n  file: /etc/os-release\n- name: sshd listens\n  port: {port}\n- name: sshd from the monitor\n  from: drydock\n  port: {port}\n- name: a command\n  command: uname -s\n  stdout: [Linux]\n"),
    );
    let ssh_target = format!("ssh://root@127.0.0.1:{port}");
    let run = project.drydock(&[
        "watch",
        "local",
        &ssh_target,
        "--ssh-config",
        &dir.join("ssh_config").display().to_string(),
        "--once",
        "--format",
        "json",
    ]);
    run.expect_code(0);
    let json = run.json();
    for t in json["targets"].as_array().unwrap() {
        assert_eq!(t["status"], "pass", "{t:#}");
        assert_eq!(t["checks"].as_array().unwrap().len(), 5);
    }
    // Reaching the target, the fact script and the command check: one ssh session.
    let log = std::fs::read_to_string(dir.join("sshd.log")).unwrap();
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");

    // A wrong host key is not accepted: the target is unreachable, not failing.
    std::fs::write(
        dir.join("known_hosts"),
        format!(
            "[127.0.0.1]:{port} {}",
            std::fs::read_to_string(dir.join("client_key.pub")).unwrap()
        ),
    )
    .unwrap();
    let run = project.drydock(&[
        "watch",
        &ssh_target,
        "--ssh-config",
        &dir.join("ssh_config").display().to_string(),
        "--once",
        "--format",
        "json",
        "--history",
        &dir.join("other.db").display().to_string(),
    ]);
    run.expect_code(3);
    assert_eq!(run.json()["targets"][0]["status"], "unknown");
}

#[test]
fn the_daemon_pings_its_heartbeat_every_round_and_stops_cleanly_on_sigterm() {
    let project = project("it-watch-daemon").file(
        "checks.yaml",
        "- name: os release\n  file: /etc/os-release\n",
    );
    let beat = Receiver::any();
    let url = format!("http://127.0.0.1:{}/ping/abc", beat.port);
    let api = free_port();
    let listen = format!("127.0.0.1:{api}");
    let child = crate::fixture::drydock_command()
        .current_dir(project.path())
        .args(["watch", "local", "--every", "1s", "--heartbeat", &url])
        .args(["--listen", &listen])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start drydock watch");
    let mut beats = 0;
    for _ in 0..100 {
        beats = beat.got.lock().unwrap().len();
        if beats >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(beats >= 3, "{beats} heartbeat(s)");
    let requests = beat.got.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|(head, _)| head.starts_with("GET /ping/abc HTTP/1.1")),
        "{requests:#?}"
    );

    // The API serves the rounds while the monitor watches.
    let health = http_get(api, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let status = http_get(api, "/api/v1/status").json();
    assert_eq!(status["passing"], true, "{status:#}");
    assert_eq!(status["targets"][0]["target"], "local");
    assert_eq!(status["targets"][0]["checks"][0]["name"], "os release");
    assert_eq!(status["targets"][0]["checks"][0]["status"], "pass");
    assert_eq!(status["targets"][0]["checks"][0]["state"], "passing");
    let metrics = http_get(api, "/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"drydock_check_up{target="local",check="os release"} 1"#),
        "{metrics}"
    );
    let page = http_get(api, "/").body;
    assert!(page.contains("All watched checks pass"), "{page}");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", api)).is_err(),
        "the API stops with the monitor"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("drydock watch: stopped after "),
        "{stdout}"
    );

    // A failing round pings the failure URL.
    let project = project.file(
        "checks.yaml",
        "- name: nothing here\n  file: /nonexistent/drydock\n",
    );
    let run = project.drydock(&[
        "watch",
        "local",
        "--once",
        "--confirm",
        "0",
        "--heartbeat",
        &url,
    ]);
    run.expect_code(1);
    let last = beat.got.lock().unwrap().last().cloned().unwrap();
    assert!(
        last.0.starts_with("GET /ping/abc/fail HTTP/1.1"),
        "{}",
        last.0
    );

    // The failing check leaves the configuration: its outage ends there, marked so.
    let project = project.file(
        "checks.yaml",
        "- name: os release\n  file: /etc/os-release\n",
    );
    project
        .drydock(&["watch", "local", "--once", "--confirm", "0"])
        .expect_code(0);
    let outages = project.drydock(&["outages", "--format", "json"]);
    outages.expect_code(0);
    let outages: serde_json::Value = serde_json::from_str(&outages.stdout).unwrap();
    let ended: Vec<_> = outages
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["check"] == "nothing here")
        .collect();
    assert_eq!(ended.len(), 1, "{outages:#}");
    assert_eq!(ended[0]["ended_by"], "unwatched");
    assert!(ended[0]["to"].is_i64(), "{outages:#}");
}

/// An SMTP server that offers STARTTLS, requires it, and requires a login (aiosmtpd).
const SMTP_TLS_SERVER: &str = r#"
import ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult
port, maildir, cert, key, user, password = sys.argv[1:]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
def authenticate(server, session, envelope, mechanism, data):
    ok = data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok, handled=False)
controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port),
    tls_context=context, require_starttls=True, authenticator=authenticate, auth_required=True)
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

#[test]
fn mail_goes_over_starttls_with_a_login_and_never_in_the_clear() {
    let project = project("it-watch-smtps").file(
        "checks.yaml",
        "- name: nothing here\n  file: /nonexistent/drydock\n",
    );
    let dir = project.path().to_path_buf();
    certificates(&dir);
    std::fs::write(dir.join("smtp.py"), SMTP_TLS_SERVER).unwrap();
    let maildir = dir.join("mail");
    let port = free_port();
    let _server = Daemon::start(
        "/usr/bin/python3",
        &[
            &dir.join("smtp.py").display().to_string(),
            &port.to_string(),
            &maildir.display().to_string(),
            &dir.join("server-cert.pem").display().to_string(),
            &dir.join("server-key.pem").display().to_string(),
            "ops",
            "right-password",
        ],
        &dir.join("smtp.log"),
    );
    wait_for_port(port);
    let server = format!("127.0.0.1:{port}");
    let ca = dir.join("ca.pem").display().to_string();
    let mails = || {
        std::fs::read_dir(maildir.join("new"))
            .map(|d| d.flatten().count())
            .unwrap_or(0)
    };
    let round = |tls: &str, extra: &[&str], password: Option<&str>, store: &str| {
        let mut args = vec![
            "watch",
            "local",
            "--once",
            "--confirm",
            "0",
            "--smtp",
            &server,
            "--smtp-tls",
            tls,
            "--smtp-user",
            "ops",
            "--mail-from",
            "drydock@example.org",
            "--mail-to",
            "ops@example.org",
            "--history",
            store,
        ];
        args.extend_from_slice(extra);
        match password {
            Some(p) => project.drydock_env(&args, &[("DRYDOCK_SMTP_PASSWORD", p)]),
            None => project.drydock(&args),
        }
    };

    // A login without a password, or a password over plain text: usage errors, nothing sent.
    let run = round("starttls", &["--smtp-ca-file", &ca], None, "h0.db");
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("error: SMTP user `ops` has no password: set DRYDOCK_SMTP_PASSWORD"),
        "{}",
        run.stderr
    );
    let run = round("none", &[], Some("right-password"), "h0.db");
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("the SMTP password would cross the network in the clear"),
        "{}",
        run.stderr
    );

    // A wrong password, and a relay whose certificate is not trusted: no mail.
    round("starttls", &["--smtp-ca-file", &ca], Some("wrong"), "h1.db").expect_code(1);
    round("starttls", &[], Some("right-password"), "h2.db").expect_code(1);
    assert_eq!(mails(), 0);

    // The right password over STARTTLS with the relay's CA: one mail.
    let run = round(
        "starttls",
        &["--smtp-ca-file", &ca],
        Some("right-password"),
        "h3.db",
    );
    run.expect_code(1);
    assert_eq!(mails(), 1, "{}", run.stderr);
    let mail = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .flatten()
        .next()
        .unwrap();
    let text = std::fs::read_to_string(mail.path()).unwrap();
    assert!(text.contains("nothing here"), "{text}");
    assert!(!text.contains("right-password"), "{text}");
}

/// A project watching the local machine with `checks`.
fn watching_local(name: &str, checks: &str) -> Project {
    project(name).file("checks.yaml", checks)
}

#[test]
fn a_second_watcher_on_one_store_is_refused() {
    let project = watching_local("it-watch-lock", "- name: true\n  command: \"true\"\n");
    let mut daemon = crate::fixture::drydock_command();
    daemon
        .current_dir(project.path())
        .args(["watch", "local", "--every", "30s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut daemon = daemon.spawn().expect("start the first monitor");
    // Its first round recorded: the store exists and is held.
    let store = project.path().join(".drydock/history.db");
    for _ in 0..100 {
        if store.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let second = project.drydock(&["watch", "local", "--once"]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    second.expect_code(2);
    assert!(
        second
            .stderr
            .contains("is in use by another `drydock watch` (pid "),
        "{}",
        second.stderr
    );
    // Once the first is gone, the store is free.
    project
        .drydock(&["watch", "local", "--once"])
        .expect_code(0);
}

#[test]
fn a_check_that_cannot_be_evaluated_alerts_once_as_erroring() {
    // A package check on a target without a package database can never be judged.
    let project = project("it-watch-erroring")
        .file("checks.yaml", "- name: nginx installed\n  package: nginx\n");
    let image = crate::fixture::busybox_image(
        "it-watch-erroring",
        "drydock/it-watch-erroring:busybox",
        &[("/etc/hostname", "box\n", 0o644)],
    );
    let target = Container::start("it-watch-erroring", &image, &[]);
    let target = format!("container:{}", target.id);
    let hook = Receiver::any();
    let hook_url = format!("http://127.0.0.1:{}/hook", hook.port);
    let round = || {
        project.drydock(&[
            "watch",
            &target,
            "--once",
            "--confirm",
            "2",
            "--webhook",
            &hook_url,
        ])
    };
    // One round that cannot judge it is not yet an alert; the second in a row is.
    round().expect_code(0);
    assert!(hook.bodies().is_empty());
    let second = round();
    second.expect_code(3);
    assert!(second.stdout.contains("error"), "{}", second.stdout);
    let third = round();
    third.expect_code(3);
    let bodies = hook.bodies();
    assert_eq!(events(&bodies, "erroring").len(), 1, "{bodies:#?}");
    assert_eq!(bodies.len(), 1, "erroring is sent once: {bodies:#?}");
    assert_eq!(bodies[0]["check"], "nginx installed");
    let outages = project.drydock(&["outages", "--format", "json"]);
    outages.expect_code(0);
    let list: serde_json::Value = serde_json::from_str(&outages.stdout).unwrap();
    assert_eq!(list[0]["kind"], "error");
    assert_eq!(list[0]["to"], serde_json::Value::Null);
}

/// The peak resident memory of a process, polled until it ends: (VmHWM in kB, its output).
fn peak_rss(mut command: std::process::Command) -> (u64, std::process::Output) {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start drydock");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = out.read_to_end(&mut text);
        text
    });
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = reader.join().unwrap();
    let mut output = child.wait_with_output().unwrap();
    output.stdout = stdout;
    (peak, output)
}

#[test]
fn a_target_printing_a_gibibyte_is_cut_and_the_monitor_stays_small() {
    let project = watching_local(
        "it-watch-runaway",
        "- name: runaway\n  command: \"head -c 1073741824 /dev/zero\"\n",
    );
    let mut command = crate::fixture::drydock_command();
    command
        .current_dir(project.path())
        .args(["watch", "local", "--once", "--format", "json"]);
    let (peak_kb, output) = peak_rss(command);
    let round: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let check = &round["targets"][0]["checks"][0];
    assert_eq!(check["status"], "error", "{round:#}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .starts_with("the target printed more than 16384 KiB, so its output was cut there"),
        "{check:#}"
    );
    // 16 MiB of output read, never the gibibyte.
    assert!(peak_kb < 120 * 1024, "peak RSS {peak_kb} kB");
}

#[test]
fn a_receiver_that_hangs_does_not_delay_the_next_round() {
    let project = watching_local(
        "it-watch-hang",
        "- name: always fails\n  command: \"exit 1\"\n",
    );
    let hang = Receiver::answering(0, "");
    let mut daemon = crate::fixture::drydock_command();
    daemon
        .current_dir(project.path())
        .args([
            "watch",
            "local",
            "--every",
            "4s",
            "--confirm",
            "0",
            "--webhook",
            &format!("http://127.0.0.1:{}/hook", hang.port),
        ])
        .env("CI", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let daemon = daemon.spawn().expect("start the monitor");
    std::thread::sleep(Duration::from_secs(11));
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .expect("kill");
    let output = daemon.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rounds: Vec<f64> = stderr
        .lines()
        .filter_map(|l| l.split("round in ").nth(1))
        .filter_map(|rest| rest.split(" s:").next())
        .filter_map(|s| s.parse().ok())
        .collect();
    // Three rounds in 11 s, 4 s apart: delivery never ran past half the interval.
    assert!(rounds.len() >= 2, "{stderr}");
    assert!(rounds.iter().all(|r| *r < 4.0), "{rounds:?}\n{stderr}");
    assert!(
        !hang.got.lock().unwrap().is_empty(),
        "the receiver was tried"
    );
}

#[test]
fn a_redirect_from_a_receiver_is_not_a_delivery() {
    let project = watching_local(
        "it-watch-redirect",
        "- name: always fails\n  command: \"exit 1\"\n",
    );
    let elsewhere = Receiver::any();
    let location: &'static str = Box::leak(
        format!(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{}/stolen\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            elsewhere.port
        )
        .into_boxed_str(),
    );
    let redirecting = Receiver::answering(0, location);
    let run = project.drydock_env(
        &[
            "watch",
            "local",
            "--once",
            "--confirm",
            "0",
            "--webhook",
            &format!("http://127.0.0.1:{}/hook", redirecting.port),
        ],
        &[("DRYDOCK_WEBHOOK_SECRET", "s3cret")],
    );
    run.expect_code(1);
    assert_eq!(redirecting.got.lock().unwrap().len(), 1);
    assert!(
        elsewhere.got.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
    assert!(
        run.stdout.contains("1 notification(s)") || run.stderr.contains("answered 302"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    // Not delivered: it waits in the outbox.
    let history = project.drydock(&["history", "--format", "json"]);
    history.expect_code(0);
    let again = project.drydock(&["watch", "local", "--once", "--confirm", "0"]);
    assert!(
        again.stdout.contains("waiting for a receiver"),
        "{}",
        again.stdout
    );
}

#[test]
fn secrets_are_never_flags_and_never_empty() {
    let project = watching_local("it-watch-secrets", "- name: true\n  command: \"true\"\n");
    let flag = project.drydock(&[
        "watch",
        "local",
        "--once",
        "--webhook",
        "http://127.0.0.1:9/hook",
        "--webhook-secret",
        "s3cret",
    ]);
    flag.expect_code(2);
    assert!(
        flag.stderr.contains("--webhook-secret is not accepted: a secret on the command line is visible to every user of this machine (`ps`)"),
        "{}",
        flag.stderr
    );
    let empty = project.drydock_env(
        &[
            "watch",
            "local",
            "--once",
            "--webhook",
            "http://127.0.0.1:9/hook",
        ],
        &[("DRYDOCK_WEBHOOK_SECRET", "")],
    );
    empty.expect_code(2);
    assert!(
        empty
            .stderr
            .contains("the secret in DRYDOCK_WEBHOOK_SECRET is empty"),
        "{}",
        empty.stderr
    );
    // From the environment, the secret is in no command line: not drydock's, not a child's.
    let mut daemon = crate::fixture::drydock_command();
    daemon
        .current_dir(project.path())
        .args([
            "watch",
            "local",
            "--every",
            "30s",
            "--webhook",
            "http://127.0.0.1:9/hook",
        ])
        .env("DRYDOCK_WEBHOOK_SECRET", "s3cret-in-env")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut daemon = daemon.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains("s3cret"));
}
