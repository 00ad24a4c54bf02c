//! drydock's benchmarks: `drydock-bench checks`, `drydock-bench state`, `drydock-bench
//! pipeline` (drydock against Molecule and the provisioning floor), `drydock-bench hosts` (a
//! three-host project against its floor), `drydock-bench systemd` (boot cost, a systemd
//! project against its floor), `drydock-bench requirements` (the roles cache), `drydock-bench api` (the HTTP API under
//! wrk), `drydock-bench platforms` (two platforms against one, `report merge` of 100 shards,
//! planning 50 hosts × 3 platforms), `drydock-bench fleet` (two production versions against
//! one, blame on against off), or `all`.
//!
//! Run with `cargo run --release -p drydock-bench -- all` from the repository root, on a
//! machine where `drydock run` has run once (it needs the bundled example's images).

mod api;
mod fleet;
mod hosts;
mod micro;
mod pipeline;
mod platforms;
mod soak;
mod stats;
mod systemd;
mod watch;

use std::process::ExitCode;

use drydock::docker::Engine;

const USAGE: &str =
    "usage: drydock-bench [checks|state|pipeline|hosts|systemd|requirements|watch|api|platforms|fleet|all|soak] [--rounds N] [--runs N] [--minutes M]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args
        .first()
        .map(String::as_str)
        .unwrap_or("all")
        .to_string();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok());
    if !matches!(
        what.as_str(),
        "checks"
            | "state"
            | "pipeline"
            | "hosts"
            | "systemd"
            | "requirements"
            | "watch"
            | "api"
            | "platforms"
            | "fleet"
            | "all"
            | "soak"
    ) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(50);
    let minutes = args
        .iter()
        .position(|a| a == "--minutes")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(10.0);
    match runtime.block_on(run(&what, rounds, runs, minutes)) {
        Ok(table) => {
            println!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("drydock-bench: {e}");
            ExitCode::from(3)
        }
    }
}

async fn run(
    what: &str,
    rounds: Option<usize>,
    runs: usize,
    minutes: f64,
) -> Result<String, String> {
    let engine = Engine::connect().await.map_err(|e| e.to_string())?;
    let mut rows: Vec<[String; 4]> = Vec::new();
    if what == "soak" {
        let r = soak::soak(&engine, runs).await?;
        let grew = |a: usize, b: usize| b as i64 - a as i64;
        rows.push([
            format!("soak: {} consecutive runs (new commit every 10th)", r.runs),
            format!("{:.0} s", r.seconds),
            format!(
                "containers {:+}, dangling images {:+}, networks {:+}, volumes {:+}",
                grew(r.before.containers, r.after.containers),
                grew(r.before.dangling_images, r.after.dangling_images),
                grew(r.before.networks, r.after.networks),
                grew(r.before.volumes, r.after.volumes)
            ),
            format!(
                "project image tags at the end: {} (default, default-<key>, production-<commit>)",
                r.project_images
            ),
        ]);
        return Ok(render(&rows));
    }
    if what == "pipeline" || what == "all" {
        let result = pipeline::run(&engine, rounds.unwrap_or(3)).await?;
        rows.extend(result.rows());
    }
    if what == "hosts" || what == "all" {
        let result = hosts::run(&engine, rounds.unwrap_or(3)).await?;
        rows.extend(result.rows());
    }
    if what == "platforms" || what == "all" {
        let result = platforms::run(&engine, rounds.unwrap_or(3)).await?;
        rows.extend(result.rows());
    }
    if what == "fleet" || what == "all" {
        let result = fleet::run(&engine, rounds.unwrap_or(3)).await?;
        rows.extend(result.rows());
    }
    if what == "systemd" || what == "all" {
        let result = systemd::run(&engine, rounds.unwrap_or(3)).await?;
        rows.extend(result.rows());
    }
    if what == "requirements" || what == "all" {
        eprintln!("requirements: one install, then the cache");
        let result = systemd::requirements(rounds.unwrap_or(10)).await?;
        rows.extend(result.rows());
    }
    if what == "watch" || what == "all" {
        let result = watch::run(&engine, rounds.unwrap_or(5), minutes).await?;
        rows.extend(result.rows());
    }
    if what == "api" || what == "all" {
        let result = api::run(rounds.map_or(10, |r| r as u64)).await?;
        rows.extend(result.rows());
    }
    if what == "checks" || what == "all" {
        let image = "debian:bookworm-slim";
        for (label, mix) in [
            ("declarative (6 kinds)", &micro::DECLARATIVE),
            ("mixed (13 kinds, matchers)", &micro::MIXED),
        ] {
            eprintln!("checks: 500 {label} checks against one {image} container");
            let r = micro::checks(&engine, image, rounds.unwrap_or(10), mix).await?;
            let per_second = r.checks as f64 / r.evaluate.median().as_secs_f64();
            let per_exec = r.exec.median().as_secs_f64() * r.checks as f64;
            rows.push([
                format!("checks: {} {label}, one container", r.checks),
                format!(
                    "{:.3} s ({:.3}–{:.3})",
                    r.evaluate.median().as_secs_f64(),
                    r.evaluate.min().as_secs_f64(),
                    r.evaluate.max().as_secs_f64()
                ),
                format!("{per_second:.0} checks/s"),
                format!(
                    "one exec per check: {per_exec:.1} s ({:.1} ms/exec); target ≤ 0.25 s for 500",
                    r.exec.median().as_secs_f64() * 1000.0
                ),
            ]);
        }
    }
    if what == "state" || what == "all" {
        let image = pipeline::largest_project_image(&engine)
            .await
            .unwrap_or_else(|| "debian:bookworm-slim".into());
        eprintln!("state: whole-filesystem diff of two {image} containers");
        let r = micro::state(&engine, &image, rounds.unwrap_or(5)).await?;
        rows.push([
            format!(
                "state diff: 2 × {} paths, {:.0} MB of files",
                r.paths,
                r.bytes as f64 / 1e6
            ),
            format!(
                "{:.2} s ({:.2}–{:.2})",
                r.diff.median().as_secs_f64(),
                r.diff.min().as_secs_f64(),
                r.diff.max().as_secs_f64()
            ),
            format!(
                "peak RSS {:.0} MB, drydock CPU {:.2} s",
                r.peak_rss as f64 / 1e6,
                r.cpu
            ),
            format!(
                "floor: docker export of both to /dev/null: {} s; target < 3 s, < 100 MB",
                micro::secs(r.export.median())
            ),
        ]);
    }
    Ok(render(&rows))
}

fn render(rows: &[[String; 4]]) -> String {
    let header = ["measure", "wall (median, min–max)", "figure", "reference"];
    let mut widths = header.map(str::len);
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        format!("| {} |", parts.join(" | "))
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    out.push_str(&format!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    ));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row));
    }
    out
}
