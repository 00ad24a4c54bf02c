//! The production image, and the shape it shares with `drydock promote`: start a container
//! from the default image, provision it with a tree, and commit it as an image.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::session::Session;
use crate::config::Project;
use crate::error::Error;
use crate::event::{Ending, Scope};
use crate::image::{self, production::Resolution, DefaultImage};
use crate::provision::{self, Outcome, Status};

/// A container provisioned with a tree, not yet committed.
pub struct Provisioned {
    /// The container.
    pub container: String,
    /// How provisioning went.
    pub outcome: Outcome,
}

/// Starts a container from `image` for `role`, answering to the project's host name, and
/// provisions it with the tree at `root`.
pub async fn provision_tree(
    session: &Session,
    project: &Project,
    image: &str,
    root: &Path,
    scope: &Scope,
    role: &str,
    timeout: Duration,
) -> Result<Provisioned, Error> {
    let host = project.name.as_str();
    let container = session
        .janitor
        .run_container(image, role, Some(host))
        .await?;
    let mut request =
        provision::Request::for_project(project, root, &container, host, scope.clone());
    request.timeout = timeout;
    let outcome = provision::run(&session.engine, &request, &session.events).await?;
    Ok(Provisioned { container, outcome })
}

impl Provisioned {
    /// Commits the container as `tag` with `labels`, then removes it; returns the image id.
    pub async fn commit(
        self,
        session: &Session,
        tag: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, Error> {
        let id = session.engine.commit(&self.container, tag, labels).await?;
        session.janitor.remove(&self.container).await;
        Ok(id)
    }
}

/// The production image a run upgrades: where it came from, and whether this run built it.
pub struct Production {
    /// The reference to start containers from.
    pub image: String,
    /// Why this one, in words.
    pub why: String,
    /// Whether this run built it.
    pub built: bool,
}

/// Resolves the production image, building it from `production.ref` when no usable one
/// exists.
pub async fn resolve(
    session: &Session,
    project: &Project,
    default: &DefaultImage,
    timeout: Duration,
) -> Result<Production, Error> {
    let scope = Scope::Production;
    let events = &session.events;
    let started = Instant::now();
    // One production build per (default image, commit) on this machine: a concurrent run waits
    // here and then finds the cached image.
    let _lock = image::machine_lock(&format!(
        "production-{}-{}",
        project.name,
        image::short_commit(&default.id.replace("sha256:", ""))
    ))
    .await?;
    let resolution = image::production::resolve(&session.engine, project, default, events).await?;
    let (commit, git_ref, tree, tag) = match resolution {
        Resolution::Ready { image, why } => {
            events.finished(&scope, Ending::Reused, started.elapsed());
            return Ok(Production {
                image,
                why,
                built: false,
            });
        }
        Resolution::Build {
            commit,
            git_ref,
            tree,
            tag,
        } => (commit, git_ref, tree, tag),
    };
    let short = image::short_commit(&commit).to_string();
    events.stage(&scope, format!("building from {git_ref} @ {short}"));
    let provisioned = provision_tree(
        session,
        project,
        &default.tag,
        &tree.root,
        &scope,
        "production",
        timeout,
    )
    .await?;
    if provisioned.outcome.status != Status::Ok {
        session.janitor.remove(&provisioned.container).await;
        let what = provisioned
            .outcome
            .failure
            .as_ref()
            .map(|f| match &f.task {
                Some(t) => format!("task \"{t}\": {}", f.message),
                None => f.message.clone(),
            })
            .unwrap_or_default();
        return Err(Error::Infrastructure {
            part: "production image".into(),
            message: format!(
                "the production image could not be built: provisioning the default image with {git_ref} @ {short} failed ({what}); the upgrade path cannot be judged until the production version provisions, or a production image is promoted"
            ),
        });
    }
    let labels = image::production::labels(project, default, &commit)
        .into_iter()
        .collect();
    provisioned.commit(session, &tag, labels).await?;
    image::prune_superseded(&session.engine, &project.name, "production-", &tag).await;
    let why = format!(
        "built from {git_ref} @ {short} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    events.finished(&scope, Ending::Built, started.elapsed());
    Ok(Production {
        image: tag,
        why,
        built: true,
    })
}
