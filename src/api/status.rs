//! Each watched target and check now, from the store's newest round per target and the
//! stored states; and the same as Prometheus metrics.

use std::collections::HashMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::history::ResultRow;
use crate::watch::rfc3339;
use crate::watch::state::{CheckState, Phase, TargetState};

/// Every watched target, now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// No target failing or unreachable.
    pub passing: bool,
    /// The targets, by name.
    pub targets: Vec<TargetStatus>,
}

/// One target, as its newest round saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetStatus {
    /// The target (`container:web`, `local`, `ssh://…`).
    pub target: String,
    /// `pass`, `fail` (a check failed) or `unknown` (the monitor could not reach it).
    pub status: String,
    /// When that round was (RFC 3339).
    pub checked_at: String,
    /// Why it could not be reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// Since when it cannot be reached (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<String>,
    /// Its checks, in the order they ran.
    pub checks: Vec<CheckStatus>,
}

/// One check of a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckStatus {
    /// The check's name.
    pub name: String,
    /// Its newest result: `pass`, `fail`, `error`, `skipped` or `unknown`.
    pub status: String,
    /// What was found.
    pub message: String,
    /// Its alerting state: `passing`, `failing` (confirmed), `recovering` or `erroring` (it
    /// could not be evaluated for `confirm` rounds).
    pub state: String,
    /// Since when it fails (RFC 3339), while failing, recovering or erroring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
}

/// The status from each target's newest round (`(at, results)`, as
/// [`crate::history::History::latest`] gives them) and the stored states
/// (`(target, check, state as JSON)`).
pub fn status(latest: Vec<(i64, Vec<ResultRow>)>, states: Vec<(String, String, String)>) -> Status {
    let states: HashMap<(String, String), String> = states
        .into_iter()
        .map(|(target, check, json)| ((target, check), json))
        .collect();
    let state_of = |target: &str, check: &str| {
        states
            .get(&(target.to_string(), check.to_string()))
            .map(String::as_str)
    };
    let mut targets = Vec::with_capacity(latest.len());
    for (at, rows) in latest {
        let Some(name) = rows.first().map(|r| r.target.clone()) else {
            continue;
        };
        let unreachable = rows
            .iter()
            .find(|r| r.check.is_empty() && r.status == "unknown")
            .map(|r| r.message.clone());
        let unreachable_since = state_of(&name, "")
            .and_then(|json| serde_json::from_str::<TargetState>(json).ok())
            .and_then(|s| s.unreachable_since)
            .filter(|_| unreachable.is_some())
            .map(rfc3339);
        let checks: Vec<CheckStatus> = rows
            .into_iter()
            .filter(|r| !r.check.is_empty())
            .map(|r| {
                let state = state_of(&name, &r.check)
                    .and_then(|json| serde_json::from_str::<CheckState>(json).ok())
                    .unwrap_or_default();
                CheckStatus {
                    state: match state.phase {
                        Phase::Passing => "passing",
                        Phase::Failing => "failing",
                        Phase::Recovering => "recovering",
                        Phase::Erroring => "erroring",
                    }
                    .into(),
                    failing_since: state.since.filter(|_| state.is_alerting()).map(rfc3339),
                    name: r.check,
                    status: r.status,
                    message: r.message,
                }
            })
            .collect();
        let status = if unreachable.is_some() {
            "unknown"
        } else if checks
            .iter()
            .any(|c| c.status == "fail" || c.state == "failing")
        {
            "fail"
        } else {
            "pass"
        };
        targets.push(TargetStatus {
            target: name,
            status: status.into(),
            checked_at: rfc3339(at),
            unreachable,
            unreachable_since,
            checks,
        });
    }
    Status {
        passing: targets.iter().all(|t| t.status == "pass"),
        targets,
    }
}

type Labels = Vec<(String, String)>;

