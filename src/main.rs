//! The drydock binary: parses the command line, runs the command, maps the outcome to an exit
//! code. The only place that knows about exit codes and the terminal.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use drydock::check::Selection;
use drydock::config::{self, Project};
use drydock::docker::Engine;
use drydock::error::{Error, Kind};
use drydock::pipeline::events::{Event, Events};
use drydock::pipeline::{run::RunOptions, standalone};
use drydock::report::{self, RunReport, Verdict};
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, Format, SelectArgs};

/// Exit codes (documented in the README).
mod exit {
    pub const PASS: u8 = 0;
    pub const FAIL: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INFRASTRUCTURE: u8 = 3;
    pub const NOTHING_TO_RUN: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::PASS
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INFRASTRUCTURE);
        }
    };
    let code = runtime.block_on(async_main(cli));
    // Blocking tasks (tar readers) may still wind down; do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code)
}

async fn async_main(cli: Cli) -> u8 {
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());
    let format = cli.global.format;
    let mode = drydock::report::terminal::choose(cli.global.quiet);
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let reporter = tokio::spawn(drydock::report::terminal::render(receiver, mode));
    let events = Events::new(sender);
    let result = dispatch(&cli, &events, cancel).await;
    drop(events);
    let _ = reporter.await;
    match result {
        Ok(Outcome::Report(report, extras)) => {
            if let Err(e) = write_reports(&report, &extras, format) {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
            let mut verdict = report.verdict;
            if extras.fail_on_flaky
                && verdict == Verdict::Pass
                && report
                    .scenarios
                    .iter()
                    .flat_map(|s| &s.checks)
                    .any(|c| c.flaky)
            {
                verdict = Verdict::Fail;
            }
            match format {
                Format::Json => print_stdout(&report::to_json(&report)),
                Format::Human => print_stdout(&report::summary::render(&report)),
            }
            match verdict {
                Verdict::Pass => exit::PASS,
                Verdict::Fail => exit::FAIL,
                Verdict::Error => exit::INFRASTRUCTURE,
            }
        }
        Ok(Outcome::Done(code)) => code,
        Err(e) => {
            let code = match e.kind() {
                Kind::Usage => exit::USAGE,
                Kind::Infrastructure => exit::INFRASTRUCTURE,
                Kind::NothingToRun => exit::NOTHING_TO_RUN,
                Kind::Interrupted => exit::INTERRUPTED,
            };
            if code == exit::INFRASTRUCTURE {
                if let Some(reports) = report_args(&cli) {
                    // CI still gets its JUnit <error>, step summary and JSON for a run that could
                    // not start.
                    let report = error_report(&cli, &e);
                    let extras = Extras {
                        reports: reports.clone(),
                        ..Default::default()
                    };
                    if let Err(write_error) = write_reports(&report, &extras, format) {
                        eprintln!("error: {write_error}");
                    }
                    if format == Format::Json {
                        print_stdout(&report::to_json(&report));
                    }
                }
            }
            let mut stderr = std::io::stderr().lock();
            let _ = match e.kind() {
                Kind::Infrastructure => writeln!(
                    stderr,
                    "error: {e}\nverdict: error — {} failed; the change itself was not judged",
                    e.part()
                ),
                Kind::Interrupted => writeln!(stderr, "drydock: {e}"),
                _ => writeln!(stderr, "error: {e}"),
            };
            code
        }
    }
}

/// The report of a command that failed on infrastructure before any scenario ran: verdict
/// `error`, no scenarios, and what failed.
fn error_report(cli: &Cli, e: &Error) -> RunReport {
    let command = match &cli.command {
        Command::Check(_) => "check",
        Command::Diff(_) => "diff",
        Command::Promote(_) => "promote",
        _ => "run",
    };
    let project = load_project(cli).map(|p| p.name).unwrap_or_default();
    RunReport {
        verdict: Verdict::Error,
        error: Some(report::InfrastructureError {
            part: e.part(),
            message: e.to_string(),
        }),
        ..RunReport::new(command, &project, "")
    }
}

/// The report options of the command, if it takes them.
fn report_args(cli: &Cli) -> Option<&cli::ReportArgs> {
    match &cli.command {
        Command::Run(a) => Some(&a.reports),
        Command::Check(a) => Some(&a.reports),
        Command::Diff(a) => Some(&a.reports),
        Command::Promote(a) => Some(&a.reports),
        _ => None,
    }
}

/// Writes to stdout; a closed pipe (e.g. `| head`) ends quietly.
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", text.trim_end())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(exit::PASS as i32);
    }
}

/// The first SIGINT/SIGTERM cancels the run (cleanup follows); a second one exits at once.
fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut count = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            count += 1;
            if count == 1 {
                eprintln!("\ndrydock: interrupted; removing this run's containers (press Ctrl-C again to exit at once)");
                cancel.cancel();
            } else {
                std::process::exit(exit::INTERRUPTED as i32);
            }
        }
    });
}

