//! `drydock promote`: after a merge, provision the default image with HEAD's tree, check it, and
//! commit it as the new production image (optionally pushed to `production.image`).

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::events::{Event, Events, Scope};
use super::janitor::Janitor;
use super::run::new_run_id;
use crate::check::{self, Selection};
use crate::config::{Check, Project};
use crate::docker::{Engine, LABEL_PROJECT};
use crate::error::Error;
use crate::image::{self, production, Tags};
use crate::provision::{self, Status};
use crate::report::{ImagesReport, RunReport, ScenarioReport, Verdict};

/// What `drydock promote` was asked to do.
pub struct PromoteOptions {
    /// Commit the image even when checks fail.
    pub force: bool,
    /// Push to `production.image`.
    pub push: bool,
    /// Which checks.
    pub selection: Selection,
}

/// Promotes HEAD; the report's verdict says whether the image was committed.
pub async fn promote(
    engine: &Engine,
    project: &Project,
    checks: &[Check],
    options: &PromoteOptions,
    events: &Events,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<RunReport, Error> {
    let remote = match (&project.production.image, options.push) {
        (None, true) => {
            return Err(Error::Usage(format!(
                "--push needs `production.image` in {} (where to push, e.g. registry.example/{}:production)",
                crate::config::shown_path(&project.config_file).display(),
                project.name
            )))
        }
        (remote, _) => remote.clone(),
    };
    let run_id = new_run_id();
    let janitor = Janitor::new(engine.clone(), &project.name, &run_id);
    let started = Instant::now();
    let work = body(
        engine,
        project,
        checks,
        options,
        events,
        &janitor,
        &run_id,
        remote.as_deref(),
    );
    let result = tokio::select! {
        r = work => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    janitor.cleanup().await;
    let mut report = result?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn body(
    engine: &Engine,
    project: &Project,
    checks: &[Check],
    options: &PromoteOptions,
    events: &Events,
    janitor: &Janitor,
    run_id: &str,
    remote: Option<&str>,
) -> Result<RunReport, Error> {
    provision::preflight(&project.provision.kind)?;
    let commit = production::head_commit(&project.root).await?;
    let short = image::short_commit(&commit).to_string();
    let default = image::ensure_default(engine, project, events).await?;
    let tree = production::extract(&project.root, &commit).await?;
    let scope = Scope::Scenario("promote".into());
    let started = Instant::now();
    let container = janitor.run_container(&default.tag, "promote").await?;
    events.stage(&scope, format!("provisioning HEAD @ {short}"));
    let request = provision::Request::for_project(project, &tree.root, &container, scope.clone());
    let outcome = provision::run(engine, &request, events).await?;
    let mut scenario = ScenarioReport::new("promote");
    let tags = Tags::new(&project.name);
    let mut images = ImagesReport {
        default: default.tag.clone(),
        default_built: default.built,
        production: tags.production(),
        production_source: format!("promoted from HEAD @ {short}"),
        production_built: false,
    };
    match outcome.status {
        Status::Ok => {}
        Status::Failed => {
            scenario.status = Verdict::Fail;
            scenario.message = Some(format!(
                "HEAD does not provision cleanly, nothing promoted: {}",
                outcome
                    .failure
                    .as_ref()
                    .map(|f| f.message.as_str())
                    .unwrap_or("")
            ));
        }
        Status::Infrastructure => {
            scenario.status = Verdict::Error;
            scenario.message = Some(format!(
                "infrastructure error while provisioning, nothing promoted: {}",
                outcome
                    .failure
                    .as_ref()
                    .map(|f| f.message.as_str())
                    .unwrap_or("")
            ));
        }
    }
    if scenario.status == Verdict::Pass {
        let selected = check::for_scenario(checks, &options.selection, Some("fresh"));
        events.stage(&scope, format!("checks ({})", selected.len()));
        scenario.checks = check::evaluate(engine, &container, &selected, &scope, events).await;
        let failed = scenario
            .checks
            .iter()
            .filter(|c| c.status != Verdict::Pass)
            .count();
        if failed > 0 && !options.force {
            scenario.status = Verdict::Fail;
            scenario.message = Some(format!(
                "{failed} check(s) did not pass; nothing promoted (--force promotes anyway)"
            ));
        }
    }
    if scenario.status == Verdict::Pass {
        events.stage(&scope, "committing the production image");
        let keyed = tags.production_commit(&commit);
        let mut labels: HashMap<String, String> = production::labels(project, &default, &commit)
            .into_iter()
            .collect();
        labels.insert("org.opencontainers.image.revision".into(), commit.clone());
        labels.insert(
            "org.opencontainers.image.created".into(),
            rfc3339(SystemTime::now()),
        );
        labels.insert(
            "org.opencontainers.image.source".into(),
            source(&project.root).await,
        );
        labels.insert(LABEL_PROJECT.into(), project.name.clone());
        let id = engine.commit(&container, &keyed, labels).await?;
        engine.tag(&id, &tags.production()).await?;
        images.production_built = true;
        if let Some(remote) = remote {
            engine.tag(&id, remote).await?;
            if options.push {
                events.stage(&scope, format!("pushing {remote}"));
                engine.push(remote).await?;
                images
                    .production_source
                    .push_str(&format!(", pushed to {remote}"));
            }
        }
        scenario.message = Some(format!("{} and {} committed", tags.production(), keyed));
    }
    scenario.duration_ms = started.elapsed().as_millis() as u64;
    events.send(Event::Finished {
        scope,
        status: scenario.status.as_str().into(),
        elapsed: started.elapsed(),
    });
    Ok(RunReport {
        verdict: scenario.status,
        images,
        scenarios: vec![scenario],
        ..RunReport::new("promote", &project.name, run_id)
    })
}

/// The repository's `origin` URL, or the project folder.
async fn source(root: &std::path::Path) -> String {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["remote", "get-url", "origin"])
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => root.display().to_string(),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_321_059)),
            "2026-11-22T04:17:39Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
