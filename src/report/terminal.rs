//! Live progress: spinners with indicatif on a terminal, plain timestamped lines elsewhere.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::event::{Event, Scope};
use crate::report::Verdict;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Spinners, one line per part of the run.
    Live,
    /// One plain line per stage and task, to stderr.
    Plain,
    /// Nothing.
    Quiet,
}

/// Chooses the mode: live only on a terminal, outside CI, without `NO_COLOR`.
pub fn choose(quiet: bool) -> Mode {
    use std::io::IsTerminal;
    if quiet {
        return Mode::Quiet;
    }
    let ci = std::env::var_os("CI").is_some();
    let no_color = std::env::var_os("NO_COLOR").is_some();
    if std::io::stderr().is_terminal() && !ci && !no_color {
        Mode::Live
    } else {
        Mode::Plain
    }
}

/// Renders events until the channel closes.
pub async fn render(mut events: UnboundedReceiver<Event>, mode: Mode) {
    let started = Instant::now();
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let mut bars: HashMap<Scope, (ProgressBar, String)> = HashMap::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<12} [{elapsed:>3}] {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let done_style = ProgressStyle::with_template("  {prefix:<12} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    while let Some(event) = events.recv().await {
        match mode {
            Mode::Quiet => {}
            Mode::Plain => plain(&event, started),
            Mode::Live => {
                let bar = |scope: &Scope, bars: &mut HashMap<Scope, (ProgressBar, String)>| {
                    bars.entry(scope.clone())
                        .or_insert_with(|| {
                            let b = multi.add(ProgressBar::new_spinner());
                            b.set_style(style.clone());
                            b.set_prefix(scope.label());
                            b.enable_steady_tick(Duration::from_millis(120));
                            (b, String::new())
                        })
                        .clone()
                };
                match &event {
                    Event::Stage { scope, stage } => {
                        let (b, _) = bar(scope, &mut bars);
                        if let Some(entry) = bars.get_mut(scope) {
                            entry.1 = stage.clone();
                        }
                        b.set_message(stage.clone());
                    }
                    Event::Progress { scope, text } => {
                        let (b, stage) = bar(scope, &mut bars);
                        b.set_message(format!("{stage} · {}", truncate(text, 90)));
                    }
                    Event::Note { scope, text } => {
                        let _ = multi.println(format!("  {:<12} {text}", scope.label()));
                    }
                    Event::Check { scope, result } => {
                        if result.status != Verdict::Pass {
                            let _ = multi.println(format!(
                                "  {:<12} ✗ {}: {}",
                                scope.label(),
                                result.name,
                                truncate(&result.message, 120)
                            ));
                        }
                    }
                    Event::Finished {
                        scope,
                        ending,
                        elapsed,
                    } => {
                        let (b, _) = bar(scope, &mut bars);
                        b.set_style(done_style.clone());
                        b.finish_with_message(format!(
                            "{} in {:.1} s",
                            ending.as_str(),
                            elapsed.as_secs_f64()
                        ));
                    }
                    Event::Waiting { what, left } => {
                        let (b, _) = bar(&Scope::Images, &mut bars);
                        b.set_message(format!("waiting for {what}: {} s left", left.as_secs()));
                    }
                }
            }
        }
    }
    for (bar, _) in bars.values() {
        if !bar.is_finished() {
            bar.finish_and_clear();
        }
    }
}

fn plain(event: &Event, started: Instant) {
    let t = started.elapsed().as_secs_f64();
    let line = match event {
        Event::Stage { scope, stage } => format!("[{t:6.1}s] {:<12} {stage}", scope.label()),
        Event::Progress { scope, text } => {
            format!("[{t:6.1}s] {:<12}   {}", scope.label(), truncate(text, 160))
        }
        Event::Note { scope, text } => format!("[{t:6.1}s] {:<12} {text}", scope.label()),
        Event::Check { scope, result } => {
            if result.status == Verdict::Pass && !result.flaky {
                return;
            }
            format!(
                "[{t:6.1}s] {:<12} {} {}: {}",
                scope.label(),
                result.status.as_str(),
                result.name,
                result.message
            )
        }
        Event::Finished {
            scope,
            ending,
            elapsed,
        } => {
            format!(
                "[{t:6.1}s] {:<12} {} in {:.1} s",
                scope.label(),
                ending.as_str(),
                elapsed.as_secs_f64()
            )
        }
        Event::Waiting { what, left } => {
            format!("[{t:6.1}s] waiting for {what}: {} s left", left.as_secs())
        }
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}
