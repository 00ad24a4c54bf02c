//! What a command will do, worked out before the engine is touched.
//!
//! A plan is plain data: the units (a platform and the project's hosts, provisioned together),
//! each unit's scenarios, and for each scenario and host the checks that run there and those
//! left out, with why. Every problem of the configuration, the check files and the inventory
//! is found while planning — never after containers started. `drydock list` prints the plan;
//! `drydock run`, `promote` and `snapshot` carry it out; shards (`--partition`) take a share of
//! its units.

mod partition;

use crate::check::Check;
use crate::check::Selection;
use crate::config::{Host, Platform, Project};
use crate::error::Error;
use crate::outcome::ScenarioKind;

pub use partition::Partition;

/// Which units a command takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitChoice {
    /// `--platform NAME` (repeatable): only these platforms.
    pub platforms: Vec<String>,
    /// `--unit ID` (repeatable): only these units (a rerun of the ones that failed).
    pub units: Vec<String>,
    /// `--partition hash:K/N`: this shard's units.
    pub partition: Option<Partition>,
}

/// A platform with the project's hosts: what one network of containers per scenario carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Its id, stable whatever other units exist: the platform's name (`default` for a
    /// project without `platforms:`).
    pub id: String,
    /// The platform.
    pub platform: Platform,
    /// Its scenarios, in the order reports list them.
    pub scenarios: Vec<ScenarioKind>,
}

/// What a command will do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The project.
    pub project: Project,
    /// Every check of its check files.
    pub checks: Vec<Check>,
    /// Which of them the command selected.
    pub selection: Selection,
    /// The hosts each scenario stands up.
    pub hosts: Vec<Host>,
    /// The units to run, in the order of `platforms:`.
    pub units: Vec<Unit>,
    /// The ids of every unit of the project, whatever was chosen.
    pub all_units: Vec<String>,
    /// The shard this plan is, when one.
    pub partition: Option<Partition>,
}

/// Where a check stands in one scenario on one host of a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// It runs.
    Runs,
    /// It is left out on this platform, for this reason; reported `skipped`, never a pass.
    Skipped(String),
}

impl Plan {
    /// Plans `project` with `checks` and `hosts` (read from the inventory, see
    /// [`crate::provision::inventory::hosts`]) for the units `choice` takes. `reboot` adds the
    /// reboot scenarios.
    pub fn new(
        project: Project,
        checks: Vec<Check>,
        selection: Selection,
        hosts: Vec<Host>,
        choice: &UnitChoice,
    ) -> Result<Plan, Error> {
        known_hosts(&checks, &hosts)?;
        known_platforms(&project, &checks)?;
        distinct_tags(&project, &hosts)?;
        for name in &choice.platforms {
            if !project
                .platforms
                .iter()
                .any(|p| p.name.as_ref() == Some(name))
            {
                return Err(Error::Usage(format!(
                    "--platform {name}: {} (drydock.yaml: {})",
                    if project.platforms.iter().all(|p| p.name.is_none()) {
                        "the project has no `platforms:`".to_string()
                    } else {
                        format!(
                            "not a platform of the project; its platforms are {}",
                            platform_names(&project)
                        )
                    },
                    crate::config::shown_path(&project.config_file).display()
                )));
            }
        }
        let mut scenarios = vec![ScenarioKind::Fresh, ScenarioKind::Upgrade];
        scenarios.extend(
            project
                .production
                .upgrade_from
                .iter()
                .map(|r| ScenarioKind::UpgradeFrom(r.clone())),
        );
        scenarios.push(ScenarioKind::Idempotence);
        if project.reboot {
            scenarios.push(ScenarioKind::Reboot(Box::new(ScenarioKind::Fresh)));
            scenarios.push(ScenarioKind::Reboot(Box::new(ScenarioKind::Upgrade)));
        }
        let all: Vec<Unit> = project
            .platforms
            .iter()
            .map(|platform| Unit {
                id: platform.id().to_string(),
                platform: platform.clone(),
                scenarios: scenarios.clone(),
            })
            .collect();
        let all_units: Vec<String> = all.iter().map(|u| u.id.clone()).collect();
        for id in &choice.units {
            if !all_units.contains(id) {
                return Err(Error::Usage(format!(
                    "--unit {id}: not a unit of this project; its units are {}",
                    all_units.join(", ")
                )));
            }
        }
        let units = all
            .into_iter()
            .filter(|u| choice.platforms.is_empty() || choice.platforms.contains(&u.id))
            .filter(|u| choice.units.is_empty() || choice.units.contains(&u.id))
            .filter(|u| choice.partition.is_none_or(|p| p.holds(&u.id)))
            .collect();
        Ok(Plan {
            project,
            checks,
            selection,
            hosts,
            units,
            all_units,
            partition: choice.partition,
        })
    }

