//! The RunReport model and its renderers.
//!
//! Everything a run found ends up in one [`RunReport`]; the terminal summary and the JSON
//! output are renderings of it. Nothing here talks to the engine or runs anything.

pub mod github;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod summary;
pub mod terminal;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::outcome::{CheckResult, FailureDetail, PathChange, ScenarioKind, Verdict};
use crate::secret::Secrets;
pub use crate::written::TaskChange;
use crate::written::Writer;

/// The version of the JSON report's shape; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a run found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The command that made the report.
    #[serde(default)]
    pub command: Command,
    /// The verdict.
    pub verdict: Verdict,
    /// The project's name.
    pub project: String,
    /// This run's id (as in the containers' `io.drydock.run` label).
    pub run_id: String,
    /// Which images were used and why.
    pub images: ImagesReport,
    /// One entry per scenario, in the order fresh, upgrade, idempotence, then with `reboot`
    /// fresh-reboot and upgrade-reboot.
    pub scenarios: Vec<ScenarioReport>,
    /// The state diff between fresh and upgrade, when both got that far.
    pub diff: Option<DiffReport>,
    /// The committed state snapshot compared with the fresh result, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotReport>,
    /// When the verdict is `error`: what part of the infrastructure failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<InfrastructureError>,
    /// Containers kept with `--keep`: scenario and container id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<KeptContainer>,
    /// The hosts each scenario stood up (`run` and `promote`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostReport>,
    /// Plays whose `hosts:` pattern matched no host of the scenarios.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched_plays: Vec<UnmatchedPlay>,
    /// The platforms the run covered (projects with `platforms:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// The units (platform × hosts) the run covered, by id: a shard's share, or all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    /// What was tested, so that shard reports of different trees are never merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Units that failed and passed when run again (`report merge` of a rerun).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flaky_units: Vec<String>,
    /// Wall time per stage.
    pub timings_ms: Timings,
    /// Wall time of the whole run.
    pub duration_ms: u64,
}

/// What a run tested: the commit the working tree is on (with whether it had uncommitted
/// changes) and a digest of the configuration and check files; with `--partition`, the shard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Source {
    /// `git rev-parse HEAD` of the project, when it is in a repository.
    pub commit: Option<String>,
    /// Whether the working tree differed from that commit.
    pub dirty: bool,
    /// A digest of drydock.yaml and every check file.
    pub config_digest: String,
    /// The shard, `hash:K/N`, when the run was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Every unit of the project (a shard's report names its share in `units`).
    #[serde(default)]
    pub all_units: Vec<String>,
    /// Where a file of the repository can be read at a commit, with `{commit}`, `{file}` and
    /// `{line}` to fill in (from `GITHUB_SERVER_URL`/`GITHUB_REPOSITORY`, or the `origin`
    /// remote of a GitHub or GitLab repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
}

/// The command that made a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// `drydock run`.
    #[default]
    Run,
    /// `drydock check`.
    Check,
    /// `drydock diff`.
    Diff,
    /// `drydock promote`.
    Promote,
}

impl Command {
    /// The command's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Check => "check",
            Command::Diff => "diff",
            Command::Promote => "promote",
        }
    }
}

/// A host of the project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostReport {
    /// Its name.
    pub name: String,
    /// Its groups.
    pub groups: Vec<String>,
}

/// A play that matched no host, and where it is written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnmatchedPlay {
    /// The play's name.
    pub play: String,
    /// Its `hosts:` pattern.
    pub pattern: String,
    /// The playbook.
    pub file: String,
    /// The play's line.
    pub line: usize,
}

/// A container left running by `--keep`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeptContainer {
    /// The scenario it belongs to.
    pub scenario: String,
    /// The container id.
    pub id: String,
}

/// The images of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImagesReport {
    /// The default image's tag.
    pub default: String,
    /// Whether it was built by this run.
    pub default_built: bool,
    /// The production image's reference.
    pub production: String,
    /// Why that production image.
    pub production_source: String,
    /// Whether it was built by this run.
    pub production_built: bool,
    /// The production images of each `production.upgrade_from` ref.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrade_from: Vec<RefImages>,
}

/// The production images of an older ref (`production.upgrade_from`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefImages {
    /// Its scenario, `upgrade@<ref>`.
    pub scenario: String,
    /// The images.
    pub production: String,
    /// Why those.
    pub production_source: String,
    /// Whether this run built them.
    pub production_built: bool,
}

/// An infrastructure failure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InfrastructureError {
    /// The part that failed (`docker engine`, `package mirror`, ...).
    pub part: String,
    /// What happened.
    pub message: String,
}

