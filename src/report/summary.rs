//! The end-of-run summary for people: one line per scenario, then what failed and why.

use std::collections::BTreeMap;

use super::{
    CheckResult, Command, PathChange, RunReport, ScenarioKind, ScenarioReport, Verdict, WrittenBy,
};

/// How many unified-diff lines a finding shows in the terminal.
const DIFF_LINES: usize = 40;

/// Renders the summary of a run.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "drydock {} · {} · {} in {:.1} s\n\n",
        report.command.as_str(),
        report.project,
        report.verdict.as_str().to_uppercase(),
        report.duration_ms as f64 / 1000.0
    ));
    // The label column: 12 wide, wider when a scenario's name is longer (`upgrade-reboot`).
    let w = report
        .scenarios
        .iter()
        .map(|s| s.name.name().chars().count() + if s.platform.is_some() { 2 } else { 0 })
        .max()
        .unwrap_or(0)
        .max(12);
    let images = &report.images;
    if !images.default.is_empty() {
        out.push_str(&format!(
            "  {:<w$} {} ({})\n",
            "default",
            images.default,
            if images.default_built {
                "built"
            } else {
                "reused: build context unchanged"
            }
        ));
    }
    if !images.production.is_empty() {
        out.push_str(&format!(
            "  {:<w$} {} ({})\n",
            "production", images.production, images.production_source
        ));
    }
    for older in &images.upgrade_from {
        out.push_str(&format!(
            "  {:<w$} {} ({})\n",
            older.scenario, older.production, older.production_source
        ));
    }
    if report.hosts.len() > 1 {
        let hosts: Vec<String> = report
            .hosts
            .iter()
            .map(|h| {
                if h.groups.is_empty() {
                    h.name.clone()
                } else {
                    format!("{} ({})", h.name, h.groups.join(", "))
                }
            })
            .collect();
        out.push_str(&format!("  {:<w$} {}\n", "hosts", hosts.join(", ")));
    }
    if !images.default.is_empty() || !images.production.is_empty() || report.hosts.len() > 1 {
        out.push('\n');
    }
    // With platforms, the scenarios and the diff of each platform under its name.
    let mut platforms: Vec<Option<&str>> = Vec::new();
    for s in &report.scenarios {
        if !platforms.contains(&s.platform.as_deref()) {
            platforms.push(s.platform.as_deref());
        }
    }
    for platform in &platforms {
        let indent = if platform.is_some() { "  " } else { "" };
        let w = w - indent.len();
        if let Some(p) = platform {
            out.push_str(&format!("  {p}\n"));
        }
        for s in report
            .scenarios
            .iter()
            .filter(|s| s.platform.as_deref() == *platform)
        {
            out.push_str(&format!(
                "  {indent}{:<w$} {:<5} {}\n",
                s.name.name(),
                s.status.as_str(),
                scenario_line(s)
            ));
            for line in host_lines(report, s) {
                out.push_str(&format!("{indent}{line}"));
            }
        }
        if platform.is_some() {
            if let Some(d) = platform_diff(report, *platform) {
                out.push_str(&format!(
                    "  {indent}{:<w$} {:<5} {}\n",
                    "diff",
                    d.status.as_str(),
                    diff_line(report, &d)
                ));
            }
        }
    }
    // Without platforms, the one diff line; with them, each platform's is above.
    if let (Some(d), true) = (&report.diff, report.platforms.is_empty()) {
        out.push_str(&format!(
            "  {:<w$} {:<5} {}\n",
            "diff",
            d.status.as_str(),
            diff_line(report, d)
        ));
    }
    if let Some(s) = &report.snapshot {
        let line = if s.differences.is_empty() {
            format!("fresh state matches {}", s.file)
        } else {
            format!(
                "{} difference(s) from {}{}",
                s.differences.len(),
                s.file,
                if s.locked {
                    ""
                } else {
                    " (informational; --locked fails on them)"
                }
            )
        };
        out.push_str(&format!(
            "  {:<w$} {:<5} {}\n",
            "snapshot",
            s.status.as_str(),
            line
        ));
    }

    let details = details(report);
    if !details.is_empty() {
        out.push('\n');
        out.push_str(&details);
    }
    if !report.unmatched_plays.is_empty() {
        out.push('\n');
        for p in &report.unmatched_plays {
            out.push_str(&format!(
                "warning: the play at {}:{} (hosts: {}) matched no host and did not run\n",
                p.file, p.line, p.pattern
            ));
        }
    }
    for kept in &report.kept {
        out.push_str(&format!(
            "\nkept {} container: docker exec -it {} /bin/sh",
            kept.scenario,
            crate::ids::short_id(&kept.id)
        ));
    }
    if !report.kept.is_empty() {
        out.push_str("\nremove them with `drydock clean` when done\n");
    }
    out.push_str(&format!("\n{}\n", verdict_line(report)));
    out
}

