//! `drydock promote`: after a merge, provision the default image with HEAD's tree, check it,
//! and commit it as the new production image (optionally pushed to `production.image`).

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::output::reported;
use super::{connect, Outcome};
use crate::check;
use crate::cli::{Cli, PromoteArgs};
use crate::config::{self, Project};
use crate::docker::LABEL_PROJECT;
use crate::error::Error;
use crate::event::Events;
use crate::event::{Ending, Scope};
use crate::image::{self, production, Tags};
use crate::outcome::{CheckResult, ScenarioKind, Verdict};
use crate::pipeline::production::{nothing_ran, provision_tree, tagged_hosts};
use crate::pipeline::session::Session;
use crate::plan::{Plan, Unit};
use crate::provision::Status;
use crate::report::{Command, ImagesReport, RunReport, ScenarioReport};

/// `drydock promote`.
pub async fn promote(
    cli: &Cli,
    args: &PromoteArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let plan = super::plan(cli, &args.select, &args.units).await?;
    let project = &plan.project;
    if project.production.image.is_none() && args.push {
        return Err(Error::Usage(format!(
            "--push needs `production.image` in {} (where to push, e.g. registry.example/{}:production)",
            config::shown_path(&project.config_file).display(),
            project.name
        )));
    }
    let engine = connect(cli, events, &cancel).await?;
    let secrets = project.provision.secrets();
    let session = Session::start(&engine, &project.name, events, secrets, cancel);
    let mut report = session.guard(body(&session, &plan, args)).await?;
    report.duration_ms = session.elapsed().as_millis() as u64;
    report.mask(&session.secrets);
    let verdict = report.verdict;
    Ok(reported(report, verdict, &args.reports, None))
}

async fn body(session: &Session, plan: &Plan, args: &PromoteArgs) -> Result<RunReport, Error> {
    let project = &plan.project;
    crate::provision::preflight(&project.provision.kind)?;
    let commit = production::head_commit(&project.root).await?;
    let tree = production::extract(&project.root, &commit).await?;
    let mut report = RunReport::new(Command::Promote, &project.name, &session.run_id);
    let mut images = Vec::new();
    for unit in &plan.units {
        let (scenario, unit_images) =
            promote_unit(session, plan, unit, &commit, &tree.root, args).await?;
        report.scenarios.push(scenario);
        images.push(unit_images);
    }
    report.verdict = Verdict::all(report.scenarios.iter().map(|s| s.status));
    report.images = match images.as_slice() {
        [one] => one.clone(),
        _ => ImagesReport {
            default: images
                .iter()
                .map(|i| i.default.clone())
                .collect::<Vec<_>>()
                .join("; "),
            default_built: images.iter().any(|i| i.default_built),
            production: images
                .iter()
                .map(|i| i.production.clone())
                .collect::<Vec<_>>()
                .join("; "),
            production_source: images
                .first()
                .map(|i| i.production_source.clone())
                .unwrap_or_default(),
            production_built: images.iter().all(|i| i.production_built),
            upgrade_from: Vec::new(),
        },
    };
    crate::pipeline::run::describe(&mut report, plan);
    Ok(report)
}

/// One platform: its default image provisioned with HEAD's tree, checked, and committed as its
/// production image.
async fn promote_unit(
    session: &Session,
    plan: &Plan,
    unit: &Unit,
    commit: &str,
    root: &std::path::Path,
    args: &PromoteArgs,
) -> Result<(ScenarioReport, ImagesReport), Error> {
    let project = &plan.project;
    let hosts = &plan.hosts;
    let engine = &session.engine;
    let events = &session.events;
    let platform = unit.platform.name.as_deref();
    let short = image::short_commit(commit).to_string();
    let default = image::ensure_default(engine, project, &unit.platform, events).await?;
    let kind = ScenarioKind::Promote;
    let scope = Scope::Scenario(kind.name()).on(platform);
    let started = std::time::Instant::now();
    events.stage(&scope, format!("provisioning HEAD @ {short}"));
    let role = match platform {
        Some(p) => format!("{p}-promote"),
        None => "promote".to_string(),
    };
    let provisioned = provision_tree(
        session,
        project,
        &unit.platform,
        hosts,
        &default.tag,
        root,
        &role,
        &scope,
        project.provision.timeout,
        None,
    )
    .await?;
    let outcome = &provisioned.outcome;
    if let Some(message) = nothing_ran(outcome, hosts, &format!("HEAD @ {short}")) {
        return Err(Error::Usage(message));
    }
    let tagged = tagged_hosts(hosts);
    let each: Vec<Option<&str>> = if tagged.is_empty() {
        vec![None]
    } else {
        tagged.iter().map(|h| Some(h.as_str())).collect()
    };
    let mut scenario = ScenarioReport::new(kind.clone());
    scenario.platform = platform.map(String::from);
    let tags = Tags::new(&project.name, platform);
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
        upgrade_from: Vec::new(),
    };
    match outcome.status {
        Status::Ok => {}
        Status::Failed => {
            scenario.status = Verdict::Fail;
            scenario.message = Some(format!(
                "HEAD does not provision cleanly, nothing promoted: {}",
                outcome.failure_sentence()
            ));
        }
        Status::Infrastructure => {
            scenario.status = Verdict::Error;
            scenario.message = Some(format!(
                "infrastructure error while provisioning, nothing promoted: {}",
                outcome.failure_sentence()
            ));
        }
    }
    if scenario.status == Verdict::Pass {
        for machine in &provisioned.machines {
            let (selected, _) = plan.checks_for(unit, &kind, &machine.host);
            events.stage(&scope, format!("checks ({})", selected.len()));
            let results =
                check::evaluate(engine, &machine.container, &selected, &scope, events).await;
            scenario
                .checks
                .extend(results.into_iter().map(|r| CheckResult {
                    host: Some(machine.host.name.clone()),
                    platform: platform.map(String::from),
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
            .map(|h| tags.production_commit_of(commit, *h))
            .collect();
        let labels = promoted_labels(project, &default, commit).await;
        let ids = provisioned.commit(session, &keyed, labels).await?;
        let mut committed = Vec::new();
        for ((id, host), keyed) in ids.iter().zip(&each).zip(&keyed) {
            let promoted = tags.production_of(*host);
            engine.tag(id, &promoted).await?;
            committed.push(format!("{promoted} and {keyed}"));
            if let Some(remote) = &project.production.image {
                let remote = production::remote_reference(remote, platform, *host);
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
    } else {
        provisioned.discard(session).await;
    }
    scenario.duration_ms = started.elapsed().as_millis() as u64;
    events.finished(&scope, Ending::Judged(scenario.status), started.elapsed());
    Ok((scenario, images))
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
