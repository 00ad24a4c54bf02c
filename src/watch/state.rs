//! The state of one watched check, and of one target, from round to round: what a round's
//! result changes and which notification, if any, that sends.
//!
//! A failure is confirmed inside its round (re-runs one `confirm_interval` apart) before the
//! check counts as failing: only then is one `failing` sent. `recover` consecutive passes send
//! one `recovered`. A flap that a re-run contradicts sends nothing. A target that cannot be
//! reached is `unknown` and freezes its checks' states: one `unreachable`, one `reachable`.
//! A check that cannot be evaluated (an error, not a failure) round after round is not left
//! silently green: after `confirm` such rounds it is `erroring`, which sends one notification
//! and ends with one `recovered` when it is judged again.

use serde::{Deserialize, Serialize};

/// What a check's state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Passing (or never run).
    Passing,
    /// Failing, confirmed.
    Failing,
    /// Failing (or erroring), but passing again for fewer than `recover` rounds.
    Recovering,
    /// It could not be evaluated for `confirm` rounds in a row: nobody knows whether it passes.
    Erroring,
}

/// A check's state between rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckState {
    /// Where it is.
    pub phase: Phase,
    /// When the current failure started (unix ms), while failing or recovering.
    pub since: Option<i64>,
    /// Consecutive passes while recovering.
    pub passes: u32,
    /// Consecutive rounds it could not be evaluated, while passing.
    #[serde(default)]
    pub errors: u32,
    /// When the first of those rounds was (unix ms).
    #[serde(default)]
    pub errors_since: Option<i64>,
}

impl Default for CheckState {
    fn default() -> Self {
        CheckState {
            phase: Phase::Passing,
            since: None,
            passes: 0,
            errors: 0,
            errors_since: None,
        }
    }
}

/// What a round saw of a check, after confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// It passed (on the first try, or on a confirmation re-run: a flap).
    Pass,
    /// It failed on the first try and on every confirmation re-run; `at` is the first failure.
    Fail {
        /// When it first failed this round (unix ms).
        at: i64,
    },
    /// It could not be evaluated (the target answered, the check could not run or read what
    /// it needs); `at` is when.
    Error {
        /// When (unix ms).
        at: i64,
    },
    /// It was not judged (a requirement failed): the state does not move.
    Nothing,
}

/// A notification a transition sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// A check's failure was confirmed.
    Failing,
    /// A failing check passed `recover` rounds in a row.
    Recovered,
    /// A target could not be reached.
    Unreachable,
    /// An unreachable target answered again.
    Reachable,
    /// A check could not be evaluated for `confirm` rounds in a row.
    Erroring,
}

impl Change {
    /// Its name in notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Failing => "failing",
            Change::Recovered => "recovered",
            Change::Unreachable => "unreachable",
            Change::Reachable => "reachable",
            Change::Erroring => "erroring",
        }
    }
}

impl CheckState {
    /// The state after a round that saw `seen`; `recover` passes end a failure, `confirm`
    /// rounds that could not evaluate it make it erroring. Returns the notification to send
    /// and, for `recovered`, when the failure started.
    pub fn step(&mut self, seen: Seen, recover: u32, confirm: u32) -> Option<(Change, i64)> {
        match (self.phase, seen) {
            (_, Seen::Nothing) => None,
            (Phase::Passing, Seen::Pass) => {
                self.errors = 0;
                self.errors_since = None;
                None
            }
            (Phase::Passing, Seen::Error { at }) => {
                self.errors += 1;
                let since = *self.errors_since.get_or_insert(at);
                if self.errors < confirm.max(1) {
                    return None;
                }
                *self = CheckState {
                    phase: Phase::Erroring,
                    since: Some(since),
                    ..CheckState::default()
                };
                Some((Change::Erroring, since))
            }
            // A failing check that cannot be evaluated is still failing as far as anyone knows.
            (Phase::Failing | Phase::Recovering | Phase::Erroring, Seen::Error { .. }) => None,
            (Phase::Passing | Phase::Erroring, Seen::Fail { at }) => {
                *self = CheckState {
                    phase: Phase::Failing,
                    since: Some(at),
                    ..CheckState::default()
                };
                Some((Change::Failing, at))
            }
            (Phase::Failing, Seen::Fail { .. }) => None,
            (Phase::Recovering, Seen::Fail { .. }) => {
                self.phase = Phase::Failing;
                self.passes = 0;
                None
            }
            (Phase::Failing | Phase::Recovering | Phase::Erroring, Seen::Pass) => {
                self.passes += 1;
                if self.passes >= recover.max(1) {
                    let since = self.since.unwrap_or_default();
                    *self = CheckState::default();
                    Some((Change::Recovered, since))
                } else {
                    self.phase = Phase::Recovering;
                    None
                }
            }
        }
    }

