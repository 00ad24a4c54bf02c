//! `drydock watch`, `drydock history`, `drydock outages`: the checks as monitoring, and what the
//! history store remembers of it.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{connect, load_project, Exit, Outcome};
use crate::api::Api;
use crate::check::Selection;
use crate::cli::{Cli, Format, HistoryArgs, OutagesArgs, WatchArgs};
use crate::config::watch::SmtpSettings;
use crate::config::{self, Project};
use crate::error::Error;
use crate::event::{Events, Scope};
use crate::history::{self, History, WatchLock};
use crate::watch::notify::{Notifier, Smtp, SmtpSecurity};
use crate::watch::{self as monitor, Monitor, MonitorError, RoundReport, Settings, Target};

/// The time between rounds unless told.
const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// `drydock watch`.
pub async fn watch(
    cli: &Cli,
    args: &WatchArgs,
    events: &Events,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let project = load_project(cli)?;
    let w = &project.watch;
    let selection = Selection::from(&args.select);
    let checks: Vec<crate::check::Check> = crate::check::load_checks(&project)?
        .into_iter()
        .filter(|c| selection.selects(c))
        .collect();
    if checks
        .iter()
        .all(|c| c.tags.iter().any(|t| t == monitor::DIAGNOSTIC))
    {
        return Err(Error::NothingToRun(
            "no check to watch: the selection matches none, or only diagnostic ones".into(),
        ));
    }
    if let Some((check, name)) = monitor::unknown_requirements(&checks) {
        return Err(Error::Usage(format!(
            "{}:{}: `requires`: check `{}` requires `{name}`, which is not a selected check",
            check.file.display(),
            check.line,
            check.name
        )));
    }
    let names: Vec<String> = if args.targets.is_empty() {
        w.targets.clone()
    } else {
        args.targets.clone()
    };
    if names.is_empty() {
        return Err(Error::Usage(
            "no target: name them (`drydock watch container:web local ssh://deploy@db1`) or list them in `watch.targets`".into(),
        ));
    }
    let ssh_config = args
        .ssh_config
        .clone()
        .or_else(|| w.ssh_config.as_ref().map(|p| project.root.join(p)));
    let engine = if names.iter().any(|n| n.starts_with("container:")) {
        Some(connect(cli, events, &cancel).await?)
    } else {
        None
    };
    let max_output = args
        .max_output
        .or(w.max_output)
        .unwrap_or(crate::check::runner::MAX_OUTPUT);
    let targets = names
        .iter()
        .map(|n| Target::parse(n, engine.as_ref(), ssh_config.clone(), max_output))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Usage)?;
    let every = args.every.or(w.every).unwrap_or(DEFAULT_EVERY);
    let settings = Settings {
        confirm: args.confirm.or(w.confirm).unwrap_or(2),
        confirm_interval: args
            .confirm_interval
            .or(w.confirm_interval)
            .unwrap_or(Duration::from_secs(1)),
        recover: args.recover.or(w.recover).unwrap_or(2).max(1),
        concurrency: w.concurrency.unwrap_or(16),
        retention: w.retention.unwrap_or(history::RETENTION),
        // Delivery never pushes the next round past its time.
        delivery_budget: if args.once {
            monitor::DELIVERY_BUDGET
        } else {
            monitor::DELIVERY_BUDGET
                .min(every / 2)
                .max(Duration::from_secs(1))
        },
    };
    let notifier = notifier(&project, args)?;
    let store_path = history_path(&project, args.history.as_ref());
    // One monitor per store: a second would send every notification again.
    let _lock = WatchLock::take(&store_path)?;
    let store = History::open(&store_path)?;
    let mut monitor =
        Monitor::new(targets, checks, settings, store, notifier).map_err(|e| match e {
            MonitorError::History(e) => Error::History(e),
            MonitorError::Client(message) => Error::Infrastructure {
                part: "HTTP client".into(),
                message,
            },
        })?;
    let json = cli.global.format == Format::Json;

    if args.once {
        let round = monitor.round(events).await;
        // A confirmed failure is the answer; anything the monitor could not see (a target, a
        // check it cannot evaluate, its own store) means it could not give one.
        let exit = if round.failing() {
            Exit::Fail
        } else if round.unreachable() || round.erroring() || round.store_error.is_some() {
            Exit::Infrastructure
        } else {
            Exit::Pass
        };
        return Ok(Outcome::text(render(&round, json), exit));
    }

    let scope = Scope::Scenario("watch".into());
    // The API reads through a connection of its own: a round's write never waits for it.
    let access = match args.listen {
        Some(address) => Some(super::serve::access(&args.access, address)?),
        None => None,
    };
    let server = match args.listen {
        Some(address) => {
            let listener = super::serve::bind(address).await?;
            let reader = History::open(&store_path)?;
            // Rounds are never cut short, so a monitor that finished none for three
            // intervals and a minute is stuck: /healthz says so.
            let stale_after = every * 3 + Duration::from_secs(60);
            let stop = cancel.child_token();
            events.note(
                &scope,
                format!(
                    "serving the API on http://{}/",
                    listener.local_addr().unwrap_or(address)
                ),
            );
            let api = Api::new(reader, Some(stale_after)).with_access(access.unwrap_or_default());
            Some((
                tokio::spawn(crate::api::serve(listener, api, stop.clone())),
                stop,
            ))
        }
        None => None,
    };
    let mut rounds = 0u64;
    let mut last: RoundReport;
    loop {
        // A round is never cut short: SIGTERM lets it finish and its notifications go out.
        last = monitor.round(events).await;
        rounds += 1;
        events.note(&scope, summary_line(&last));
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => break,
        }
    }
    monitor.flush(events).await;
    if let Some((task, stop)) = server {
        stop.cancel();
        let _ = task.await;
    }
    let pending = monitor.history().pending().unwrap_or(0);
    let mut text = format!("drydock watch: stopped after {rounds} round(s)");
    if pending > 0 {
        text.push_str(&format!(
            "; {pending} notification(s) wait in the history store and go out on the next start"
        ));
    }
    if json {
        text = render(&last, true);
    }
    Ok(Outcome::text(text, Exit::Pass))
}

