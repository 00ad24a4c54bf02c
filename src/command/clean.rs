//! `drydock clean`: containers of runs whose process is gone, and optionally the project's
//! images.

use tokio_util::sync::CancellationToken;

use super::{connect, load_project, Exit, Outcome};
use crate::cli::{CleanArgs, Cli};
use crate::error::Error;
use crate::event::Events;

/// `drydock clean`.
pub async fn clean(
    cli: &Cli,
    args: &CleanArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let project = if args.all {
        None
    } else {
        Some(load_project(cli)?)
    };
    let engine = connect(cli, events, &cancel).await?;
    let (containers, images) = crate::pipeline::janitor::clean(
        &engine,
        project.as_ref().map(|p| p.name.as_str()),
        args.images,
    )
    .await?;
    Ok(Outcome::text(
        format!("removed {containers} container(s) and {images} image(s)"),
        Exit::Pass,
    ))
}
