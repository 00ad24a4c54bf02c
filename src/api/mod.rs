//! The HTTP API and the dashboard over the history store, for `drydock serve` and
//! `drydock watch --listen`: recorded runs, each watched target and check now, outages,
//! health, Prometheus metrics and a page for people.
//!
//! Every answer is read from the store (a connection of its own: the watch loop's writes never
//! wait for a reader, WAL lets both go on), off the async threads.

mod status;

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::history::{self, History, HistoryError, Outage, RunRow};
use crate::watch::{lasted_text, rfc3339};

pub use status::{status, CheckStatus, Status, TargetStatus};

/// How many runs `/api/v1/runs` lists unless asked (`?limit=`), and at most.
const RUNS_DEFAULT: i64 = 50;
const RUNS_MAX: i64 = 1000;

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    store: Arc<History>,
    /// With a watch loop in the same process: `/healthz` is 503 when no round finished for
    /// this long (the monitor is stuck).
    stale_after: Option<Duration>,
    access: Arc<Access>,
}

/// Who may use the API: the bearer token every route but `/healthz` needs (when set), and the
/// `Host` names requests may carry — the listen address, `localhost`, and those allowed — so
/// that a page elsewhere cannot reach a loopback API through a name it controls (DNS
/// rebinding).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The token.
    pub token: Option<String>,
    /// Host names accepted besides the listen address and `localhost` (without port).
    pub hosts: Vec<String>,
    /// The address the server listens on.
    pub listen: Option<std::net::SocketAddr>,
}

impl Access {
    /// Whether a request's `Host` header value names this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        // `name`, `name:port`, `[v6]:port`.
        let name = match host.rsplit_once(':') {
            Some((name, port))
                if port.chars().all(|c| c.is_ascii_digit()) && !name.ends_with(':') =>
            {
                name
            }
            _ => host.as_str(),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name == "localhost" || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return true;
        }
        match (self.listen, name.parse::<std::net::IpAddr>()) {
            (Some(listen), Ok(ip)) => {
                ip == listen.ip()
                    || (listen.ip().is_unspecified() && ip.is_loopback())
                    || ip.is_loopback() && listen.ip().is_loopback()
            }
            _ => false,
        }
    }

    /// Whether an `Authorization` header value carries the token (compared in constant time).
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
            return false;
        };
        given.trim().as_bytes().ct_eq(token.as_bytes()).into()
    }
}

impl Api {
    /// An API over `store`; `stale_after` as [`Api::stale_after`] says; open to anyone on
    /// loopback (see [`Api::with_access`]).
    pub fn new(store: History, stale_after: Option<Duration>) -> Api {
        Api {
            store: Arc::new(store),
            stale_after,
            access: Arc::new(Access::default()),
        }
    }

    /// The same API, used as `access` says.
    pub fn with_access(mut self, access: Access) -> Api {
        self.access = Arc::new(access);
        self
    }

    /// Runs `f` on the store off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&History) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::Store(e.to_string()))?
            .map_err(|e| ApiError::Store(e.to_string()))
    }
}

/// The routes, behind the access rules.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/status", get(current))
        .route("/api/v1/outages", get(outages))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(axum::middleware::from_fn_with_state(api.clone(), guard))
        .with_state(api)
}

/// Refuses a request whose `Host` names another server (421), and one without the token on
/// any route but `/healthz` (401).
async fn guard(
    State(api): State<Api>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (host, authorization) = {
        let header_text = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        (
            header_text(header::HOST),
            header_text(header::AUTHORIZATION),
        )
    };
    if let Some(host) = host {
        if !api.access.host_allowed(&host) {
            return ApiError::MisdirectedRequest(format!(
                "this server does not answer to the host `{host}`; name it with --allow-host"
            ))
            .into_response();
        }
    }
    if request.uri().path() != "/healthz" && !api.access.authorized(authorization.as_deref()) {
        return ApiError::Unauthorized(
            "this API needs `Authorization: Bearer <token>` (the token drydock was given with --token-file or DRYDOCK_API_TOKEN)".into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// Serves `api` on `listener` until `stop` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Api,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(api))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// An answer that is not a 200: a JSON body `{"error": "..."}`.
#[derive(Debug)]
enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    NotFound(String),
    MisdirectedRequest(String),
    Store(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized(m) => {
                let body = Json(serde_json::json!({ "error": m }));
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    body,
                )
                    .into_response();
            }
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::MisdirectedRequest(m) => (StatusCode::MISDIRECTED_REQUEST, m),
            ApiError::Store(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (code, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<i64>,
}

async fn runs(State(api): State<Api>, Query(q): Query<RunsQuery>) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(RUNS_DEFAULT);
    if !(1..=RUNS_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {RUNS_MAX}, not {limit}"
        )));
    }
    let runs = api.read(move |s| s.runs(limit)).await?;
    Ok(Json(serde_json::json!({ "runs": runs })).into_response())
}

async fn run(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let wanted = id.clone();
    match api.read(move |s| s.run_report(&wanted)).await? {
        Some(report) => Ok(([(header::CONTENT_TYPE, "application/json")], report).into_response()),
        None => Err(ApiError::NotFound(format!(
            "no run {id} in the history store"
        ))),
    }
}

