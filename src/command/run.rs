//! `drydock run`: the policy around the pipeline — nothing selected is exit 4, `--locked`
//! needs a committed snapshot, `--fail-on-flaky` turns a flaky pass into a failure.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::output::{playbook_of, reported};
use super::watch::history_path;
use super::{connect, load_project, Outcome};
use crate::cli::{Cli, RunArgs};
use crate::config;
use crate::error::Error;
use crate::event::{Events, Scope};
use crate::history::{self, History, RunRow};
use crate::outcome::Verdict;
use crate::pipeline::run::RunOptions;
use crate::plan::Plan;
use crate::report::{self, RunReport, Source};
use crate::state::snapshot;

/// `drydock run`.
pub async fn run(
    cli: &Cli,
    args: &RunArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let mut project = load_project(cli)?;
    if args.reboot {
        if project
            .platforms
            .iter()
            .any(|p| p.image.init != config::Init::Systemd)
        {
            return Err(Error::Usage(format!(
                "--reboot: {}",
                config::REBOOT_NEEDS_SYSTEMD
            )));
        }
        project.reboot = true;
    }
    let plan = super::plan_of(project, &args.select, &args.units).await?;
    if !plan.checks.iter().any(|c| plan.selection.selects(c)) {
        return Err(Error::NothingToRun(
            "the selection (--tag/--skip-tag/--filter) matches no check".into(),
        ));
    }
    let project = &plan.project;
    let snapshot_file = project.root.join(snapshot::FILE_NAME);
    let snapshot = snapshot_file
        .is_file()
        .then_some((snapshot_file, args.locked));
    if args.locked && snapshot.is_none() {
        return Err(Error::Usage(format!(
            "--locked needs a committed {} in {}; write one with `drydock snapshot`",
            snapshot::FILE_NAME,
            project.root.display()
        )));
    }
    let source = source_of(&plan).await;
    let playbook = playbook_of(project);
    let history = history_path(project, args.history.as_ref());
    let retention = project.watch.retention.unwrap_or(history::RETENTION);
    // A shard the partition gave no unit: nothing to start, a report that says so.
    if plan.units.is_empty() {
        let mut report = RunReport::new(report::Command::Run, &project.name, "");
        report.source = Some(source);
        let verdict = report.verdict;
        return Ok(reported(report, verdict, &args.reports, playbook));
    }
    // An `upgrade_from` ref that names no commit is a configuration error, found before the
    // engine is asked for anything.
    crate::pipeline::run::older_versions(&plan.project).await?;
    let engine = connect(cli, events, &cancel).await?;
    let options = RunOptions {
        plan,
        keep: args.keep,
        retries: args.retries,
        snapshot,
        provision_timeout: args.provision_timeout,
        jobs: args.jobs.unwrap_or_else(crate::pipeline::run::default_jobs),
        source: Some(source),
        blame: !args.no_blame,
    };
    let report = crate::pipeline::run::run(&engine, options, events, cancel).await?;
    record(&history, retention, &report, events);
    let verdict = verdict(&report, args.fail_on_flaky);
    Ok(reported(report, verdict, &args.reports, playbook))
}

/// What the run tests: HEAD's commit and whether the tree differs from it, and a digest of
/// drydock.yaml and every check file, so that shards of different trees are never merged.
async fn source_of(plan: &Plan) -> Source {
    let project = &plan.project;
    let commit = crate::process::git(&project.root, &["rev-parse", "HEAD"])
        .await
        .ok()
        .map(|out| String::from_utf8_lossy(&out).trim().to_string())
        .filter(|c| !c.is_empty());
    let dirty = crate::process::git(
        &project.root,
        &["status", "--porcelain", "--untracked-files=no"],
    )
    .await
    .map(|out| !out.is_empty())
    .unwrap_or(false);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&std::fs::read(&project.config_file).unwrap_or_default());
    let mut files: Vec<&std::path::PathBuf> = plan.checks.iter().map(|c| &c.file).collect();
    files.sort();
    files.dedup();
    for file in files {
        hasher.update(file.display().to_string().as_bytes());
        hasher.update(&std::fs::read(project.root.join(file)).unwrap_or_default());
    }
    Source {
        commit,
        dirty,
        config_digest: hasher.finalize().to_hex()[..16].to_string(),
        partition: plan.partition.map(|p| p.to_string()),
        all_units: plan.all_units.clone(),
        file_url: file_url(&project.root).await,
    }
}

/// Where a file of the project's repository can be read at a commit (`{commit}`, `{file}`,
/// `{line}` to fill in): on GitHub Actions from its variables, else from the `origin` remote
/// when it is on GitHub or GitLab.
async fn file_url(root: &Path) -> Option<String> {
    let git = |args: &'static [&'static str]| async move {
        crate::process::git(root, args)
            .await
            .ok()
            .map(|out| String::from_utf8_lossy(&out).trim().to_string())
    };
    let prefix = git(&["rev-parse", "--show-prefix"]).await?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let web = match (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY")) {
        (Some(server), Some(repository)) => {
            format!("{}/{repository}/blob", server.trim_end_matches('/'))
        }
        _ => web_of_remote(&git(&["remote", "get-url", "origin"]).await?)?,
    };
    Some(format!("{web}/{{commit}}/{prefix}{{file}}#L{{line}}"))
}

