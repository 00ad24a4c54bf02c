//! The state of one watched check, and of one target, from round to round: what a round's
//! result changes and which notification, if any, that sends.
//!
//! A failure is confirmed inside its round (re-runs one `confirm_interval` apart) before the
//! check counts as failing: only then is one `failing` sent. `recover` consecutive passes send
//! one `recovered`. A flap that a re-run contradicts sends nothing. A target that cannot be
//! reached is `unknown` and freezes its checks' states: one `unreachable`, one `reachable`.

use serde::{Deserialize, Serialize};

/// What a check's state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Passing (or never run).
    Passing,
    /// Failing, confirmed.
    Failing,
    /// Failing, but passing again for fewer than `recover` rounds.
    Recovering,
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
}

impl Default for CheckState {
    fn default() -> Self {
        CheckState {
            phase: Phase::Passing,
            since: None,
            passes: 0,
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
    /// It could not be judged (an error, a requirement failed): the state does not move.
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
}

impl Change {
    /// Its name in notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Failing => "failing",
            Change::Recovered => "recovered",
            Change::Unreachable => "unreachable",
            Change::Reachable => "reachable",
        }
    }
}

impl CheckState {
    /// The state after a round that saw `seen`; `recover` passes end a failure. Returns the
    /// notification to send and, for `recovered`, when the failure started.
    pub fn step(&mut self, seen: Seen, recover: u32) -> Option<(Change, i64)> {
        match (self.phase, seen) {
            (_, Seen::Nothing) => None,
            (Phase::Passing, Seen::Pass) => None,
            (Phase::Passing, Seen::Fail { at }) => {
                *self = CheckState {
                    phase: Phase::Failing,
                    since: Some(at),
                    passes: 0,
                };
                Some((Change::Failing, at))
            }
            (Phase::Failing, Seen::Fail { .. }) => None,
            (Phase::Recovering, Seen::Fail { .. }) => {
                self.phase = Phase::Failing;
                self.passes = 0;
                None
            }
            (Phase::Failing | Phase::Recovering, Seen::Pass) => {
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
        assert_eq!(s.step(Seen::Pass, 2), None);
        assert_eq!(
            s.step(Seen::Fail { at: 10 }, 2),
            Some((Change::Failing, 10))
        );
        assert_eq!(
            s.step(Seen::Fail { at: 20 }, 2),
            None,
            "still failing: no repeat"
        );
        assert_eq!(s.step(Seen::Pass, 2), None, "one pass is not a recovery");
        assert_eq!(s.phase, Phase::Recovering);
        assert_eq!(
            s.step(Seen::Fail { at: 30 }, 2),
            None,
            "back to failing quietly"
        );
        assert_eq!(s.phase, Phase::Failing);
        assert_eq!(s.step(Seen::Pass, 2), None);
        assert_eq!(s.step(Seen::Pass, 2), Some((Change::Recovered, 10)));
        assert_eq!(s, CheckState::default());
    }

    #[test]
    fn nothing_seen_moves_nothing() {
        let mut s = CheckState::default();
        assert_eq!(s.step(Seen::Nothing, 2), None);
        s.step(Seen::Fail { at: 5 }, 2);
        assert_eq!(s.step(Seen::Nothing, 2), None);
        assert!(s.is_failing());
        assert_eq!(s.step(Seen::Pass, 1), Some((Change::Recovered, 5)));
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
