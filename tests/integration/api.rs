//! The history store over HTTP: every `drydock run` is recorded, and `drydock serve` gives the
//! runs back with the status, outages, health, metrics and the dashboard.

use std::process::{Child, Stdio};

use crate::fixture::{
    drydock_command, free_port, http_get, http_get_with, wait_for_port, Project, Run,
};

const SHELL: &str = "  shell:\n    script: p.sh";
const CHECKS: &str = "- name: config\n  file: /etc/app.conf\n  contains: [\"/^port=80$/\"]\n";

/// `drydock serve` in `folder` on a free port, with `args` after it.
fn serve(folder: &std::path::Path, args: &[&str]) -> (Child, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = drydock_command()
        .current_dir(folder)
        .args(["serve", "--listen", &listen])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drydock serve");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        if child.try_wait().ok().flatten().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "drydock serve ended: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("drydock serve does not listen on {port}");
}

/// SIGTERM, then how it ended.
fn stop(child: Child) -> Run {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap().into()
}

#[test]
fn every_run_is_recorded_and_served_back_over_http() {
    let project = Project::debian("it-api", SHELL, CHECKS)
        .file("p.sh", "echo port=80 > /etc/app.conf\n")
        .commit("production");
    let pass = project.drydock(&["run", "--format", "json"]);
    pass.expect_code(0);
    // The store's folder keeps itself out of git: the run leaves `git status` clean.
    let git = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(project.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&git.stdout), "");
    let project = project.file("p.sh", "echo port=8080 > /etc/app.conf\n");
    let fail = project.drydock(&["run", "--format", "json"]);
    fail.expect_code(1);
    let (pass_id, fail_id) = (
        pass.json()["run_id"].as_str().unwrap().to_string(),
        fail.json()["run_id"].as_str().unwrap().to_string(),
    );
    assert!(project.path().join(".drydock/history.db").is_file());

    let (server, port) = serve(project.path(), &[]);
    let runs = http_get(port, "/api/v1/runs");
    assert_eq!(runs.status, 200, "{}", runs.body);
    let listed: Vec<(String, String)> = runs.json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["project"], "it-api");
            (
                r["run_id"].as_str().unwrap().to_string(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (fail_id.clone(), "fail".into()),
            (pass_id.clone(), "pass".into())
        ]
    );
    let newest = http_get(port, "/api/v1/runs?limit=1").json();
    assert_eq!(newest["runs"].as_array().unwrap().len(), 1);
    assert_eq!(newest["runs"][0]["run_id"], fail_id.as_str());
    assert_eq!(http_get(port, "/api/v1/runs?limit=0").status, 400);

    // A run's report comes back exactly as `--format json` printed it.
    for (id, run) in [(&pass_id, &pass), (&fail_id, &fail)] {
        let one = http_get(port, &format!("/api/v1/runs/{id}"));
        assert_eq!(one.status, 200);
        assert_eq!(one.json(), run.json());
    }
    let missing = http_get(port, "/api/v1/runs/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "no run nope in the history store");

    let metrics = http_get(port, "/metrics");
    assert_eq!(metrics.status, 200);
    for line in [
        r#"drydock_runs_recorded{verdict="fail"} 1"#,
        r#"drydock_runs_recorded{verdict="pass"} 1"#,
        r#"drydock_outages_ongoing{kind="check"} 0"#,
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line} in\n{}",
            metrics.body
        );
    }
    let health = http_get(port, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(
        http_get(port, "/api/v1/status").json(),
        serde_json::json!({ "passing": true, "targets": [] })
    );
    let bad = http_get(port, "/api/v1/outages?since=soon");
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["error"],
        "since: `soon` is not a duration; expected e.g. 90s, 10m, 1h, 7d"
    );
    let page = http_get(port, "/");
    assert_eq!(page.status, 200);
    assert!(page.head.contains("text/html"), "{}", page.head);
    assert_eq!(page.body.matches("<tr class=\"run\">").count(), 2);
    assert!(page
        .body
        .contains(&format!("<a href=\"/api/v1/runs/{fail_id}\">")));
    assert!(page.body.contains("No watch round recorded yet."));

    let ended = stop(server);
    ended.expect_code(0);
    assert_eq!(ended.stdout.trim(), "drydock serve: stopped");
    assert!(
        ended
            .stderr
            .contains("drydock: interrupted; stopping the server"),
        "{}",
        ended.stderr
    );
}

#[test]
fn a_port_already_taken_is_a_usage_error_naming_the_flag() {
    let project = Project::new("it-api-port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let store = project.path().join("h.db").display().to_string();
    let run = project.drydock(&["serve", "--listen", &address, "--history", &store]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!("error: --listen {address}: ")),
        "{}",
        run.stderr
    );
}

#[test]
fn the_api_needs_its_token_and_answers_only_to_its_own_names() {
    let project = Project::debian("it-api-token", SHELL, CHECKS).file("p.sh", "true\n");
    let token_file = project.path().join("api-token");
    std::fs::write(&token_file, "t0ken-of-the-api\n").unwrap();
    let token = token_file.display().to_string();
    let (server, port) = serve(
        project.path(),
        &["--token-file", &token, "--allow-host", "drydock.internal"],
    );
    let host = format!("Host: 127.0.0.1:{port}");
    let with = |extra: &str| format!("{host}\r\n{extra}");
    for path in ["/api/v1/runs", "/api/v1/status", "/metrics", "/"] {
        let missing = http_get(port, path);
        assert_eq!(missing.status, 401, "{path}");
        assert!(missing
            .head
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"));
        assert!(missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"));
        let wrong = http_get_with(port, path, &with("Authorization: Bearer t0ken-of-the-apx"));
        assert_eq!(wrong.status, 401, "{path}");
        let right = http_get_with(port, path, &with("Authorization: Bearer t0ken-of-the-api"));
        assert_eq!(right.status, 200, "{path}: {}", right.body);
    }
    assert_eq!(http_get(port, "/healthz").status, 200);
    // DNS rebinding: a name that is not this server's is refused, token or not.
    let evil = http_get_with(
        port,
        "/api/v1/runs",
        "Host: evil.example\r\nAuthorization: Bearer t0ken-of-the-api",
    );
    assert_eq!(evil.status, 421);
    assert!(evil.json()["error"]
        .as_str()
        .unwrap()
        .contains("evil.example"));
    let allowed = http_get_with(
        port,
        "/api/v1/runs",
        "Host: drydock.internal\r\nAuthorization: Bearer t0ken-of-the-api",
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(stop(server).code, 0);

    // Beyond loopback, no token: refused before listening, unless said so.
    let open = project.drydock(&["serve", "--listen", "0.0.0.0:0"]);
    open.expect_code(2);
    assert!(
        open.stderr
            .contains("reaches beyond this machine, and the API has no token"),
        "{}",
        open.stderr
    );
    std::fs::write(&token_file, "\n").unwrap();
    let empty = project.drydock(&["serve", "--token-file", &token]);
    empty.expect_code(2);
    assert!(
        empty.stderr.contains("the API token is empty"),
        "{}",
        empty.stderr
    );
    let port = free_port();
    let insecure = drydock_command()
        .current_dir(project.path())
        .args([
            "serve",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--insecure-no-token",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_port(port);
    assert_eq!(http_get(port, "/api/v1/runs").status, 200);
    assert_eq!(stop(insecure).code, 0);
}
