//! Command-line definitions (clap derive): global options and one `*Args` struct per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// drydock: test-driven infrastructure in Docker containers.
///
/// Provisions a fresh server and an upgraded one with your working tree, checks both, checks
/// idempotence and compares their filesystem state.
#[derive(Debug, Parser)]
#[command(name = "drydock", version, about, long_about = None)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The project file (default: drydock.yaml in this folder or a parent).
    #[arg(long, global = true, env = "DRYDOCK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human, env = "DRYDOCK_FORMAT")]
    pub format: Format,
    /// When the Docker engine does not answer, keep trying for this long (e.g. 10m) before
    /// giving up with exit 3, showing a countdown.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, env = "DRYDOCK_WAIT_FOR_INFRA")]
    pub wait_for_infra: Option<std::time::Duration>,
    /// No progress output; only the summary (and errors).
    #[arg(long, short, global = true, env = "DRYDOCK_QUIET")]
    pub quiet: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A summary for people.
    Human,
    /// The JSON report.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Provision fresh and upgraded containers with the working tree, check them, check
    /// idempotence and compare their state.
    Run(RunArgs),
    /// Run the checks against a running container, an image, or this machine (`local`).
    Check(CheckArgs),
    /// Check files: `drydock checks import goss.yaml` converts a goss file.
    Checks(ChecksCommand),
    /// Write a starter check file from a running container and the last run's record of what
    /// the playbook changed: one check per managed thing, each naming the task that made it
    /// (never overwrites a file).
    Suggest(SuggestArgs),
    /// Compare the filesystem state of two containers or images.
    Diff(DiffArgs),
    /// Write the fresh install's state as a reviewable text file (drydock.state).
    Snapshot(SnapshotArgs),
    /// Print the plan: the units (platform × hosts) with their ids, their scenarios and the
    /// checks each runs or skips, without running anything.
    List(ListArgs),
    /// Shard reports: `drydock report merge A.json B.json ...`.
    Report(ReportCommand),
    /// Remove containers left by drydock runs whose process is gone.
    Clean(CleanArgs),
    /// After a merge: provision the default image with HEAD, check it, and commit it as the
    /// production image (drydock/<name>:production and :production-<commit>).
    Promote(PromoteArgs),
    /// Install or remove a git pre-push hook that runs `drydock run`.
    Hook(HookArgs),
    /// Set up drydock in an existing Ansible repository: writes drydock.yaml, the default
    /// image's Dockerfile and starter checks from the playbooks (never overwrites a file).
    Init(InitArgs),
    /// Check what runs need from this machine and its engine, each line with what to do:
    /// the engine and its API, cgroups and a systemd boot, Ansible and community.docker,
    /// debootstrap, disk space, the registry.
    Doctor,
    /// Print a JSON Schema: `config` (drydock.yaml), `checks` (check files) or `report` (the
    /// JSON report), for editors (yaml-language-server) and validators.
    Schema(SchemaArgs),
    /// Print a shell completion script: `drydock completions bash > /etc/bash_completion.d/drydock`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `drydock man > drydock.1`.
    Man,
    /// Run the checks against live targets, round after round, as monitoring: confirmed
    /// failures and recoveries are notified once each.
    Watch(Box<WatchArgs>),
    /// The watch rounds in the history store, with what did not pass.
    History(HistoryArgs),
    /// What was down, from when to when, for how long (from the history store).
    Outages(OutagesArgs),
    /// Serve the history store over HTTP: the JSON API, Prometheus metrics and a dashboard.
    Serve(ServeArgs),
}

/// `drydock serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(
        long,
        value_name = "ADDRESS:PORT",
        default_value = "127.0.0.1:8080",
        env = "DRYDOCK_LISTEN"
    )]
    pub listen: std::net::SocketAddr,
    /// The history store (default: watch.history, else .drydock/history.db).
    #[arg(long, value_name = "PATH", env = "DRYDOCK_HISTORY")]
    pub history: Option<PathBuf>,
    /// Who may use the API.
    #[command(flatten)]
    pub access: AccessArgs,
}

/// Who may use the HTTP API (`serve`, `watch --listen`).
#[derive(Debug, Args, Clone, Default)]
pub struct AccessArgs {
    /// Every route but /healthz then needs `Authorization: Bearer <token>`, the token being
    /// this file's content (or DRYDOCK_API_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Also answer requests whose Host is this name (repeatable); the listen address and
    /// `localhost` are always accepted.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Listen beyond loopback without a token (anyone who reaches the port reads the API).
    #[arg(long)]
    pub insecure_no_token: bool,
}

