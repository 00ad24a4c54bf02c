//! A pull-request comment body: verdict line, scenario table, failing checks with expected and
//! found, the state diff with collapsed unified diffs, and how to reproduce locally. Kept under
//! GitHub's 1 MiB step-summary limit.

use std::collections::BTreeMap;

use super::summary::{scenario_line, verdict_line};
use super::{PathChange, RunReport, Source, Verdict, WrittenBy};

/// GitHub refuses step summaries over 1 MiB; stay well under it.
pub const LIMIT: usize = 1000 * 1024;

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Error => "⚠️",
        Verdict::Skipped => "⏭️",
    }
}

/// A scenario's name as a table shows it: `fresh`, or `trixie fresh` on a platform.
fn scenario_name(s: &super::ScenarioReport) -> String {
    match &s.platform {
        Some(p) => format!("{p} {}", s.name),
        None => s.name.name(),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders the comment body, truncated to `limit` bytes with a note.
pub fn render(report: &RunReport, limit: usize) -> String {
    let source = report.source.as_ref();
    let mut out = String::new();
    out.push_str(&format!(
        "## {} drydock: {} — {}\n\n{}\n\n",
        icon(report.verdict),
        report.verdict.as_str(),
        report.project,
        match report.verdict {
            Verdict::Fail => "The change is broken; details below.".to_string(),
            _ => {
                let line = verdict_line(report);
                let text = line.split_once(" — ").map(|(_, t)| t).unwrap_or(&line);
                let mut chars = text.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".")
                    .unwrap_or_default()
            }
        }
    ));
    out.push_str("| scenario | status | details |\n| --- | --- | --- |\n");
    for s in &report.scenarios {
        out.push_str(&format!(
            "| {} | {} {} | {} |\n",
            scenario_name(s),
            icon(s.status),
            s.status.as_str(),
            cell(&scenario_line(s))
        ));
    }
    if let Some(d) = &report.diff {
        let mut details = if d.status == Verdict::Pass {
            format!("states match ({} paths)", d.compared[0])
        } else {
            format!(
                "{} only in fresh, {} only in upgrade, {} changed",
                d.only_in_fresh.len(),
                d.only_in_upgrade.len(),
                d.changed.len()
            )
        };
        if !d.normalised.is_empty() {
            details.push_str(&format!(
                "; {} equal once per-machine values were set aside",
                d.normalised.len()
            ));
        }
        out.push_str(&format!(
            "| state diff | {} {} | {} |\n",
            icon(d.status),
            d.status.as_str(),
            details
        ));
    }
    out.push_str(&format!(
        "\nimages: `{}`, production `{}` ({})\n",
        report.images.default, report.images.production, report.images.production_source
    ));
    for older in &report.images.upgrade_from {
        out.push_str(&format!(
            "\n{}: production `{}` ({})\n",
            older.scenario, older.production, older.production_source
        ));
    }
    if report.hosts.len() > 1 {
        let hosts: Vec<String> = report
            .hosts
            .iter()
            .map(|h| format!("`{}`", h.name))
            .collect();
        out.push_str(&format!("\nhosts: {}\n", hosts.join(", ")));
    }
    for p in &report.unmatched_plays {
        out.push_str(&format!(
            "\n> **warning**: the play at `{}:{}` (hosts: `{}`) matched no host and did not run\n",
            p.file, p.line, p.pattern
        ));
    }

    let failing: Vec<_> = report
        .scenarios
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .filter(|(_, c)| !matches!(c.status, Verdict::Pass | Verdict::Skipped) || c.flaky)
        .collect();
    if !failing.is_empty() {
        out.push_str("\n### Checks that did not pass\n\n| scenario | check | where | expected vs found |\n| --- | --- | --- | --- |\n");
        for (s, c) in failing {
            let status = if c.flaky {
                "flaky".to_string()
            } else {
                c.status.as_str().to_string()
            };
            // With several hosts the scenario cell names the host too.
            let scenario = match (&c.host, report.hosts.len() > 1) {
                (Some(h), true) => format!("{} {h}", scenario_name(s)),
                _ => scenario_name(s),
            };
            out.push_str(&format!(
                "| {} | {} **{}** ({}) | `{}:{}` | {} |\n",
                scenario,
                icon(if c.flaky { Verdict::Error } else { c.status }),
                cell(&c.name),
                status,
                c.file,
                c.line,
                cell(&c.message)
            ));
        }
    }
    for s in &report.scenarios {
        if let Some(p) = &s.provision {
            if p.status != Verdict::Pass {
                out.push_str(&format!("\n### {} provisioning\n\n", scenario_name(s)));
                if let Some(task) = &p.failed_task {
                    out.push_str(&format!("Task **{task}** failed:\n\n"));
                }
                if let Some(m) = &p.message {
                    out.push_str(&format!("```\n{}\n```\n", m.trim()));
                }
                for (label, text) in p.detail.iter().flat_map(super::detail_blocks) {
                    out.push_str(&format!("\n{label}:\n\n```\n{}\n```\n", text.trim()));
                }
                let lines: Vec<&str> = p.log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                out.push_str(&format!(
                    "\n<details><summary>last {} lines of the log</summary>\n\n```\n{}\n```\n</details>\n",
                    tail.len(),
                    tail.join("\n")
                ));
            }
        }
        if s.name == super::ScenarioKind::Idempotence && !s.changed_paths.is_empty() {
            out.push_str("\n### Paths the second provisioning changed\n\n");
            out.push_str(&changes(&s.changed_paths, &s.written_by, source));
        }
        if s.name == super::ScenarioKind::Idempotence && s.status != Verdict::Pass {
            for c in s.changes.iter().filter(|c| c.diff.is_some()) {
                let host = if report.hosts.len() > 1 {
                    format!(" on `{}`", c.host)
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "\n<details><summary>what task <b>{}</b> ({}:{}) changed again{host}</summary>\n\n```diff\n{}\n```\n</details>\n",
                    cell(&c.task),
                    c.file,
                    c.line,
                    c.diff.as_deref().unwrap_or_default().trim_end()
                ));
            }
        }
    }
    if let Some(d) = &report.diff {
        if d.status != Verdict::Pass {
            let mut sides = vec!["upgrade".to_string()];
            sides.extend(d.upgrades.iter().filter_map(|u| u.scenario.clone()));
            out.push_str(&format!(
                "\n### State diff (fresh vs {})\n\n",
                sides.join(", ")
            ));
            for p in &d.only_in_fresh {
                out.push_str(&format!(
                    "- only in fresh: `{p}`{}\n",
                    written(d.written_by.get(p), source)
                ));
            }
            for p in &d.only_in_upgrade {
                out.push_str(&format!(
                    "- only in upgrade: `{p}`{}\n",
                    written(d.written_by.get(p), source)
                ));
            }
            out.push_str(&changes(&d.changed, &d.written_by, source));
            let left: Vec<&str> = d.only_in_upgrade.iter().map(String::as_str).collect();
            if let Some(task) = super::cleanup_task(&left) {
                out.push_str(&format!(
                    "\nTo remove what only upgraded servers have, add to the playbook:\n\n```yaml\n{}```\n",
                    task
                ));
            }
            out.push_str("\nAccept intended differences with `diff.allow` in drydock.yaml.\n");
        }
    }
    if let Some(s) = &report.snapshot {
        if !s.differences.is_empty() {
            out.push_str(&format!(
                "\n### Files this change touches (vs `{}`)\n\n```\n{}\n```\n",
                s.file,
                s.differences.join("\n")
            ));
        }
    }
    if let Some(e) = &report.error {
        out.push_str(&format!(
            "\n### Infrastructure\n\n{}: {}\n",
            e.part, e.message
        ));
    }
    out.push_str("\n### Reproduce locally\n\n```sh\ndrydock run --keep   # keeps the containers and prints how to enter them\n```\n");
    truncate(out, limit)
}

