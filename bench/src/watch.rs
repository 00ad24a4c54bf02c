//! `drydock watch` at scale: 50 container targets × 100 checks each, in this process — one
//! round's wall time, then the monitor's CPU and memory over minutes of rounds 30 s apart.

use std::time::{Duration, Instant};

use drydock::docker::Engine;
use drydock::event::Events;
use drydock::history::History;
use drydock::watch::notify::Notifier;
use drydock::watch::{Monitor, Settings, Target};

use crate::micro::{checks_yaml, cpu_seconds, peak_rss, start, words, Mix};
use crate::stats::Sample;

const TARGETS: usize = 50;

/// What was measured.
pub struct WatchResult {
    round: Sample,
    checks: usize,
    minutes: f64,
    rounds: usize,
    cpu_share: f64,
    peak_rss: u64,
}

impl WatchResult {
    /// The table rows.
    pub fn rows(&self) -> Vec<[String; 4]> {
        vec![
            [
                format!(
                    "watch: one round, {TARGETS} container targets × {} checks",
                    self.checks
                ),
                self.round.show(),
                format!(
                    "{:.0} checks/s",
                    (TARGETS * self.checks) as f64 / self.round.median().as_secs_f64()
                ),
                "target ≤ 2 s".into(),
            ],
            [
                format!(
                    "watch: --every 30s for {:.0} min ({} rounds)",
                    self.minutes, self.rounds
                ),
                format!("{:.2} % of one core", self.cpu_share * 100.0),
                format!("peak RSS {:.0} MB", self.peak_rss as f64 / 1e6),
                "target ≤ 2 % CPU, ≤ 60 MB".into(),
            ],
        ]
    }
}

/// Starts the targets, measures `rounds` rounds back to back, then `minutes` of rounds 30 s
/// apart.
pub async fn run(engine: &Engine, rounds: usize, minutes: f64) -> Result<WatchResult, String> {
    let image = "debian:bookworm-slim";
    eprintln!("watch: starting {TARGETS} containers of {image}");
    let mut ids = Vec::new();
    for _ in 0..TARGETS {
        ids.push(start(engine, image, false).await?);
    }
    let result = measure(engine, &ids, rounds, minutes).await;
    for id in &ids {
        let _ = engine.remove_container(id).await;
    }
    result
}

async fn measure(
    engine: &Engine,
    ids: &[String],
    rounds: usize,
    minutes: f64,
) -> Result<WatchResult, String> {
    let setup = "mkdir -p /srv/checks && for i in $(seq -w 0 39); do echo x > /srv/checks/f0$i; done; chmod 644 /srv/checks/*";
    for id in ids {
        engine
            .exec(id, &["/bin/sh", "-c", setup], &[], None)
            .await
            .map_err(|e| e.to_string())?;
    }
    let ask = |cmd: &'static str| async move {
        engine
            .exec(&ids[0], &["/bin/sh", "-c", cmd], &[], None)
            .await
            .map(|o| words(&o.stdout))
            .map_err(|e| e.to_string())
    };
    let mix = Mix {
        files: 40,
        packages: 20,
        users: 15,
        groups: 15,
        processes: 5,
        ports: 5,
        ..Mix::default()
    };
    let yaml = checks_yaml(
        &mix,
        &ask("dpkg-query -W -f='${Package}\\n'").await?,
        &ask("cut -d: -f1 /etc/passwd").await?,
        &ask("cut -d: -f1 /etc/group").await?,
    );
    let checks = drydock::check::parse_checks(std::path::Path::new("bench.yaml"), &yaml)
        .map_err(|d| format!("{} invalid checks", d.len()))?;
    let count = checks.len();
    let targets = ids
        .iter()
        .map(|id| {
            Target::parse(
                &format!("container:{id}"),
                Some(engine),
                None,
                drydock::check::runner::MAX_OUTPUT,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let db = std::env::temp_dir().join(format!("drydock-bench-watch-{}.db", std::process::id()));
    let history = History::open(&db).map_err(|e| e.to_string())?;
    let notifier = Notifier::new(None, None, None, None, None)?;
    let settings = Settings {
        concurrency: std::env::var("DRYDOCK_BENCH_CONCURRENCY")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(Settings::default().concurrency),
        ..Settings::default()
    };
    let mut monitor =
        Monitor::new(targets, checks, settings, history, notifier).map_err(|e| e.to_string())?;
    let events = Events::silent();
    let mut round = Sample::default();
    for i in 0..rounds.max(3) {
        let started = Instant::now();
        let report = monitor.round(&events).await;
        round.push(started.elapsed());
        if report.failing() || report.unreachable() || report.store_error.is_some() {
            return Err(format!(
                "round {i} did not pass: {}",
                serde_json::to_string(&report).unwrap_or_default()
            ));
        }
    }
    eprintln!(
        "watch: one round of {} targets × {count} checks: {}",
        ids.len(),
        round.show()
    );
    eprintln!("watch: {minutes} min of rounds 30 s apart");
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    let mut n = 0;
    while wall.elapsed() < Duration::from_secs_f64(minutes * 60.0) {
        let report = monitor.round(&events).await;
        if let Some(e) = report.store_error {
            return Err(e);
        }
        n += 1;
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let cpu_share = (cpu_seconds() - cpu_before) / wall.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(db.with_extension("db-wal"));
    let _ = std::fs::remove_file(db.with_extension("db-shm"));
    Ok(WatchResult {
        round,
        checks: count,
        minutes,
        rounds: n,
        cpu_share,
        peak_rss: peak_rss(),
    })
}
