//! `drydock report merge`: the reports of shards (each a share of the plan's units), and of a
//! rerun of the few units that failed, as one report — one verdict, one JSON, JUnit and
//! markdown. Reports of different commits or configurations are refused: a merged verdict is
//! only true of one tree.

use std::collections::BTreeMap;

use super::{across_units, combine, DiffReport, ImagesReport, InfrastructureError};
use super::{RunReport, ScenarioReport, Source, Verdict};

/// Why reports cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A report that does not say what it tested.
    #[error("{file}: the report does not say what it tested (no `source`); merge the reports of `drydock run --format json`")]
    NoSource {
        /// The report.
        file: String,
    },
    /// Two reports of different trees or configurations.
    #[error("{file} tested {theirs}, but {first} tested {ours}: shard reports of different {what} cannot be merged")]
    Different {
        /// The report that differs.
        file: String,
        /// The first report.
        first: String,
        /// What differs: `commits`, `configurations`, `projects`.
        what: &'static str,
        /// The first report's value.
        ours: String,
        /// This report's value.
        theirs: String,
    },
}

/// What merging found.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The one report.
    pub report: RunReport,
    /// Units that did not pass, in unit order.
    pub failed_units: Vec<String>,
    /// Units no report covered.
    pub missing_units: Vec<String>,
}

/// The unit a scenario (or a host's diff) belongs to.
fn unit_of(platform: &Option<String>) -> String {
    platform.clone().unwrap_or_else(|| "default".into())
}

