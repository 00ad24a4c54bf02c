//! drydock's error type and the kinds that decide the exit code.

use crate::config::ConfigError;
use crate::docker::EngineError;
use crate::image::ImageError;
use crate::provision::ProvisionError;

/// What kind of failure an error is; the binary maps each kind to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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
            Error::Config(_) | Error::Usage(_) => Kind::Usage,
            Error::Image(ImageError::Git(_)) | Error::Image(ImageError::Context { .. }) => {
                Kind::Usage
            }
            Error::Image(ImageError::Engine(EngineError::Build { message, .. }))
            | Error::Engine(EngineError::Build { message, .. }) => {
                if crate::provision::infrastructure_cause(message).is_some() {
                    Kind::Infrastructure
                } else {
                    Kind::Usage
                }
            }
            Error::Engine(_)
            | Error::Image(ImageError::Lock { .. })
            | Error::Image(_)
            | Error::Provision(_)
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
