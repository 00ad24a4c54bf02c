//! `drydock watch`: the project's checks, run against live targets round after round, as
//! monitoring. A failure is confirmed before it counts; a confirmed failure and its recovery
//! each send one notification; a target that cannot be reached is `unknown`, never a failing
//! check. Every round, every transition and every notification still to deliver is kept in the
//! history store, so a restarted monitor (or one run from cron with `--once`) carries on where
//! the last one stopped.

pub mod notify;
pub mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::check::runner::Place;
use crate::check::Check;
use crate::check::{self, Runner};
use crate::docker::Engine;
use crate::event::{Events, Scope};
use crate::history::{self, History, HistoryError, ResultRow, Round, Transition};
use crate::outcome::{CheckResult, Verdict};
use notify::{Notification, Notifier};
use state::{Change, CheckState, Seen, TargetState};

/// The tag of checks that run only when a smoke check of the same target fails.
pub const DIAGNOSTIC: &str = "diagnostic";

/// How long reaching a target may take.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// A watched target.
#[derive(Clone)]
pub struct Target {
    /// As given: `container:NAME`, `local` or `ssh://…`.
    pub name: String,
    /// Where its checks run.
    pub runner: Runner,
}

impl Target {
    /// Reads `container:NAME`, `local` or `ssh://[user@]host[:port]`; at most `max_output`
    /// bytes of each command's output are read from it.
    pub fn parse(
        text: &str,
        engine: Option<&Engine>,
        ssh_config: Option<PathBuf>,
        max_output: usize,
    ) -> Result<Target, String> {
        let place = if text == "local" {
            Place::Local
        } else if let Some(name) = text.strip_prefix("container:") {
            if name.is_empty() {
                return Err("`container:` needs a container name or id".into());
            }
            if name.starts_with('-') {
                return Err(format!("`{text}`: a container name cannot start with `-`"));
            }
            let engine = engine.ok_or("container targets need the Docker engine")?;
            Place::Container {
                engine: engine.clone(),
                id: name.to_string(),
                shell: Some(Default::default()),
            }
        } else if text.starts_with("ssh://") {
            Place::Ssh(
                check::runner::Ssh::parse(text, ssh_config)?,
                Some(Default::default()),
            )
        } else {
            return Err(format!(
                "`{text}` is not a target; expected container:NAME, local or ssh://[user@]host[:port]"
            ));
        };
        Ok(Target {
            name: text.to_string(),
            runner: Runner::at(place).with_max_output(max_output),
        })
    }

    /// The address the monitor probes `from: drydock` checks at.
    async fn address(&self) -> Result<String, String> {
        match &self.runner.place {
            Place::Local => Ok("127.0.0.1".into()),
            Place::Ssh(ssh, _) => Ok(ssh.host.clone()),
            Place::Container { engine, id, .. } => {
                let addresses = engine.addresses(id).await.map_err(|e| e.to_string())?;
                addresses
                    .ipv4
                    .first()
                    .cloned()
                    .ok_or_else(|| format!("container {id} has no IPv4 address"))
            }
        }
    }
}

/// How the monitor behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Re-runs of a failing check before it counts (`--confirm`).
    pub confirm: u32,
    /// Pause between re-runs (`--confirm-interval`).
    pub confirm_interval: Duration,
    /// Consecutive passes that end a failure (`--recover`).
    pub recover: u32,
    /// Targets checked at once.
    pub concurrency: usize,
    /// How long rounds are kept in the history store.
    pub retention: Duration,
    /// How long a round may spend delivering notifications; what does not go out in time
    /// waits in the outbox for the next round.
    pub delivery_budget: Duration,
}

/// The delivery budget unless the interval calls for less: a receiver that hangs must never
/// push the next round past its time.
pub const DELIVERY_BUDGET: Duration = Duration::from_secs(10);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            confirm: 2,
            confirm_interval: Duration::from_secs(1),
            recover: 2,
            concurrency: 16,
            retention: Duration::from_secs(30 * 24 * 3600),
            delivery_budget: DELIVERY_BUDGET,
        }
    }
}

