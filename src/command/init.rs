//! `drydock init`: reads an existing Ansible repository and writes a drydock project for it —
//! `drydock.yaml`, the default image's Dockerfile and starter checks — never overwriting a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Exit, Outcome};
use crate::cli::InitArgs;
use crate::config::{Host, FILE_NAME};
use crate::error::Error;
use crate::scaffold::render::{self, Settings};

/// `drydock init`.
pub async fn init(args: &InitArgs) -> Result<Outcome, Error> {
    let root = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let root = std::fs::canonicalize(&root)
        .map_err(|e| Error::Usage(format!("{}: {e}", root.display())))?;
    if root.join(FILE_NAME).exists() {
        return Err(Error::Usage(format!(
            "{} already exists in {}; `drydock init` never overwrites a file",
            FILE_NAME,
            root.display()
        )));
    }
    let survey = crate::scaffold::survey(&root);
    let Some(playbook) = survey.playbook.clone() else {
        return Err(Error::Usage(format!(
            "no playbook in {} or its playbooks/ folder (a YAML file whose top level is a list of plays with `hosts:`); `drydock init` sets up an existing Ansible repository",
            root.display()
        )));
    };

    let mut lines = vec![format!("drydock init: {}", root.display())];
    let others = survey.playbooks.len() - 1;
    lines.push(format!(
        "  playbook      {}{}",
        playbook.display(),
        if others > 0 {
            format!(" (and {others} other playbook(s), named in drydock.yaml)")
        } else {
            String::new()
        }
    ));
    let inventory_hosts: Option<Vec<Host>> = match &survey.inventory {
        Some(inventory) => match crate::provision::inventory::read(&root, inventory).await {
            Ok(hosts) => {
                let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                lines.push(format!(
                    "  inventory     {} ({} host(s): {})",
                    inventory.display(),
                    hosts.len(),
                    names.join(", ")
                ));
                Some(hosts)
            }
            Err(problem) => {
                lines.push(format!(
                    "  inventory     {} (could not be read: {problem})",
                    inventory.display()
                ));
                None
            }
        },
        None => None,
    };
    if survey.ansible_cfg {
        lines.push("  ansible.cfg   applies to every run, as it does for ansible-playbook".into());
    }
    if let Some(requirements) = &survey.requirements {
        lines.push(format!(
            "  requirements  {} (installed once per content into drydock's cache)",
            requirements.display()
        ));
    }
    if !survey.vault_files.is_empty() {
        lines.push(format!(
            "  vault         {} encrypted file(s): give the password with vault_password_file or vault_password_from_env in {FILE_NAME}",
            survey.vault_files.len()
        ));
    }
    if survey.uses_services {
        lines.push("  services      the plays manage services: containers boot systemd".into());
    }

    let production_ref = production_ref(&root).await;
    if production_ref.is_none() {
        lines.push("  git           not a repository: the upgrade scenario needs the ref `production.ref` names".into());
    }
    let checks_dir = if root.join("checks").exists() {
        "drydock-checks"
    } else {
        "checks"
    };
    let checks_file = format!("{checks_dir}/starter.yaml");
    let dockerfile_kept = root.join(render::DOCKERFILE).exists();
    let config = render::config(
        &survey,
        &Settings {
            name: &render::project_name(
                &root
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            production_ref: production_ref.as_deref().unwrap_or("main"),
            inventory_hosts: inventory_hosts.as_deref(),
            dockerfile: render::DOCKERFILE,
            checks: &format!("{checks_dir}/*.yaml"),
        },
    );
    let hosts = match &inventory_hosts {
        Some(all) => {
            let picked = render::hosts(&survey, Some(all));
            if picked.is_empty() {
                all.clone()
            } else {
                picked
            }
        }
        None => render::hosts(&survey, None),
    };
    let checks = render::checks(&survey, &hosts);

    write_new(&root, Path::new(FILE_NAME), &config, "drydock init")?;
    lines.push(format!("wrote {FILE_NAME}"));
    if dockerfile_kept {
        lines.push(format!("kept {} (it exists)", render::DOCKERFILE));
    } else {
        write_new(
            &root,
            Path::new(render::DOCKERFILE),
            &render::dockerfile(&survey),
            "drydock init",
        )?;
        lines.push(format!("wrote {}", render::DOCKERFILE));
    }
    write_new(&root, Path::new(&checks_file), &checks, "drydock init")?;
    lines.push(format!(
        "wrote {checks_file} ({} check(s) from the tasks)",
        survey.checks.len().max(1)
    ));
    lines.push(
        "next: `drydock run` provisions a fresh and an upgraded server with this tree".into(),
    );
    Ok(Outcome::text(lines.join("\n"), Exit::Pass))
}

/// The branch production is built from: `main`, else `master`, else the current branch.
async fn production_ref(root: &Path) -> Option<String> {
    for branch in ["main", "master"] {
        let reference = format!("refs/heads/{branch}");
        if crate::process::git(root, &["rev-parse", "--verify", "--quiet", &reference])
            .await
            .is_ok()
        {
            return Some(branch.to_string());
        }
    }
    let head = crate::process::git(root, &["symbolic-ref", "--short", "HEAD"])
        .await
        .ok()?;
    let head = String::from_utf8_lossy(&head).trim().to_string();
    (!head.is_empty()).then_some(head)
}

/// Writes a file that must not exist yet (folders are made as needed); `who` is the command,
/// for the message.
pub(super) fn write_new(root: &Path, relative: &Path, text: &str, who: &str) -> Result<(), Error> {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Usage(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            Error::Usage(if e.kind() == std::io::ErrorKind::AlreadyExists {
                format!(
                    "{} already exists; `{who}` never overwrites a file",
                    path.display()
                )
            } else {
                format!("cannot write {}: {e}", path.display())
            })
        })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))
}