    /// Whether the project names its platforms (reports then say which each result is on).
    pub fn has_platforms(&self) -> bool {
        self.project.platforms.iter().any(|p| p.name.is_some())
    }

    /// Where `check` stands in `scenario` on `host` of `unit`: `None` when it does not belong
    /// there at all (another scenario, another host, not selected).
    pub fn placement(
        &self,
        check: &Check,
        unit: &Unit,
        scenario: &ScenarioKind,
        host: &Host,
    ) -> Option<Placement> {
        if !self.selection.selects(check) {
            return None;
        }
        if let (Some(name), Some(list)) = (scenario.checked_as(), &check.scenarios) {
            if !list.iter().any(|s| s == name) {
                return None;
            }
        }
        if let Some(names) = &check.hosts {
            if !names.iter().any(|n| host.answers_to(n)) {
                return None;
            }
        }
        let platform = unit.platform.name.as_deref();
        match (platform, &check.platforms) {
            (Some(p), Some(only)) if !only.iter().any(|o| o == p) => {
                return Some(Placement::Skipped(format!(
                    "the check's `platforms` is {}",
                    only.join(", ")
                )));
            }
            _ => {}
        }
        if let Some(p) = platform.filter(|p| check.skip_platforms.iter().any(|s| s == p)) {
            return Some(Placement::Skipped(format!(
                "the check's `skip_platforms` lists {p}"
            )));
        }
        Some(Placement::Runs)
    }

    /// The checks that run in `scenario` on `host` of `unit`, and those left out there with
    /// why.
    pub fn checks_for<'p>(
        &'p self,
        unit: &Unit,
        scenario: &ScenarioKind,
        host: &Host,
    ) -> (Vec<&'p Check>, Vec<(&'p Check, String)>) {
        let mut runs = Vec::new();
        let mut skipped = Vec::new();
        for check in &self.checks {
            match self.placement(check, unit, scenario, host) {
                Some(Placement::Runs) => runs.push(check),
                Some(Placement::Skipped(why)) => skipped.push((check, why)),
                None => {}
            }
        }
        (runs, skipped)
    }
}

fn platform_names(project: &Project) -> String {
    project
        .platforms
        .iter()
        .map(|p| p.id())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every check's `hosts:` names a host or a group of the project.
fn known_hosts(checks: &[Check], hosts: &[Host]) -> Result<(), Error> {
    if let Some((check, name)) = crate::check::unknown_host(checks, hosts) {
        let mut known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        known.extend(
            hosts
                .iter()
                .flat_map(|h| h.groups.iter().map(String::as_str)),
        );
        known.sort();
        known.dedup();
        return Err(Error::Usage(format!(
            "{}:{}: `hosts`: check `{}` names `{name}`, which is neither a host nor a group of this project (known: {})",
            check.file.display(),
            check.line,
            check.name,
            known.join(", ")
        )));
    }
    Ok(())
}

/// Every check's `platforms:` and `skip_platforms:` name platforms of the project.
/// Production images are tagged `…-<platform>-<host>`: two platform and host pairs must not
/// spell the same tag (platform `a` with host `b-c`, platform `a-b` with host `c`).
fn distinct_tags(project: &Project, hosts: &[Host]) -> Result<(), Error> {
    if hosts.len() < 2 {
        return Ok(());
    }
    let mut seen: std::collections::HashMap<String, (&str, &str)> = Default::default();
    for platform in project.platforms.iter().filter_map(|p| p.name.as_deref()) {
        for host in hosts {
            let spelled = format!("{platform}-{}", host.name);
            if let Some((other_platform, other_host)) =
                seen.insert(spelled.clone(), (platform, &host.name))
            {
                return Err(Error::Usage(format!(
                    "{}: platform `{platform}` with host `{}` and platform `{other_platform}` with host `{other_host}` would share the image tag `…-{spelled}`; rename one",
                    crate::config::shown_path(&project.config_file).display(),
                    host.name
                )));
            }
        }
    }
    Ok(())
}

fn known_platforms(project: &Project, checks: &[Check]) -> Result<(), Error> {
    let known: Vec<&str> = project
        .platforms
        .iter()
        .filter_map(|p| p.name.as_deref())
        .collect();
    for check in checks {
        let named = check
            .platforms
            .iter()
            .flatten()
            .map(|p| ("platforms", p))
            .chain(check.skip_platforms.iter().map(|p| ("skip_platforms", p)));
        for (key, name) in named {
            if !known.contains(&name.as_str()) {
                let why = if known.is_empty() {
                    "drydock.yaml has no `platforms:`".to_string()
                } else {
                    format!("the project's platforms are {}", known.join(", "))
                };
                return Err(Error::Usage(format!(
                    "{}:{}: `{key}`: check `{}` names `{name}`, which is not a platform: {why}",
                    check.file.display(),
                    check.line,
                    check.name
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