/// `drydock watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Targets: `container:NAME`, `local`, `ssh://[user@]host[:port]` (default: watch.targets).
    pub targets: Vec<String>,
    /// Which checks.
    #[command(flatten)]
    pub select: SelectArgs,
    /// One round, then exit: 0 all pass, 1 a confirmed failure, 3 a target unreachable.
    #[arg(long)]
    pub once: bool,
    /// Time between rounds (default: watch.every, else 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<std::time::Duration>,
    /// Re-runs of a failing check before it counts (default 2).
    #[arg(long, value_name = "N")]
    pub confirm: Option<u32>,
    /// Pause between those re-runs (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub confirm_interval: Option<std::time::Duration>,
    /// Consecutive passes that end a failure (default 2).
    #[arg(long, value_name = "N")]
    pub recover: Option<u32>,
    /// POST each notification (JSON) here.
    #[arg(long, value_name = "URL", value_parser = crate::config::watch::http_url)]
    pub webhook: Option<String>,
    /// Sign webhook bodies (X-Drydock-Signature) with the HMAC-SHA256 secret in this file (or
    /// in DRYDOCK_WEBHOOK_SECRET).
    #[arg(long, value_name = "PATH")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Refused: a secret on the command line is visible to every user in `ps`.
    #[arg(long, value_name = "SECRET", hide = true)]
    pub webhook_secret: Option<String>,
    /// Alertmanager's base URL (alerts go to /api/v2/alerts).
    #[arg(long, value_name = "URL", value_parser = crate::config::watch::http_url)]
    pub alertmanager: Option<String>,
    /// SMTP relay, `host` or `host:port`, for e-mail (with --mail-from and --mail-to).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub smtp: Option<String>,
    /// The mails' sender.
    #[arg(long, value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// A recipient (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub mail_to: Vec<String>,
    /// How the SMTP connection is protected: none (default), starttls (required) or tls.
    #[arg(long, value_name = "MODE", value_parser = ["none", "starttls", "tls"])]
    pub smtp_tls: Option<String>,
    /// Log in to the SMTP relay as this user (needs --smtp-tls starttls or tls; the password
    /// comes from DRYDOCK_SMTP_PASSWORD).
    #[arg(long, value_name = "USER")]
    pub smtp_user: Option<String>,
    /// A file holding the SMTP password (or set DRYDOCK_SMTP_PASSWORD).
    #[arg(long, value_name = "PATH")]
    pub smtp_password_file: Option<PathBuf>,
    /// Refused: a secret on the command line is visible to every user in `ps`.
    #[arg(long, value_name = "PASSWORD", hide = true)]
    pub smtp_password: Option<String>,
    /// A root certificate (PEM) to trust for the SMTP relay, beside the public ones.
    #[arg(long, value_name = "PATH")]
    pub smtp_ca_file: Option<PathBuf>,
    /// A URL pinged every round (`/fail` appended when something is down).
    #[arg(long, value_name = "URL", value_parser = crate::config::watch::http_url)]
    pub heartbeat: Option<String>,
    /// The history store (default: watch.history, else .drydock/history.db).
    #[arg(long, value_name = "PATH", env = "DRYDOCK_HISTORY")]
    pub history: Option<PathBuf>,
    /// An ssh client configuration (`ssh -F`) for ssh:// targets.
    #[arg(long, value_name = "PATH")]
    pub ssh_config: Option<PathBuf>,
    /// The most read of a command's stdout (and of its stderr) on a target, e.g. 16MiB
    /// (default: watch.max_output, else 16MiB); more is cut, with a note.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_output: Option<usize>,
    /// While watching, serve the HTTP API, metrics and dashboard here (as `drydock serve`).
    #[arg(long, value_name = "ADDRESS:PORT", conflicts_with = "once")]
    pub listen: Option<std::net::SocketAddr>,
    /// Who may use the API.
    #[command(flatten)]
    pub access: AccessArgs,
}

/// `drydock history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this target.
    #[arg(long)]
    pub target: Option<String>,
    /// How far back (default 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1d")]
    pub since: std::time::Duration,
    /// The history store (default: watch.history, else .drydock/history.db).
    #[arg(long, value_name = "PATH", env = "DRYDOCK_HISTORY")]
    pub history: Option<PathBuf>,
}

/// `drydock outages`.
#[derive(Debug, Args)]
pub struct OutagesArgs {
    /// How far back (default 7d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "7d")]
    pub since: std::time::Duration,
    /// The history store (default: watch.history, else .drydock/history.db).
    #[arg(long, value_name = "PATH", env = "DRYDOCK_HISTORY")]
    pub history: Option<PathBuf>,
}

/// `drydock init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The repository (default: this folder).
    pub path: Option<PathBuf>,
}