/// The diff line of a comparison.
fn diff_line(report: &RunReport, d: &super::DiffReport) -> String {
    let (a, b) = sides(report);
    if d.status == Verdict::Pass {
        format!(
            "{} states match ({} paths compared{})",
            if report.command == Command::Diff {
                "the two"
            } else {
                "fresh and upgrade"
            },
            d.compared[0],
            allowed(&d.allowed) + &normalised(&d.normalised)
        )
    } else {
        format!(
            "{} only in {a}, {} only in {b}, {} changed{}",
            d.only_in_fresh.len(),
            d.only_in_upgrade.len(),
            d.changed.len(),
            normalised(&d.normalised)
        )
    }
}

/// The diff of one platform, from the run's per-host diffs.
fn platform_diff(report: &RunReport, platform: Option<&str>) -> Option<super::DiffReport> {
    let hosts: Vec<super::DiffReport> = report
        .diff
        .as_ref()?
        .hosts
        .iter()
        .filter(|h| h.platform.as_deref() == platform)
        .cloned()
        .collect();
    (!hosts.is_empty()).then(|| super::combine(hosts))
}

fn allowed(list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(", {} allowed difference(s)", list.len())
    }
}

/// Says how many paths matched only once per-machine values were set aside, so nobody is
/// surprised that a file holding a host's address compares equal.
fn normalised(list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(
            ", {} equal once per-machine values were set aside (see README: state diff)",
            list.len()
        )
    }
}

/// For several hosts: one line per host under a scenario, with its own provisioning and checks.
fn host_lines(report: &RunReport, s: &ScenarioReport) -> Vec<String> {
    if report.hosts.len() < 2 {
        return Vec::new();
    }
    let provisioned = s.provision.as_ref().map(|p| &p.hosts[..]).unwrap_or(&[]);
    report
        .hosts
        .iter()
        .filter_map(|h| {
            let on_host = provisioned.iter().find(|p| p.host == h.name);
            let checks: Vec<&CheckResult> = s
                .checks
                .iter()
                .filter(|c| c.host.as_deref() == Some(h.name.as_str()))
                .collect();
            if on_host.is_none() && checks.is_empty() {
                return None;
            }
            let mut status = on_host.map(|p| p.status).unwrap_or(Verdict::Pass);
            status = Verdict::all(checks.iter().map(|c| c.status).chain([status]));
            let mut parts = Vec::new();
            if let Some(p) = on_host {
                match (&p.failed_task, p.changed) {
                    (Some(task), _) => parts.push(format!(
                        "task \"{task}\" failed: {}",
                        first_line(p.message.as_deref().unwrap_or(""))
                    )),
                    (None, Some(n)) => parts.push(format!("{n} changed")),
                    (None, None) => {}
                }
            }
            if !checks.is_empty() {
                let passed = checks.iter().filter(|c| c.status == Verdict::Pass).count();
                parts.push(format!("{passed}/{} checks passed", checks.len()));
            }
            Some(format!(
                "    {:<10} {:<5} {}\n",
                h.name,
                status.as_str(),
                parts.join(", ")
            ))
        })
        .collect()
}

/// The closing line: the verdict and what it means.
pub fn verdict_line(report: &RunReport) -> String {
    match (report.verdict, report.command) {
        (Verdict::Pass, Command::Check) => "verdict: pass — every check passed".into(),
        (Verdict::Pass, Command::Diff) => "verdict: pass — the two states match".into(),
        (Verdict::Pass, Command::Promote) => {
            "verdict: pass — the production image was promoted".into()
        }
        (Verdict::Pass, Command::Run) if report.scenarios.is_empty() => {
            match report.source.as_ref().and_then(|s| s.partition.as_ref().map(|p| (p, s))) {
                Some((partition, source)) => format!(
                    "verdict: pass — shard {partition} holds none of the {} unit(s); nothing to run",
                    source.all_units.len()
                ),
                None => "verdict: pass — nothing to run".into(),
            }
        }
        (Verdict::Pass, Command::Run) => {
            "verdict: pass — installs fresh, upgrades cleanly, converges to the same state".into()
        }
        (Verdict::Fail, Command::Check) => "verdict: fail — checks failed (details above)".into(),
        (Verdict::Fail, Command::Diff) => {
            "verdict: fail — the two states differ (details above)".into()
        }
        (Verdict::Fail, Command::Promote) => {
            "verdict: fail — nothing was promoted (details above)".into()
        }
        (Verdict::Fail, Command::Run) => {
            "verdict: fail — the change is broken (details above)".into()
        }
        (Verdict::Error, _) => {
            let part = report
                .error
                .as_ref()
                .map(|e| e.part.as_str())
                .unwrap_or("infrastructure");
            format!("verdict: error — {part} failed; the change itself was not judged")
        }
        (Verdict::Skipped, _) => "verdict: skipped — nothing was run here".into(),
    }
}

