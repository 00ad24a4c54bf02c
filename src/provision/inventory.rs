//! Which hosts a scenario stands up: the project's `hosts:`, or the hosts of its Ansible
//! inventory as Ansible itself reads them (`ansible-inventory --list`: INI, YAML, folders,
//! `group_vars`, `host_vars`, plugins), with `hosts:` picking a subset.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::ProvisionError;

use crate::config::hosts::{host_name_problem, MAX_INVENTORY_HOSTS};
use crate::config::{Host, Project, ProvisionKind};

/// The hosts of the project's scenarios, in a stable order.
pub async fn hosts(project: &Project) -> Result<Vec<Host>, ProvisionError> {
    let inventory = match &project.provision.kind {
        ProvisionKind::Ansible(settings) => match &settings.inventory {
            Some(path) => Some(read(&project.root, path).await?),
            None => None,
        },
        ProvisionKind::Shell { .. } => None,
    };
    select(&project.name, &project.hosts, inventory).map_err(ProvisionError::Inventory)
}

/// Runs `ansible-inventory --list` on `inventory` (relative to `root`).
pub async fn read(root: &Path, inventory: &Path) -> Result<Vec<Host>, ProvisionError> {
    let output = crate::process::piped("ansible-inventory")
        .current_dir(root)
        .arg("-i")
        .arg(inventory)
        .arg("--list")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
        .output()
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ProvisionError::AnsibleMissing
            } else {
                ProvisionError::Io(format!("cannot run ansible-inventory: {e}"))
            }
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(ProvisionError::Inventory(format!(
            "`provision.ansible.inventory` {}: ansible-inventory failed: {}",
            inventory.display(),
            stderr.trim()
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| ProvisionError::Io(format!("reading ansible-inventory's output: {e}")))?;
    let hosts = parse(&json);
    if hosts.is_empty() {
        let warning = stderr
            .lines()
            .find(|l| l.contains("WARNING"))
            .map(|l| format!(" ({})", l.trim()))
            .unwrap_or_default();
        return Err(ProvisionError::Inventory(format!(
            "`provision.ansible.inventory` {} has no hosts{warning}",
            inventory.display()
        )));
    }
    Ok(hosts)
}

/// The hosts of `ansible-inventory --list` output, each with every group it is in (through
/// child groups too), `all` and `ungrouped` left out.
pub fn parse(json: &serde_json::Value) -> Vec<Host> {
    let Some(groups) = json.as_object() else {
        return Vec::new();
    };
    let list = |group: &str, key: &str| -> Vec<String> {
        groups
            .get(group)
            .and_then(|g| g.get(key))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Every host of a group, through its children.
    fn members(
        group: &str,
        list: &dyn Fn(&str, &str) -> Vec<String>,
        seen: &mut BTreeSet<String>,
        out: &mut BTreeSet<String>,
    ) {
        if !seen.insert(group.to_string()) {
            return;
        }
        out.extend(list(group, "hosts"));
        for child in list(group, "children") {
            members(&child, list, seen, out);
        }
    }
    let mut by_host: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for group in groups.keys().filter(|g| *g != "_meta") {
        let mut hosts = BTreeSet::new();
        members(group, &list, &mut BTreeSet::new(), &mut hosts);
        for host in hosts {
            let entry = by_host.entry(host).or_default();
            if group != "all" && group != "ungrouped" {
                entry.insert(group.clone());
            }
        }
    }
    by_host
        .into_iter()
        .map(|(name, groups)| Host {
            name,
            groups: groups.into_iter().collect(),
        })
        .collect()
}

/// The hosts to stand up: from `hosts:` (checked against the inventory when there is one),
/// else every inventory host (at most [`MAX_INVENTORY_HOSTS`]), else one host named after the
/// project.
pub fn select(
    project: &str,
    configured: &[Host],
    inventory: Option<Vec<Host>>,
) -> Result<Vec<Host>, String> {
    let Some(inventory) = inventory else {
        if configured.is_empty() {
            return Ok(vec![Host {
                name: project.to_string(),
                groups: Vec::new(),
            }]);
        }
        return Ok(configured.to_vec());
    };
    if configured.is_empty() {
        if inventory.len() > MAX_INVENTORY_HOSTS {
            return Err(format!(
                "the inventory has {} hosts; drydock stands up at most {MAX_INVENTORY_HOSTS} without `hosts:` in drydock.yaml; name the ones to test there (e.g. `hosts: {{ {}: {{}} }}`)",
                inventory.len(),
                inventory[0].name
            ));
        }
        for host in &inventory {
            if let Some(problem) = host_name_problem(&host.name) {
                return Err(format!(
                    "the inventory's host `{}` {problem}; pick hosts with valid names with `hosts:` in drydock.yaml",
                    host.name
                ));
            }
        }
        return Ok(inventory);
    }
    let mut out = Vec::new();
    for wanted in configured {
        let Some(found) = inventory.iter().find(|h| h.name == wanted.name) else {
            let names: Vec<&str> = inventory.iter().map(|h| h.name.as_str()).collect();
            return Err(format!(
                "`hosts.{}` is not a host of the inventory; it has {}",
                wanted.name,
                names.join(", ")
            ));
        };
        let mut groups: BTreeSet<String> = found.groups.iter().cloned().collect();
        groups.extend(wanted.groups.iter().cloned());
        out.push(Host {
            name: found.name.clone(),
            groups: groups.into_iter().collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, groups: &[&str]) -> Host {
        Host {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn reads_groups_through_children() {
        let json = serde_json::json!({
            "_meta": { "hostvars": { "web1": { "x": 1 } } },
            "all": { "children": ["ungrouped", "site"] },
            "site": { "children": ["webservers", "dbservers"] },
            "webservers": { "hosts": ["web1", "web2"] },
            "dbservers": { "hosts": ["db1"] },
            "ungrouped": { "hosts": ["lonely"] }
        });
        assert_eq!(
            parse(&json),
            vec![
                host("db1", &["dbservers", "site"]),
                host("lonely", &[]),
                host("web1", &["site", "webservers"]),
                host("web2", &["site", "webservers"]),
            ]
        );
    }

    #[test]
    fn the_default_is_one_host_named_after_the_project() {
        assert_eq!(
            select("hello", &[], None).unwrap(),
            vec![host("hello", &[])]
        );
        let configured = vec![host("web", &["webservers"])];
        assert_eq!(select("hello", &configured, None).unwrap(), configured);
    }

    #[test]
    fn hosts_pick_from_the_inventory_and_keep_its_groups() {
        let inventory = vec![host("db1", &["dbservers"]), host("web1", &["webservers"])];
        let picked = select("x", &[host("web1", &["extra"])], Some(inventory.clone())).unwrap();
        assert_eq!(picked, vec![host("web1", &["extra", "webservers"])]);
        let err = select("x", &[host("web9", &[])], Some(inventory.clone())).unwrap_err();
        assert_eq!(
            err,
            "`hosts.web9` is not a host of the inventory; it has db1, web1"
        );
        assert_eq!(
            select("x", &[], Some(inventory.clone())).unwrap(),
            inventory
        );
    }

    #[test]
    fn more_than_twenty_hosts_need_a_choice() {
        let many: Vec<Host> = (0..21).map(|i| host(&format!("h{i}"), &[])).collect();
        let err = select("x", &[], Some(many)).unwrap_err();
        assert!(
            err.starts_with("the inventory has 21 hosts; drydock stands up at most 20"),
            "{err}"
        );
    }
}