/// Where notifications go, from the flags and `watch:`.
fn notifier(project: &Project, args: &WatchArgs) -> Result<Notifier, Error> {
    let w = &project.watch;
    if args.webhook_secret.is_some() {
        return Err(Error::Usage(
            "--webhook-secret is not accepted: a secret on the command line is visible to every user of this machine (`ps`); set DRYDOCK_WEBHOOK_SECRET, or give --webhook-secret-file PATH or `watch.webhook_secret_from_env`".into(),
        ));
    }
    if args.smtp_password.is_some() {
        return Err(Error::Usage(
            "--smtp-password is not accepted: a secret on the command line is visible to every user of this machine (`ps`); set DRYDOCK_SMTP_PASSWORD, or give --smtp-password-file PATH or `watch.smtp.password_from_env`".into(),
        ));
    }
    let secret = secret_of(
        args.webhook_secret_file.as_ref(),
        "DRYDOCK_WEBHOOK_SECRET",
        w.webhook_secret_from_env.as_ref(),
        "watch.webhook_secret_from_env",
    )?;
    let smtp = match (&args.smtp, &w.smtp) {
        (Some(server), _) => {
            let from = args.mail_from.clone().ok_or_else(|| {
                Error::Usage("--smtp needs --mail-from and at least one --mail-to".into())
            })?;
            if args.mail_to.is_empty() {
                return Err(Error::Usage(
                    "--smtp needs --mail-from and at least one --mail-to".into(),
                ));
            }
            Some(smtp(
                server,
                from,
                args.mail_to.clone(),
                args,
                None,
                project,
            )?)
        }
        (None, Some(s)) => Some(smtp(
            &s.server,
            s.from.clone(),
            s.to.clone(),
            args,
            Some(s),
            project,
        )?),
        (None, None) => None,
    };
    Notifier::new(
        args.webhook.clone().or_else(|| w.webhook.clone()),
        secret,
        args.alertmanager.clone().or_else(|| w.alertmanager.clone()),
        smtp,
        args.heartbeat.clone().or_else(|| w.heartbeat.clone()),
    )
    .map_err(Error::Usage)
}

