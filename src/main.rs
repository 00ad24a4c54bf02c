//! The drydock binary: parses the command line, runs the command, prints its outcome and maps
//! it to an exit code. The only place that knows about exit codes and the terminal.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use drydock::cli::{Cli, Command, Format};
use drydock::command::{self, Exit, Outcome};
use drydock::event::{Event, Events};
use drydock::report;
use tokio_util::sync::CancellationToken;

/// Exit codes (documented in the README).
mod code {
    pub const PASS: u8 = 0;
    pub const FAIL: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INFRASTRUCTURE: u8 = 3;
    pub const NOTHING_TO_RUN: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
}

/// The one table from how a command ended to the process's exit code.
fn exit_code(exit: Exit) -> u8 {
    match exit {
        Exit::Pass => code::PASS,
        Exit::Fail => code::FAIL,
        Exit::Usage => code::USAGE,
        Exit::Infrastructure => code::INFRASTRUCTURE,
        Exit::NothingToRun => code::NOTHING_TO_RUN,
        Exit::Interrupted => code::INTERRUPTED,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                code::USAGE
            } else {
                code::PASS
            });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(code::INFRASTRUCTURE);
        }
    };
    let outcome = runtime.block_on(execute(&cli));
    // Blocking tasks (tar readers) may still wind down; do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    print(&outcome, cli.global.format);
    ExitCode::from(exit_code(outcome.exit))
}

/// Runs the command with progress on stderr and signals wired to cancellation.
async fn execute(cli: &Cli) -> Outcome {
    let cancel = CancellationToken::new();
    let stopping = match &cli.command {
        Command::Watch(_) => "stopping after this round and its notifications",
        Command::Serve(_) => "stopping the server",
        _ => "removing this run's containers",
    };
    spawn_signal_handler(cancel.clone(), stopping);
    let mode = report::terminal::choose(cli.global.quiet);
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let reporter = tokio::spawn(report::terminal::render(receiver, mode));
    let events = Events::new(sender);
    let outcome = command::execute(cli, &events, cancel).await;
    drop(events);
    let _ = reporter.await;
    outcome
}

fn print(outcome: &Outcome, format: Format) {
    // Workflow commands are read from the step's output; stdout stays pure JSON when asked.
    for line in &outcome.annotations {
        match format {
            Format::Json => eprintln!("{line}"),
            Format::Human => print_stdout(line),
        }
    }
    if let Some(report) = &outcome.report {
        match format {
            Format::Json => print_stdout(&report::to_json(report)),
            Format::Human => print_stdout(&report::summary::render(report)),
        }
    }
    if let Some(text) = &outcome.text {
        print_stdout(text);
    }
    if let Some(error) = &outcome.error {
        // An error may quote a URL with credentials (a webhook's token, a git remote's login).
        let error = drydock::secret::redact_urls(error);
        let _ = writeln!(std::io::stderr().lock(), "{error}");
    }
}

/// Writes to stdout; a closed pipe (e.g. `| head`) ends quietly.
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", text.trim_end())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(i32::from(code::PASS));
    }
}

/// The first SIGINT/SIGTERM cancels the run (cleanup follows); a second one exits at once.
/// `stopping` says what the first one leads to.
fn spawn_signal_handler(cancel: CancellationToken, stopping: &'static str) {
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
                eprintln!(
                    "\ndrydock: interrupted; {stopping} (press Ctrl-C again to exit at once)"
                );
                cancel.cancel();
            } else {
                std::process::exit(i32::from(code::INTERRUPTED));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock::command::Exit;
    use drydock::docker::{BuildCause, EngineError};
    use drydock::error::Error;
    use drydock::history::HistoryError;
    use drydock::image::ImageError;
    use drydock::outcome::Verdict;
    use drydock::provision::ProvisionError;

    /// How each row of the README's table ends a command, built for real.
    fn ended(row: &str) -> Option<Exit> {
        let error = |e: Error| Some(Exit::from(e.kind()));
        let build = |cause| {
            Error::Engine(EngineError::Build {
                image: "drydock/x:default".into(),
                message: "step 2 failed".into(),
                cause,
            })
        };
        let history = |e| Error::History(e);
        match row {
            "verdict pass" => Some(Exit::from(Verdict::Pass)),
            "verdict fail" => Some(Exit::from(Verdict::Fail)),
            "verdict error" => Some(Exit::from(Verdict::Error)),
            "Failed" => error(Error::Failed("does not provision".into())),
            "Config" => error(Error::Config(drydock::config::ConfigError::NotFound(
                "/x".into(),
            ))),
            "Usage" => error(Error::Usage("bad flag".into())),
            "Image::Git" => error(Error::Image(ImageError::Git("no ref".into()))),
            "Image::Context" => error(Error::Image(ImageError::Context {
                path: "images/default".into(),
                reason: "gone".into(),
            })),
            "Build::Definition" => error(build(BuildCause::Definition)),
            "Build::Infrastructure" => error(build(BuildCause::Infrastructure("package mirror"))),
            "Provision::Inventory" => error(Error::Provision(ProvisionError::Inventory(
                "no hosts".into(),
            ))),
            "Provision::Missing" => error(Error::Provision(ProvisionError::AnsibleMissing)),
            "History::Locked" => error(history(HistoryError::Locked {
                path: "h.db".into(),
                holder: "pid 1".into(),
            })),
            "History::Newer" => error(history(HistoryError::Newer {
                path: "h.db".into(),
                found: 9,
                known: 2,
            })),
            "History::Store" => error(history(HistoryError::Store {
                path: "h.db".into(),
                reason: "disk I/O error".into(),
            })),
            "NothingToRun" => error(Error::NothingToRun("nothing".into())),
            "Engine" => error(Error::Engine(EngineError::Unreachable {
                host: "unix:///var/run/docker.sock".into(),
                reason: "refused".into(),
            })),
            "Image::Base" => error(Error::Image(ImageError::BaseUnobtainable {
                image: "debian:bookworm-slim".into(),
                reason: "no registry".into(),
            })),
            "Infrastructure" => error(Error::Infrastructure {
                part: "disk".into(),
                message: "full".into(),
            }),
            "Interrupted" => error(Error::Interrupted),
            _ => None,
        }
    }

    #[test]
    fn exit_codes_follow_the_readme_table() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("<!-- exit-codes:start -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- exit-codes:end -->").next())
            .expect("the README has the exit code table");
        let mut rows = 0;
        for line in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (name, code) = (cells[1].trim_matches('`'), cells[2]);
            let exit = ended(name).unwrap_or_else(|| {
                panic!("the README lists `{name}`, which this test cannot build")
            });
            assert_eq!(
                exit_code(exit).to_string(),
                code,
                "`{name}` exits {} but the README says {code}",
                exit_code(exit)
            );
            rows += 1;
        }
        assert_eq!(rows, 20, "every kind of ending has its row");
    }
}