/// The status, the stored runs per verdict, the newest round's time and the kinds of the
/// ongoing outages, in the OpenMetrics text format Prometheus scrapes.
pub fn metrics(
    status: &Status,
    runs: &[(String, i64)],
    last_round: Option<i64>,
    ongoing: &[String],
) -> String {
    let mut registry = Registry::default();
    let check_up = Family::<Labels, Gauge>::default();
    let check_failing = Family::<Labels, Gauge>::default();
    let check_erroring = Family::<Labels, Gauge>::default();
    let reachable = Family::<Labels, Gauge>::default();
    let stored_runs = Family::<Labels, Gauge>::default();
    let outages = Family::<Labels, Gauge>::default();
    let last = Gauge::<i64>::default();
    registry.register(
        "drydock_check_up",
        "1 when the check passed in its target's newest round, 0 when it failed",
        check_up.clone(),
    );
    registry.register(
        "drydock_check_failing",
        "1 while the check's failure is confirmed (failing or recovering)",
        check_failing.clone(),
    );
    registry.register(
        "drydock_check_erroring",
        "1 while the check could not be evaluated for --confirm rounds in a row",
        check_erroring.clone(),
    );
    registry.register(
        "drydock_target_reachable",
        "1 when the monitor reached the target in its newest round",
        reachable.clone(),
    );
    registry.register(
        "drydock_last_round_timestamp_seconds",
        "When the newest watch round was (unix seconds)",
        last.clone(),
    );
    registry.register(
        "drydock_runs_recorded",
        "drydock runs in the history store, per verdict",
        stored_runs.clone(),
    );
    registry.register(
        "drydock_outages_ongoing",
        "Outages still going on: kind check (a check fails), error (a check cannot be evaluated) or unreachable",
        outages.clone(),
    );
    for t in &status.targets {
        let target = ("target".to_string(), t.target.clone());
        reachable
            .get_or_create(&vec![target.clone()])
            .set(i64::from(t.unreachable.is_none()));
        for c in &t.checks {
            let labels = vec![target.clone(), ("check".to_string(), c.name.clone())];
            match c.status.as_str() {
                "pass" => {
                    check_up.get_or_create(&labels).set(1);
                }
                "fail" => {
                    check_up.get_or_create(&labels).set(0);
                }
                _ => {}
            }
            check_failing
                .get_or_create(&labels)
                .set(i64::from(c.state == "failing" || c.state == "recovering"));
            check_erroring
                .get_or_create(&labels)
                .set(i64::from(c.state == "erroring"));
        }
    }
    if let Some(at) = last_round {
        last.set(at / 1000);
    }
    for (verdict, n) in runs {
        stored_runs
            .get_or_create(&vec![("verdict".to_string(), verdict.clone())])
            .set(*n);
    }
    for kind in ["check", "error", "unreachable"] {
        outages
            .get_or_create(&vec![("kind".to_string(), kind.to_string())])
            .set(ongoing.iter().filter(|k| *k == kind).count() as i64);
    }
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, check: &str, status: &str) -> ResultRow {
        ResultRow::sample(target, check, status)
    }

    fn failing_since(ms: i64) -> String {
        serde_json::to_string(&CheckState {
            phase: Phase::Failing,
            since: Some(ms),
            ..CheckState::default()
        })
        .unwrap()
    }

    #[test]
    fn a_target_fails_on_a_confirmed_failure_and_is_unknown_when_unreached() {
        let latest = vec![
            (
                60_000,
                vec![row("web", "nginx", "fail"), row("web", "page", "skipped")],
            ),
            (
                60_000,
                vec![row("db", "", "unknown"), row("db", "postgres", "unknown")],
            ),
            (60_000, vec![row("cache", "redis", "pass")]),
        ];
        let states = vec![
            ("web".into(), "nginx".into(), failing_since(1_000)),
            (
                "db".into(),
                String::new(),
                serde_json::to_string(&TargetState {
                    unreachable_since: Some(2_000),
                })
                .unwrap(),
            ),
        ];
        let s = status(latest, states);
        assert!(!s.passing);
        let by = |name: &str| s.targets.iter().find(|t| t.target == name).unwrap();
        assert_eq!(by("web").status, "fail");
        assert_eq!(by("web").checks[0].state, "failing");
        assert_eq!(
            by("web").checks[0].failing_since.as_deref(),
            Some("1970-01-01T00:00:01Z")
        );
        assert_eq!(by("web").checks[1].state, "passing");
        assert_eq!(by("db").status, "unknown");
        assert_eq!(by("db").unreachable.as_deref(), Some(" unknown"));
        assert_eq!(
            by("db").unreachable_since.as_deref(),
            Some("1970-01-01T00:00:02Z")
        );
        assert_eq!(by("db").checks.len(), 1);
        assert_eq!(by("cache").status, "pass");
        assert_eq!(by("cache").checks[0].failing_since, None);
    }

    #[test]
    fn metrics_give_each_check_and_target_a_sample() {
        let s = status(
            vec![(
                90_000,
                vec![row("web", "nginx", "fail"), row("web", "page", "pass")],
            )],
            vec![("web".into(), "nginx".into(), failing_since(1_000))],
        );
        let text = metrics(&s, &[("pass".into(), 3)], Some(90_000), &["check".into()]);
        for line in [
            r#"drydock_check_up{target="web",check="nginx"} 0"#,
            r#"drydock_check_up{target="web",check="page"} 1"#,
            r#"drydock_check_failing{target="web",check="nginx"} 1"#,
            r#"drydock_target_reachable{target="web"} 1"#,
            "drydock_last_round_timestamp_seconds 90",
            r#"drydock_runs_recorded{verdict="pass"} 3"#,
            r#"drydock_outages_ongoing{kind="check"} 1"#,
            r#"drydock_outages_ongoing{kind="unreachable"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
