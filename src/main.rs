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
