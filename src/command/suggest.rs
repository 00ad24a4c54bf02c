//! `drydock suggest [TARGET]`: a starter check file from a provisioned target (by default the
//! production image), measured against the default image, with the task that wrote each file
//! from the record the production image keeps. Every check it writes passed on the target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::{connect, load_project, Exit, Outcome};
use crate::check::facts::{Facts, Wants};
use crate::check::kinds::{file, group, package, port, process, user};
use crate::check::runner::Runner;
use crate::cli::{Cli, SuggestArgs};
use crate::error::Error;
use crate::event::{Events, Scope};
use crate::image::{Tags, LABEL_WRITTEN_BY};
use crate::outcome::Verdict;
use crate::pipeline::janitor::Boot;
use crate::pipeline::session::Session;
use crate::pipeline::target::Target;
use crate::scaffold::suggest::{
    automatic_packages, render, suggest as suggestions, Observed, WrittenFile,
};
use crate::written::Written;

/// Enabled services and whether each runs: systemd's unit files, or the SysV scripts with
/// start links in runlevel 2.
const SERVICES: &str = r#"if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null 2>&1; then
systemctl list-unit-files --type=service --state=enabled --no-legend 2>/dev/null | while read -r u s r; do
case $u in *@.service) continue;; esac
echo "${u%.service} $(systemctl is-active -- "$u" 2>/dev/null)"; done
else for l in /etc/rc2.d/S*; do [ -e "$l" ] || continue; n=${l##*/S[0-9][0-9]}; [ -x "/etc/init.d/$n" ] || continue
if "/etc/init.d/$n" status >/dev/null 2>&1; then echo "$n active"; else echo "$n inactive"; fi; done; fi
"#;

/// `drydock suggest`.
pub async fn suggest(
    cli: &Cli,
    args: &SuggestArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let project = load_project(cli)?;
    let platform = &project.platforms[0];
    let tags = Tags::new(&project.name, platform.name.as_deref());
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&project.root, &project.checks));
    if output.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; `drydock suggest` never overwrites a file (pass --output PATH)",
            output.display()
        )));
    }
    let engine = connect(cli, events, &cancel).await?;
    let target = match &args.target {
        Some(text) => Target::parse(text).map_err(Error::Usage)?,
        None => Target::Image(
            production_image(&engine, &project.name, &tags, platform.name.as_deref()).await?,
        ),
    };
    let baseline_image = tags.default();
    let has_baseline = engine.image_id(&baseline_image).await?.is_some();
    let session = Session::start(
        &engine,
        &project.name,
        events,
        project.provision.secrets(),
        cancel,
    );
    let boot = Boot::of(&platform.image);
    let scope = Scope::Scenario("suggest".into());
    let (text, kept, left_out) = session
        .guard(async {
            session
                .events
                .stage(&scope, format!("reading {}", target.label()));
            let container = target.start(&session, "suggest", &boot).await?;
            let runner = Runner::container(&engine, &container);
            let labels = engine.container_labels(&container).await?;
            let written = labels
                .get(LABEL_WRITTEN_BY)
                .map(|l| Written::from_label(l))
                .unwrap_or_default();
            let paths: Vec<String> = written.paths().map(|(p, _)| p.to_string()).collect();
            let (observed, facts) = observe(&runner, &paths).await.map_err(Error::Usage)?;
            let files = written_files(&written, &facts);
            let baseline = if has_baseline {
                session
                    .events
                    .stage(&scope, format!("reading {baseline_image}"));
                let base = Target::Image(baseline_image.clone())
                    .start(&session, "suggest-base", &boot)
                    .await?;
                let runner = Runner::container(&engine, &base);
                Some(observe(&runner, &[]).await.map_err(Error::Usage)?.0)
            } else {
                None
            };
            let all = suggestions(&observed, baseline.as_ref(), &files);
            // Only what passes on the target is written.
            let draft = render(&target.label(), &all, &[]);
            let checks =
                crate::check::parse_checks(Path::new("suggested.yaml"), &draft).map_err(|d| {
                    Error::Usage(format!("the suggested checks do not read back: {}", d[0]))
                })?;
            let refs: Vec<&crate::check::Check> = checks.iter().collect();
            let results =
                crate::check::evaluate_on(&runner, &refs, &scope, &Events::silent()).await;
            let (mut kept, mut left_out) = (Vec::new(), Vec::new());
            for (suggestion, result) in all.into_iter().zip(&results) {
                if result.status == Verdict::Pass {
                    kept.push(suggestion);
                } else {
                    left_out.push((suggestion.name, result.message.clone()));
                }
            }
            let text = render(&target.label(), &kept, &left_out);
            Ok((text, kept.len(), left_out.len()))
        })
        .await?;
    super::init::write_new(Path::new("."), &output, &text, "drydock suggest")?;
    let mut said = format!(
        "wrote {} with {kept} check(s) from {}",
        output.display(),
        target.label()
    );
    if !has_baseline {
        said.push_str(&format!(
            " ({baseline_image} is not here, so everything in the target counts as provisioned; `drydock run` builds it)"
        ));
    }
    if left_out > 0 {
        said.push_str(&format!(
            "; {left_out} left out because they did not pass there (listed at the top of the file)"
        ));
    }
    let matched = crate::config::check_files(&project)
        .map(|files| {
            files
                .iter()
                .any(|f| project.root.join(f) == absolute(&output))
        })
        .unwrap_or(false);
    if !matched {
        said.push_str("; add it to `checks:` in drydock.yaml to run it");
    }
    Ok(Outcome::text(said, Exit::Pass))
}