/// One scenario's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// `fresh`, `upgrade`, `upgrade@<ref>`, `idempotence`, `fresh-reboot`, `upgrade-reboot`;
    /// `promote`; a checked target's label.
    pub name: ScenarioKind,
    /// The platform (projects with `platforms:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `pass`, `fail` or `error`.
    pub status: Verdict,
    /// The provisioning run.
    pub provision: Option<ProvisionReport>,
    /// Check results.
    pub checks: Vec<CheckResult>,
    /// Paths the second provisioning changed (idempotence only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_paths: Vec<PathChange>,
    /// The changes the second provisioning reported, task by task, with what Ansible's
    /// `--diff` showed (idempotence only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<TaskChange>,
    /// For each of `changed_paths`, the task that changed it, where one is known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub written_by: BTreeMap<String, WrittenBy>,
    /// How many times the scenario ran (more than 1 after infrastructure retries).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub attempts: u32,
    /// Why the scenario did not pass, in one sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// One provisioning run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvisionReport {
    /// The host, for a single-host project (several hosts: see `hosts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The platform (projects with `platforms:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `pass`, `fail` or `error`.
    pub status: Verdict,
    /// Changes the provisioner reported (`null` when it cannot tell).
    pub changed: Option<u32>,
    /// Tasks that reported a change.
    pub changed_tasks: Vec<String>,
    /// The task that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_task: Option<String>,
    /// Where the failed task is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_file: Option<String>,
    /// The failed task's line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_line: Option<usize>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The part of the infrastructure that failed, when it was not the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<String>,
    /// What the failed task ran and printed (exit code, command, output tails), the status
    /// and journal of a unit that failed to start, and drydock's hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<FailureDetail>,
    /// The whole output (secrets masked).
    pub log: String,
    /// Wall time.
    pub duration_ms: u64,
    /// Per host, when there are several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostProvision>,
}

/// What one provisioning run did on one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostProvision {
    /// The host.
    pub host: String,
    /// `pass`, `fail` or `error`.
    pub status: Verdict,
    /// Changes on this host.
    pub changed: Option<u32>,
    /// Tasks that changed something on this host.
    pub changed_tasks: Vec<String>,
    /// The task that failed on this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task: Option<String>,
    /// Why it failed on this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the failed task ran and printed on this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<FailureDetail>,
}

/// Fresh vs upgrade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiffReport {
    /// The host compared (in `hosts`; absent on the whole run's diff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The platform compared on (in `hosts`, projects with `platforms:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `pass` when no finding remains after `diff.allow`.
    pub status: Verdict,
    /// Paths only the fresh install has.
    pub only_in_fresh: Vec<String>,
    /// Paths only the upgraded server has.
    pub only_in_upgrade: Vec<String>,
    /// Paths on both whose state differs.
    pub changed: Vec<PathChange>,
    /// Findings accepted by `diff.allow`.
    pub allowed: Vec<String>,
    /// Paths that differ on disk only in per-container values (container id, addresses),
    /// dated fields or per-machine content, and so are not findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normalised: Vec<String>,
    /// How many paths each side had.
    pub compared: [usize; 2],
    /// One diff per host (fresh `web` against upgraded `web`); the fields above sum them up,
    /// as `HOST:/path` when there are several hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<DiffReport>,
    /// The upgrade scenario compared (`upgrade@<ref>`, in `upgrades`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The ref its production image was built from (in `upgrades`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// One diff per `production.upgrade_from` ref; the lists above carry their findings too,
    /// as `upgrade@<ref>:<path as listed there>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<DiffReport>,
    /// For each finding, by the path exactly as listed, the task that last wrote it, where
    /// one is known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub written_by: BTreeMap<String, WrittenBy>,
}

/// The task behind a path: which scenario's provisioning (or the production image's build)
/// last wrote it, the task and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenBy {
    /// `production` (the production image's build), `fresh`, `upgrade`, `upgrade@<ref>`.
    pub scenario: String,
    /// The task's name.
    pub task: String,
    /// Its file, in the tree that was provisioned (the ref's for `production`).
    pub file: String,
    /// Its line.
    pub line: usize,
    /// The commit of that tree, for `production`; `null` for the working tree.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
}

impl WrittenBy {
    /// `task "Old vhost" (site.yml:9) in the production build of 1739086`, or `… in upgrade`.
    pub fn describe(&self) -> String {
        format!(
            "task \"{}\" ({}:{}) in {}",
            self.task,
            self.file,
            self.line,
            self.place()
        )
    }