/// Why a monitor could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The history store.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// No HTTP client could be made.
    #[error("cannot make an HTTP client: {0}")]
    Client(String),
}

/// How many times a round's write to the history store is tried before the round goes on
/// without it, and the pause before each retry.
const RECORD_RETRIES: &[Duration] = &[Duration::from_millis(200), Duration::from_secs(1)];

/// One target's part of a round.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRound {
    /// The target.
    pub target: String,
    /// `pass`, `fail` (a check is failing) or `unknown` (it could not be reached).
    pub status: String,
    /// Why it could not be reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// Every smoke check's result (`skipped` when a requirement failed).
    pub checks: Vec<WatchedCheck>,
    /// Diagnostic checks, run because a smoke check failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<CheckResult>,
}

/// A check's result in a round, with its state after it.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedCheck {
    /// The check's name.
    pub name: String,
    /// `pass`, `fail`, `error` or `skipped`.
    pub status: String,
    /// What was found.
    pub message: String,
    /// `passing`, `failing`, `recovering` or `erroring`, after this round.
    pub state: state::Phase,
    /// Since when it fails (RFC 3339), while it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// It failed and a confirmation re-run passed: a flap, nothing sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flapped: bool,
}

/// What one round found and sent.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    /// When it started (RFC 3339).
    pub at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// Each target.
    pub targets: Vec<TargetRound>,
    /// The notifications it sent (or queued).
    pub notifications: Vec<Notification>,
    /// Notifications still waiting for a receiver.
    pub pending: i64,
    /// Why the round could not be written to the history store (after retries), when it
    /// could not: its notifications were then sent straight away, without the outbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
}

impl RoundReport {
    /// Whether a check is failing (confirmed) on any target.
    pub fn failing(&self) -> bool {
        self.targets.iter().any(|t| {
            t.checks
                .iter()
                .any(|c| matches!(c.state, state::Phase::Failing | state::Phase::Recovering))
        })
    }

    /// Whether a check has not been evaluated for `confirm` rounds on any target.
    pub fn erroring(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.checks.iter().any(|c| c.state == state::Phase::Erroring))
    }

    /// Whether a target could not be reached.
    pub fn unreachable(&self) -> bool {
        self.targets.iter().any(|t| t.unreachable.is_some())
    }
}

/// The monitor: targets, checks, states and where notifications go.
pub struct Monitor {
    targets: Vec<Target>,
    smoke: Vec<Check>,
    diagnostics: Vec<Check>,
    settings: Settings,
    history: History,
    notifier: Notifier,
    client: reqwest::Client,
    checks: HashMap<(String, String), CheckState>,
    reach: HashMap<String, TargetState>,
}

/// What one target's evaluation gave, before states move.
struct Evaluated {
    target: String,
    unreachable: Option<String>,
    results: Vec<(CheckResult, Seen, bool)>,
    diagnostics: Vec<CheckResult>,
}