enum Outcome {
    Report(Box<RunReport>, Extras),
    Done(u8),
}

/// What to do with a report besides printing it.
#[derive(Default)]
struct Extras {
    fail_on_flaky: bool,
    reports: cli::ReportArgs,
    /// The playbook (path as shown, text), for GitHub annotations.
    playbook: Option<(String, String)>,
}

fn playbook_of(project: &Project) -> Option<(String, String)> {
    match &project.provision.kind {
        config::ProvisionKind::Ansible { playbook } => {
            let full = project.root.join(playbook);
            let text = std::fs::read_to_string(&full).ok()?;
            Some((config::shown_path(&full).display().to_string(), text))
        }
        config::ProvisionKind::Shell { .. } => None,
    }
}

/// Writes `--junit`/`--markdown` files and, on GitHub Actions, the step summary and annotations.
fn write_reports(report: &RunReport, extras: &Extras, format: Format) -> Result<(), String> {
    let write = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    if let Some(path) = &extras.reports.junit {
        write(path, &report::junit::render(report))?;
    }
    let markdown = || report::markdown::render(report, report::markdown::LIMIT);
    if let Some(path) = &extras.reports.markdown {
        write(path, &markdown())?;
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&summary)
                .map_err(|e| format!("opening GITHUB_STEP_SUMMARY {summary}: {e}"))?;
            writeln!(file, "{}", markdown())
                .map_err(|e| format!("writing GITHUB_STEP_SUMMARY: {e}"))?;
        }
        let playbook = extras
            .playbook
            .as_ref()
            .map(|(p, t)| (p.as_str(), t.as_str()));
        let lines = report::github::annotations(report, playbook);
        // Workflow commands are read from the step's output; keep stdout pure JSON when asked.
        for line in lines {
            if format == Format::Json {
                eprintln!("{line}");
            } else {
                print_stdout(&line);
            }
        }
    }
    Ok(())
}

fn selection(args: &SelectArgs) -> Selection {
    Selection {
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        filters: args.filters.clone(),
    }
}

fn load_project(cli: &Cli) -> Result<Project, Error> {
    let path = match &cli.global.config {
        Some(p) => {
            if !p.is_file() {
                return Err(Error::Usage(format!(
                    "--config {}: no such file",
                    p.display()
                )));
            }
            p.clone()
        }
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::Usage(format!("cannot read the current folder: {e}")))?;
            config::discover(&cwd)?
        }
    };
    Ok(config::load_project(&path)?)
}