    /// Which provisioning it was: `the production build of 1739086`, `upgrade@v1`, ….
    pub fn place(&self) -> String {
        match (self.scenario.as_str(), &self.git_ref) {
            ("production", Some(commit)) => {
                format!("the production build of {}", short(commit))
            }
            ("production", None) => "the production build".to_string(),
            ("idempotence", _) => "the second run".to_string(),
            (scenario, _) => scenario.to_string(),
        }
    }

    /// Where the task can be read, when the repository's web address is known: at the
    /// production ref's commit, or at the commit the run tested.
    pub fn url(&self, source: Option<&Source>) -> Option<String> {
        let source = source?;
        let template = source.file_url.as_ref()?;
        let commit = self.git_ref.as_ref().or(source.commit.as_ref())?;
        if self.file.starts_with('/') {
            return None;
        }
        Some(
            template
                .replace("{commit}", commit)
                .replace("{file}", &self.file)
                .replace("{line}", &self.line.to_string()),
        )
    }

    /// `writer`'s entry, as `scenario` (of `git_ref`) wrote.
    pub fn of(writer: &Writer, scenario: &str, git_ref: Option<&str>) -> WrittenBy {
        WrittenBy {
            scenario: scenario.to_string(),
            task: writer.task.clone(),
            file: writer.file.clone(),
            line: writer.line,
            git_ref: git_ref.map(String::from),
        }
    }
}

/// The working tree's fresh state vs the committed snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotReport {
    /// The snapshot file.
    pub file: String,
    /// `pass` when identical (or when differences are informational).
    pub status: Verdict,
    /// Whether differences fail the run (`--locked`).
    pub locked: bool,
    /// Differences, one line each (`+ /path`, `- /path`, `~ /path (mode)`).
    pub differences: Vec<String>,
}

/// Wall time per stage, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Base and default image.
    pub images: u64,
    /// Production image.
    pub production: u64,
    /// The fresh scenario's provisioning.
    pub fresh: u64,
    /// The upgrade scenario's provisioning.
    pub upgrade: u64,
    /// The idempotence re-run.
    pub idempotence: u64,
    /// Rebooting and the checks after it (`reboot`), wall.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reboot: u64,
    /// Checks (all scenarios, wall).
    pub checks: u64,
    /// State manifests and comparison.
    pub diff: u64,
    /// Removing containers.
    pub cleanup: u64,
}

impl ScenarioReport {
    /// A passing scenario of kind `name` with nothing in it yet.
    pub fn new(name: ScenarioKind) -> Self {
        ScenarioReport {
            name,
            platform: None,
            status: Verdict::Pass,
            provision: None,
            checks: Vec::new(),
            changed_paths: Vec::new(),
            changes: Vec::new(),
            written_by: BTreeMap::new(),
            attempts: 1,
            message: None,
            duration_ms: 0,
        }
    }
}

impl RunReport {
    /// A passing report of `command` with nothing in it yet.
    pub fn new(command: Command, project: &str, run_id: &str) -> Self {
        RunReport {
            schema_version: SCHEMA_VERSION,
            command,
            verdict: Verdict::Pass,
            project: project.to_string(),
            run_id: run_id.to_string(),
            images: ImagesReport::default(),
            scenarios: Vec::new(),
            diff: None,
            snapshot: None,
            error: None,
            kept: Vec::new(),
            hosts: Vec::new(),
            unmatched_plays: Vec::new(),
            platforms: Vec::new(),
            units: Vec::new(),
            source: None,
            flaky_units: Vec::new(),
            timings_ms: Timings::default(),
            duration_ms: 0,
        }
    }

    /// Replaces every secret value anywhere in the report (logs, messages, diffs) with `***`,
    /// and redacts URL credentials. Masking works on the serialized text, so no field escapes
    /// it, and fails closed: a report that cannot be masked and read back is withheld (its
    /// verdict stays; its content goes), never written unmasked.
    pub fn mask(&mut self, secrets: &Secrets) {
        let masked = serde_json::to_string(&*self)
            .ok()
            .map(|text| secrets.mask_serialized(&text))
            .and_then(|text| serde_json::from_str::<RunReport>(&text).ok());
        match masked {
            Some(report) => *self = report,
            None => self.withhold(),
        }
    }