/// Merges `reports` (file name, report), later ones superseding earlier ones for the units
/// they cover. A unit that did not pass in an earlier report and passed in a later one is
/// flaky; with `fail_on_flaky` that fails the verdict.
pub fn merge(reports: Vec<(String, RunReport)>, fail_on_flaky: bool) -> Result<Merged, MergeError> {
    let Some((first_file, first)) = reports.first() else {
        return Ok(Merged {
            report: RunReport::new(super::Command::Run, "", ""),
            failed_units: Vec::new(),
            missing_units: Vec::new(),
        });
    };
    let source = |file: &str, report: &RunReport| {
        report.source.clone().ok_or_else(|| MergeError::NoSource {
            file: file.to_string(),
        })
    };
    let first_source: Source = source(first_file, first)?;
    for (file, report) in &reports[1..] {
        let theirs = source(file, report)?;
        let differ = |what, ours: String, theirs: String| MergeError::Different {
            file: file.clone(),
            first: first_file.clone(),
            what,
            ours,
            theirs,
        };
        if report.project != first.project {
            return Err(differ(
                "projects",
                first.project.clone(),
                report.project.clone(),
            ));
        }
        if theirs.commit != first_source.commit || theirs.dirty != first_source.dirty {
            let shown = |s: &Source| {
                format!(
                    "commit {}{}",
                    s.commit.as_deref().unwrap_or("(none)"),
                    if s.dirty {
                        " with uncommitted changes"
                    } else {
                        ""
                    }
                )
            };
            return Err(differ("commits", shown(&first_source), shown(&theirs)));
        }
        if theirs.config_digest != first_source.config_digest {
            return Err(differ(
                "configurations",
                format!("configuration {}", first_source.config_digest),
                format!("configuration {}", theirs.config_digest),
            ));
        }
    }

    // Each unit's latest result, and what it was before.
    struct UnitResult<'a> {
        scenarios: Vec<&'a ScenarioReport>,
        diffs: Vec<DiffReport>,
        upgrades: Vec<DiffReport>,
        images: &'a ImagesReport,
        error: Option<&'a InfrastructureError>,
        passed: bool,
        failed_before: bool,
    }
    let mut units: BTreeMap<String, UnitResult<'_>> = BTreeMap::new();
    for (_, report) in &reports {
        for unit in &report.units {
            let scenarios: Vec<&ScenarioReport> = report
                .scenarios
                .iter()
                .filter(|s| unit_of(&s.platform) == *unit)
                .collect();
            let of_unit = |d: &DiffReport| -> Vec<DiffReport> {
                if d.hosts.is_empty() {
                    vec![d.clone()]
                } else {
                    d.hosts.clone()
                }
                .into_iter()
                .filter(|h| unit_of(&h.platform) == *unit)
                .collect()
            };
            let diffs: Vec<DiffReport> = report.diff.iter().flat_map(of_unit).collect();
            // Each `upgrade_from` ref's per-host diffs, with its scenario and ref.
            let upgrades: Vec<DiffReport> = report
                .diff
                .iter()
                .flat_map(|d| &d.upgrades)
                .map(|u| DiffReport {
                    hosts: of_unit(u),
                    ..u.clone()
                })
                .filter(|u| !u.hosts.is_empty())
                .collect();
            let passed = Verdict::all(
                scenarios
                    .iter()
                    .map(|s| s.status)
                    .chain(diffs.iter().map(|d| d.status))
                    .chain(upgrades.iter().flat_map(|u| &u.hosts).map(|d| d.status)),
            ) == Verdict::Pass;
            let failed_before = units
                .get(unit)
                .is_some_and(|earlier| !earlier.passed || earlier.failed_before);
            units.insert(
                unit.clone(),
                UnitResult {
                    scenarios,
                    diffs,
                    upgrades,
                    images: &report.images,
                    error: report.error.as_ref(),
                    passed,
                    failed_before,
                },
            );
        }
    }

    let all_units = if first_source.all_units.is_empty() {
        units.keys().cloned().collect()
    } else {
        first_source.all_units.clone()
    };
    let mut merged = RunReport::new(super::Command::Run, &first.project, &first.run_id);
    merged.source = Some(Source {
        partition: None,
        ..first_source.clone()
    });
    merged.hosts = first.hosts.clone();
    merged.platforms = first.platforms.clone();
    let mut failed_units = Vec::new();
    let mut missing_units = Vec::new();
    let mut per_unit_diffs = Vec::new();
    let mut per_unit_upgrades = Vec::new();
    let mut images = Vec::new();
    let mut error = None;
    for unit in &all_units {
        let Some(result) = units.get(unit) else {
            missing_units.push(unit.clone());
            continue;
        };
        merged.units.push(unit.clone());
        merged
            .scenarios
            .extend(result.scenarios.iter().map(|s| (*s).clone()));
        if !result.diffs.is_empty() {
            let mut diff = combine(result.diffs.clone());
            diff.platform = result.diffs[0].platform.clone();
            per_unit_diffs.push(diff);
        }
        for u in &result.upgrades {
            let mut diff = combine(u.hosts.clone());
            diff.platform = u.hosts[0].platform.clone();
            diff.scenario = u.scenario.clone();
            diff.git_ref = u.git_ref.clone();
            per_unit_upgrades.push(diff);
        }
        images.push((unit.clone(), result.images));
        if !result.passed {
            failed_units.push(unit.clone());
            error = error.or(result.error.cloned());
        } else if result.failed_before {
            merged.flaky_units.push(unit.clone());
        }
    }
    for (_, report) in &reports {
        for p in &report.unmatched_plays {
            if !merged.unmatched_plays.contains(p) {
                merged.unmatched_plays.push(p.clone());
            }
        }
        if !report.platforms.is_empty() && merged.platforms.len() < report.platforms.len() {
            merged.platforms = report.platforms.clone();
        }
        merged.duration_ms = merged.duration_ms.max(report.duration_ms);
        let t = &report.timings_ms;
        let m = &mut merged.timings_ms;
        m.images = m.images.max(t.images);
        m.production = m.production.max(t.production);
        m.fresh = m.fresh.max(t.fresh);
        m.upgrade = m.upgrade.max(t.upgrade);
        m.idempotence = m.idempotence.max(t.idempotence);
        m.reboot = m.reboot.max(t.reboot);
        m.checks = m.checks.max(t.checks);
        m.diff = m.diff.max(t.diff);
        m.cleanup = m.cleanup.max(t.cleanup);
    }
    let several_platforms = !merged.platforms.is_empty();
    merged.diff = across_units(per_unit_diffs, per_unit_upgrades, several_platforms);
    merged.images = match images.as_slice() {
        [(_, one)] => (*one).clone(),
        _ => ImagesReport {
            default: images
                .iter()
                .map(|(u, i)| format!("{u}: {}", i.default))
                .collect::<Vec<_>>()
                .join("; "),
            default_built: images.iter().any(|(_, i)| i.default_built),
            production: images
                .iter()
                .map(|(u, i)| format!("{u}: {}", i.production))
                .collect::<Vec<_>>()
                .join("; "),
            production_source: images
                .iter()
                .map(|(u, i)| format!("{u}: {}", i.production_source))
                .collect::<Vec<_>>()
                .join("; "),
            production_built: images.iter().any(|(_, i)| i.production_built),
            upgrade_from: images
                .iter()
                .flat_map(|(u, i)| {
                    i.upgrade_from.iter().map(move |r| super::RefImages {
                        production: format!("{u}: {}", r.production),
                        ..r.clone()
                    })
                })
                .collect(),
        },
    };
    let flaky_fails = fail_on_flaky && !merged.flaky_units.is_empty();
    merged.verdict = Verdict::all(
        merged
            .scenarios
            .iter()
            .map(|s| s.status)
            .chain(merged.diff.iter().map(|d| d.status))
            .chain(flaky_fails.then_some(Verdict::Fail))
            .chain((!missing_units.is_empty()).then_some(Verdict::Error)),
    );
    if merged.verdict == Verdict::Error {
        merged.error = Some(error.unwrap_or_else(|| InfrastructureError {
            part: "shards".into(),
            message: if missing_units.is_empty() {
                "an infrastructure error prevented a verdict in a shard".into()
            } else {
                format!(
                    "no report covers the unit(s) {}: a shard did not report",
                    missing_units.join(", ")
                )
            },
        }));
    }
    Ok(Merged {
        report: merged,
        failed_units,
        missing_units,
    })
}

