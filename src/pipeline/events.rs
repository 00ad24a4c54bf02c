//! What the pipeline tells the outside world while it works.
//!
//! The pipeline never prints: it sends [`Event`]s through [`Events`], and a reporter decides how
//! to show them (live progress on a terminal, plain lines in CI, nothing in JSON mode).

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::report::CheckResult;

/// Which part of the run an event is about.
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
}

impl Scope {
    /// A short label for plain output.
    pub fn label(&self) -> &str {
        match self {
            Scope::Images => "images",
            Scope::Production => "production",
            Scope::Scenario(name) => name,
            Scope::Diff => "diff",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A part of the run entered a new stage (`provisioning`, `checks`, ...).
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
    /// A part of the run finished.
    Finished {
        /// Which part.
        scope: Scope,
        /// `pass`, `fail`, `error`, `reused`, `built`, ...
        status: String,
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

/// The sending side of the event channel; cheap to clone, never blocks.
#[derive(Clone)]
pub struct Events {
    sender: Option<UnboundedSender<Event>>,
    secrets: std::sync::Arc<Vec<String>>,
}

impl Events {
    /// Events go to `sender`.
    pub fn new(sender: UnboundedSender<Event>) -> Self {
        Events {
            sender: Some(sender),
            secrets: Default::default(),
        }
    }

    /// The same channel, masking `secrets` in every event's text.
    pub fn with_secrets(&self, secrets: Vec<String>) -> Self {
        Events {
            sender: self.sender.clone(),
            secrets: std::sync::Arc::new(secrets.into_iter().filter(|s| !s.is_empty()).collect()),
        }
    }

    /// Events go nowhere.
    pub fn silent() -> Self {
        Events {
            sender: None,
            secrets: Default::default(),
        }
    }

    /// Sends an event; a reporter that went away is not an error.
    pub fn send(&self, event: Event) {
        let Some(sender) = &self.sender else {
            return;
        };
        let event = if self.secrets.is_empty() {
            event
        } else {
            self.masked(event)
        };
        let _ = sender.send(event);
    }

    fn masked(&self, event: Event) -> Event {
        let mask = |text: String| {
            self.secrets.iter().fold(text, |t, s| {
                if t.contains(s.as_str()) {
                    t.replace(s.as_str(), "***")
                } else {
                    t
                }
            })
        };
        match event {
            Event::Stage { scope, stage } => Event::Stage {
                scope,
                stage: mask(stage),
            },
            Event::Progress { scope, text } => Event::Progress {
                scope,
                text: mask(text),
            },
            Event::Note { scope, text } => Event::Note {
                scope,
                text: mask(text),
            },
            Event::Check { scope, mut result } => {
                result.message = mask(result.message);
                Event::Check { scope, result }
            }
            other => other,
        }
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
}
