//! `drydock promote`: after a merge, provision the default image with HEAD's tree, check it,
//! and commit it as the new production image (optionally pushed to `production.image`).

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::output::reported;
use super::{connect, load_project, Outcome};
use crate::check::{self, Selection};
use crate::cli::{Cli, PromoteArgs};
use crate::config::{self, Check, Project};
use crate::docker::LABEL_PROJECT;
use crate::error::Error;
use crate::event::Events;
use crate::event::{Ending, Scope};
use crate::image::{self, production, Tags};
use crate::outcome::CheckResult;
use crate::outcome::Verdict;
use crate::pipeline::production::{nothing_ran, provision_tree, tagged_hosts};
use crate::pipeline::session::Session;
use crate::provision::Status;
use crate::report::{Command, ImagesReport, RunReport, ScenarioReport};

/// `drydock promote`.
pub async fn promote(
    cli: &Cli,
    args: &PromoteArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let project = load_project(cli)?;
    let checks = config::load_checks(&project)?;
    let engine = connect(cli, events, &cancel).await?;
    if project.production.image.is_none() && args.push {
        return Err(Error::Usage(format!(
            "--push needs `production.image` in {} (where to push, e.g. registry.example/{}:production)",
            config::shown_path(&project.config_file).display(),
            project.name
        )));
    }
    let secrets = project.provision.secrets();
    let session = Session::start(&engine, &project.name, events, secrets, cancel)
        .boot(&project.default_image);
    let mut report = session
        .guard(body(&session, &project, &checks, args))
        .await?;
    report.duration_ms = session.elapsed().as_millis() as u64;
    report.mask(&session.secrets);
    let verdict = report.verdict;
    Ok(reported(report, verdict, &args.reports, None))
}

async fn body(
    session: &Session,
    project: &Project,
    checks: &[Check],
    args: &PromoteArgs,
) -> Result<RunReport, Error> {
    let engine = &session.engine;
    let events = &session.events;
    crate::provision::preflight(&project.provision.kind)?;
    let hosts = crate::provision::inventory::hosts(project).await?;
    let commit = production::head_commit(&project.root).await?;
    let short = image::short_commit(&commit).to_string();
    let default = image::ensure_default(engine, project, events).await?;
    let tree = production::extract(&project.root, &commit).await?;
    let scope = Scope::Scenario("promote".into());
    let started = std::time::Instant::now();
    events.stage(&scope, format!("provisioning HEAD @ {short}"));
    let provisioned = provision_tree(
        session,
        project,
        &hosts,
        &default.tag,
        &tree.root,
        &scope,
        project.provision.timeout,
    )
    .await?;
    let outcome = &provisioned.outcome;
    if let Some(message) = nothing_ran(outcome, &hosts, &format!("HEAD @ {short}")) {
        return Err(Error::Usage(message));
    }
    let tagged = tagged_hosts(&hosts);
    let each: Vec<Option<&str>> = if tagged.is_empty() {
        vec![None]
    } else {
        tagged.iter().map(|h| Some(h.as_str())).collect()
    };
    let mut scenario = ScenarioReport::new("promote");
    let tags = Tags::new(&project.name);
    let mut images = ImagesReport {
        default: default.tag.clone(),
        default_built: default.built,
        production: each
            .iter()
            .map(|h| tags.production_of(*h))
            .collect::<Vec<_>>()
            .join(", "),
        production_source: format!("promoted from HEAD @ {short}"),
        production_built: false,
    };
    let message = || {
        outcome
            .failure
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_default()
    };
    match outcome.status {
        Status::Ok => {}
        Status::Failed => {
            scenario.status = Verdict::Fail;
            scenario.message = Some(format!(
                "HEAD does not provision cleanly, nothing promoted: {}",
                message()
            ));
        }
        Status::Infrastructure => {
            scenario.status = Verdict::Error;
            scenario.message = Some(format!(
                "infrastructure error while provisioning, nothing promoted: {}",
                message()
            ));
        }
    }
    if scenario.status == Verdict::Pass {
        let selection = Selection::from(&args.select);
        for machine in &provisioned.machines {
            let selected = check::for_host(checks, &selection, "fresh", &machine.host);
            events.stage(&scope, format!("checks ({})", selected.len()));
            let results =
                check::evaluate(engine, &machine.container, &selected, &scope, events).await;
            scenario
                .checks
                .extend(results.into_iter().map(|r| CheckResult {
                    host: Some(machine.host.name.clone()),
                    ..r
                }));
        }
        let failed = scenario
            .checks
            .iter()
            .filter(|c| c.status != Verdict::Pass)
            .count();
        if failed > 0 && !args.force {
            scenario.status = Verdict::Fail;
            scenario.message = Some(format!(
                "{failed} check(s) did not pass; nothing promoted (--force promotes anyway)"
            ));
        }
    }
    if scenario.status == Verdict::Pass {
        events.stage(&scope, "committing the production image");
        let keyed: Vec<String> = each
            .iter()
            .map(|h| tags.production_commit_of(&commit, *h))
            .collect();
        let labels = promoted_labels(project, &default, &commit).await;
        let ids = provisioned.commit(session, &keyed, labels).await?;
        let mut committed = Vec::new();
        for ((id, host), keyed) in ids.iter().zip(&each).zip(&keyed) {
            let promoted = tags.production_of(*host);
            engine.tag(id, &promoted).await?;
            committed.push(format!("{promoted} and {keyed}"));
            if let Some(remote) = &project.production.image {
                let remote = match host {
                    Some(h) => format!("{remote}-{h}"),
                    None => remote.clone(),
                };
                engine.tag(id, &remote).await?;
                if args.push {
                    events.stage(&scope, format!("pushing {remote}"));
                    engine.push(&remote).await?;
                    images
                        .production_source
                        .push_str(&format!(", pushed to {remote}"));
                }
            }
        }
        images.production_built = true;
        scenario.message = Some(format!("{} committed", committed.join(", ")));
    }
    scenario.duration_ms = started.elapsed().as_millis() as u64;
    events.finished(&scope, Ending::Judged(scenario.status), started.elapsed());
    Ok(RunReport {
        verdict: scenario.status,
        images,
        scenarios: vec![scenario],
        hosts: hosts
            .iter()
            .map(|h| crate::report::HostReport {
                name: h.name.clone(),
                groups: h.groups.clone(),
            })
            .collect(),
        ..RunReport::new(Command::Promote, &project.name, &session.run_id)
    })
}

/// The production labels plus the OCI revision, creation time and source.
async fn promoted_labels(
    project: &Project,
    default: &image::DefaultImage,
    commit: &str,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = production::labels(project, default, commit)
        .into_iter()
        .collect();
    labels.insert(
        "org.opencontainers.image.revision".into(),
        commit.to_string(),
    );
    labels.insert(
        "org.opencontainers.image.created".into(),
        rfc3339(chrono::Utc::now()),
    );
    labels.insert(
        "org.opencontainers.image.source".into(),
        source(&project.root).await,
    );
    labels.insert(LABEL_PROJECT.into(), project.name.clone());
    labels
}

/// The repository's `origin` URL without its user and password (a pushed image's labels are
/// public), or the project folder.
async fn source(root: &std::path::Path) -> String {
    match crate::process::git(root, &["remote", "get-url", "origin"]).await {
        Ok(out) => crate::secret::without_userinfo(String::from_utf8_lossy(&out).trim()),
        Err(_) => root.display().to_string(),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_rfc3339() {
        let at = |secs| chrono::Utc.timestamp_opt(secs, 0).unwrap();
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_321_059)), "2026-11-22T04:17:39Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
    }
}