/// The web address of files in a GitHub or GitLab repository, from its remote URL
/// (`git@github.com:o/r.git`, `https://gitlab.com/o/r`, `ssh://git@github.com/o/r.git`).
fn web_of_remote(remote: &str) -> Option<String> {
    let rest = remote
        .strip_prefix("https://")
        .or_else(|| remote.strip_prefix("http://"))
        .or_else(|| remote.strip_prefix("ssh://"))
        .unwrap_or(remote);
    let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
    let (host, path) = rest.split_once([':', '/'])?;
    // `host:port/path` over ssh.
    let path = match path.split_once('/') {
        Some((port, p)) if port.chars().all(|c| c.is_ascii_digit()) => p,
        _ => path,
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    if path.is_empty() || path.contains("..") {
        return None;
    }
    if host == "github.com" {
        Some(format!("https://github.com/{path}/blob"))
    } else if host == "gitlab.com" || host.starts_with("gitlab.") {
        Some(format!("https://{host}/{path}/-/blob"))
    } else {
        None
    }
}

/// Records the run in the history store, for `drydock serve`, keeping `retention` of runs.
/// A store that cannot take it costs the run nothing: the report is still printed and
/// written; a note says what failed.
fn record(path: &Path, retention: Duration, report: &RunReport, events: &Events) {
    let now = history::now_ms();
    let row = RunRow {
        run_id: report.run_id.clone(),
        at: now,
        project: report.project.clone(),
        command: "run".into(),
        verdict: report.verdict.as_str().into(),
        duration_ms: report.duration_ms as i64,
    };
    let keep_after = now - retention.as_millis() as i64;
    // The verdict does not depend on the store: a store that cannot take the run is a note.
    let recorded = History::open(path)
        .and_then(|store| store.record_run(&row, &report::to_json(report), keep_after));
    if let Err(e) = recorded {
        events.note(
            &Scope::Scenario("history".into()),
            format!("this run was not recorded in the history store: {e}"),
        );
    }
}

/// The verdict the exit code follows: the report's, except that with `--fail-on-flaky` a pass
/// with a check that passed only on a retry fails.
fn verdict(report: &RunReport, fail_on_flaky: bool) -> Verdict {
    let flaky = report
        .scenarios
        .iter()
        .flat_map(|s| &s.checks)
        .any(|c| c.flaky);
    if fail_on_flaky && flaky && report.verdict == Verdict::Pass {
        Verdict::Fail
    } else {
        report.verdict
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn github_and_gitlab_remotes_give_their_file_pages() {
        use super::web_of_remote;
        for remote in [
            "git@github.com:acme/infra.git",
            "https://github.com/acme/infra",
            "ssh://git@github.com/acme/infra.git",
            "https://token@github.com/acme/infra.git",
        ] {
            assert_eq!(
                web_of_remote(remote).as_deref(),
                Some("https://github.com/acme/infra/blob"),
                "{remote}"
            );
        }
        assert_eq!(
            web_of_remote("git@gitlab.com:acme/ops/infra.git").as_deref(),
            Some("https://gitlab.com/acme/ops/infra/-/blob")
        );
        assert_eq!(
            web_of_remote("ssh://git@gitlab.example.org:2222/acme/infra.git").as_deref(),
            Some("https://gitlab.example.org/acme/infra/-/blob")
        );
        assert_eq!(web_of_remote("/srv/git/infra.git"), None);
        assert_eq!(web_of_remote("https://git.example.org/infra.git"), None);
    }

    use super::*;
    use crate::outcome::CheckResult;
    use crate::report::{Command, ScenarioReport};

    fn report_with(flaky: bool) -> RunReport {
        let mut scenario = ScenarioReport::new(crate::outcome::ScenarioKind::Fresh);
        scenario.checks.push(CheckResult {
            name: "page".into(),
            kind: "http".into(),
            status: Verdict::Pass,
            message: String::new(),
            flaky,
            file: "tests/web.yaml".into(),
            line: 1,
            host: None,
            platform: None,
        });
        let mut report = RunReport::new(Command::Run, "hello", "r1");
        report.scenarios.push(scenario);
        report
    }

    #[test]
    fn a_flaky_pass_fails_only_when_asked() {
        assert_eq!(verdict(&report_with(true), true), Verdict::Fail);
        assert_eq!(verdict(&report_with(true), false), Verdict::Pass);
        assert_eq!(verdict(&report_with(false), true), Verdict::Pass);
    }
}
