//! One run's lifecycle, the same for every command that starts containers: a run id, a
//! janitor that knows the run's containers, events stamped with the run id and masked, a
//! cancellation token that every piece of work selects on, and cleanup on every path.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::janitor::{Boot, Janitor};
use crate::docker::Engine;
use crate::error::Error;
use crate::event::Events;
use crate::secret::Secrets;

/// How long systemd may take to boot a container before that is an infrastructure error.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// A run in progress.
pub struct Session {
    /// The engine.
    pub engine: Engine,
    /// The run's id (as in the containers' `io.drydock.run` label).
    pub run_id: String,
    /// The containers of the run.
    pub janitor: Janitor,
    /// Where the run's events go, masked with its secrets.
    pub events: Events,
    /// The run's secrets.
    pub secrets: Secrets,
    cancel: CancellationToken,
    started: Instant,
}

/// What cleanup did when a session ended.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Containers kept with `--keep`: (role, id).
    pub kept: Vec<(String, String)>,
    /// How long removing (or keeping) took.
    pub elapsed: Duration,
}

impl Session {
    /// A new run of `project`.
    pub fn start(
        engine: &Engine,
        project: &str,
        events: &Events,
        secrets: Secrets,
        cancel: CancellationToken,
    ) -> Session {
        let run_id = crate::ids::new_run_id();
        Session {
            engine: engine.clone(),
            janitor: Janitor::new(engine.clone(), project, &run_id),
            events: events.for_run(&run_id, secrets.clone()),
            secrets,
            run_id,
            cancel,
            started: Instant::now(),
        }
    }

    /// Waits until every one of `containers` has booted, when they boot systemd; failed units
    /// of a degraded system are told as a note.
    pub async fn wait_for_boot(&self, containers: &[String], boot: &Boot) -> Result<(), Error> {
        if !boot.systemd {
            return Ok(());
        }
        let waits = containers
            .iter()
            .map(|c| self.engine.wait_for_boot(c, BOOT_TIMEOUT));
        for (container, result) in containers
            .iter()
            .zip(futures_util::future::join_all(waits).await)
        {
            let failed = result?;
            if !failed.is_empty() {
                self.events.note(
                    &crate::event::Scope::Images,
                    format!(
                        "{} booted degraded; failed units: {}",
                        crate::ids::short_id(container),
                        failed.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// How long ago the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Runs `work` until it ends or the run is cancelled ([`Error::Interrupted`]), then
    /// removes the run's containers, or keeps them when `keep` asks and the run was not
    /// interrupted.
    pub async fn finish<T>(
        &self,
        keep: bool,
        work: impl Future<Output = Result<T, Error>>,
    ) -> (Result<T, Error>, Cleanup) {
        let result = tokio::select! {
            r = work => r,
            _ = self.cancel.cancelled() => Err(Error::Interrupted),
        };
        let started = Instant::now();
        let kept = if keep && !matches!(result, Err(Error::Interrupted)) {
            self.janitor.keep().await
        } else {
            self.janitor.cleanup().await;
            Vec::new()
        };
        let cleanup = Cleanup {
            kept,
            elapsed: started.elapsed(),
        };
        (result, cleanup)
    }

    /// [`Session::finish`] without keeping anything, for commands that only need the result.
    pub async fn guard<T>(&self, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        self.finish(false, work).await.0
    }
}
