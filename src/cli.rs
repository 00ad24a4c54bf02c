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
    /// Run the checks against a running container or an image.
    Check(CheckArgs),
    /// Compare the filesystem state of two containers or images.
    Diff(DiffArgs),
    /// Write the fresh install's state as a reviewable text file (drydock.state).
    Snapshot(SnapshotArgs),
    /// List the checks and scenarios a run would execute, without running anything.
    List(SelectArgs),
    /// Remove containers left by drydock runs whose process is gone.
    Clean(CleanArgs),
    /// After a merge: provision the default image with HEAD, check it, and commit it as the
    /// production image (drydock/<name>:production and :production-<commit>).
    Promote(PromoteArgs),
    /// Install or remove a git pre-push hook that runs `drydock run`.
    Hook(HookArgs),
}

/// `drydock promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Which checks.
    #[command(flatten)]
    pub select: SelectArgs,
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
}

/// `drydock check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// `container:NAME_OR_ID` or `image:REF`.
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
}

/// `drydock clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Leftovers of every project, not only this one.
    #[arg(long)]
    pub all: bool,
    /// Also remove this project's images (default, production and their keyed tags).
    #[arg(long)]
    pub images: bool,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::diag::parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration; expected e.g. 90s, 10m, 1h"))
}