/// Which units (platform × hosts) a command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct UnitArgs {
    /// Only this platform (repeatable).
    #[arg(long = "platform", value_name = "NAME")]
    pub platforms: Vec<String>,
    /// Only this unit, by its id from `drydock list --format json` (repeatable): the units
    /// `drydock report merge --rerun-flaky` names.
    #[arg(long = "unit", value_name = "ID")]
    pub units: Vec<String>,
    /// Only this shard of the units: hash:K/N (K from 1); a unit's shard depends on its id
    /// alone.
    #[arg(long, value_name = "hash:K/N", env = "DRYDOCK_PARTITION")]
    pub partition: Option<crate::plan::Partition>,
}

impl From<&UnitArgs> for crate::plan::UnitChoice {
    fn from(args: &UnitArgs) -> Self {
        crate::plan::UnitChoice {
            platforms: args.platforms.clone(),
            units: args.units.clone(),
            partition: args.partition,
        }
    }
}

/// `drydock promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Which checks.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Which platforms.
    #[command(flatten)]
    pub units: UnitArgs,
    /// Report files.
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Push the image to `production.image` (credentials: Docker's config.json or
    /// DRYDOCK_REGISTRY_USER / DRYDOCK_REGISTRY_PASSWORD).
    #[arg(long, env = "DRYDOCK_PUSH")]
    pub push: bool,
    /// Promote even when checks fail.
    #[arg(long)]
    pub force: bool,
}

/// `drydock schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum)]
    pub which: SchemaKind,
}

/// The schemas `drydock schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// drydock.yaml.
    Config,
    /// A check file.
    Checks,
    /// The JSON report (`--format json`, `--json PATH`).
    Report,
}

/// `drydock completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `drydock hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// install or uninstall.
    #[arg(value_enum)]
    pub action: HookAction,
    /// Replace a pre-push hook drydock did not write.
    #[arg(long)]
    pub force: bool,
}

/// What `drydock hook` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookAction {
    /// Write .git/hooks/pre-push.
    Install,
    /// Remove it.
    Uninstall,
}

/// Which checks run.
#[derive(Debug, Clone, Args, Default)]
pub struct SelectArgs {
    /// Only checks with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// No checks with this tag (repeatable).
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
    /// Only checks whose name contains this text (repeatable).
    #[arg(long = "filter", value_name = "TEXT")]
    pub filters: Vec<String>,
}

impl From<&SelectArgs> for crate::check::Selection {
    fn from(args: &SelectArgs) -> Self {
        crate::check::Selection {
            tags: args.tags.clone(),
            skip_tags: args.skip_tags.clone(),
            filters: args.filters.clone(),
        }
    }
}

/// Report files, for CI.
#[derive(Debug, Clone, Args, Default)]
pub struct ReportArgs {
    /// Also write the JSON report here (what `--format json` prints), e.g. a shard's report
    /// for `drydock report merge`.
    #[arg(long, value_name = "PATH", env = "DRYDOCK_JSON")]
    pub json: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "PATH", env = "DRYDOCK_JUNIT")]
    pub junit: Option<PathBuf>,
    /// Also write a markdown report (a pull-request comment body) here.
    #[arg(long, value_name = "PATH", env = "DRYDOCK_MARKDOWN")]
    pub markdown: Option<PathBuf>,
}

/// `drydock run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which checks.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Report files.
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Keep the containers and print how to enter them.
    #[arg(long, env = "DRYDOCK_KEEP")]
    pub keep: bool,
    /// Retries of a scenario after an infrastructure error.
    #[arg(long, default_value_t = 1, env = "DRYDOCK_RETRIES")]
    pub retries: u32,
    /// Fail when the fresh state differs from the committed drydock.state.
    #[arg(long, env = "DRYDOCK_LOCKED")]
    pub locked: bool,
    /// Provisioning timeout (e.g. 10m), overriding provision.timeout.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub provision_timeout: Option<std::time::Duration>,
    /// Treat checks that passed only on a retry as failures.
    #[arg(long, env = "DRYDOCK_FAIL_ON_FLAKY")]
    pub fail_on_flaky: bool,
    /// After provisioning, reboot each scenario's containers and run the checks again (as the
    /// project's `reboot: true`; needs `images.default.init: systemd`).
    #[arg(long, env = "DRYDOCK_REBOOT")]
    pub reboot: bool,
    /// Do not record which task wrote which path, nor show the second run's `--diff`.
    #[arg(long, env = "DRYDOCK_NO_BLAME")]
    pub no_blame: bool,
    /// Record the run in this history store (default: watch.history, else
    /// .drydock/history.db), for `drydock serve`.
    #[arg(long, value_name = "PATH", env = "DRYDOCK_HISTORY")]
    pub history: Option<PathBuf>,
    /// Which units (platforms, a shard, a rerun).
    #[command(flatten)]
    pub units: UnitArgs,
    /// How many containers provision at once (default: from the cores and memory).
    #[arg(long, short = 'j', value_name = "N", env = "DRYDOCK_JOBS")]
    pub jobs: Option<usize>,
}