/// Connects to the engine; with `--wait-for-infra`, keeps trying until the time is up.
async fn connect(cli: &Cli, events: &Events, cancel: &CancellationToken) -> Result<Engine, Error> {
    let Some(wait) = cli.global.wait_for_infra else {
        return Ok(Engine::connect().await?);
    };
    let deadline = std::time::Instant::now() + wait;
    loop {
        match Engine::connect().await {
            Ok(engine) => return Ok(engine),
            Err(e) => {
                let now = std::time::Instant::now();
                if now >= deadline {
                    return Err(e.into());
                }
                let next = (now + std::time::Duration::from_secs(5)).min(deadline);
                while std::time::Instant::now() < next {
                    events.send(Event::Waiting {
                        what: "the Docker engine".into(),
                        left: deadline.saturating_duration_since(std::time::Instant::now()),
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = cancel.cancelled() => return Err(Error::Interrupted),
                    }
                }
            }
        }
    }
}

async fn dispatch(cli: &Cli, events: &Events, cancel: CancellationToken) -> Result<Outcome, Error> {
    match &cli.command {
        Command::Run(args) => {
            let project = load_project(cli)?;
            let checks = config::load_checks(&project)?;
            let selection = selection(&args.select);
            let selected = checks.iter().filter(|c| selection.selects(c)).count();
            if selected == 0 {
                return Err(Error::NothingToRun(
                    "the selection (--tag/--skip-tag/--filter) matches no check".into(),
                ));
            }
            let snapshot_file = project.root.join(drydock::state::snapshot::FILE_NAME);
            let snapshot = snapshot_file
                .is_file()
                .then_some((snapshot_file, args.locked));
            if args.locked && snapshot.is_none() {
                return Err(Error::Usage(format!(
                    "--locked needs a committed {} in {}; write one with `drydock snapshot`",
                    drydock::state::snapshot::FILE_NAME,
                    project.root.display()
                )));
            }
            let engine = connect(cli, events, &cancel).await?;
            let options = RunOptions {
                project,
                checks,
                selection,
                keep: args.keep,
                retries: args.retries,
                snapshot,
                provision_timeout: args.provision_timeout,
            };
            let playbook = playbook_of(&options.project);
            let report = drydock::pipeline::run::run(&engine, options, events, cancel).await?;
            let extras = Extras {
                fail_on_flaky: args.fail_on_flaky,
                reports: args.reports.clone(),
                playbook,
            };
            Ok(Outcome::Report(Box::new(report), extras))
        }
        Command::Check(args) => {
            let project = load_project(cli)?;
            let checks = config::load_checks(&project)?;
            let target = standalone::Target::parse(&args.target).map_err(Error::Usage)?;
            let selection = selection(&args.select);
            let engine = connect(cli, events, &cancel).await?;
            let report = standalone::check(
                &engine,
                &project,
                &checks,
                &selection,
                args.scenario.as_deref(),
                &target,
                events,
                cancel,
            )
            .await?;
            let extras = Extras {
                reports: args.reports.clone(),
                ..Default::default()
            };
            Ok(Outcome::Report(Box::new(report), extras))
        }
        Command::Diff(args) => {
            let a = standalone::Target::parse(&args.a).map_err(Error::Usage)?;
            let b = standalone::Target::parse(&args.b).map_err(Error::Usage)?;
            let project = match &cli.global.config {
                Some(_) => Some(load_project(cli)?),
                None => std::env::current_dir()
                    .ok()
                    .and_then(|c| config::discover(&c).ok())
                    .map(|p| config::load_project(&p))
                    .transpose()?,
            };
            let mut settings = project.as_ref().map(|p| p.diff.clone()).unwrap_or_default();
            if !args.paths.is_empty() {
                settings.paths = args.paths.clone();
            }
            settings.ignore.extend(args.ignore.iter().cloned());
            let name = project
                .as_ref()
                .map(|p| p.name.clone())
                .unwrap_or_else(|| "diff".into());
            let engine = connect(cli, events, &cancel).await?;
            let report =
                standalone::diff(&engine, &name, &settings, &a, &b, events, cancel).await?;
            let extras = Extras {
                reports: args.reports.clone(),
                ..Default::default()
            };
            Ok(Outcome::Report(Box::new(report), extras))
        }
        Command::Snapshot(args) => {
            let project = load_project(cli)?;
            let output = args
                .output
                .clone()
                .unwrap_or_else(|| project.root.join(drydock::state::snapshot::FILE_NAME));
            let engine = connect(cli, events, &cancel).await?;
            let count = standalone::snapshot(&engine, &project, &output, events, cancel).await?;
            print_stdout(&format!("wrote {} ({count} paths)", output.display()));
            Ok(Outcome::Done(exit::PASS))
        }
        Command::List(args) => {
            let project = load_project(cli)?;
            let checks = config::load_checks(&project)?;
            let selection = selection(args);
            let text = standalone::list(&project, &checks, &selection);
            print_stdout(&text);
            let any = checks.iter().any(|c| selection.selects(c));
            Ok(Outcome::Done(if any {
                exit::PASS
            } else {
                exit::NOTHING_TO_RUN
            }))
        }
        Command::Promote(args) => {
            let project = load_project(cli)?;
            let checks = config::load_checks(&project)?;
            let engine = connect(cli, events, &cancel).await?;
            let options = drydock::pipeline::promote::PromoteOptions {
                force: args.force,
                push: args.push,
                selection: selection(&args.select),
            };
            let report = drydock::pipeline::promote::promote(
                &engine, &project, &checks, &options, events, cancel,
            )
            .await?;
            let extras = Extras {
                reports: args.reports.clone(),
                ..Default::default()
            };
            Ok(Outcome::Report(Box::new(report), extras))
        }
        Command::Hook(args) => {
            let project = load_project(cli)?;
            let message = match args.action {
                cli::HookAction::Install => {
                    let exe = std::env::current_exe().map_err(|e| {
                        Error::Usage(format!("cannot find the drydock binary: {e}"))
                    })?;
                    let path = drydock::hook::install(&project.root, &exe, args.force)
                        .map_err(|e| Error::Usage(e.to_string()))?;
                    format!("installed {}: every `git push` runs `drydock run` first (skip once with --no-verify)", path.display())
                }
                cli::HookAction::Uninstall => match drydock::hook::uninstall(&project.root)
                    .map_err(|e| Error::Usage(e.to_string()))?
                {
                    Some(path) => format!("removed {}", path.display()),
                    None => "no drydock pre-push hook was installed".to_string(),
                },
            };
            print_stdout(&message);
            Ok(Outcome::Done(exit::PASS))
        }
        Command::Clean(args) => {
            let project = if args.all {
                None
            } else {
                Some(load_project(cli)?)
            };
            let engine = connect(cli, events, &cancel).await?;
            let (containers, images) = standalone::clean(
                &engine,
                project.as_ref().map(|p| p.name.as_str()),
                args.images,
            )
            .await?;
            print_stdout(&format!(
                "removed {containers} container(s) and {images} image(s)"
            ));
            Ok(Outcome::Done(exit::PASS))
        }
    }
}
