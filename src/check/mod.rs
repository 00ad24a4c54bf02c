//! The check engine: evaluates checks against a running container.
//!
//! Declarative checks (file, package, process, port, user, group) share one exec that gathers
//! every fact they need ([`facts`]); `command` and `http` checks get one exec each, run
//! concurrently. Judging happens on the host ([`judge`]). A check that could not be evaluated
//! is an `error`, never a `fail`; one that passes only after a retry is `flaky`.

pub mod facts;
pub mod judge;
pub mod observed;
pub mod outside;
pub mod runner;
pub mod service;

use std::time::Duration;

use futures_util::future::join_all;

use crate::config::{Check, Host, Spec};
use crate::docker::Engine;
use crate::event::{Event, Events, Scope};
use crate::outcome::{CheckResult, Verdict};
use judge::Judgement;
pub use runner::Runner;

/// How long a `command` or `http` check may take unless it says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the fact-gathering exec may take.
const GATHER_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between attempts of a check with `retries`.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Which checks to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--tag`: only checks with one of these tags.
    pub tags: Vec<String>,
    /// `--skip-tag`: no checks with one of these tags.
    pub skip_tags: Vec<String>,
    /// `--filter`: only checks whose name contains one of these.
    pub filters: Vec<String>,
}

impl Selection {
    /// Whether `check` is selected (scenario aside).
    pub fn selects(&self, check: &Check) -> bool {
        (self.tags.is_empty() || check.tags.iter().any(|t| self.tags.contains(t)))
            && !check.tags.iter().any(|t| self.skip_tags.contains(t))
            && (self.filters.is_empty()
                || self.filters.iter().any(|f| check.name.contains(f.as_str())))
    }
}

/// The checks that run in `scenario` (`None`: a standalone target, every check).
pub fn for_scenario<'a>(
    checks: &'a [Check],
    selection: &Selection,
    scenario: Option<&str>,
) -> Vec<&'a Check> {
    checks
        .iter()
        .filter(|c| selection.selects(c))
        .filter(|c| match (scenario, &c.scenarios) {
            (Some(s), Some(list)) => list.iter().any(|x| x == s),
            _ => true,
        })
        .collect()
}

/// The checks that run in `scenario` on `host`: those without `hosts:`, and those naming the
/// host or one of its groups.
pub fn for_host<'a>(
    checks: &'a [Check],
    selection: &Selection,
    scenario: &str,
    host: &Host,
) -> Vec<&'a Check> {
    for_scenario(checks, selection, Some(scenario))
        .into_iter()
        .filter(|c| match &c.hosts {
            None => true,
            Some(names) => names.iter().any(|n| host.answers_to(n)),
        })
        .collect()
}

/// The first `hosts:` entry of a check that names neither a host nor a group of `hosts`, as
/// `file:line` and the name.
pub fn unknown_host<'a>(checks: &'a [Check], hosts: &[Host]) -> Option<(&'a Check, &'a str)> {
    checks.iter().find_map(|c| {
        c.hosts.as_ref()?.iter().find_map(|name| {
            (!hosts.iter().any(|h| h.answers_to(name))).then_some((c, name.as_str()))
        })
    })
}

/// Evaluates `checks` against `container`, retrying those that ask for it.
pub async fn evaluate(
    engine: &Engine,
    container: &str,
    checks: &[&Check],
    scope: &Scope,
    events: &Events,
) -> Vec<CheckResult> {
    let runner = Runner::container(engine, container);
    evaluate_on(&runner, checks, scope, events).await
}

/// Evaluates `checks` where `runner` runs commands, retrying those that ask for it.
pub async fn evaluate_on(
    runner: &Runner,
    checks: &[&Check],
    scope: &Scope,
    events: &Events,
) -> Vec<CheckResult> {
    let mut judgements = evaluate_once(runner, checks).await;
    let mut flaky = vec![false; checks.len()];
    let most = checks.iter().map(|c| c.retries).max().unwrap_or(0);
    for attempt in 1..=most {
        let again: Vec<usize> = (0..checks.len())
            .filter(|&i| judgements[i].status != Verdict::Pass && checks[i].retries >= attempt)
            .collect();
        if again.is_empty() {
            break;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
        let subset: Vec<&Check> = again.iter().map(|&i| checks[i]).collect();
        let retried = evaluate_once(runner, &subset).await;
        for (slot, judgement) in again.into_iter().zip(retried) {
            if judgement.status == Verdict::Pass {
                flaky[slot] = true;
            }
            judgements[slot] = judgement;
        }
    }
    let results: Vec<CheckResult> = checks
        .iter()
        .zip(judgements)
        .zip(flaky)
        .map(|((check, judgement), flaky)| CheckResult {
            name: check.name.clone(),
            kind: check.spec.kind().to_string(),
            status: judgement.status,
            message: if flaky {
                format!("{} (passed on a retry)", judgement.message)
            } else {
                judgement.message
            },
            flaky,
            file: check.file.display().to_string(),
            line: check.line,
            host: None,
            platform: None,
        })
        .collect();
    for result in &results {
        events.send(Event::Check {
            scope: scope.clone(),
            result: result.clone(),
        });
    }
    results
}

/// One attempt at every check, in the order given.
async fn evaluate_once(runner: &Runner, checks: &[&Check]) -> Vec<Judgement> {
    let declarative: Vec<&Check> = checks
        .iter()
        .copied()
        .filter(|c| !matches!(c.spec, Spec::Command { .. } | Spec::Http { .. }))
        .collect();
    let gather = async {
        if declarative.is_empty() {
            return Ok(facts::Facts::default());
        }
        gather(runner, &facts::Wants::of(declarative.iter().copied())).await
    };
    let singles = join_all(checks.iter().map(|check| async move {
        match &check.spec {
            Spec::Command { command, .. } => Some(run_command(runner, check, command).await),
            Spec::Http { url, .. } => Some(run_http(runner, check, url).await),
            _ => None,
        }
    }));
    let (gathered, singles) = tokio::join!(gather, singles);
    checks
        .iter()
        .zip(singles)
        .map(|(check, single)| match single {
            Some(judgement) => judgement,
            None => match &gathered {
                Ok(facts) => judge::judge(&check.spec, facts),
                Err(message) => Judgement::error(message.clone()),
            },
        })
        .collect()
}

async fn gather(runner: &Runner, wants: &facts::Wants) -> Result<facts::Facts, String> {
    let marker = format!("@@drydock-{:016x}", nonce());
    let script = facts::script(wants, &marker);
    let cmd = ["/bin/sh", "-c", script.as_str()];
    let run = runner.exec(&cmd);
    match tokio::time::timeout(GATHER_TIMEOUT, run).await {
        Err(_) => Err(format!(
            "gathering facts took longer than {} s",
            GATHER_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("could not run checks on the target: {e}")),
        Ok(Ok(output)) if output.truncated => Err(cut(runner)),
        Ok(Ok(output)) => {
            let facts = facts::parse(&output.stdout, wants, &marker);
            if !facts.complete {
                return Err(format!(
                    "gathering facts failed in the container (exit {}): {}",
                    output.exit_code,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            Ok(facts)
        }
    }
}

fn nonce() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

/// Why output that went past the runner's cap cannot be judged.
fn cut(runner: &Runner) -> String {
    format!(
        "the target printed more than {} KiB, so its output was cut there and the command stopped (watch.max_output, --max-output); it could not be judged",
        runner.max_output / 1024
    )
}

async fn run_command(runner: &Runner, check: &Check, command: &str) -> Judgement {
    let timeout = check.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let cmd = ["/bin/sh", "-c", command];
    let run = runner.exec(&cmd);
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Judgement {
            status: Verdict::Fail,
            message: format!("timed out after {} s", timeout.as_secs_f64()),
        },
        Ok(Err(e)) => Judgement::error(format!("could not run the command: {e}")),
        Ok(Ok(out)) if out.truncated => Judgement::error(cut(runner)),
        Ok(Ok(out)) => observed::judge_command(
            &check.spec,
            out.exit_code,
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
        ),
    }
}

/// Fetches a URL from inside the container with python3 or curl, printing the status line,
/// the headers, a blank line and the body.
const HTTP_SCRIPT: &str = r#"url=$1; t=$2
if command -v python3 >/dev/null 2>&1; then
exec python3 - "$url" "$t" <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))
except urllib.error.HTTPError as e:
    r = e
except Exception as e:
    sys.stderr.write("request failed: %s\n" % e); sys.exit(7)
out = sys.stdout.buffer
out.write(b"HTTP %d\n" % r.status)
for k, v in r.headers.items():
    out.write(("%s: %s\n" % (k, v)).encode())
out.write(b"\n"); out.write(r.read())
EOF
elif command -v curl >/dev/null 2>&1; then
exec curl -sS -i --max-time "$t" "$url"
elif command -v wget >/dev/null 2>&1; then
# busybox wget prints the response headers indented on stderr (its -T crashes some builds).
# Its files go to a private folder with an unpredictable name (mktemp -d: mode 0700).
d=$(mktemp -d) || { echo "cannot make a private temporary folder" >&2; exit 7; }
wget -S -q -O "$d/body" "$url" 2>"$d/head"
grep -q '^  HTTP/' "$d/head" || cat "$d/head" >&2
sed -n 's/^  //p' "$d/head"; echo; cat "$d/body" 2>/dev/null
rm -rf "$d"
else
echo "no HTTP client in the container: install python3, curl or wget" >&2; exit 127
fi
"#;

async fn run_http(runner: &Runner, check: &Check, url: &str) -> Judgement {
    let timeout = check.timeout.unwrap_or(Duration::from_secs(10));
    let secs = format!("{}", timeout.as_secs_f64());
    let cmd = ["/bin/sh", "-c", HTTP_SCRIPT, "http", url, secs.as_str()];
    let run = runner.exec(&cmd);
    let out = match tokio::time::timeout(timeout + Duration::from_secs(5), run).await {
        Err(_) => {
            return Judgement {
                status: Verdict::Fail,
                message: format!("no answer within {} s", timeout.as_secs_f64()),
            }
        }
        Ok(Err(e)) => return Judgement::error(format!("could not run the request: {e}")),
        Ok(Ok(out)) if out.truncated => return Judgement::error(cut(runner)),
        Ok(Ok(out)) => out,
    };
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.exit_code == 127 {
        return Judgement::error(stderr);
    }
    match parse_http(&out.stdout) {
        Some((status, headers, body)) => observed::judge_http(&check.spec, status, &headers, &body),
        None if out.exit_code != 0
            || !stderr.is_empty()
            || out.stdout.iter().all(u8::is_ascii_whitespace) =>
        {
            Judgement {
                status: Verdict::Fail,
                message: format!(
                    "GET {url} failed: {}",
                    if stderr.is_empty() {
                        "no response".to_string()
                    } else {
                        stderr
                    }
                ),
            }
        }
        None => Judgement::error(format!("unreadable HTTP response from {url}")),
    }
}

/// A parsed HTTP response: status, headers, body.
pub type Response = (u16, Vec<(String, String)>, String);

/// Splits `HTTP/1.1 200 OK\r\nK: V\r\n\r\nbody` (or the python form) into its parts; for
/// curl's output after redirects or `100 Continue`, the last response counts.
pub fn parse_http(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let mut rest = text.as_str();
    loop {
        let (head, body) = rest.split_once("\n\n").unwrap_or((rest, ""));
        let mut lines = head.lines();
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        if body.starts_with("HTTP") && (status == 100 || (300..400).contains(&status)) {
            rest = body;
            continue;
        }
        return Some((status, headers, body.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_from_python_and_curl() {
        let (status, headers, body) =
            parse_http(b"HTTP 200\nServer: nginx\n\nHello world\n").unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers, vec![("Server".to_string(), "nginx".to_string())]);
        assert_eq!(body, "Hello world\n");
        let (status, _, body) =
            parse_http(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nA: b\r\n\r\nnope")
                .unwrap();
        assert_eq!(status, 404);
        assert_eq!(body, "nope");
        assert!(parse_http(b"garbage").is_none());
    }

    #[test]
    fn selection_by_tag_skip_and_filter() {
        let checks = crate::config::parse_checks(
            std::path::Path::new("t.yaml"),
            "- name: a smoke\n  package: x\n  tags: [smoke]\n- name: b slow\n  package: y\n  tags: [slow]\n  scenarios: [upgrade]\n",
        )
        .unwrap();
        let names = |s: &Selection, scenario| -> Vec<String> {
            for_scenario(&checks, s, scenario)
                .iter()
                .map(|c| c.name.clone())
                .collect()
        };
        assert_eq!(names(&Selection::default(), Some("fresh")), ["a smoke"]);
        assert_eq!(
            names(&Selection::default(), Some("upgrade")),
            ["a smoke", "b slow"]
        );
        let tagged = Selection {
            tags: vec!["slow".into()],
            ..Default::default()
        };
        assert_eq!(names(&tagged, None), ["b slow"]);
        let skipped = Selection {
            skip_tags: vec!["slow".into()],
            ..Default::default()
        };
        assert_eq!(names(&skipped, None), ["a smoke"]);
        let filtered = Selection {
            filters: vec!["smo".into()],
            ..Default::default()
        };
        assert_eq!(names(&filtered, None), ["a smoke"]);
    }
}
