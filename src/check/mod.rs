//! The check engine: evaluates checks against a running container.
//!
//! Check files ([`definition`]) name one resource of a kind ([`kinds`]) with assertions in
//! one matcher language ([`matcher`]). Gathered checks (file, package, process, port, user,
//! group, service, dns, mount, kernel_param, interface) share one exec that gathers every fact
//! they need ([`facts`]); `command`, `http` and `addr` checks get one exec each, run
//! concurrently. Judging happens on the host. A check that could not be evaluated is an
//! `error`, never a `fail`; one that passes only after a retry is `flaky`.

pub mod definition;
pub mod facts;
pub mod goss;
pub mod judge;
pub mod kinds;
pub mod matcher;
pub mod outside;
pub mod runner;
pub mod version;

use std::time::Duration;

use futures_util::future::join_all;

pub use definition::{load_checks, parse_checks, Check};
pub use kinds::Spec;

use crate::config::Host;
use crate::docker::Engine;
use crate::event::{Event, Events, Scope};
use crate::outcome::{CheckResult, Verdict};
use judge::Judgement;
pub use runner::Runner;

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
    // A kind either has an exec of its own or is answered by the shared one.
    let execs: Vec<Option<kinds::Exec>> = checks.iter().map(|c| c.spec.exec(c.timeout)).collect();
    let gathered: Vec<&Check> = checks
        .iter()
        .zip(&execs)
        .filter(|(_, exec)| exec.is_none())
        .map(|(check, _)| *check)
        .collect();
    let gather = async {
        if gathered.is_empty() {
            return Ok(facts::Facts::default());
        }
        gather(runner, &facts::Wants::of(gathered.iter().copied())).await
    };
    let singles = join_all(
        checks
            .iter()
            .zip(execs)
            .map(|(check, exec)| async move { Some(run_own(runner, check, exec?).await) }),
    );
    let (gathered, singles) = tokio::join!(gather, singles);
    checks
        .iter()
        .zip(singles)
        .map(|(check, single)| match single {
            Some(judgement) => judgement,
            None => match &gathered {
                Ok(facts) => check.spec.judge(facts),
                Err(message) => Judgement::error(message.clone()),
            },
        })
        .collect()
}

/// Gathers what `wants` asks for in one exec where `runner` runs commands.
pub async fn gather(runner: &Runner, wants: &facts::Wants) -> Result<facts::Facts, String> {
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
            let facts = facts::parse(&output.stdout, &marker);
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

/// Runs the exec of a check that has its own, and has its kind judge what happened.
async fn run_own(runner: &Runner, check: &Check, exec: kinds::Exec) -> Judgement {
    let argv: Vec<&str> = exec.argv.iter().map(String::as_str).collect();
    let ran = tokio::time::timeout(exec.limit, runner.exec(&argv)).await;
    let ran = match &ran {
        Err(_) => kinds::Ran::TimedOut,
        Ok(Err(e)) => kinds::Ran::Failed(e.to_string()),
        Ok(Ok(out)) if out.truncated => kinds::Ran::Cut(cut(runner)),
        Ok(Ok(out)) => kinds::Ran::Output(out),
    };
    check.spec.judge_exec(ran, check.timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_tag_skip_and_filter() {
        let checks = parse_checks(
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
