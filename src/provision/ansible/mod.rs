//! The `ansible` provisioner: one `ansible-playbook` run provisions every machine of a
//! scenario, reaching each container through the `community.docker.docker` connection.
//!
//! What happened is read from drydock's own callback plugin ([`events`]), written to a private
//! folder at run time: per host results, the failing task with its file, line and message, and
//! the plays that matched no host. Ansible's human output is kept for the report as it is.

pub mod events;
pub mod requirements;

use self::events::shown;

use super::{
    infrastructure_cause, last_lines, Failure, HostOutcome, Machine, Outcome, Output,
    ProvisionError, Provisioner, Request, Status, UnmatchedPlay,
};
use crate::config::{AnsibleSettings, VaultPassword};
use crate::docker::Engine;

/// The callback plugin, written beside each run's inventory.
const PLUGIN: &str = include_str!("drydock_events.py");

/// Runs a playbook.
pub struct Ansible<'a> {
    /// The playbook and where its hosts come from.
    pub settings: &'a AnsibleSettings,
}

impl Provisioner for Ansible<'_> {
    fn preflight(&self) -> Result<(), ProvisionError> {
        crate::process::which("ansible-playbook")
            .map(|_| ())
            .ok_or(ProvisionError::AnsibleMissing)
    }

    async fn provision(
        &self,
        engine: &Engine,
        request: &Request<'_>,
        output: &Output<'_>,
    ) -> Result<Outcome, ProvisionError> {
        let installed = match &self.settings.requirements {
            Some(file) => match requirements::ensure(request.root, file, output).await {
                Ok(installed) => installed,
                Err(failure) => {
                    return Ok(Outcome::failed(
                        request.machines,
                        failure,
                        output.take_log(),
                    ))
                }
            },
            None => None,
        };
        let private = Private::write(self.settings, request.machines)?;
        let mut command = crate::process::piped("ansible-playbook");
        command.current_dir(request.root);
        match &self.settings.inventory {
            // The user's inventory brings its groups, group_vars and host_vars; only the
            // hosts drydock stands up are played.
            Some(inventory) => {
                let hosts: Vec<&str> = request
                    .machines
                    .iter()
                    .map(|m| m.host.name.as_str())
                    .collect();
                command
                    .arg("-i")
                    .arg(inventory)
                    .arg("--limit")
                    .arg(hosts.join(","));
            }
            None => {
                command.arg("-i").arg(private.path("inventory.yml"));
            }
        }
        if !self.settings.extra_vars.is_empty() {
            command
                .arg("-e")
                .arg(format!("@{}", private.path("extra_vars.json").display()));
        }
        if !request.skip_tags.is_empty() {
            command.arg("--skip-tags").arg(request.skip_tags.join(","));
        }
        if request.diff {
            command.arg("--diff");
        }
        if !request.record_writes {
            command.env("DRYDOCK_RECORD_WRITES", "0");
        }
        match &self.settings.vault {
            Some(VaultPassword::File { path, .. }) => {
                command.arg("--vault-password-file").arg(path);
            }
            Some(VaultPassword::Env { .. }) => {
                command
                    .arg("--vault-password-file")
                    .arg(private.path("vault-password"));
            }
            None => {}
        }
        // Last, so drydock's connection variables win over the inventory's and the user's.
        command
            .arg("-e")
            .arg(format!("@{}", private.path("connection.json").display()))
            .arg(&self.settings.playbook)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_HOST_KEY_CHECKING", "0")
            .env("ANSIBLE_PIPELINING", "1")
            .env("ANSIBLE_STDOUT_CALLBACK", "default")
            .env("ANSIBLE_CALLBACK_PLUGINS", private.path("callback_plugins"))
            .env("ANSIBLE_CALLBACKS_ENABLED", "drydock_events")
            .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
            .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
            .env("ANSIBLE_SYSTEM_WARNINGS", "0")
            .env("PYTHONUNBUFFERED", "1");
        // The docker connection plugin drives the docker CLI: point it at this very engine.
        if let Some(host) = engine.host_for_tools() {
            command.env("DOCKER_HOST", host);
        }
        for var in request.env {
            command.env(&var.name, &var.value);
        }
        if let Some(installed) = &installed {
            // In front of what the tree's ansible.cfg (or the environment) already searches.
            let env = |name: &str| {
                request
                    .env
                    .iter()
                    .find(|v| v.name == name)
                    .map(|v| v.value.clone())
                    .or_else(|| std::env::var(name).ok())
                    .filter(|v| !v.is_empty())
            };
            let roles = requirements::search_path(&installed.roles, "roles", request.root, &env);
            let collections = requirements::search_path(
                &installed.collections,
                "collections",
                request.root,
                &env,
            );
            command
                .env("ANSIBLE_ROLES_PATH", roles)
                .env("ANSIBLE_COLLECTIONS_PATH", collections);
        }
        let mut child = command.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ProvisionError::AnsibleMissing
            } else {
                ProvisionError::Io(format!("cannot start ansible-playbook: {e}"))
            }
        })?;
        let mut reader = events::Reader::new(request.root);
        let mut error = None;
        crate::process::for_each_line(&mut child, |line| {
            if let Some(event) = events::parse(&line, |v| output.mask_json(v)) {
                if let Some(task) = reader.feed(event) {
                    output.task_started(&task);
                }
                return;
            }
            let line = output.line(&line);
            if error.is_none() {
                error = line.strip_prefix("ERROR! ").map(String::from);
            }
        })
        .await;
        let status = child
            .wait()
            .await
            .map_err(|e| ProvisionError::Io(format!("waiting for ansible-playbook: {e}")))?;
        let log = output.take_log();
        let code = status.code().unwrap_or(-1);
        Ok(outcome(
            request,
            reader.summary,
            status.success(),
            error,
            code,
            log,
        ))
    }
}

