//! `drydock snapshot`: provisions the default image with the working tree and writes its state
//! as a reviewable text file.

use tokio_util::sync::CancellationToken;

use super::{connect, load_project, Exit, Outcome};
use crate::cli::{Cli, SnapshotArgs};
use crate::error::Error;
use crate::event::{Events, Scope};
use crate::pipeline::capture;
use crate::pipeline::production::provision_tree;
use crate::pipeline::session::Session;
use crate::provision::Status;
use crate::state::snapshot;

/// `drydock snapshot`.
pub async fn snapshot(
    cli: &Cli,
    args: &SnapshotArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let project = load_project(cli)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| project.root.join(snapshot::FILE_NAME));
    let engine = connect(cli, events, &cancel).await?;
    let secrets = project.provision.secrets();
    let session = Session::start(&engine, &project.name, events, secrets, cancel)
        .boot(&project.default_image);
    let scope = Scope::Scenario("fresh".into());
    let ignore = capture::rules(&project.diff).map_err(Error::Usage)?;
    let manifest = session
        .guard(async {
            crate::provision::preflight(&project.provision.kind)?;
            let hosts = crate::provision::inventory::hosts(&project)
                .await?;
            let default = crate::image::ensure_default(&engine, &project, &session.events).await?;
            session.events.stage(&scope, "provisioning");
            let provisioned = provision_tree(
                &session,
                &project,
                &hosts,
                &default.tag,
                &project.root,
                &scope,
                project.provision.timeout,
            )
            .await?;
            match provisioned.outcome.status {
                Status::Ok => {}
                // As in `drydock run`: the code's failure is a failure, the infrastructure's
                // an error.
                Status::Failed => {
                    return Err(Error::Failed(format!(
                        "the working tree does not provision cleanly, so there is no state to snapshot: {}",
                        provisioned.outcome.failure_sentence()
                    )))
                }
                Status::Infrastructure => {
                    return Err(Error::Infrastructure {
                        part: provisioned
                            .outcome
                            .failure
                            .as_ref()
                            .and_then(|f| f.infrastructure.clone())
                            .unwrap_or_else(|| "provisioning".into()),
                        message: provisioned.outcome.failure_sentence(),
                    })
                }
            }
            session.events.stage(&scope, "reading state");
            let machines: Vec<(String, String)> = provisioned
                .machines
                .iter()
                .map(|m| (m.host.name.clone(), m.container.clone()))
                .collect();
            let manifests =
                capture::manifests(&engine, &machines, &project.diff.paths, ignore.clone())
                    .await
                    .map_err(|message| Error::Infrastructure {
                        part: "docker engine".into(),
                        message,
                    })?;
            Ok(capture::combined(manifests))
        })
        .await?;
    std::fs::write(&output, snapshot::render(&manifest))
        .map_err(|e| Error::Usage(format!("writing {}: {e}", output.display())))?;
    Ok(Outcome::text(
        format!(
            "wrote {} ({} paths)",
            output.display(),
            manifest.entries.len()
        ),
        Exit::Pass,
    ))
}
