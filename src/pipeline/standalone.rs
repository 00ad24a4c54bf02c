//! The commands around `run`: `check`, `diff`, `snapshot`, `list` and `clean`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::events::{Event, Events, Scope};
use super::janitor::Janitor;
use super::run::new_run_id;
use crate::check::{self, Selection};
use crate::config::{Check, DiffSettings, Project};
use crate::docker::{Engine, LABEL_PROJECT};
use crate::error::Error;
use crate::report::{RunReport, ScenarioReport, Verdict};
use crate::state::{self, diff, snapshot, Ignore, Manifest};

/// What a standalone command runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A running container.
    Container(String),
    /// An image; a throwaway container is started from it.
    Image(String),
}

impl Target {
    /// Parses `container:NAME` or `image:REF`.
    pub fn parse(text: &str) -> Result<Target, String> {
        match text.split_once(':') {
            Some(("container", name)) if !name.is_empty() => {
                Ok(Target::Container(name.to_string()))
            }
            Some(("image", reference)) if !reference.is_empty() => {
                Ok(Target::Image(reference.to_string()))
            }
            _ => Err(format!(
                "`{text}` is not a target; expected container:NAME_OR_ID or image:REF"
            )),
        }
    }

    fn label(&self) -> String {
        match self {
            Target::Container(c) => format!("container:{c}"),
            Target::Image(i) => format!("image:{i}"),
        }
    }
}

/// Resolves a target to a running container id, starting one for an image.
async fn start(
    engine: &Engine,
    janitor: &Janitor,
    target: &Target,
    role: &str,
) -> Result<String, Error> {
    match target {
        Target::Container(name) => {
            let id = engine
                .container_id(name)
                .await?
                .ok_or_else(|| Error::Usage(format!("no container named {name}")))?;
            if !engine.is_running(&id).await? {
                return Err(Error::Usage(format!("container {name} is not running")));
            }
            Ok(id)
        }
        Target::Image(reference) => {
            if engine.image_id(reference).await?.is_none() {
                engine.pull(reference).await.map_err(|e| {
                    Error::Usage(format!(
                        "image {reference} is not present and cannot be pulled: {e}"
                    ))
                })?;
            }
            Ok(janitor.run_container(reference, role).await?)
        }
    }
}

