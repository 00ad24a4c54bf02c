//! The HTTP API under load: a store the size of a busy monitor (50 targets × 100 checks, a few
//! hundred rounds, a thousand recorded runs), served in this process, and `wrk` (Debian's
//! package) on each route — requests per second and latency — plus what recording one run costs.

use std::time::{Duration, Instant};

use drydock::api::{self, Api};
use drydock::history::{History, ResultRow, Round, RunRow};
use tokio_util::sync::CancellationToken;

use crate::stats::Sample;

const TARGETS: usize = 50;
const CHECKS: usize = 100;
const ROUNDS: usize = 200;
const RUNS: usize = 1000;

/// One route's figures from wrk.
struct Route {
    path: String,
    requests_per_second: f64,
    p50: String,
    p99: String,
}

/// What was measured.
pub struct ApiResult {
    record_run: Sample,
    routes: Vec<Route>,
    seconds: u64,
}

impl ApiResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        let mut rows = vec![[
            format!("api: record one run ({RUNS} stored, 25 kB report)"),
            format!(
                "{:.2} ms ({:.2}–{:.2})",
                self.record_run.median().as_secs_f64() * 1e3,
                self.record_run.min().as_secs_f64() * 1e3,
                self.record_run.max().as_secs_f64() * 1e3
            ),
            String::new(),
            "every `drydock run` pays this once".into(),
        ]];
        for r in &self.routes {
            rows.push([
                format!("api: GET {}", r.path),
                format!("p50 {}, p99 {}", r.p50, r.p99),
                format!("{:.0} requests/s", r.requests_per_second),
                format!(
                    "wrk -t2 -c16 -d{}s; {TARGETS} targets × {CHECKS} checks, {ROUNDS} rounds",
                    self.seconds
                ),
            ]);
        }
        rows
    }
}

fn row(target: usize, check: usize, round: usize) -> ResultRow {
    let fail = check == 7 && round % 10 < 3;
    ResultRow {
        target: format!("container:web-{target:02}"),
        check: format!("check {check:03}"),
        status: if fail { "fail" } else { "pass" }.into(),
        message: format!("/etc/app-{check}.conf is a regular file as expected"),
    }
}

/// Fills a store, serves it, and loads each route for `seconds`.
pub async fn run(seconds: u64) -> Result<ApiResult, String> {
    if drydock::process::which("wrk").is_none() {
        return Err("api: wrk is not installed (apt-get install wrk)".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("history.db");
    let store = History::open(&path).map_err(|e| e.to_string())?;
    eprintln!("api: filling a store with {ROUNDS} rounds of {TARGETS} × {CHECKS} results");
    let start = drydock::history::now_ms() - (ROUNDS as i64) * 30_000;
    for round in 0..ROUNDS {
        let results: Vec<ResultRow> = (0..TARGETS)
            .flat_map(|t| (0..CHECKS).map(move |c| row(t, c, round)))
            .collect();
        store
            .record(&Round {
                at: start + round as i64 * 30_000,
                duration_ms: 800,
                results: &results,
                transitions: &[],
                states: &[],
                outbox: &[],
            })
            .map_err(|e| e.to_string())?;
    }
    let report = format!(
        "{{\"schema_version\":2,\"log\":\"{}\"}}",
        "TASK [x] ok: [web1]\\n".repeat(1_200)
    );
    let mut record_run = Sample::default();
    for i in 0..RUNS {
        let run = RunRow {
            run_id: format!("{i:012x}"),
            at: start + i as i64,
            project: "bench".into(),
            command: "run".into(),
            verdict: if i % 5 == 0 { "fail" } else { "pass" }.into(),
            duration_ms: 30_000,
        };
        let began = Instant::now();
        store
            .record_run(&run, &report, 0)
            .map_err(|e| e.to_string())?;
        record_run.push(began.elapsed());
    }
    drop(store);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(api::serve(
        listener,
        Api::new(History::open(&path).map_err(|e| e.to_string())?, None),
        stop.clone(),
    ));
    let mut routes = Vec::new();
    for route in [
        "/healthz".to_string(),
        "/api/v1/status".into(),
        "/metrics".into(),
        "/api/v1/runs".into(),
        format!("/api/v1/runs/{:012x}", RUNS / 2),
        "/api/v1/outages?since=7d".into(),
        "/".into(),
    ] {
        eprintln!("api: wrk on {route} for {seconds} s");
        let out = tokio::process::Command::new("wrk")
            .args(["-t2", "-c16", &format!("-d{seconds}s"), "--latency"])
            .arg(format!("http://{address}{route}"))
            .output()
            .await
            .map_err(|e| format!("wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("Non-2xx") {
            return Err(format!("api: {route} answered errors:\n{text}"));
        }
        let field = |prefix: &str| {
            text.lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(prefix))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .ok_or_else(|| format!("api: no `{prefix}` in wrk's output:\n{text}"))
        };
        routes.push(Route {
            requests_per_second: field("Requests/sec:")?
                .parse()
                .map_err(|e| format!("{e}"))?,
            p50: field("50%")?,
            p99: field("99%")?,
            path: route,
        });
    }
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(ApiResult {
        record_run,
        routes,
        seconds,
    })
}