/// A secret, from the first place that has one: the file `file` names, the environment
/// variable `variable`, the host variable the configuration's `key` names (which must then be
/// set). Never from a flag's value. An empty secret is an error, not "no secret".
fn secret_of(
    file: Option<&PathBuf>,
    variable: &str,
    from_env: Option<&String>,
    key: &str,
) -> Result<Option<String>, Error> {
    let (value, place) = if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!("reading the secret file {}: {e}", path.display()))
        })?;
        (
            text.trim_end_matches(['\n', '\r']).to_string(),
            path.display().to_string(),
        )
    } else if let Ok(value) = std::env::var(variable) {
        (value, variable.to_string())
    } else if let Some(var) = from_env {
        let value = std::env::var(var).map_err(|_| {
            Error::Usage(format!(
                "`{key}`: the host environment variable `{var}` is not set"
            ))
        })?;
        (value, var.clone())
    } else {
        return Ok(None);
    };
    if value.is_empty() {
        return Err(Error::Usage(format!(
            "the secret in {place} is empty; an empty secret would sign or log in with nothing"
        )));
    }
    Ok(Some(value))
}

/// The relay from `server` and the addresses, its protection and login from the flags, else
/// from `watch.smtp` (`settings`). A password is only ever sent over TLS.
fn smtp(
    server: &str,
    from: String,
    to: Vec<String>,
    args: &WatchArgs,
    settings: Option<&SmtpSettings>,
    project: &Project,
) -> Result<Smtp, Error> {
    let tls = args
        .smtp_tls
        .clone()
        .or_else(|| settings.and_then(|s| s.tls.clone()));
    let security = match tls.as_deref() {
        None => SmtpSecurity::None,
        Some(t) => SmtpSecurity::parse(t).ok_or_else(|| {
            Error::Usage(format!(
                "SMTP tls `{t}`: expected one of {}",
                config::watch::SMTP_TLS.join(", ")
            ))
        })?,
    };
    let user = args
        .smtp_user
        .clone()
        .or_else(|| settings.and_then(|s| s.user.clone()));
    let password = secret_of(
        args.smtp_password_file.as_ref(),
        "DRYDOCK_SMTP_PASSWORD",
        settings.and_then(|s| s.password_from_env.as_ref()),
        "watch.smtp.password_from_env",
    )?;
    let credentials = match (user, password) {
        (Some(user), Some(password)) => Some((user, password)),
        (Some(user), None) => {
            return Err(Error::Usage(format!(
                "SMTP user `{user}` has no password: set DRYDOCK_SMTP_PASSWORD or `watch.smtp.password_from_env`"
            )))
        }
        (None, Some(_)) => {
            return Err(Error::Usage(
                "an SMTP password without a user: set --smtp-user or `watch.smtp.user`".into(),
            ))
        }
        (None, None) => None,
    };
    if credentials.is_some() && security == SmtpSecurity::None {
        return Err(Error::Usage(
            "the SMTP password would cross the network in the clear: set --smtp-tls (or `watch.smtp.tls`) to starttls or tls".into(),
        ));
    }
    let ca_file = match (
        &args.smtp_ca_file,
        settings.and_then(|s| s.ca_file.as_ref()),
    ) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(p)) => Some(project.root.join(p)),
        (None, None) => None,
    };
    let ca_pem = match ca_file {
        Some(path) => Some(
            std::fs::read(&path)
                .map_err(|e| Error::Usage(format!("SMTP CA file {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>().map_err(|_| {
                Error::Usage(format!(
                    "`{server}`: `{p}` is not a port; expected host:port"
                ))
            })?,
        ),
        None => (server.to_string(), security.default_port()),
    };
    Ok(Smtp {
        host,
        port,
        security,
        credentials,
        ca_pem,
        from,
        to,
    })
}

/// The history store's path: the flag, `watch.history`, or `.drydock/history.db` beside
/// drydock.yaml.
pub(super) fn history_path(project: &Project, flag: Option<&PathBuf>) -> PathBuf {
    match (flag, &project.watch.history) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => project.root.join(p),
        (None, None) => project.root.join(history::DEFAULT_PATH),
    }
}

/// The store for `history`/`outages`: the flag, or the project's.
fn open_store(cli: &Cli, flag: Option<&PathBuf>) -> Result<History, Error> {
    let path = match flag {
        Some(p) => p.clone(),
        None => history_path(&load_project(cli)?, None),
    };
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "no history store at {}: `drydock watch` makes it",
            path.display()
        )));
    }
    Ok(History::open(&path)?)
}

