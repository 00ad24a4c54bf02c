//! Judging what `command` and `http` checks observed: the exit status and output of a command,
//! the status, headers and body of a response.

use super::judge::{nearest_line, Judgement};
use crate::config::{Pattern, Spec};

/// Judges the output of a `command` check.
pub fn judge_command(spec: &Spec, exit_code: i64, stdout: &str, stderr: &str) -> Judgement {
    let Spec::Command {
        exit_status,
        stdout: want_out,
        stderr: want_err,
        ..
    } = spec
    else {
        return Judgement::error("not a command check");
    };
    let mut problems = Vec::new();
    // What the command said on stderr is the why of most failures: its last lines.
    let said = last_lines(stderr, 3);
    if exit_code != *exit_status {
        let mut problem = format!("exit status: expected {exit_status}, found {exit_code}");
        let tail = said.clone().or_else(|| last_line(stdout).map(String::from));
        if let Some(tail) = tail {
            problem.push_str(&format!(" ({tail:?})"));
        }
        problems.push(problem);
    }
    for p in want_out {
        if !p.is_match(stdout) {
            let mut problem = format!("stdout: {p} not found{}", near(p, stdout));
            if exit_code == *exit_status {
                if let Some(said) = &said {
                    problem.push_str(&format!("; stderr: {said:?}"));
                }
            }
            problems.push(problem);
        }
    }
    for p in want_err {
        if !p.is_match(stderr) {
            problems.push(format!("stderr: {p} not found{}", near(p, stderr)));
        }
    }
    Judgement::from_problems(problems, format!("exited {exit_code}"))
}

fn near(pattern: &Pattern, text: &str) -> String {
    nearest_line(pattern, text)
        .map(|l| format!("; nearest line: {l:?}"))
        .unwrap_or_default()
}

/// The last `n` non-blank lines, joined with ` | `, at most 300 bytes.
fn last_lines(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let tail = lines[lines.len().saturating_sub(n)..].join(" | ");
    Some(crate::outcome::bounded(&tail, 300))
}

fn last_line(text: &str) -> Option<&str> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::trim)
}

/// Judges an `http` check's response.
pub fn judge_http(spec: &Spec, status: u16, headers: &[(String, String)], body: &str) -> Judgement {
    let Spec::Http {
        status: want_status,
        body: want_body,
        headers: want_headers,
        ..
    } = spec
    else {
        return Judgement::error("not an http check");
    };
    let mut problems = Vec::new();
    if status != *want_status {
        problems.push(format!("status: expected {want_status}, found {status}"));
    }
    for p in want_body {
        if !p.is_match(body) {
            problems.push(format!("body: {p} not found{}", near(p, body)));
        }
    }
    for (name, p) in want_headers {
        match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some((_, value)) if p.is_match(value) => {}
            Some((_, value)) => {
                problems.push(format!("header {name}: expected {p}, found {value:?}"))
            }
            None => problems.push(format!("header {name}: expected {p}, not sent")),
        }
    }
    Judgement::from_problems(problems, format!("HTTP {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Verdict;

    #[test]
    fn command_and_http() {
        let cmd = Spec::Command {
            command: "nginx -t".into(),
            exit_status: 0,
            stdout: vec![],
            stderr: vec![Pattern::Text("syntax is ok".into())],
        };
        let j = judge_command(&cmd, 1, "", "nginx: [emerg] unknown directive \"lissen\"\n");
        assert_eq!(j.status, Verdict::Fail);
        assert!(j.message.starts_with("exit status: expected 0, found 1 (\"nginx: [emerg] unknown directive \\\"lissen\\\"\")"), "{}", j.message);
        // Several lines of stderr: the last three say why.
        let j = judge_command(
            &cmd,
            1,
            "",
            "nginx: [emerg] unknown directive \"lissen\" in /etc/nginx/sites-enabled/default:2\nnginx: configuration file /etc/nginx/nginx.conf test failed\n",
        );
        assert!(j.message.starts_with("exit status: expected 0, found 1 (\"nginx: [emerg] unknown directive \\\"lissen\\\" in /etc/nginx/sites-enabled/default:2 | nginx: configuration file /etc/nginx/nginx.conf test failed\")"), "{}", j.message);
        let out = Spec::Command {
            command: "cat /etc/x".into(),
            exit_status: 1,
            stdout: vec![Pattern::Text("port=80".into())],
            stderr: vec![],
        };
        assert_eq!(
            judge_command(&out, 1, "", "cat: /etc/x: Permission denied\n").message,
            "stdout: \"port=80\" not found; stderr: \"cat: /etc/x: Permission denied\""
        );
        let http = Spec::Http {
            url: "http://localhost/".into(),
            status: 200,
            body: vec![Pattern::Text("Hello world".into())],
            headers: vec![("server".into(), Pattern::Text("nginx".into()))],
        };
        let j = judge_http(
            &http,
            200,
            &[("Server".into(), "nginx/1.22.1".into())],
            "Hello world\n",
        );
        assert_eq!(j.status, Verdict::Pass);
        let j = judge_http(&http, 404, &[], "Not found");
        assert_eq!(j.message, "status: expected 200, found 404; body: \"Hello world\" not found; header server: expected \"nginx\", not sent");
    }
}
