//! drydock's error type and the kinds that decide the exit code.

use crate::config::ConfigError;
use crate::docker::{BuildCause, EngineError};
use crate::history::HistoryError;
use crate::image::ImageError;
use crate::provision::ProvisionError;

/// What kind of failure an error is; the binary maps each kind to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The code under test failed where no report carries the verdict (exit 1).
    Failure,
    /// Bad usage or configuration (exit 2).
    Usage,
    /// The infrastructure failed; the change was not judged (exit 3).
    Infrastructure,
    /// The selection matched nothing to run (exit 4).
    NothingToRun,
    /// Interrupted by a signal (exit 130).
    Interrupted,
}

/// Why drydock could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration or check files.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An image.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The provisioner.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The history store.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The code under test failed (a tree that does not provision, for a command that has no
    /// report to carry a `fail` verdict).
    #[error("{0}")]
    Failed(String),
    /// Bad usage.
    #[error("{0}")]
    Usage(String),
    /// An infrastructure failure described in words.
    #[error("{message}")]
    Infrastructure {
        /// The part that failed.
        part: String,
        /// What happened.
        message: String,
    },
    /// Nothing selected.
    #[error("{0}")]
    NothingToRun(String),
    /// A signal arrived.
    #[error("interrupted; containers of this run were removed")]
    Interrupted,
}

impl Error {
    /// The kind, which decides the exit code.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Failed(_) => Kind::Failure,
            Error::Config(_) | Error::Usage(_) | Error::Provision(ProvisionError::Inventory(_)) => {
                Kind::Usage
            }
            Error::Image(ImageError::Git(_)) | Error::Image(ImageError::Context { .. }) => {
                Kind::Usage
            }
            Error::Image(ImageError::Engine(EngineError::Build { cause, .. }))
            | Error::Engine(EngineError::Build { cause, .. }) => match cause {
                BuildCause::Definition => Kind::Usage,
                BuildCause::Infrastructure(_) => Kind::Infrastructure,
            },
            Error::History(HistoryError::Locked { .. } | HistoryError::Newer { .. }) => Kind::Usage,
            Error::Engine(_)
            | Error::Image(_)
            | Error::Provision(_)
            | Error::History(HistoryError::Store { .. })
            | Error::Infrastructure { .. } => Kind::Infrastructure,
            Error::NothingToRun(_) => Kind::NothingToRun,
            Error::Interrupted => Kind::Interrupted,
        }
    }

    /// The part of the infrastructure that failed, for reports.
    pub fn part(&self) -> String {
        match self {
            Error::Engine(EngineError::Unreachable { .. }) => "docker engine".into(),
            Error::Engine(_) | Error::Image(ImageError::Engine(_)) => "docker engine".into(),
            Error::Image(ImageError::BaseUnobtainable { .. })
            | Error::Image(ImageError::DebootstrapFailed { .. })
            | Error::Image(ImageError::DebootstrapMissing { .. }) => "base image".into(),
            Error::Provision(_) => "provisioner".into(),
            Error::History(_) => "history store".into(),
            Error::Infrastructure { part, .. } => part.clone(),
            _ => "drydock".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_that_cannot_be_taken_is_an_infrastructure_error() {
        let e = Error::Image(ImageError::Lock {
            path: "/tmp/drydock-x.lock".into(),
            reason: "permission denied".into(),
        });
        assert_eq!(e.kind(), Kind::Infrastructure);
        let context = Error::Image(ImageError::Context {
            path: "images/default".into(),
            reason: "no such folder".into(),
        });
        assert_eq!(context.kind(), Kind::Usage);
    }
}