/// Folds the event stream's summary into the outcome of the run.
fn outcome(
    request: &Request<'_>,
    summary: events::Summary,
    success: bool,
    error: Option<String>,
    code: i32,
    log: String,
) -> Outcome {
    let root = request.root;
    let failure_of = |host: &str, f: &events::HostFailure| Failure {
        task: Some(f.task.clone()),
        message: f.message.clone(),
        infrastructure: if f.unreachable {
            Some("container connection (ansible reported the host unreachable)".to_string())
        } else {
            infrastructure_cause(&f.message).map(String::from)
        },
        host: Some(host.to_string()),
        at: f.at.as_ref().map(|(file, line)| (shown(root, file), *line)),
        detail: f.detail.clone(),
    };
    let hosts: Vec<HostOutcome> = request
        .machines
        .iter()
        .map(|m| {
            let run = summary.hosts.get(&m.host.name);
            let failure = run
                .and_then(|r| r.failure.as_ref())
                .map(|f| failure_of(&m.host.name, f));
            HostOutcome {
                host: m.host.name.clone(),
                status: failure.as_ref().map(Failure::status).unwrap_or(Status::Ok),
                changed: run.and_then(|r| r.counts).map(|c| c.changed),
                changed_tasks: run.map(|r| r.changed_tasks.clone()).unwrap_or_default(),
                failure,
                written: run.map(|r| r.written.clone()).unwrap_or_default(),
                changes: run.map(|r| r.changes.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let counted: Vec<u32> = hosts.iter().filter_map(|h| h.changed).collect();
    let changed = (!counted.is_empty()).then(|| counted.iter().sum());
    let failure = if success {
        None
    } else {
        Some(match (&summary.first_failure, error) {
            (Some((host, f)), _) => {
                let mut failure = failure_of(host, f);
                if failure.infrastructure.is_none() {
                    failure.infrastructure = infrastructure_cause(&log).map(String::from);
                }
                failure
            }
            (None, Some(error)) => Failure {
                infrastructure: infrastructure_cause(&error).map(String::from),
                ..Failure::code(format!("ansible-playbook: {error}"))
            },
            (None, None) => Failure {
                infrastructure: infrastructure_cause(&log).map(String::from),
                ..Failure::code(format!(
                    "ansible-playbook exited with code {code}: {}",
                    last_lines(&log, 5)
                ))
            },
        })
    };
    Outcome {
        status: failure.as_ref().map(Failure::status).unwrap_or(Status::Ok),
        changed,
        changed_tasks: summary.changed_tasks,
        failure,
        hosts,
        unmatched: summary
            .unmatched
            .iter()
            .map(|p| UnmatchedPlay {
                play: p.play.clone(),
                pattern: p.pattern.clone(),
                file: shown(root, &p.file),
                line: p.line,
            })
            .collect(),
        ran_tasks: summary.results > 0,
        log,
        duration: std::time::Duration::ZERO,
    }
}

/// A private folder for one run: the callback plugin, the inventory and the variables.
struct Private {
    dir: tempfile::TempDir,
}

impl Private {
    fn write(settings: &AnsibleSettings, machines: &[Machine]) -> Result<Private, ProvisionError> {
        let dir = tempfile::Builder::new()
            .prefix("drydock-ansible-")
            .tempdir()
            .map_err(|e| ProvisionError::Io(format!("creating a private folder: {e}")))?;
        let private = Private { dir };
        let write = |name: &str, text: &str| {
            let path = private.path(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    ProvisionError::Io(format!("creating {}: {e}", parent.display()))
                })?;
            }
            std::fs::write(&path, text)
                .map_err(|e| ProvisionError::Io(format!("writing {}: {e}", path.display())))
        };
        write("callback_plugins/drydock_events.py", PLUGIN)?;
        write("inventory.yml", &inventory(machines).to_string())?;
        write("connection.json", &connection(machines).to_string())?;
        if !settings.extra_vars.is_empty() {
            let vars: serde_json::Map<String, serde_json::Value> =
                settings.extra_vars.iter().cloned().collect();
            write(
                "extra_vars.json",
                &serde_json::Value::Object(vars).to_string(),
            )?;
        }
        if let Some(VaultPassword::Env { value, .. }) = &settings.vault {
            // The folder is private (0700), so the password file is only ours.
            write("vault-password", value)?;
        }
        Ok(private)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

/// An inventory of the machines' hosts and groups (JSON, which Ansible's yaml plugin reads).
fn inventory(machines: &[Machine]) -> serde_json::Value {
    let mut hosts = serde_json::Map::new();
    let mut groups: std::collections::BTreeMap<&str, serde_json::Map<String, serde_json::Value>> =
        Default::default();
    for m in machines {
        hosts.insert(m.host.name.clone(), serde_json::json!({}));
        for group in &m.host.groups {
            groups
                .entry(group)
                .or_default()
                .insert(m.host.name.clone(), serde_json::json!({}));
        }
    }
    let children: serde_json::Map<String, serde_json::Value> = groups
        .into_iter()
        .map(|(g, members)| (g.to_string(), serde_json::json!({ "hosts": members })))
        .collect();
    serde_json::json!({ "all": { "hosts": hosts, "children": children } })
}

/// The connection variables, as extra vars so they win over any inventory: each host is
/// reached as its container, as root, through the docker connection.
fn connection(machines: &[Machine]) -> serde_json::Value {
    let containers: serde_json::Map<String, serde_json::Value> = machines
        .iter()
        .map(|m| {
            (
                m.host.name.clone(),
                serde_json::Value::String(m.container.clone()),
            )
        })
        .collect();
    serde_json::json!({
        "ansible_connection": "community.docker.docker",
        "ansible_host": "{{ drydock_containers[inventory_hostname] }}",
        "ansible_user": "root",
        "drydock_containers": containers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Host;

    fn machines() -> Vec<Machine> {
        vec![
            Machine {
                host: Host {
                    name: "web".into(),
                    groups: vec!["webservers".into(), "site".into()],
                },
                container: "c1".into(),
            },
            Machine {
                host: Host {
                    name: "db".into(),
                    groups: vec!["site".into()],
                },
                container: "c2".into(),
            },
        ]
    }

    #[test]
    fn the_inventory_holds_every_host_and_group() {
        assert_eq!(
            inventory(&machines()),
            serde_json::json!({ "all": {
                "hosts": { "web": {}, "db": {} },
                "children": {
                    "site": { "hosts": { "web": {}, "db": {} } },
                    "webservers": { "hosts": { "web": {} } }
                }
            }})
        );
    }

    #[test]
    fn connection_variables_point_each_host_at_its_container() {
        let vars = connection(&machines());
        assert_eq!(vars["drydock_containers"]["db"], "c2");
        assert_eq!(vars["ansible_connection"], "community.docker.docker");
        assert_eq!(
            vars["ansible_host"],
            "{{ drydock_containers[inventory_hostname] }}"
        );
    }

    #[test]
    fn playbook_paths_are_shown_relative_to_the_project() {
        let root = std::path::Path::new("/work/p");
        assert_eq!(shown(root, "/work/p/site.yml"), "site.yml");
        assert_eq!(shown(root, "/elsewhere/x.yml"), "/elsewhere/x.yml");
    }
}
