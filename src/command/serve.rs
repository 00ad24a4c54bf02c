//! `drydock serve`: the history store over HTTP — the JSON API, Prometheus metrics and the
//! dashboard — until SIGINT/SIGTERM.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use super::watch::history_path;
use super::{load_project, Exit, Outcome};
use crate::api::{self, Api};
use crate::cli::{Cli, ServeArgs};
use crate::error::Error;
use crate::event::{Events, Scope};
use crate::history::History;

/// `drydock serve`.
pub async fn serve(
    cli: &Cli,
    args: &ServeArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let path = match &args.history {
        Some(p) => p.clone(),
        None => history_path(&load_project(cli)?, None),
    };
    let store = History::open(&path)?;
    let listener = bind(args.listen).await?;
    events.note(
        &Scope::Scenario("serve".into()),
        format!(
            "serving {} on http://{}/",
            path.display(),
            listener.local_addr().unwrap_or(args.listen)
        ),
    );
    api::serve(listener, Api::new(store, None), cancel)
        .await
        .map_err(|e| Error::Infrastructure {
            part: "HTTP server".into(),
            message: e.to_string(),
        })?;
    Ok(Outcome::text("drydock serve: stopped".into(), Exit::Pass))
}

/// A listener on `address`; one that cannot be had is a usage error naming the flag.
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Error::Usage(format!("--listen {address}: {e}")))
}