    /// Whether it counts as failing now (a confirmed failure not yet recovered).
    pub fn is_failing(&self) -> bool {
        matches!(self.phase, Phase::Failing | Phase::Recovering)
    }

    /// Whether it is erroring (could not be evaluated for `confirm` rounds).
    pub fn is_erroring(&self) -> bool {
        self.phase == Phase::Erroring
    }

    /// Whether an alert is up for it (failing, recovering or erroring).
    pub fn is_alerting(&self) -> bool {
        self.phase != Phase::Passing
    }
}

/// A target's reachability between rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TargetState {
    /// Since when (unix ms) it cannot be reached, if it cannot.
    pub unreachable_since: Option<i64>,
}

impl TargetState {
    /// The state after a round that could (`true`) or could not reach it at `now`.
    pub fn step(&mut self, reached: bool, now: i64) -> Option<(Change, i64)> {
        match (self.unreachable_since, reached) {
            (None, false) => {
                self.unreachable_since = Some(now);
                Some((Change::Unreachable, now))
            }
            (Some(since), true) => {
                self.unreachable_since = None;
                Some((Change::Reachable, since))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmed_failure_notifies_once_and_recovers_after_n_passes() {
        let mut s = CheckState::default();
        assert_eq!(s.step(Seen::Pass, 2, 2), None);
        assert_eq!(
            s.step(Seen::Fail { at: 10 }, 2, 2),
            Some((Change::Failing, 10))
        );
        assert_eq!(
            s.step(Seen::Fail { at: 20 }, 2, 2),
            None,
            "still failing: no repeat"
        );
        assert_eq!(s.step(Seen::Pass, 2, 2), None, "one pass is not a recovery");
        assert_eq!(s.phase, Phase::Recovering);
        assert_eq!(
            s.step(Seen::Fail { at: 30 }, 2, 2),
            None,
            "back to failing quietly"
        );
        assert_eq!(s.phase, Phase::Failing);
        assert_eq!(s.step(Seen::Pass, 2, 2), None);
        assert_eq!(s.step(Seen::Pass, 2, 2), Some((Change::Recovered, 10)));
        assert_eq!(s, CheckState::default());
    }

    #[test]
    fn nothing_seen_moves_nothing() {
        let mut s = CheckState::default();
        assert_eq!(s.step(Seen::Nothing, 2, 2), None);
        s.step(Seen::Fail { at: 5 }, 2, 2);
        assert_eq!(s.step(Seen::Nothing, 2, 2), None);
        assert!(s.is_failing());
        assert_eq!(s.step(Seen::Pass, 1, 2), Some((Change::Recovered, 5)));
    }

    #[test]
    fn a_check_that_cannot_be_evaluated_for_confirm_rounds_alerts_once() {
        let mut s = CheckState::default();
        assert_eq!(s.step(Seen::Error { at: 10 }, 2, 3), None);
        assert_eq!(s.step(Seen::Error { at: 20 }, 2, 3), None);
        assert_eq!(
            s.step(Seen::Error { at: 30 }, 2, 3),
            Some((Change::Erroring, 10)),
            "the third round in a row alerts, dated from the first"
        );
        assert!(s.is_erroring() && !s.is_failing() && s.is_alerting());
        assert_eq!(s.step(Seen::Error { at: 40 }, 2, 3), None, "no repeat");
        assert_eq!(s.step(Seen::Pass, 2, 3), None);
        assert_eq!(s.step(Seen::Pass, 2, 3), Some((Change::Recovered, 10)));
        assert_eq!(s, CheckState::default());
        // A pass between errors starts the count again.
        s.step(Seen::Error { at: 50 }, 2, 2);
        s.step(Seen::Pass, 2, 2);
        assert_eq!(s.step(Seen::Error { at: 70 }, 2, 2), None);
        assert_eq!(s.errors_since, Some(70));
        // An erroring check that then fails is failing.
        s.step(Seen::Error { at: 80 }, 2, 2);
        assert!(s.is_erroring());
        assert_eq!(
            s.step(Seen::Fail { at: 90 }, 2, 2),
            Some((Change::Failing, 90))
        );
        assert!(s.is_failing());
        assert_eq!(s.step(Seen::Error { at: 95 }, 2, 2), None, "still failing");
        assert!(s.is_failing());
    }

    #[test]
    fn unreachable_and_reachable_once_each() {
        let mut t = TargetState::default();
        assert_eq!(t.step(true, 1), None);
        assert_eq!(t.step(false, 2), Some((Change::Unreachable, 2)));
        assert_eq!(t.step(false, 3), None);
        assert_eq!(t.step(true, 4), Some((Change::Reachable, 2)));
        assert_eq!(t.step(true, 5), None);
    }
}