    /// The report with its content replaced by a note that it was withheld.
    fn withhold(&mut self) {
        let verdict = self.verdict;
        *self = RunReport {
            verdict,
            error: Some(InfrastructureError {
                part: "drydock".into(),
                message: "the report could not be masked, so its content is withheld rather than written with a secret in it".into(),
            }),
            ..RunReport::new(self.command, &self.project, &self.run_id)
        };
    }
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl DiffReport {
    /// Adds `other`'s findings (and their writers) to these, each path renamed by `named`.
    fn take_findings(&mut self, other: &DiffReport, named: impl Fn(&str) -> String) {
        self.only_in_fresh
            .extend(other.only_in_fresh.iter().map(|p| named(p)));
        self.only_in_upgrade
            .extend(other.only_in_upgrade.iter().map(|p| named(p)));
        self.changed
            .extend(other.changed.iter().map(|c| PathChange {
                path: named(&c.path),
                ..c.clone()
            }));
        self.allowed.extend(other.allowed.iter().map(|p| named(p)));
        self.normalised
            .extend(other.normalised.iter().map(|p| named(p)));
        self.written_by
            .extend(other.written_by.iter().map(|(p, w)| (named(p), w.clone())));
    }

    /// A diff with this verdict and no findings yet, of no host or platform in particular.
    pub fn empty(status: Verdict) -> DiffReport {
        DiffReport {
            host: None,
            platform: None,
            status,
            only_in_fresh: Vec::new(),
            only_in_upgrade: Vec::new(),
            changed: Vec::new(),
            allowed: Vec::new(),
            normalised: Vec::new(),
            compared: [0, 0],
            hosts: Vec::new(),
            scenario: None,
            git_ref: None,
            upgrades: Vec::new(),
            written_by: BTreeMap::new(),
        }
    }
}

/// A commit's first 12 hex digits.
fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// A finding's path on the server: `upgrade@v1:web:/etc/x` → `/etc/x`.
pub fn bare_path(listed: &str) -> &str {
    match listed.rfind(":/") {
        Some(at) => &listed[at + 1..],
        None => listed,
    }
}

/// A task to paste into the playbook that removes what older versions left at `paths`
/// (found only in upgraded servers), each path once.
pub fn cleanup_task(paths: &[&str]) -> Option<String> {
    let mut bare: Vec<&str> = paths.iter().map(|p| bare_path(p)).collect();
    bare.sort();
    bare.dedup();
    match bare.as_slice() {
        [] => None,
        [one] => Some(format!(
            "- name: Remove {one}, left by older versions\n  ansible.builtin.file:\n    path: {one}\n    state: absent\n"
        )),
        many => {
            let items: String = many.iter().map(|p| format!("    - {p}\n")).collect();
            Some(format!(
                "- name: Remove what older versions left\n  ansible.builtin.file:\n    path: \"{{{{ item }}}}\"\n    state: absent\n  loop:\n{items}"
            ))
        }
    }
}

/// The whole run's diff from the hosts' diffs: one host's fields as they are, several hosts'
/// as `HOST:/path`.
pub fn combine(hosts: Vec<DiffReport>) -> DiffReport {
    let several = hosts.len() > 1;
    let named = |host: &Option<String>, path: &str| match (several, host) {
        (true, Some(h)) => format!("{h}:{path}"),
        _ => path.to_string(),
    };
    let mut all = DiffReport::empty(Verdict::all(hosts.iter().map(|h| h.status)));
    for h in &hosts {
        all.only_in_fresh
            .extend(h.only_in_fresh.iter().map(|p| named(&h.host, p)));
        all.only_in_upgrade
            .extend(h.only_in_upgrade.iter().map(|p| named(&h.host, p)));
        all.changed.extend(h.changed.iter().map(|c| PathChange {
            path: named(&h.host, &c.path),
            ..c.clone()
        }));
        all.allowed
            .extend(h.allowed.iter().map(|p| named(&h.host, p)));
        all.normalised
            .extend(h.normalised.iter().map(|p| named(&h.host, p)));
        all.written_by.extend(
            h.written_by
                .iter()
                .map(|(p, w)| (named(&h.host, p), w.clone())),
        );
        all.compared[0] += h.compared[0];
        all.compared[1] += h.compared[1];
    }
    all.hosts = hosts;
    all
}

/// The run's diff from its units' (each with its hosts combined): one unit's as it is, without
/// platforms; several platforms' named by platform; the `upgrade_from` refs' diffs (in
/// `upgrades`, each with its `scenario`) combined the same way, ref by ref, and attached.
pub fn across_units(
    main: Vec<DiffReport>,
    upgrades: Vec<DiffReport>,
    platforms: bool,
) -> Option<DiffReport> {
    let across = |mut diffs: Vec<DiffReport>| match diffs.len() {
        0 => None,
        1 if !platforms => diffs.pop(),
        _ => Some(combine_platforms(diffs)),
    };
    let mut groups: Vec<Vec<DiffReport>> = Vec::new();
    for d in upgrades {
        match groups.iter_mut().find(|g| g[0].scenario == d.scenario) {
            Some(group) => group.push(d),
            None => groups.push(vec![d]),
        }
    }
    let upgrades: Vec<DiffReport> = groups
        .into_iter()
        .filter_map(|group| {
            let (scenario, git_ref) = (group[0].scenario.clone(), group[0].git_ref.clone());
            across(group).map(|d| DiffReport {
                scenario,
                git_ref,
                ..d
            })
        })
        .collect();
    match (across(main), upgrades.is_empty()) {
        (main, true) => main,
        (main, false) => Some(with_upgrades(
            main.unwrap_or_else(|| DiffReport::empty(Verdict::Pass)),
            upgrades,
        )),
    }
}

/// The run's diff with the diffs of its `upgrade_from` refs: their findings join the lists
/// (and `written_by`) as `upgrade@<ref>:<path as listed there>`, their verdicts the verdict.
pub fn with_upgrades(mut main: DiffReport, upgrades: Vec<DiffReport>) -> DiffReport {
    for u in &upgrades {
        let scenario = u.scenario.clone().unwrap_or_else(|| "upgrade@?".into());
        main.status = main.status.and(u.status);
        main.take_findings(u, |p| format!("{scenario}:{p}"));
    }
    main.upgrades = upgrades;
    main
}

/// The diff of several platforms: every finding as `PLATFORM/HOST:/path` (or `PLATFORM:/path`
/// for one host), and in `hosts` every platform's per-host diffs, each naming its platform.
pub fn combine_platforms(platforms: Vec<DiffReport>) -> DiffReport {
    let mut all = DiffReport::empty(Verdict::all(platforms.iter().map(|d| d.status)));
    for d in platforms {
        let platform = d.platform.clone().unwrap_or_else(|| "default".into());
        let several_hosts = d.hosts.len() > 1;
        for h in &d.hosts {
            let named = |path: &str| match (several_hosts, &h.host) {
                (true, Some(host)) => format!("{platform}/{host}:{path}"),
                _ => format!("{platform}:{path}"),
            };
            all.take_findings(h, named);
        }
        all.compared[0] += d.compared[0];
        all.compared[1] += d.compared[1];
        all.hosts.extend(d.hosts);
    }
    all
}

/// What a failed task's detail adds under its message, as labelled blocks: the command and its
/// exit code, the last lines of its output, a unit's status and journal. (The message already
/// carries the last lines said and drydock's hint.)
pub fn detail_blocks(d: &FailureDetail) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(cmd) = &d.cmd {
        let rc = d.rc.map(|rc| format!(" (exit {rc})")).unwrap_or_default();
        out.push(("command", format!("{cmd}{rc}")));
    }
    let last = |text: &str, n: usize| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    if let Some(text) = &d.stderr {
        out.push(("stderr", last(text, 10)));
    }
    if let Some(text) = &d.stdout {
        out.push(("stdout", last(text, 10)));
    }
    if let Some(text) = &d.module_stderr {
        out.push((
            "module stderr",
            text.lines().take(10).collect::<Vec<_>>().join("\n"),
        ));
    }
    if let Some(text) = &d.exception {
        out.push(("exception", text.clone()));
    }
    if let Some(text) = &d.unit_status {
        out.push(("unit status and journal", text.clone()));
    }
    out
}

/// Renders the report as JSON.
pub fn to_json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_as_it_was_written() {
        let report = RunReport::new(Command::Run, "hello", "r1");
        let text = to_json(&report);
        let back: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(to_json(&back), text);
    }

    #[test]
    fn a_report_that_cannot_be_masked_is_withheld_not_written() {
        let mut report = RunReport::new(Command::Run, "hello", "r1");
        report.verdict = Verdict::Fail;
        let mut scenario = ScenarioReport::new(ScenarioKind::Fresh);
        scenario.message = Some("token s3cret in \"quotes\"".into());
        report.scenarios.push(scenario);
        let mut masked = report.clone();
        masked.mask(&Secrets::new(["s3cret".to_string()]));
        assert_eq!(
            masked.scenarios[0].message.as_deref(),
            Some("token *** in \"quotes\"")
        );
        // A secret that is part of the JSON's own structure breaks it when masked.
        let mut broken = report.clone();
        broken.mask(&Secrets::new(["\":\"".to_string()]));
        assert!(broken.scenarios.is_empty());
        assert_eq!(broken.verdict, Verdict::Fail);
        assert!(!to_json(&broken).contains("s3cret"));
        assert!(broken.error.unwrap().message.contains("withheld"));
    }
}
