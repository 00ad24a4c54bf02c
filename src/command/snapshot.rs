//! `drydock snapshot`: provisions the default image with the working tree and writes its state
//! as a reviewable text file.

use tokio_util::sync::CancellationToken;

use super::{connect, Exit, Outcome};
use crate::cli::{Cli, SelectArgs, SnapshotArgs};
use crate::error::Error;
use crate::event::{Events, Scope};
use crate::pipeline::capture;
use crate::pipeline::production::provision_tree;
use crate::pipeline::session::Session;
use crate::plan::{Plan, Unit};
use crate::provision::Status;
use crate::state::snapshot;

/// `drydock snapshot`.
pub async fn snapshot(
    cli: &Cli,
    args: &SnapshotArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let plan = super::plan(cli, &SelectArgs::default(), &args.units).await?;
    let project = &plan.project;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| project.root.join(snapshot::FILE_NAME));
    let engine = connect(cli, events, &cancel).await?;
    let secrets = project.provision.secrets();
    let session = Session::start(&engine, &project.name, events, secrets, cancel);
    let ignore = capture::rules(&project.diff).map_err(Error::Usage)?;
    let several = plan.has_platforms();
    let manifest = session
        .guard(async {
            crate::provision::preflight(&project.provision.kind)?;
            let mut manifests = Vec::new();
            for unit in &plan.units {
                let platform = unit.platform.name.as_deref();
                for (host, manifest) in fresh_state(&session, &plan, unit, ignore.clone()).await? {
                    // With platforms, each platform's state under its name: PLATFORM/HOST.
                    let named = match (platform, several) {
                        (Some(p), true) => format!("{p}/{host}"),
                        _ => host,
                    };
                    manifests.push((named, manifest));
                }
            }
            Ok(capture::combined(manifests, several))
        })
        .await?;
    let mut text = snapshot::render(&manifest);
    let mut said = format!("{} paths", manifest.entries.len());
    // Some of the platforms: the others keep their committed state.
    if let Some(platforms) = crate::pipeline::run::subset(&plan) {
        let committed = std::fs::read_to_string(&output).unwrap_or_default();
        text = snapshot::replace_platforms(&committed, &text, &platforms);
        said = format!(
            "{said} on {}; the other platforms' state kept",
            platforms.join(", ")
        );
    }
    std::fs::write(&output, &text)
        .map_err(|e| Error::Usage(format!("writing {}: {e}", output.display())))?;
    Ok(Outcome::text(
        format!("wrote {} ({said})", output.display()),
        Exit::Pass,
    ))
}

/// The state of every host of `unit` after its default image is provisioned with the working
/// tree.
async fn fresh_state(
    session: &Session,
    plan: &Plan,
    unit: &Unit,
    ignore: std::sync::Arc<crate::state::Ignore>,
) -> Result<Vec<(String, crate::state::Manifest)>, Error> {
    let project = &plan.project;
    let platform = unit.platform.name.as_deref();
    let scope = Scope::Scenario("fresh".into()).on(platform);
    let default =
        crate::image::ensure_default(&session.engine, project, &unit.platform, &session.events)
            .await?;
    session.events.stage(&scope, "provisioning");
    let role = match platform {
        Some(p) => format!("{p}-snapshot"),
        None => "snapshot".to_string(),
    };
    let provisioned = provision_tree(
        session,
        project,
        &unit.platform,
        &plan.hosts,
        &default.tag,
        &project.root,
        &role,
        &scope,
        project.provision.timeout,
        None,
    )
    .await?;
    match provisioned.outcome.status {
        Status::Ok => {}
        // As in `drydock run`: the code's failure is a failure, the infrastructure's an error.
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
    let manifests = capture::manifests(&session.engine, &machines, &project.diff.paths, ignore)
        .await
        .map_err(|message| Error::Infrastructure {
            part: "docker engine".into(),
            message,
        })?;
    provisioned.discard(session).await;
    Ok(manifests)
}