impl Monitor {
    /// A monitor of `targets` with `checks` (those tagged `diagnostic` run only after a
    /// failure), its states read back from `history`.
    pub fn new(
        targets: Vec<Target>,
        checks: Vec<Check>,
        settings: Settings,
        history: History,
        notifier: Notifier,
    ) -> Result<Monitor, MonitorError> {
        let (diagnostics, smoke): (Vec<Check>, Vec<Check>) = checks
            .into_iter()
            .partition(|c| c.tags.iter().any(|t| t == DIAGNOSTIC));
        let mut monitor = Monitor {
            targets,
            smoke,
            diagnostics,
            settings,
            history,
            notifier,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| MonitorError::Client(e.to_string()))?,
            checks: HashMap::new(),
            reach: HashMap::new(),
        };
        // Only the states of what is watched now: a check or target dropped from the
        // configuration must not keep an alert firing.
        let watched = |target: &str| monitor.targets.iter().any(|t| t.name == target);
        let known = |check: &str| monitor.smoke.iter().any(|c| c.name == check);
        let mut unwatched = Vec::new();
        for (target, check, json) in monitor.history.states()? {
            if !watched(&target) || !(check.is_empty() || known(&check)) {
                // What was down when it left the configuration ends there: no alert of its own
                // will ever recover it.
                let since = if check.is_empty() {
                    serde_json::from_str::<TargetState>(&json)
                        .ok()
                        .and_then(|s| s.unreachable_since)
                } else {
                    serde_json::from_str::<CheckState>(&json)
                        .ok()
                        .filter(CheckState::is_alerting)
                        .and_then(|s| s.since)
                };
                unwatched.push(unwatched_transition(&target, &check, since));
                continue;
            }
            if check.is_empty() {
                if let Ok(s) = serde_json::from_str(&json) {
                    monitor.reach.insert(target, s);
                }
            } else if let Ok(s) = serde_json::from_str(&json) {
                monitor.checks.insert((target, check), s);
            }
        }
        monitor.history.unwatch(&unwatched)?;
        Ok(monitor)
    }

    /// The history store.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Runs one round: every target concurrently (bounded), confirmation, diagnostics, state
    /// changes, the history, and delivery of what is due.
    pub async fn round(&mut self, events: &Events) -> RoundReport {
        let started = Instant::now();
        let at = history::now_ms();
        let scope = Scope::Scenario("watch".into());
        events.stage(
            &scope,
            format!(
                "round: {} target(s), {} check(s) each",
                self.targets.len(),
                self.smoke.len()
            ),
        );
        let evaluated: Vec<Evaluated> = {
            let this = &*self;
            stream::iter(this.targets.iter())
                .map(|target| this.evaluate(target, events))
                .buffered(this.settings.concurrency.max(1))
                .collect()
                .await
        };

        let mut rows = Vec::new();
        let mut transitions = Vec::new();
        let mut notifications = Vec::new();
        let mut targets = Vec::new();
        // Only states this round moved are written back.
        let mut states: Vec<(String, String, String)> = Vec::new();
        for e in evaluated {
            let reach = self.reach.entry(e.target.clone()).or_default();
            let before = *reach;
            let stepped = reach.step(e.unreachable.is_none(), at);
            if *reach != before {
                states.push((e.target.clone(), String::new(), stored(reach)));
            }
            if let Some((change, since)) = stepped {
                let message = e
                    .unreachable
                    .clone()
                    .unwrap_or_else(|| "the target answers again".into());
                notifications.push(Notification::new(
                    change,
                    &e.target,
                    "",
                    &message,
                    since,
                    at,
                    Vec::new(),
                ));
            }
            if let Some(why) = &e.unreachable {
                rows.push(ResultRow {
                    target: e.target.clone(),
                    check: String::new(),
                    status: "unknown".into(),
                    message: why.clone(),
                });
                let checks = self
                    .smoke
                    .iter()
                    .map(|c| {
                        let s = self
                            .checks
                            .get(&(e.target.clone(), c.name.clone()))
                            .copied()
                            .unwrap_or_default();
                        WatchedCheck {
                            name: c.name.clone(),
                            status: "unknown".into(),
                            message: why.clone(),
                            state: s.phase,
                            since: s.since.map(rfc3339),
                            flapped: false,
                        }
                    })
                    .collect();
                targets.push(TargetRound {
                    target: e.target.clone(),
                    status: "unknown".into(),
                    unreachable: Some(why.clone()),
                    checks,
                    diagnostics: Vec::new(),
                });
                continue;
            }
            let mut watched = Vec::new();
            for (result, seen, flapped) in &e.results {
                let key = (e.target.clone(), result.name.clone());
                let state = self.checks.entry(key).or_default();
                let before = *state;
                let stepped = state.step(*seen, self.settings.recover, self.settings.confirm);
                if *state != before {
                    states.push((e.target.clone(), result.name.clone(), stored(state)));
                }
                if let Some((change, since)) = stepped {
                    let diagnostics = if change == Change::Failing {
                        e.diagnostics.clone()
                    } else {
                        Vec::new()
                    };
                    notifications.push(Notification::new(
                        change,
                        &e.target,
                        &result.name,
                        &result.message,
                        since,
                        at,
                        diagnostics,
                    ));
                }
                let status = match (result.status, seen) {
                    (Verdict::Pass, Seen::Nothing) => "skipped",
                    (Verdict::Pass, _) => "pass",
                    (Verdict::Fail, _) => "fail",
                    (Verdict::Error, _) => "error",
                    (Verdict::Skipped, _) => "skipped",
                };
                rows.push(ResultRow {
                    target: e.target.clone(),
                    check: result.name.clone(),
                    status: status.into(),
                    message: result.message.clone(),
                });
                watched.push(WatchedCheck {
                    name: result.name.clone(),
                    status: status.into(),
                    message: result.message.clone(),
                    state: state.phase,
                    since: state.since.map(rfc3339),
                    flapped: *flapped,
                });
            }
            let failing = watched
                .iter()
                .any(|c| matches!(c.state, state::Phase::Failing | state::Phase::Recovering));
            let erroring = watched.iter().any(|c| c.state == state::Phase::Erroring);
            targets.push(TargetRound {
                target: e.target.clone(),
                status: match (failing, erroring) {
                    (true, _) => "fail",
                    (false, true) => "error",
                    (false, false) => "pass",
                }
                .into(),
                unreachable: None,
                checks: watched,
                diagnostics: e.diagnostics,
            });
        }

        for n in &mut notifications {
            if n.event == "failing" || n.event == "recovered" {
                let day = at - 24 * 3600 * 1000;
                if let Ok((failed, total)) = self.history.failure_rate(&n.target, &n.check, day) {
                    n.failure_rate_1d = Some(format!(
                        "{failed} of the last day's {total} round(s) before this one failed"
                    ));
                }
            }
            transitions.push(Transition {
                id: n.id.clone(),
                at,
                since: n.since_ms,
                target: n.target.clone(),
                check: n.check.clone(),
                event: n.event.clone(),
                message: n.message.clone(),
            });
        }
        let outbox = self.notifier.queue(&notifications);
        let round = Round {
            at,
            duration_ms: started.elapsed().as_millis() as i64,
            results: &rows,
            transitions: &transitions,
            states: &states,
            outbox: &outbox,
        };
        // A store that fails a write is asked again; one that keeps failing costs the round
        // its record, never the monitoring: the round is reported and its notifications go
        // out now, without the outbox.
        let mut recorded = self.history.record(&round);
        for pause in RECORD_RETRIES {
            if recorded.is_ok() {
                break;
            }
            tokio::time::sleep(*pause).await;
            recorded = self.history.record(&round);
        }
        let store_error = recorded.err().map(|e| e.to_string());
        let budget = self.settings.delivery_budget;
        let deadline = Instant::now() + budget;
        match &store_error {
            None => {
                let retention = self.settings.retention.as_millis() as i64;
                let _ = self.history.prune(at - retention);
                self.notifier.deliver(&self.history, events, deadline).await;
            }
            Some(e) => {
                events.note(
                    &scope,
                    format!(
                        "this round could not be written to the history store ({e}); its {} notification(s) are sent now, without the outbox",
                        outbox.len()
                    ),
                );
                self.notifier.deliver_now(&outbox, events, deadline).await;
            }
        }
        self.notifier
            .firing(&self.checks, &self.reach, deadline)
            .await;
        let ok = !targets.iter().any(|t| t.status != "pass");
        self.notifier.heartbeat(ok, deadline).await;
        for n in &notifications {
            events.note(
                &scope,
                format!(
                    "{}: {}{}",
                    n.event,
                    n.target,
                    if n.check.is_empty() {
                        String::new()
                    } else {
                        format!(" · {}", n.check)
                    }
                ),
            );
        }
        RoundReport {
            at: rfc3339(at),
            duration_ms: started.elapsed().as_millis() as u64,
            targets,
            notifications,
            pending: self.history.pending().unwrap_or(0),
            store_error,
        }
    }

    /// Delivers what is due, without a round (on the way out), within the delivery budget.
    pub async fn flush(&self, events: &Events) {
        let deadline = Instant::now() + self.settings.delivery_budget;
        self.notifier.deliver(&self.history, events, deadline).await;
    }

    /// One target: reach it, run its checks, confirm new failures, run diagnostics.
    async fn evaluate(&self, target: &Target, events: &Events) -> Evaluated {
        let mut out = Evaluated {
            target: target.name.clone(),
            unreachable: None,
            results: Vec::new(),
            diagnostics: Vec::new(),
        };
        if let Err(why) = target.runner.reach(REACH_TIMEOUT).await {
            out.unreachable = Some(why);
            return out;
        }
        let address = if self.smoke.iter().any(|c| c.from_monitor) {
            target.address().await
        } else {
            Ok(String::new())
        };
        let all: Vec<&Check> = self.smoke.iter().collect();
        let first_at = history::now_ms();
        let mut results = self.run(target, &all, &address, events).await;
        // Confirmation: a new failure is asked again before it counts.
        let mut confirmed: Vec<bool> = results.iter().map(|r| r.status == Verdict::Fail).collect();
        let new: Vec<usize> = (0..all.len())
            .filter(|&i| {
                confirmed[i]
                    && !self
                        .checks
                        .get(&(target.name.clone(), all[i].name.clone()))
                        .is_some_and(CheckState::is_failing)
            })
            .collect();
        let mut flapped = vec![false; all.len()];
        let newly: Vec<usize> = new.clone();
        let mut still: Vec<usize> = new;
        for _ in 0..self.settings.confirm {
            if still.is_empty() {
                break;
            }
            tokio::time::sleep(self.settings.confirm_interval).await;
            let subset: Vec<&Check> = still.iter().map(|&i| all[i]).collect();
            let again = self.run(target, &subset, &address, &Events::silent()).await;
            let mut next = Vec::new();
            for (&i, r) in still.iter().zip(again) {
                if r.status == Verdict::Fail {
                    next.push(i);
                } else {
                    confirmed[i] = false;
                    flapped[i] = true;
                    results[i].message = format!(
                        "{} (failed once, then passed on a confirmation re-run)",
                        results[i].message
                    );
                }
            }
            still = next;
        }
        // A check whose requirement did not pass is not judged.
        let failed: Vec<&str> = all
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.status != Verdict::Pass)
            .map(|(c, _)| c.name.as_str())
            .collect();
        let mut any_failing = false;
        for (i, (check, mut result)) in all.iter().zip(results).enumerate() {
            let missing: Vec<&String> = check
                .requires
                .iter()
                .filter(|r| failed.contains(&r.as_str()))
                .collect();
            let seen = if !missing.is_empty() {
                result.status = Verdict::Pass;
                result.message = format!(
                    "skipped (requirement failed: {})",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Seen::Nothing
            } else {
                match result.status {
                    Verdict::Pass => Seen::Pass,
                    Verdict::Fail if flapped[i] => Seen::Pass,
                    Verdict::Fail => {
                        any_failing |= newly.contains(&i);
                        Seen::Fail { at: first_at }
                    }
                    Verdict::Error => Seen::Error { at: first_at },
                    Verdict::Skipped => Seen::Nothing,
                }
            };
            if flapped[i] {
                result.status = Verdict::Pass;
            }
            out.results.push((result, seen, flapped[i]));
        }
        if any_failing && !self.diagnostics.is_empty() {
            let diagnostics: Vec<&Check> = self.diagnostics.iter().collect();
            out.diagnostics = self
                .run(target, &diagnostics, &address, &Events::silent())
                .await;
        }
        out
    }

    /// Evaluates `checks` on `target`: inside it, or from the monitor for `from: drydock`.
    async fn run(
        &self,
        target: &Target,
        checks: &[&Check],
        address: &Result<String, String>,
        events: &Events,
    ) -> Vec<CheckResult> {
        let scope = Scope::Scenario(target.name.clone());
        let inside: Vec<&Check> = checks.iter().copied().filter(|c| !c.from_monitor).collect();
        let mut inside_results = check::evaluate_on(&target.runner, &inside, &scope, events)
            .await
            .into_iter();
        let mut results = Vec::with_capacity(checks.len());
        for check in checks {
            if !check.from_monitor {
                if let Some(r) = inside_results.next() {
                    results.push(r);
                }
                continue;
            }
            let judgement = match address {
                Ok(address) => {
                    check::outside::probe(&self.client, check, address, target.runner.max_output)
                        .await
                }
                Err(e) => {
                    check::judge::Judgement::error(format!("cannot find the target's address: {e}"))
                }
            };
            results.push(CheckResult {
                name: check.name.clone(),
                kind: check.spec.kind().to_string(),
                status: judgement.status,
                message: judgement.message,
                flaky: false,
                file: check.file.display().to_string(),
                line: check.line,
                host: None,
                platform: None,
            });
        }
        results
    }
}