/// ` — written by task **X** ([site.yml:9](link)) in the production build of …`, when the
/// task is known.
fn written(by: Option<&WrittenBy>, source: Option<&Source>) -> String {
    let Some(by) = by else {
        return String::new();
    };
    let at = format!("{}:{}", by.file, by.line);
    let at = match by.url(source) {
        Some(url) => format!("[{at}]({url})"),
        None => format!("`{at}`"),
    };
    format!(
        " — written by task **{}** ({at}) in {}",
        cell(&by.task),
        by.place()
    )
}

fn changes(
    list: &[PathChange],
    written_by: &BTreeMap<String, WrittenBy>,
    source: Option<&Source>,
) -> String {
    let mut out = String::new();
    for c in list {
        out.push_str(&format!(
            "- changed: `{}` ({}){}",
            c.path,
            c.fields.join(", "),
            written(written_by.get(&c.path), source)
        ));
        if let Some(d) = &c.detail {
            out.push_str(&format!(" — {d}"));
        }
        out.push('\n');
        if let Some(u) = &c.unified {
            out.push_str(&format!(
                "\n<details><summary>diff of {}</summary>\n\n```diff\n{}\n```\n</details>\n\n",
                c.path,
                u.trim_end()
            ));
        }
    }
    out
}

fn truncate(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let note = "\n\n*… truncated: the report is larger than a pull-request comment allows; see the JSON or JUnit report for everything.*\n";
    let mut cut = limit.saturating_sub(note.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = text[..cut].to_string();
    // Do not leave a code fence open.
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```");
    }
    out.push_str(note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::*;

    /// A fixed report with a failing check, a flaky one, a failed provisioning and drift.
    pub fn sample() -> RunReport {
        let check =
            |name: &str, status: Verdict, message: &str, flaky: bool, line: usize| CheckResult {
                platform: None,
                name: name.into(),
                kind: "file".into(),
                status,
                message: message.into(),
                flaky,
                file: "tests/web.yaml".into(),
                line,
                host: Some("hello".into()),
            };
        let provision = |status: Verdict,
                         changed: Option<u32>,
                         failed: Option<&str>,
                         message: Option<&str>| {
            ProvisionReport {
            platform: None,
            host: Some("hello".into()),
            status,
            changed,
            changed_tasks: vec![],
            failed_task: failed.map(String::from),
            failed_task_file: failed.map(|_| "playbooks/site.yml".into()),
            failed_task_line: failed.map(|_| 12),
            message: message.map(String::from),
            detail: None,
            infrastructure: None,
            log: "TASK [Install nginx]\nok: [c]\nTASK [Write the page]\nfatal: [c]: FAILED! => {\"msg\": \"boom\"}".into(),
            duration_ms: 4200,
            hosts: vec![],
        }
        };
        RunReport {
            schema_version: SCHEMA_VERSION,
            command: Command::Run,
            verdict: Verdict::Fail,
            project: "hello".into(),
            run_id: "r1".into(),
            images: ImagesReport {
                default: "drydock/hello:default-0123".into(),
                default_built: false,
                production: "drydock/hello:production-abcd".into(),
                production_source: "cached build of main @ abcd".into(),
                production_built: false,
                upgrade_from: vec![],
            },
            scenarios: vec![
                ScenarioReport {
                    platform: None,
                    name: "fresh".into(),
                    status: Verdict::Fail,
                    provision: Some(provision(Verdict::Pass, Some(3), None, None)),
                    checks: vec![
                        check("hello page", Verdict::Fail, "mode: expected 0644, found 0600", false, 3),
                        check("nginx runs", Verdict::Pass, "1 nginx process(es) running (passed on a retry)", true, 9),
                        check("package", Verdict::Pass, "nginx 1.22 is installed", false, 1),
                    ],
                    changed_paths: vec![],
                    attempts: 1,
                    message: Some("1 check(s) failed: hello page".into()),
                    duration_ms: 9000,
                    ..ScenarioReport::new("fresh".into())
                },
                ScenarioReport {
                    platform: None,
                    name: "upgrade".into(),
                    status: Verdict::Fail,
                    provision: Some(provision(Verdict::Fail, None, Some("Write the page"), Some("boom"))),
                    checks: vec![],
                    changed_paths: vec![],
                    attempts: 1,
                    message: Some("provisioning failed: task \"Write the page\" failed: boom".into()),
                    duration_ms: 5000,
                    ..ScenarioReport::new("upgrade".into())
                },
            ],
            diff: Some(DiffReport {
                platform: None,
                host: None,
                hosts: vec![],
                status: Verdict::Fail,
                only_in_fresh: vec![],
                only_in_upgrade: vec!["/etc/app/old.conf".into()],
                changed: vec![PathChange {
                    path: "/etc/app/motd".into(),
                    fields: vec!["content".into()],
                    unified: Some("--- fresh/etc/app/motd\n+++ upgrade/etc/app/motd\n@@ -1 +1 @@\n-welcome v2\n+welcome v1\n".into()),
                    detail: None,
                }],
                allowed: vec![],
                normalised: vec![],
                compared: [241, 242],
                ..DiffReport::empty(Verdict::Fail)
            }),
            snapshot: None,
            error: None,
            kept: vec![],
            hosts: vec![],
            unmatched_plays: vec![],
            platforms: vec![],
            units: vec![],
            source: None,
            flaky_units: vec![],
            timings_ms: Timings::default(),
            duration_ms: 18_600,
        }
    }

    #[test]
    fn pull_request_comment() {
        insta::assert_snapshot!(render(&sample(), LIMIT));
    }

    #[test]
    fn long_reports_are_truncated_with_a_note_and_closed_fences() {
        let mut report = sample();
        if let Some(d) = report.diff.as_mut() {
            d.changed[0].unified = Some(format!("```\n{}", "+line\n".repeat(100_000)));
        }
        let text = render(&report, 4096);
        assert!(text.len() <= 4096 + 8, "{}", text.len());
        assert!(text.contains("truncated"));
        assert_eq!(text.matches("```").count() % 2, 0);
    }

    #[test]
    fn findings_link_the_task_that_wrote_them_and_older_versions_are_named() {
        let mut report = sample();
        report.images.upgrade_from = vec![super::super::RefImages {
            scenario: "upgrade@v1".into(),
            production: "drydock/hello:production-0a1b".into(),
            production_source: "cached build of v1 @ 0a1b".into(),
            production_built: false,
        }];
        report.source = Some(Source {
            commit: Some("c0ffee".into()),
            dirty: true,
            config_digest: String::new(),
            partition: None,
            all_units: vec![],
            file_url: Some("https://github.com/acme/web/blob/{commit}/{file}#L{line}".into()),
        });
        let d = report.diff.as_mut().unwrap();
        d.only_in_upgrade.push("upgrade@v1:/etc/legacy.conf".into());
        let by = |task: &str, line: usize, git_ref: &str| WrittenBy {
            scenario: "production".into(),
            task: task.into(),
            file: "site.yml".into(),
            line,
            git_ref: Some(git_ref.into()),
        };
        d.written_by
            .insert("/etc/app/old.conf".into(), by("Old config", 9, "abcd"));
        d.written_by.insert(
            "upgrade@v1:/etc/legacy.conf".into(),
            by("Legacy | config", 7, "0a1b"),
        );
        let text = render(&report, LIMIT);
        assert!(
            text.contains("\nupgrade@v1: production `drydock/hello:production-0a1b` (cached build of v1 @ 0a1b)\n"),
            "{text}"
        );
        assert!(
            text.contains("- only in upgrade: `/etc/app/old.conf` — written by task **Old config** ([site.yml:9](https://github.com/acme/web/blob/abcd/site.yml#L9)) in the production build of abcd\n"),
            "{text}"
        );
        assert!(
            text.contains("- only in upgrade: `upgrade@v1:/etc/legacy.conf` — written by task **Legacy \\| config** ([site.yml:7](https://github.com/acme/web/blob/0a1b/site.yml#L7)) in the production build of 0a1b\n"),
            "{text}"
        );
        assert!(
            text.contains("  loop:\n    - /etc/app/old.conf\n    - /etc/legacy.conf\n```"),
            "{text}"
        );
    }
}