/// `drydock list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which checks.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Which units.
    #[command(flatten)]
    pub units: UnitArgs,
}

/// `drydock checks`.
#[derive(Debug, Args)]
pub struct ChecksCommand {
    /// What to do with check files.
    #[command(subcommand)]
    pub action: ChecksAction,
}

/// What `drydock checks` does.
#[derive(Debug, Subcommand)]
pub enum ChecksAction {
    /// Convert a goss file (goss.yaml) to drydock checks, naming what could not be converted.
    Import(ImportArgs),
}

/// `drydock checks import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The goss file.
    #[arg(value_name = "GOSS.yaml")]
    pub goss: PathBuf,
    /// Write the checks to this file (never overwritten) instead of stdout.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// `drydock suggest`.
#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// `container:NAME_OR_ID` or `image:REF` (default: the project's production image).
    pub target: Option<String>,
    /// The check file to write, never overwritten (default: suggested.yaml in the folder of
    /// the project's first `checks` pattern).
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// `drydock report`.
#[derive(Debug, Args)]
pub struct ReportCommand {
    /// What to do with reports.
    #[command(subcommand)]
    pub action: ReportAction,
}

/// What `drydock report` does.
#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Merge the JSON reports of shards (and of a rerun) into one verdict, JSON, JUnit and
    /// markdown; reports of different commits or configurations are refused.
    Merge(MergeArgs),
}

/// `drydock report merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JSON reports (`drydock run --format json`), a rerun's last.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// When the failed units are few (at most --rerun-threshold of all units), write their
    /// ids, one per line, to this file for one more pass (`drydock run --unit ID ...`); merge
    /// again with the rerun's report last. A unit that failed and then passed in a later
    /// report is flaky. Nothing is written when more units failed than the threshold.
    #[arg(long, value_name = "PATH")]
    pub rerun_flaky: Option<PathBuf>,
    /// The most units, as a share of all, rerun for flakiness (default 10%).
    #[arg(long, value_name = "PERCENT", default_value = "10%", value_parser = parse_percent)]
    pub rerun_threshold: f64,
    /// A unit that passed only on a rerun fails the merged verdict.
    #[arg(long, env = "DRYDOCK_FAIL_ON_FLAKY")]
    pub fail_on_flaky: bool,
    /// Report files.
    #[command(flatten)]
    pub reports_out: ReportArgs,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(n) if (0.0..=100.0).contains(&n) => Ok(n / 100.0),
        _ => Err(format!(
            "`{text}`: expected a share from 0% to 100%, e.g. 10%"
        )),
    }
}

/// `drydock check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// `container:NAME_OR_ID`, `image:REF`, or `local` (the machine drydock runs on).
    pub target: String,
    /// Which checks.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Report files.
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Only checks that apply to this scenario (fresh or upgrade).
    #[arg(long)]
    pub scenario: Option<String>,
}

/// `drydock diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// `container:NAME_OR_ID` or `image:REF`.
    pub a: String,
    /// `container:NAME_OR_ID` or `image:REF`.
    pub b: String,
    /// Roots to compare (default: diff.paths of drydock.yaml, or /etc /var/www /usr/local /opt /srv).
    #[arg(long = "paths", value_delimiter = ',', num_args = 1..)]
    pub paths: Vec<String>,
    /// Extra globs to ignore.
    #[arg(long = "ignore", value_delimiter = ',', num_args = 1..)]
    pub ignore: Vec<String>,
    /// Report files.
    #[command(flatten)]
    pub reports: ReportArgs,
}

/// `drydock snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Where to write it (default: drydock.state beside drydock.yaml).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Which platforms.
    #[command(flatten)]
    pub units: UnitArgs,
}

/// `drydock clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Leftovers of every project, not only this one.
    #[arg(long)]
    pub all: bool,
    /// Also remove this project's images (default, production and their keyed tags); an image
    /// a container still uses is left and named.
    #[arg(long)]
    pub images: bool,
    /// Also remove containers of runs that drydock cannot see from here (another machine,
    /// boot or PID namespace sharing the engine) created longer ago than this, e.g. 24h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<std::time::Duration>,
}

fn parse_size(text: &str) -> Result<usize, String> {
    crate::config::diag::parse_size(text).ok_or_else(|| {
        format!(
            "`{text}`: expected a size such as 16MiB, 512KiB or a number of bytes (at least 1KiB)"
        )
    })
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::diag::parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration; expected e.g. 90s, 10m, 1h"))
}