/// A state as the history store keeps it.
fn stored(state: &impl Serialize) -> String {
    serde_json::to_string(state).unwrap_or_default()
}

/// Unix ms as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The record that ends an outage of a check or target no longer watched (`since`: when it
/// started, if it was down), and drops its state.
fn unwatched_transition(target: &str, check: &str, since: Option<i64>) -> (Transition, bool) {
    let at = history::now_ms();
    let key = format!("unwatched\n{target}\n{check}\n{at}");
    let transition = Transition {
        id: notify::id_of(&key),
        at,
        since: since.unwrap_or(at),
        target: target.to_string(),
        check: check.to_string(),
        event: "unwatched".into(),
        message: "no longer watched: it left the configuration".into(),
    };
    (transition, since.is_some())
}

/// `95000` → `1 min 35 s`.
pub fn lasted_text(ms: i64) -> String {
    let s = (ms.max(0) + 500) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Checks whose `requires:` names no check of the list, as (check, missing name).
pub fn unknown_requirements(checks: &[Check]) -> Option<(&Check, &str)> {
    checks.iter().find_map(|c| {
        c.requires
            .iter()
            .find_map(|r| (!checks.iter().any(|o| &o.name == r)).then_some((c, r.as_str())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_round_the_store_cannot_take_is_still_judged_reported_and_sent() {
        let path =
            std::env::temp_dir().join(format!("drydock-watch-broken-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let history = History::open(&path).unwrap();
        let checks = crate::check::parse_checks(
            std::path::Path::new("checks.yaml"),
            "- name: always fails\n  command: \"exit 1\"\n",
        )
        .unwrap();
        let target = Target::parse("local", None, None, check::runner::MAX_OUTPUT).unwrap();
        let settings = Settings {
            confirm: 0,
            ..Settings::default()
        };
        let mut monitor =
            Monitor::new(vec![target], checks, settings, history, Notifier::default()).unwrap();
        monitor.history().break_writes();
        let report = monitor.round(&Events::silent()).await;
        let why = report.store_error.clone().expect("the write failed");
        assert!(why.contains("readonly"), "{why}");
        assert!(report.failing(), "the round is still judged");
        assert_eq!(report.notifications.len(), 1);
        assert_eq!(report.notifications[0].event, "failing");
        // The monitor goes on: the next round is judged too (no second notification).
        let next = monitor.round(&Events::silent()).await;
        assert!(next.failing() && next.notifications.is_empty());
        let _ = std::fs::remove_file(&path);
    }
}