fn summary_line(round: &RoundReport) -> String {
    let checks: usize = round.targets.iter().map(|t| t.checks.len()).sum();
    let failing: usize = round
        .targets
        .iter()
        .flat_map(|t| &t.checks)
        .filter(|c| c.state != monitor::state::Phase::Passing)
        .count();
    let unknown = round
        .targets
        .iter()
        .filter(|t| t.unreachable.is_some())
        .count();
    format!(
        "round in {:.2} s: {} target(s), {checks} check(s), {failing} failing, {unknown} unreachable, {} notification(s){}",
        round.duration_ms as f64 / 1000.0,
        round.targets.len(),
        round.notifications.len(),
        if round.pending > 0 {
            format!(", {} waiting for a receiver", round.pending)
        } else {
            String::new()
        }
    )
}

/// A round for people, or as JSON.
fn render(round: &RoundReport, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(round).unwrap_or_default();
    }
    let mut out = format!("drydock watch · {}\n\n", summary_line(round));
    for t in &round.targets {
        out.push_str(&format!("  {:<7} {}\n", t.status, t.target));
        if let Some(why) = &t.unreachable {
            out.push_str(&format!("          unreachable: {why}\n"));
            continue;
        }
        for c in t
            .checks
            .iter()
            .filter(|c| c.status != "pass" || c.state != monitor::state::Phase::Passing)
        {
            let since = c
                .since
                .as_ref()
                .map(|s| format!(" (failing since {s})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "          {} {}{since}: {}\n",
                c.status, c.name, c.message
            ));
        }
    }
    for n in &round.notifications {
        out.push_str(&format!("\nsent: {} — {}", n.headline(), n.message));
    }
    out
}

/// `drydock history`.
pub fn history(cli: &Cli, args: &HistoryArgs) -> Result<Outcome, Error> {
    let store = open_store(cli, args.history.as_ref())?;
    let since = history::now_ms() - args.since.as_millis() as i64;
    let rounds = store.rounds(since, args.target.as_deref())?;
    if cli.global.format == Format::Json {
        return Ok(Outcome::text(
            serde_json::to_string_pretty(&rounds).unwrap_or_default(),
            Exit::Pass,
        ));
    }
    let mut out = format!("{} round(s)\n", rounds.len());
    for r in &rounds {
        out.push_str(&format!(
            "{}  {:>6} ms  {} pass, {} fail, {} unreachable\n",
            monitor::rfc3339(r.at),
            r.duration_ms,
            r.passed,
            r.failed,
            r.unknown
        ));
        for p in &r.problems {
            let what = if p.check.is_empty() {
                "(target)".to_string()
            } else {
                p.check.clone()
            };
            out.push_str(&format!(
                "    {} {} {what}: {}\n",
                p.status, p.target, p.message
            ));
        }
    }
    Ok(Outcome::text(out.trim_end().to_string(), Exit::Pass))
}

/// `drydock outages`.
pub fn outages(cli: &Cli, args: &OutagesArgs) -> Result<Outcome, Error> {
    let store = open_store(cli, args.history.as_ref())?;
    let now = history::now_ms();
    let outages = store.outages(now - args.since.as_millis() as i64)?;
    if cli.global.format == Format::Json {
        return Ok(Outcome::text(
            serde_json::to_string_pretty(&outages).unwrap_or_default(),
            Exit::Pass,
        ));
    }
    let mut out = String::new();
    for (kind, title) in [
        ("check", "Checks that failed"),
        (
            "unreachable",
            "Targets the monitor could not reach (not check failures)",
        ),
    ] {
        let list: Vec<_> = outages.iter().filter(|o| o.kind == kind).collect();
        out.push_str(&format!("{title}: {}\n", list.len()));
        for o in list {
            let to = match (o.to, o.ended_by.as_deref()) {
                (Some(to), Some("unwatched")) => {
                    format!("{} (no longer watched)", monitor::rfc3339(to))
                }
                (Some(to), _) => monitor::rfc3339(to),
                (None, _) => "now (ongoing)".into(),
            };
            let lasted = o.to.unwrap_or(now) - o.from;
            let what = if o.check.is_empty() {
                o.target.clone()
            } else {
                format!("{} · {}", o.target, o.check)
            };
            out.push_str(&format!(
                "  {what}: {} → {to}, {}\n      {}\n",
                monitor::rfc3339(o.from),
                monitor::lasted_text(lasted),
                o.message
            ));
        }
    }
    Ok(Outcome::text(out.trim_end().to_string(), Exit::Pass))
}