async fn current(State(api): State<Api>) -> Result<Response, ApiError> {
    Ok(Json(read_status(&api).await?).into_response())
}

async fn read_status(api: &Api) -> Result<Status, ApiError> {
    api.read(|s| Ok(status(s.latest()?, s.states()?))).await
}

#[derive(Deserialize)]
struct OutagesQuery {
    since: Option<String>,
}

/// An outage as the API gives it: the store's fields and how long it lasted (so far).
#[derive(serde::Serialize)]
struct OutageView {
    #[serde(flatten)]
    outage: Outage,
    /// From `from` to `to`, or to now while it goes on.
    duration_ms: i64,
    /// Still down.
    ongoing: bool,
}

async fn outages(
    State(api): State<Api>,
    Query(q): Query<OutagesQuery>,
) -> Result<Response, ApiError> {
    let text = q.since.unwrap_or_else(|| "7d".into());
    let since = crate::config::diag::parse_duration(&text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "since: `{text}` is not a duration; expected e.g. 90s, 10m, 1h, 7d"
        ))
    })?;
    let now = history::now_ms();
    let from = now - since.as_millis() as i64;
    let list = api.read(move |s| s.outages(from)).await?;
    Ok(Json(serde_json::json!({
        "since": rfc3339(from),
        "outages": views(list, now),
    }))
    .into_response())
}

fn views(list: Vec<Outage>, now: i64) -> Vec<OutageView> {
    list.into_iter()
        .map(|o| OutageView {
            duration_ms: o.to.unwrap_or(now) - o.from,
            ongoing: o.to.is_none(),
            outage: o,
        })
        .collect()
}

async fn healthz(State(api): State<Api>) -> Response {
    let stale_after = api.stale_after;
    let answer = api.read(|s| s.last_round()).await;
    let now = history::now_ms();
    match (answer, stale_after) {
        (
            Err(
                ApiError::Store(e)
                | ApiError::BadRequest(e)
                | ApiError::NotFound(e)
                | ApiError::Unauthorized(e)
                | ApiError::MisdirectedRequest(e),
            ),
            _,
        ) => (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {e}\n")).into_response(),
        (Ok(last), Some(limit)) if last.is_none_or(|at| now - at > limit.as_millis() as i64) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "unhealthy: no watch round finished in the last {} s\n",
                limit.as_secs()
            ),
        )
            .into_response(),
        (Ok(_), _) => (StatusCode::OK, "ok\n").into_response(),
    }
}

async fn metrics(State(api): State<Api>) -> Result<Response, ApiError> {
    let (state, runs, last, ongoing) = api
        .read(|s| {
            let now = history::now_ms();
            let ongoing = s.outages(now)?.into_iter().filter(|o| o.to.is_none());
            Ok((
                status(s.latest()?, s.states()?),
                s.run_counts()?,
                s.last_round()?,
                ongoing.map(|o| o.kind).collect::<Vec<_>>(),
            ))
        })
        .await?;
    let text = status::metrics(&state, &runs, last, &ongoing);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The page for people.
#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    status: Status,
    outages: Vec<OutageView>,
    runs: Vec<RunRow>,
    now: String,
}

impl Dashboard {
    // The template hands over values or references, as its expressions go.
    fn time(&self, ms: impl Borrow<i64>) -> String {
        rfc3339(*ms.borrow())
    }

    fn lasted(&self, ms: impl Borrow<i64>) -> String {
        lasted_text(*ms.borrow())
    }
}

async fn dashboard(State(api): State<Api>) -> Result<Response, ApiError> {
    let now = history::now_ms();
    let (state, list, runs) = api
        .read(move |s| {
            Ok((
                status(s.latest()?, s.states()?),
                s.outages(now - 7 * 24 * 3600 * 1000)?,
                s.runs(20)?,
            ))
        })
        .await?;
    let page = Dashboard {
        status: state,
        outages: views(list, now),
        runs,
        now: rfc3339(now),
    };
    page.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| ApiError::Store(format!("rendering the dashboard: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_this_server_are_answered() {
        let access = Access {
            token: None,
            hosts: vec!["drydock.internal".into()],
            listen: Some("127.0.0.1:8080".parse().unwrap()),
        };
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "localhost",
            "drydock.internal:8080",
            "DRYDOCK.internal",
            "[::1]:8080",
        ] {
            assert!(access.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.5:8080",
            "localhost.evil.example",
        ] {
            assert!(!access.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn the_token_is_required_exactly() {
        let open = Access::default();
        assert!(open.authorized(None));
        let locked = Access {
            token: Some("t0ken".into()),
            ..Access::default()
        };
        assert!(locked.authorized(Some("Bearer t0ken")));
        assert!(!locked.authorized(Some("Bearer t0ke")));
        assert!(!locked.authorized(Some("Bearer t0kenX")));
        assert!(!locked.authorized(Some("t0ken")));
        assert!(!locked.authorized(None));
    }
}
