//! `drydock serve`: the history store over HTTP — the JSON API, Prometheus metrics and the
//! dashboard — until SIGINT/SIGTERM.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use super::watch::history_path;
use super::{load_project, Exit, Outcome};
use crate::api::{self, Access, Api};
use crate::cli::{AccessArgs, Cli, ServeArgs};
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
    let access = access(&args.access, args.listen)?;
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
    api::serve(listener, Api::new(store, None).with_access(access), cancel)
        .await
        .map_err(|e| Error::Infrastructure {
            part: "HTTP server".into(),
            message: e.to_string(),
        })?;
    Ok(Outcome::text("drydock serve: stopped".into(), Exit::Pass))
}

/// Who may use the API served on `listen`: the token from `--token-file` or
/// `DRYDOCK_API_TOKEN` (an empty one is an error), the extra host names; an address beyond
/// loopback without a token is refused unless `--insecure-no-token` says so.
pub fn access(args: &AccessArgs, listen: SocketAddr) -> Result<Access, Error> {
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Usage(format!("--token-file {}: {e}", path.display())))?;
            Some((
                text.trim().to_string(),
                format!("--token-file {}", path.display()),
            ))
        }
        None => std::env::var("DRYDOCK_API_TOKEN")
            .ok()
            .map(|t| (t.trim().to_string(), "DRYDOCK_API_TOKEN".to_string())),
    };
    if let Some((token, place)) = &token {
        if token.is_empty() {
            return Err(Error::Usage(format!(
                "{place}: the API token is empty; an empty token would let anyone in"
            )));
        }
    }
    if token.is_none() && !listen.ip().is_loopback() && !args.insecure_no_token {
        return Err(Error::Usage(format!(
            "--listen {listen} reaches beyond this machine, and the API has no token: give one with --token-file PATH or DRYDOCK_API_TOKEN, listen on 127.0.0.1, or say --insecure-no-token"
        )));
    }
    Ok(Access {
        token: token.map(|(t, _)| t),
        hosts: args.allow_host.clone(),
        listen: Some(listen),
    })
}

/// A listener on `address`; one that cannot be had is a usage error naming the flag.
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Error::Usage(format!("--listen {address}: {e}")))
}