async fn guarded<T>(
    janitor: &Janitor,
    cancel: tokio_util::sync::CancellationToken,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let result = tokio::select! {
        r = work => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    janitor.cleanup().await;
    result
}

/// `drydock check TARGET`.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    engine: &Engine,
    project: &Project,
    checks: &[Check],
    selection: &Selection,
    scenario: Option<&str>,
    target: &Target,
    events: &Events,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<RunReport, Error> {
    let selected = check::for_scenario(checks, selection, scenario);
    if selected.is_empty() {
        return Err(Error::NothingToRun("the selection matches no check".into()));
    }
    let run_id = new_run_id();
    let janitor = Janitor::new(engine.clone(), &project.name, &run_id);
    let started = Instant::now();
    let scope = Scope::Scenario("check".into());
    let results = guarded(&janitor, cancel, async {
        let container = start(engine, &janitor, target, "check").await?;
        events.stage(
            &scope,
            format!("{} checks on {}", selected.len(), target.label()),
        );
        Ok(check::evaluate(engine, &container, &selected, &scope, events).await)
    })
    .await?;
    let status = results.iter().fold(Verdict::Pass, |v, c| v.and(c.status));
    let failed = results.iter().filter(|c| c.status == Verdict::Fail).count();
    let errors = results
        .iter()
        .filter(|c| c.status == Verdict::Error)
        .count();
    let elapsed = started.elapsed();
    events.send(Event::Finished {
        scope,
        status: status.as_str().into(),
        elapsed,
    });
    let mut report = RunReport::new("check", &project.name, &run_id);
    report.verdict = status;
    report.scenarios.push(ScenarioReport {
        name: target.label(),
        status,
        provision: None,
        message: match (failed, errors) {
            (0, 0) => None,
            (f, 0) => Some(format!("{f} of {} check(s) failed", results.len())),
            (f, e) => Some(format!(
                "{f} failed, {e} could not be evaluated, of {} check(s)",
                results.len()
            )),
        },
        checks: results,
        changed_paths: Vec::new(),
        attempts: 1,
        duration_ms: elapsed.as_millis() as u64,
    });
    report.timings_ms.checks = elapsed.as_millis() as u64;
    report.duration_ms = elapsed.as_millis() as u64;
    Ok(report)
}

async fn manifest_of(
    engine: &Engine,
    janitor: &Janitor,
    target: &Target,
    roots: &[String],
    ignore: Arc<Ignore>,
    role: &str,
) -> Result<Manifest, Error> {
    let container = start(engine, janitor, target, role).await?;
    state::capture(engine, &container, roots, ignore)
        .await
        .map_err(|message| Error::Infrastructure {
            part: "docker engine".into(),
            message: format!("reading the state of {}: {message}", target.label()),
        })
}

/// `drydock diff A B`.
pub async fn diff(
    engine: &Engine,
    project: &str,
    settings: &DiffSettings,
    a: &Target,
    b: &Target,
    events: &Events,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<RunReport, Error> {
    let run_id = new_run_id();
    let janitor = Janitor::new(engine.clone(), project, &run_id);
    let started = Instant::now();
    let ignore = Arc::new(
        Ignore::new(settings.ignore_defaults, &settings.ignore)
            .map_err(|e| Error::Usage(format!("--ignore: {e}")))?,
    );
    let allow =
        diff::allow_set(&settings.allow).map_err(|e| Error::Usage(format!("diff.allow: {e}")))?;
    events.stage(
        &Scope::Diff,
        format!("reading {} and {}", a.label(), b.label()),
    );
    let (left, right) = guarded(&janitor, cancel, async {
        tokio::try_join!(
            manifest_of(
                engine,
                &janitor,
                a,
                &settings.paths,
                ignore.clone(),
                "diff-a"
            ),
            manifest_of(
                engine,
                &janitor,
                b,
                &settings.paths,
                ignore.clone(),
                "diff-b"
            ),
        )
    })
    .await?;
    let diff = diff::compare(&left, &right, &allow, ("a", "b"))
        .into_report([left.entries.len(), right.entries.len()]);
    events.send(Event::Finished {
        scope: Scope::Diff,
        status: diff.status.as_str().into(),
        elapsed: started.elapsed(),
    });
    let mut report = RunReport::new("diff", project, &run_id);
    report.verdict = diff.status;
    report.diff = Some(diff);
    report.timings_ms.diff = started.elapsed().as_millis() as u64;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// `drydock snapshot`: provisions the default image with the working tree and writes its state.
pub async fn snapshot(
    engine: &Engine,
    project: &Project,
    output: &Path,
    events: &Events,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<usize, Error> {
    let run_id = new_run_id();
    let janitor = Janitor::new(engine.clone(), &project.name, &run_id);
    let scope = Scope::Scenario("fresh".into());
    let ignore = Arc::new(
        Ignore::new(project.diff.ignore_defaults, &project.diff.ignore)
            .map_err(|e| Error::Usage(format!("diff.ignore: {e}")))?,
    );
    let manifest = guarded(&janitor, cancel, async {
        crate::provision::preflight(&project.provision.kind)?;
        let default = crate::image::ensure_default(engine, project, events).await?;
        let container = janitor.run_container(&default.tag, "fresh").await?;
        events.stage(&scope, "provisioning");
        let request = crate::provision::Request::for_project(project, &project.root, &container, scope.clone());
        let outcome = crate::provision::run(engine, &request, events).await?;
        if outcome.status != crate::provision::Status::Ok {
            let message = outcome.failure.map(|f| f.message).unwrap_or_default();
            return Err(Error::Infrastructure {
                part: "provisioning".into(),
                message: format!("the working tree does not provision cleanly, so there is no state to snapshot: {message}"),
            });
        }
        events.stage(&scope, "reading state");
        state::capture(engine, &container, &project.diff.paths, ignore.clone()).await.map_err(|message| Error::Infrastructure {
            part: "docker engine".into(),
            message,
        })
    })
    .await?;
    std::fs::write(output, snapshot::render(&manifest))
        .map_err(|e| Error::Usage(format!("writing {}: {e}", output.display())))?;
    Ok(manifest.entries.len())
}

/// `drydock list`: what a run would execute.
pub fn list(project: &Project, checks: &[Check], selection: &Selection) -> String {
    let mut out = format!(
        "project {} ({})\n\nscenarios:\n",
        project.name,
        crate::config::shown_path(&project.config_file).display()
    );
    out.push_str("  fresh        default image + working tree\n");
    out.push_str(&format!(
        "  upgrade      production image ({}) + working tree\n",
        project.production.git_ref
    ));
    out.push_str("  idempotence  the fresh container provisioned a second time\n");
    out.push_str(&format!(
        "  diff         fresh vs upgrade state under {}\n\nchecks:\n",
        project.diff.paths.join(" ")
    ));
    let mut count = 0;
    for c in checks.iter().filter(|c| selection.selects(c)) {
        count += 1;
        let scenarios = c
            .scenarios
            .as_ref()
            .map(|s| s.join(","))
            .unwrap_or_else(|| "fresh,upgrade".into());
        let tags = if c.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.tags.join(","))
        };
        out.push_str(&format!(
            "  {:<8} {:<40} {:<14} {}:{}{tags}\n",
            c.spec.kind(),
            c.name,
            scenarios,
            c.file.display(),
            c.line
        ));
    }
    out.push_str(&format!("\n{count} of {} check(s) selected", checks.len()));
    out
}

/// `drydock clean`: containers of dead runs, and optionally the project's images.
pub async fn clean(
    engine: &Engine,
    project: Option<&str>,
    images: bool,
) -> Result<(usize, usize), Error> {
    let containers = super::janitor::sweep(engine, project, true).await?;
    let mut removed_images = 0;
    if images {
        let label_value = project.unwrap_or("");
        let found = if label_value.is_empty() {
            Vec::new()
        } else {
            engine.images_with_label(LABEL_PROJECT, label_value).await?
        };
        for (id, tags) in found {
            for tag in &tags {
                engine.remove_image(tag).await?;
            }
            if tags.is_empty() {
                engine.remove_image(&id).await?;
            }
            removed_images += 1;
        }
    }
    Ok((containers, removed_images))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("container:web"),
            Ok(Target::Container("web".into()))
        );
        assert_eq!(
            Target::parse("image:drydock/hello:default"),
            Ok(Target::Image("drydock/hello:default".into()))
        );
        assert!(Target::parse("web").is_err());
        assert!(Target::parse("image:").is_err());
    }
}