/// The units to run once more for flakiness: those that failed, when they are at most
/// `threshold` (a share) of all units; none when more failed (a broken change, not a flake).
pub fn rerun(merged: &Merged, threshold: f64) -> Vec<String> {
    let all = merged.report.units.len() + merged.missing_units.len();
    let failed = merged.failed_units.len();
    if failed == 0 || failed as f64 > threshold * all as f64 {
        return Vec::new();
    }
    merged.failed_units.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ScenarioKind;

    fn source(units: &[&str]) -> Source {
        Source {
            commit: Some("c0ffee".into()),
            dirty: false,
            config_digest: "abc".into(),
            partition: None,
            all_units: units.iter().map(|u| u.to_string()).collect(),
            file_url: None,
        }
    }

    /// A shard's report: each unit's fresh and upgrade scenarios with `verdict`.
    fn shard(units: &[(&str, Verdict)], all: &[&str]) -> RunReport {
        let mut report = RunReport::new(crate::report::Command::Run, "site", "r1");
        report.platforms = all.iter().map(|u| u.to_string()).collect();
        for (unit, verdict) in units {
            for kind in [ScenarioKind::Fresh, ScenarioKind::Upgrade] {
                let mut s = ScenarioReport::new(kind);
                s.platform = Some(unit.to_string());
                s.status = *verdict;
                report.scenarios.push(s);
            }
            report.units.push(unit.to_string());
        }
        report.verdict = Verdict::all(units.iter().map(|(_, v)| *v));
        report.source = Some(source(all));
        report
    }

    const ALL: &[&str] = &["a", "b", "c", "d"];

    #[test]
    fn shards_merge_into_the_verdict_of_one_run() {
        let merged = merge(
            vec![
                (
                    "1.json".into(),
                    shard(&[("a", Verdict::Pass), ("c", Verdict::Fail)], ALL),
                ),
                (
                    "2.json".into(),
                    shard(&[("b", Verdict::Pass), ("d", Verdict::Pass)], ALL),
                ),
            ],
            false,
        )
        .unwrap();
        assert_eq!(merged.report.verdict, Verdict::Fail);
        assert_eq!(merged.report.units, ALL);
        assert_eq!(merged.report.scenarios.len(), 8);
        assert_eq!(merged.failed_units, ["c"]);
        assert!(merged.missing_units.is_empty());
        assert_eq!(rerun(&merged, 0.25), ["c"]);
        assert!(rerun(&merged, 0.10).is_empty(), "1 of 4 is more than 10%");
    }

    #[test]
    fn a_unit_that_passes_on_the_rerun_is_flaky() {
        let shards = || {
            vec![
                (
                    "1.json".to_string(),
                    shard(&[("a", Verdict::Pass), ("c", Verdict::Fail)], ALL),
                ),
                (
                    "2.json".to_string(),
                    shard(&[("b", Verdict::Pass), ("d", Verdict::Pass)], ALL),
                ),
                (
                    "rerun.json".to_string(),
                    shard(&[("c", Verdict::Pass)], ALL),
                ),
            ]
        };
        let merged = merge(shards(), false).unwrap();
        assert_eq!(merged.report.verdict, Verdict::Pass);
        assert_eq!(merged.report.flaky_units, ["c"]);
        assert_eq!(merged.report.scenarios.len(), 8);
        let strict = merge(shards(), true).unwrap();
        assert_eq!(strict.report.verdict, Verdict::Fail);
    }

    #[test]
    fn a_shard_that_did_not_report_is_an_error_and_other_trees_are_refused() {
        let merged = merge(
            vec![("1.json".into(), shard(&[("a", Verdict::Pass)], ALL))],
            false,
        )
        .unwrap();
        assert_eq!(merged.report.verdict, Verdict::Error);
        assert_eq!(merged.missing_units, ["b", "c", "d"]);
        let mut other = shard(&[("b", Verdict::Pass)], ALL);
        other.source.as_mut().unwrap().commit = Some("deadbeef".into());
        let err = merge(
            vec![
                ("1.json".into(), shard(&[("a", Verdict::Pass)], ALL)),
                ("2.json".into(), other),
            ],
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "2.json tested commit deadbeef, but 1.json tested commit c0ffee: shard reports of different commits cannot be merged"
        );
        let mut config = shard(&[("b", Verdict::Pass)], ALL);
        config.source.as_mut().unwrap().config_digest = "zzz".into();
        assert!(matches!(
            merge(
                vec![
                    ("1.json".into(), shard(&[("a", Verdict::Pass)], ALL)),
                    ("2.json".into(), config)
                ],
                false
            ),
            Err(MergeError::Different {
                what: "configurations",
                ..
            })
        ));
    }
}