/// One line about a scenario: why it did not pass, or what it did.
pub fn scenario_line(s: &ScenarioReport) -> String {
    if let Some(message) = &s.message {
        return first_line(message);
    }
    let passed = s
        .checks
        .iter()
        .filter(|c| c.status == Verdict::Pass)
        .count();
    let skipped = s
        .checks
        .iter()
        .filter(|c| c.status == Verdict::Skipped)
        .count();
    let flaky = s.checks.iter().filter(|c| c.flaky).count();
    let mut parts = Vec::new();
    if matches!(s.name, ScenarioKind::Reboot(_)) {
        parts.push("rebooted".to_string());
    }
    if let Some(p) = &s.provision {
        match p.changed {
            Some(n) => parts.push(format!(
                "provisioned in {:.1} s ({n} changed)",
                p.duration_ms as f64 / 1000.0
            )),
            None => parts.push(format!(
                "provisioned in {:.1} s",
                p.duration_ms as f64 / 1000.0
            )),
        }
    }
    if s.checks.len() > skipped {
        parts.push(format!(
            "{passed}/{} checks passed",
            s.checks.len() - skipped
        ));
    }
    if skipped > 0 {
        parts.push(format!("{skipped} skipped on this platform"));
    }
    if flaky > 0 {
        parts.push(format!("{flaky} flaky"));
    }
    if s.name == ScenarioKind::Idempotence {
        parts.push("no changes on the second run".into());
    }
    parts.join(", ")
}

/// The names of the two compared sides.
fn sides(report: &RunReport) -> (&'static str, &'static str) {
    if report.command == Command::Diff {
        ("A", "B")
    } else {
        ("fresh", "upgrade")
    }
}

