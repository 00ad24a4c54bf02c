//! What a command tells the outside world while it works.
//!
//! Nothing below the binary prints: work sends [`Event`]s through [`Events`] to a [`Sink`], and
//! the sink decides what to do with them (live progress on a terminal, plain lines in CI,
//! nothing in JSON mode; later a history store or a server). Every event carries the id of the
//! run it belongs to, and secret values are masked before an event leaves.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::outcome::{CheckResult, Verdict};
use crate::secret::Secrets;

/// Which part of the work an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Base and default images.
    Images,
    /// The production image.
    Production,
    /// A scenario (`fresh`, `upgrade`, `idempotence`) or a checked target.
    Scenario(String),
    /// The state diff.
    Diff,
    /// One of the above on a platform (projects with `platforms:`).
    On(String, Box<Scope>),
}

impl Scope {
    /// A short label for plain output (`fresh`, `trixie/fresh`).
    pub fn label(&self) -> String {
        match self {
            Scope::Images => "images".into(),
            Scope::Production => "production".into(),
            Scope::Scenario(name) => name.clone(),
            Scope::Diff => "diff".into(),
            Scope::On(platform, scope) => format!("{platform}/{}", scope.label()),
        }
    }

    /// This scope on `platform`, when there is one.
    pub fn on(self, platform: Option<&str>) -> Scope {
        match platform {
            Some(p) => Scope::On(p.to_string(), Box::new(self)),
            None => self,
        }
    }
}

/// How a part of the work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It was judged.
    Judged(Verdict),
    /// An image was found ready and reused.
    Reused,
    /// An image was built.
    Built,
}

impl Ending {
    /// The word progress output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Judged(v) => v.as_str(),
            Ending::Reused => "reused",
            Ending::Built => "built",
        }
    }

    /// Whether it ended well (a pass, or an image ready).
    pub fn is_good(self) -> bool {
        !matches!(self, Ending::Judged(Verdict::Fail | Verdict::Error))
    }
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A part of the work entered a new stage (`provisioning`, `checks`, ...).
    Stage {
        /// Which part.
        scope: Scope,
        /// The stage.
        stage: String,
    },
    /// Progress inside a stage: a build step, an Ansible task, a debootstrap line.
    Progress {
        /// Which part.
        scope: Scope,
        /// What is going on.
        text: String,
    },
    /// A decision worth telling the user (an image reused, and why).
    Note {
        /// Which part.
        scope: Scope,
        /// The note.
        text: String,
    },
    /// A check finished.
    Check {
        /// Which scenario.
        scope: Scope,
        /// Its result.
        result: CheckResult,
    },
    /// A part of the work finished.
    Finished {
        /// Which part.
        scope: Scope,
        /// How it ended.
        ending: Ending,
        /// How long it took.
        elapsed: Duration,
    },
    /// A countdown while waiting for infrastructure to come back.
    Waiting {
        /// What is being waited for.
        what: String,
        /// Time left.
        left: Duration,
    },
}

impl Event {
    fn masked(self, secrets: &Secrets) -> Event {
        match self {
            Event::Stage { scope, stage } => Event::Stage {
                scope,
                stage: secrets.mask(&stage),
            },
            Event::Progress { scope, text } => Event::Progress {
                scope,
                text: secrets.mask(&text),
            },
            Event::Note { scope, text } => Event::Note {
                scope,
                text: secrets.mask(&text),
            },
            Event::Check { scope, mut result } => {
                secrets.mask_in_place(&mut result.message);
                Event::Check { scope, result }
            }
            other => other,
        }
    }
}

/// Where events go. Implementations must not block: the work does not wait for its audience.
pub trait Sink: Send + Sync {
    /// Receives one event of run `run_id` (empty before a run has started).
    fn deliver(&self, run_id: &str, event: Event);
}

/// A channel to a reporter task; a reporter that went away is not an error.
impl Sink for UnboundedSender<Event> {
    fn deliver(&self, _run_id: &str, event: Event) {
        let _ = self.send(event);
    }
}

/// A channel that keeps the run id with each event, for consumers that serve several runs.
impl Sink for UnboundedSender<(String, Event)> {
    fn deliver(&self, run_id: &str, event: Event) {
        let _ = self.send((run_id.to_string(), event));
    }
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Events {
    sink: Option<Arc<dyn Sink>>,
    run_id: Arc<str>,
    secrets: Secrets,
}

impl Events {
    /// Events go to `sink`.
    pub fn new(sink: impl Sink + 'static) -> Self {
        Events {
            sink: Some(Arc::new(sink)),
            run_id: Arc::from(""),
            secrets: Secrets::default(),
        }
    }

    /// Events go nowhere.
    pub fn silent() -> Self {
        Events {
            sink: None,
            run_id: Arc::from(""),
            secrets: Secrets::default(),
        }
    }

    /// The same sink, for run `run_id`, masking `secrets` in every event's text.
    pub fn for_run(&self, run_id: &str, secrets: Secrets) -> Self {
        Events {
            sink: self.sink.clone(),
            run_id: Arc::from(run_id),
            secrets,
        }
    }

    /// The run these events belong to.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Sends an event.
    pub fn send(&self, event: Event) {
        let Some(sink) = &self.sink else {
            return;
        };
        let event = if self.secrets.is_empty() {
            event
        } else {
            event.masked(&self.secrets)
        };
        sink.deliver(&self.run_id, event);
    }

    /// Shorthand for [`Event::Stage`].
    pub fn stage(&self, scope: &Scope, stage: impl Into<String>) {
        self.send(Event::Stage {
            scope: scope.clone(),
            stage: stage.into(),
        });
    }

    /// Shorthand for [`Event::Progress`].
    pub fn progress(&self, scope: &Scope, text: impl Into<String>) {
        self.send(Event::Progress {
            scope: scope.clone(),
            text: text.into(),
        });
    }

    /// Shorthand for [`Event::Note`].
    pub fn note(&self, scope: &Scope, text: impl Into<String>) {
        self.send(Event::Note {
            scope: scope.clone(),
            text: text.into(),
        });
    }

    /// Shorthand for [`Event::Finished`].
    pub fn finished(&self, scope: &Scope, ending: Ending, elapsed: Duration) {
        self.send(Event::Finished {
            scope: scope.clone(),
            ending,
            elapsed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_the_run_id_and_mask_secrets() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(String, Event)>();
        let events = Events::new(sender).for_run("r1", Secrets::new(["hunter2".to_string()]));
        events.progress(&Scope::Images, "password hunter2 sent");
        let (run, event) = receiver.try_recv().unwrap();
        assert_eq!(run, "r1");
        match event {
            Event::Progress { text, .. } => assert_eq!(text, "password *** sent"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_silent_sink_drops_everything() {
        Events::silent().note(&Scope::Diff, "nobody listens");
    }
}
