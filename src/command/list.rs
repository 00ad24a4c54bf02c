//! `drydock list`: the plan — the units (platform × hosts) with their ids, their scenarios,
//! and the checks each scenario runs on each host or skips there, with where each check comes
//! from; nothing runs. `--format json` gives the same as data, for CI matrices.

use serde::Serialize;

use super::{Exit, Outcome};
use crate::cli::{Cli, Format, ListArgs};
use crate::config;
use crate::error::Error;
use crate::outcome::ScenarioKind;
use crate::plan::{Placement, Plan, Unit};

/// `drydock list`.
pub async fn list(cli: &Cli, args: &ListArgs) -> Result<Outcome, Error> {
    let plan = super::plan(cli, &args.select, &args.units).await?;
    let any = plan.checks.iter().any(|c| plan.selection.selects(c));
    let exit = if any { Exit::Pass } else { Exit::NothingToRun };
    let text = match cli.global.format {
        Format::Json => serde_json::to_string_pretty(&listing(&plan)).unwrap_or_default(),
        Format::Human => render(&plan),
    };
    Ok(Outcome::text(text, exit))
}

/// The plan as data.
#[derive(Debug, Serialize)]
pub struct Listing {
    /// The project.
    pub project: String,
    /// The units this command would run (a shard's share, or all).
    pub units: Vec<UnitListing>,
    /// Every unit's id, whatever was chosen.
    pub all_units: Vec<String>,
    /// The shard, `hash:K/N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// One unit, as `list --format json` gives it.
#[derive(Debug, Serialize)]
pub struct UnitListing {
    /// Its stable id.
    pub id: String,
    /// Its platform (`null` for a project without `platforms:`).
    pub platform: Option<String>,
    /// Its default image's Dockerfile.
    pub dockerfile: String,
    /// The base image, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// `systemd` or `none`.
    pub init: &'static str,
    /// The hosts it stands up.
    pub hosts: Vec<String>,
    /// Its scenarios.
    pub scenarios: Vec<String>,
    /// What each scenario runs (or skips) on each host.
    pub checks: Vec<PlacedCheck>,
}

/// A check placed in a scenario on a host.
#[derive(Debug, Serialize)]
pub struct PlacedCheck {
    /// The scenario.
    pub scenario: String,
    /// The host.
    pub host: String,
    /// The check's name.
    pub name: String,
    /// Where it is written.
    pub file: String,
    /// Its line.
    pub line: usize,
    /// `runs` or `skipped`.
    pub status: &'static str,
    /// Why it is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn listing(plan: &Plan) -> Listing {
    Listing {
        project: plan.project.name.clone(),
        units: plan.units.iter().map(|u| unit_listing(plan, u)).collect(),
        all_units: plan.all_units.clone(),
        partition: plan.partition.map(|p| p.to_string()),
    }
}

fn unit_listing(plan: &Plan, unit: &Unit) -> UnitListing {
    let image = &unit.platform.image;
    let mut checks = Vec::new();
    for scenario in unit.scenarios.iter().filter(|s| s.checked_as().is_some()) {
        for host in &plan.hosts {
            for check in &plan.checks {
                let Some(placement) = plan.placement(check, unit, scenario, host) else {
                    continue;
                };
                let (status, reason) = match placement {
                    Placement::Runs => ("runs", None),
                    Placement::Skipped(why) => ("skipped", Some(why)),
                };
                checks.push(PlacedCheck {
                    scenario: scenario.name(),
                    host: host.name.clone(),
                    name: check.name.clone(),
                    file: check.file.display().to_string(),
                    line: check.line,
                    status,
                    reason,
                });
            }
        }
    }
    UnitListing {
        id: unit.id.clone(),
        platform: unit.platform.name.clone(),
        dockerfile: image.dockerfile.display().to_string(),
        base: image.base.as_ref().map(|b| b.image.clone()),
        init: match image.init {
            config::Init::Systemd => "systemd",
            config::Init::None => "none",
        },
        hosts: plan.hosts.iter().map(|h| h.to_string()).collect(),
        scenarios: unit.scenarios.iter().map(|s| s.name()).collect(),
        checks,
    }
}

/// `drydock list`: what a run would execute.
fn render(plan: &Plan) -> String {
    let project = &plan.project;
    let mut out = format!(
        "project {} ({})\n\n",
        project.name,
        config::shown_path(&project.config_file).display()
    );
    if plan.has_platforms() || plan.partition.is_some() {
        out.push_str("units:\n");
        for unit in &plan.units {
            let image = &unit.platform.image;
            out.push_str(&format!(
                "  {:<12} {}{}{}\n",
                unit.id,
                image.dockerfile.display(),
                image
                    .base
                    .as_ref()
                    .map(|b| format!(" (base {})", b.image))
                    .unwrap_or_default(),
                if image.init == config::Init::Systemd {
                    ", boots systemd"
                } else {
                    ""
                }
            ));
        }
        if let Some(p) = plan.partition {
            out.push_str(&format!(
                "  shard {p}: {} of {} unit(s)\n",
                plan.units.len(),
                plan.all_units.len()
            ));
        }
        out.push('\n');
    }
    out.push_str("scenarios:\n");
    if !plan.hosts.is_empty() {
        let hosts: Vec<String> = plan.hosts.iter().map(|h| h.to_string()).collect();
        out.push_str(&format!("  hosts        {}\n", hosts.join(", ")));
    }
    let scenarios = plan
        .units
        .first()
        .map(|u| u.scenarios.clone())
        .unwrap_or_default();
    let width = scenarios
        .iter()
        .map(|k| k.name().chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    for kind in &scenarios {
        let what = match kind {
            ScenarioKind::Fresh => "default image + working tree".to_string(),
            ScenarioKind::Upgrade => format!(
                "production image ({}) + working tree",
                project.production.git_ref
            ),
            ScenarioKind::UpgradeFrom(git_ref) => {
                format!("production image of the older {git_ref} + working tree")
            }
            ScenarioKind::Idempotence => {
                "the fresh container provisioned a second time".to_string()
            }
            ScenarioKind::Reboot(of) => format!("{of}: rebooted, checked again"),
            other => other.name(),
        };
        out.push_str(&format!("  {:<width$} {what}\n", kind.name()));
    }
    let upgrades: Vec<String> = scenarios
        .iter()
        .filter(|k| k.is_upgrade())
        .map(|k| k.name())
        .collect();
    out.push_str(&format!(
        "  {:<width$} fresh vs {} state under {}\n\nchecks:\n",
        "diff",
        upgrades.join(", "),
        project.diff.paths.join(" ")
    ));
    let mut count = 0;
    for c in plan.checks.iter().filter(|c| plan.selection.selects(c)) {
        count += 1;
        let scenarios = c
            .scenarios
            .as_ref()
            .map(|s| s.join(","))
            .unwrap_or_else(|| "fresh,upgrade".into());
        let mut tags = if c.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.tags.join(","))
        };
        if let Some(hosts) = &c.hosts {
            tags.push_str(&format!(" (hosts: {})", hosts.join(",")));
        }
        if let Some(platforms) = &c.platforms {
            tags.push_str(&format!(" (platforms: {})", platforms.join(",")));
        }
        if !c.skip_platforms.is_empty() {
            tags.push_str(&format!(" (skipped on: {})", c.skip_platforms.join(",")));
        }
        out.push_str(&format!(
            "  {:<8} {:<40} {:<14} {}:{}{tags}\n",
            c.spec.kind(),
            c.name,
            scenarios,
            c.file.display(),
            c.line
        ));
    }
    out.push_str(&format!(
        "\n{count} of {} check(s) selected",
        plan.checks.len()
    ));
    out
}