fn details(report: &RunReport) -> String {
    let (a, b) = sides(report);
    let mut out = String::new();
    for s in &report.scenarios {
        // `trixie fresh` with platforms, `fresh` without.
        let on = match &s.platform {
            Some(p) => format!("{p} {}", s.name),
            None => s.name.to_string(),
        };
        let failing: Vec<&CheckResult> = s
            .checks
            .iter()
            .filter(|c| c.status != Verdict::Pass || c.flaky)
            .collect();
        if let Some(p) = &s.provision {
            if p.status != Verdict::Pass {
                out.push_str(&format!("{on} provisioning:\n"));
                let at = match (&p.failed_task_file, p.failed_task_line) {
                    (Some(file), Some(line)) => format!(" ({file}:{line})"),
                    _ => String::new(),
                };
                // With several hosts, each failed host says what it went through.
                let failed: Vec<&super::HostProvision> = p
                    .hosts
                    .iter()
                    .filter(|h| h.status != Verdict::Pass)
                    .collect();
                if failed.len() > 1 {
                    for h in failed {
                        if let Some(task) = &h.failed_task {
                            let at = if h.failed_task == p.failed_task {
                                at.as_str()
                            } else {
                                ""
                            };
                            out.push_str(&format!("  {}: task \"{task}\" failed{at}\n", h.host));
                        }
                        if let Some(m) = &h.message {
                            out.push_str(&indent(m, "    "));
                        }
                        for (label, text) in h.detail.iter().flat_map(super::detail_blocks) {
                            out.push_str(&format!("    {label}:\n"));
                            out.push_str(&indent(&text, "      "));
                        }
                    }
                } else {
                    if let Some(task) = &p.failed_task {
                        out.push_str(&format!("  task \"{task}\" failed{at}\n"));
                    }
                    if let Some(m) = &p.message {
                        out.push_str(&indent(m, "  "));
                    }
                    for (label, text) in p.detail.iter().flat_map(super::detail_blocks) {
                        out.push_str(&format!("  {label}:\n"));
                        out.push_str(&indent(&text, "    "));
                    }
                }
                let tail: Vec<&str> = p.log.lines().filter(|l| !l.trim().is_empty()).collect();
                if p.failed_task.is_none() && !tail.is_empty() {
                    out.push_str("  last output:\n");
                    for line in &tail[tail.len().saturating_sub(8)..] {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
        }
        if !failing.is_empty() {
            out.push_str(&format!("{on} checks:\n"));
            for c in failing {
                let mark = match (c.status, c.flaky) {
                    (Verdict::Pass, true) => "~ flaky",
                    (Verdict::Fail, _) => "✗ fail",
                    (Verdict::Error, _) => "! error",
                    _ => "",
                };
                out.push_str(&format!(
                    "  {mark} {} ({}:{}): {}\n",
                    c.name, c.file, c.line, c.message
                ));
            }
        }
        if s.name == ScenarioKind::Idempotence && !s.changed_paths.is_empty() {
            out.push_str(&format!("{on}: paths the second run changed:\n"));
            out.push_str(&changes(&s.changed_paths, &s.written_by));
        }
        if s.name == ScenarioKind::Idempotence && s.status != Verdict::Pass {
            let shown: Vec<_> = s.changes.iter().filter(|c| c.diff.is_some()).collect();
            if !shown.is_empty() {
                out.push_str(&format!("{on}: what the second run changed:\n"));
            }
            for c in shown {
                let host = if report.hosts.len() > 1 {
                    format!(" on {}", c.host)
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "  task \"{}\" ({}:{}){host}:\n",
                    c.task, c.file, c.line
                ));
                out.push_str(&diff_lines(c.diff.as_deref().unwrap_or_default()));
            }
        }
    }
    if let Some(d) = &report.diff {
        if d.status != Verdict::Pass {
            let b = if d.upgrades.is_empty() {
                b.to_string()
            } else {
                let mut names = vec![b.to_string()];
                names.extend(d.upgrades.iter().filter_map(|u| u.scenario.clone()));
                names.join(", ")
            };
            out.push_str(&format!("state diff ({a} vs {b}):\n"));
            let (a, b) = sides(report);
            for p in &d.only_in_fresh {
                out.push_str(&format!(
                    "  only in {a}:{} {p}\n",
                    " ".repeat(7 - a.len().min(7))
                ));
                out.push_str(&written_line(d.written_by.get(p)));
            }
            for p in &d.only_in_upgrade {
                out.push_str(&format!(
                    "  only in {b}:{} {p}\n",
                    " ".repeat(7 - b.len().min(7))
                ));
                out.push_str(&written_line(d.written_by.get(p)));
            }
            out.push_str(&changes(&d.changed, &d.written_by));
            let left: Vec<&str> = d.only_in_upgrade.iter().map(String::as_str).collect();
            if let Some(task) = super::cleanup_task(&left) {
                out.push_str("  to remove what only upgraded servers have, add to the playbook:\n");
                out.push_str(&indent(&task, "    "));
            }
            out.push_str("  accept intended differences with `diff.allow` in drydock.yaml\n");
        }
    }
    if let Some(s) = &report.snapshot {
        if !s.differences.is_empty() {
            out.push_str(&format!("fresh state vs {}:\n", s.file));
            for d in s.differences.iter().take(50) {
                out.push_str(&format!("  {d}\n"));
            }
            if s.differences.len() > 50 {
                out.push_str(&format!("  ... {} more\n", s.differences.len() - 50));
            }
            out.push_str("  update it with `drydock snapshot` when the change is intended\n");
        }
    }
    if let Some(e) = &report.error {
        if report
            .scenarios
            .iter()
            .all(|s| s.message.as_deref() != Some(e.message.as_str()))
        {
            out.push_str(&format!("infrastructure: {}\n", e.message));
        }
    }
    out
}

fn changes(list: &[PathChange], written: &BTreeMap<String, WrittenBy>) -> String {
    let mut out = String::new();
    for c in list {
        out.push_str(&format!(
            "  changed:         {} ({})\n",
            c.path,
            c.fields.join(", ")
        ));
        out.push_str(&written_line(written.get(&c.path)));
        if let Some(d) = &c.detail {
            out.push_str(&format!("                   {d}\n"));
        }
        if let Some(u) = &c.unified {
            out.push_str(&diff_lines(u));
        }
    }
    out
}

/// A unified diff, indented, at most [`DIFF_LINES`] lines.
fn diff_lines(diff: &str) -> String {
    let lines: Vec<&str> = diff.lines().collect();
    let mut out = String::new();
    for line in lines.iter().take(DIFF_LINES) {
        out.push_str(&format!("      {line}\n"));
    }
    if lines.len() > DIFF_LINES {
        out.push_str(&format!(
            "      ... {} more lines (see --format json)\n",
            lines.len() - DIFF_LINES
        ));
    }
    out
}

/// The line under a finding that names the task behind it, when one is known.
fn written_line(by: Option<&WrittenBy>) -> String {
    by.map(|w| format!("                   written by {}\n", w.describe()))
        .unwrap_or_default()
}

/// The first line of `text`, with ` …` when more follows (the details section has the rest).
fn first_line(text: &str) -> String {
    let mut lines = text.trim().lines();
    let first = lines.next().unwrap_or("").to_string();
    if lines.any(|l| !l.trim().is_empty()) {
        format!("{first} …")
    } else {
        first
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}
