//! `drydock clean`: containers of runs whose process is gone, and optionally the project's
//! images.

use tokio_util::sync::CancellationToken;

use super::{connect, load_project, Exit, Outcome};
use crate::cli::{CleanArgs, Cli};
use crate::error::Error;
use crate::event::Events;
use crate::pipeline::janitor::Cleaned;

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
    let cleaned = crate::pipeline::janitor::clean(
        &engine,
        project.as_ref().map(|p| p.name.as_str()),
        args.images,
        args.older_than,
    )
    .await?;
    Ok(Outcome::text(words(&cleaned), Exit::Pass))
}

/// What `drydock clean` did, in words.
fn words(cleaned: &Cleaned) -> String {
    let mut text = format!(
        "removed {} container(s) and {} image(s)",
        cleaned.swept.removed, cleaned.images
    );
    if cleaned.swept.unseen > 0 {
        text.push_str(&format!(
            "\nleft {} container(s) of runs on other machines or in other PID namespaces sharing this engine, whose process drydock cannot see from here; `drydock clean --older-than 24h` removes those created more than a day ago",
            cleaned.swept.unseen
        ));
    }
    for (image, reason) in &cleaned.images_in_use {
        text.push_str(&format!("\nleft {image}: {reason}"));
    }
    text
}