/// The promoted production image, else the newest one a run built.
async fn production_image(
    engine: &crate::docker::Engine,
    name: &str,
    tags: &Tags<'_>,
    platform: Option<&str>,
) -> Result<String, Error> {
    let promoted = tags.production();
    if engine.image_id(&promoted).await?.is_some() {
        return Ok(promoted);
    }
    let built = format!("{}-", tags.production());
    let newest = engine
        .images_with_label(crate::docker::LABEL_PROJECT, name)
        .await?
        .into_iter()
        .flat_map(|(_, tags)| tags)
        .find(|t| {
            t.strip_prefix(&built).is_some_and(|rest| match platform {
                Some(p) => rest.ends_with(&format!("-{p}")) || rest.contains(&format!("-{p}-")),
                None => !rest.contains('-'),
            })
        });
    newest.ok_or_else(|| {
        Error::Usage(format!(
            "no production image of {name} here ({promoted}, or one `drydock run` builds); name a target: drydock suggest container:NAME or image:REF"
        ))
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `suggested.yaml` beside the files of the project's first `checks` pattern.
fn default_output(root: &Path, patterns: &[String]) -> PathBuf {
    let folder = patterns
        .first()
        .and_then(|p| Path::new(p).parent())
        .filter(|f| !f.to_string_lossy().contains(['*', '?', '[']))
        .map(Path::to_path_buf)
        .unwrap_or_default();
    root.join(folder).join("suggested.yaml")
}

/// What the target holds, and the facts read (with `paths` stat'ed).
async fn observe(runner: &Runner, paths: &[String]) -> Result<(Observed, Facts), String> {
    let mut wants = Wants::default();
    for key in ["packages", "passwd", "group", "sockets", "procs"] {
        wants.flag(key);
    }
    for path in paths {
        wants.add("stat", path);
    }
    let (facts, services, extended) = tokio::join!(
        crate::check::gather(runner, &wants),
        runner.exec(&["/bin/sh", "-c", SERVICES]),
        runner.exec(&[
            "/bin/sh",
            "-c",
            "cat /var/lib/apt/extended_states 2>/dev/null; true"
        ])
    );
    let facts = facts?;
    let mut observed = Observed::default();
    if let Some(packages) = package::packages(&facts).as_ref() {
        observed.packages = packages
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    if let Some(users) = user::users(&facts).as_ref() {
        observed.users = users
            .iter()
            .map(|(n, u)| (n.clone(), (u.uid, u.home.clone(), u.shell.clone())))
            .collect();
    }
    if let Some(groups) = group::groups(&facts).as_ref() {
        observed.groups = groups.iter().map(|(n, g)| (n.clone(), g.gid)).collect();
    }
    if let Some(sockets) = port::sockets(&facts).as_ref() {
        observed.listening = sockets
            .iter()
            .filter(|s| s.listening)
            .map(|s| (s.protocol.to_string(), s.port, s.address.clone()))
            .collect();
    }
    observed.processes = process::processes(&facts)
        .iter()
        .filter(|p| p.is_live())
        .map(|p| (p.comm.clone(), p.uid))
        .collect::<BTreeMap<_, _>>();
    if let Ok(out) = extended {
        observed.automatic = automatic_packages(&String::from_utf8_lossy(&out.stdout));
    }
    if let Ok(out) = services {
        observed.services = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(name, state)| (name.to_string(), state.trim() == "active"))
            .collect();
    }
    Ok((observed, facts))
}

/// The files tasks wrote that are in the target, as it has them.
fn written_files(written: &Written, facts: &Facts) -> Vec<WrittenFile> {
    let stats = file::stats(facts);
    written
        .paths()
        .filter_map(|(path, writer)| {
            let stat = stats.get(path)?;
            let kind = match stat.kind.as_str() {
                "regular file" | "regular empty file" => "file",
                "directory" => "directory",
                "symbolic link" => "symlink",
                _ => return None,
            };
            Some(WrittenFile {
                path: path.to_string(),
                kind,
                mode: stat.mode,
                owner: stat.user.clone(),
                group: stat.group.clone(),
                writer: writer.clone(),
            })
        })
        .collect()
}
