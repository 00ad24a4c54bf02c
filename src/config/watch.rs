//! `watch:`: how `drydock watch` monitors — the same settings as its flags, which win.

use std::path::PathBuf;
use std::time::Duration;

use super::diag::Diagnostics;
use super::project::{get, optional};
use super::yaml::Node;

/// `watch`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WatchSettings {
    /// `targets`.
    pub targets: Vec<String>,
    /// `every`.
    pub every: Option<Duration>,
    /// `confirm`.
    pub confirm: Option<u32>,
    /// `confirm_interval`.
    pub confirm_interval: Option<Duration>,
    /// `recover`.
    pub recover: Option<u32>,
    /// `concurrency`.
    pub concurrency: Option<usize>,
    /// `webhook`.
    pub webhook: Option<String>,
    /// `webhook_secret_from_env`: the host variable holding the HMAC secret.
    pub webhook_secret_from_env: Option<String>,
    /// `alertmanager`.
    pub alertmanager: Option<String>,
    /// `smtp`.
    pub smtp: Option<SmtpSettings>,
    /// `heartbeat`.
    pub heartbeat: Option<String>,
    /// `history`, relative to the project.
    pub history: Option<PathBuf>,
    /// `retention`.
    pub retention: Option<Duration>,
    /// `ssh_config`, relative to the project.
    pub ssh_config: Option<PathBuf>,
    /// `max_output`: the most read of a command's stdout (and of its stderr) on a target.
    pub max_output: Option<usize>,
}

/// `watch.smtp`.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpSettings {
    /// `server`: `host` or `host:port`.
    pub server: String,
    /// `from`.
    pub from: String,
    /// `to`.
    pub to: Vec<String>,
    /// `tls`: `none`, `starttls` or `tls` (checked).
    pub tls: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `password_from_env`: the host variable holding the password.
    pub password_from_env: Option<String>,
    /// `ca_file`, relative to the project: a PEM root certificate to trust.
    pub ca_file: Option<PathBuf>,
}

/// The values `watch.smtp.tls` and `--smtp-tls` take.
pub const SMTP_TLS: &[&str] = &["none", "starttls", "tls"];

const KEYS: &[&str] = &[
    "targets",
    "every",
    "confirm",
    "confirm_interval",
    "recover",
    "concurrency",
    "webhook",
    "webhook_secret_from_env",
    "alertmanager",
    "smtp",
    "heartbeat",
    "history",
    "retention",
    "ssh_config",
    "max_output",
];

/// `text` when it is an http:// or https:// URL (receivers: webhook, Alertmanager, heartbeat).
pub fn http_url(text: &str) -> Result<String, String> {
    if text.starts_with("http://") || text.starts_with("https://") {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not an http:// or https:// URL"))
    }
}

/// Validates `watch:`.
pub(super) fn watch(diags: &mut Diagnostics<'_>, node: &Node) -> Option<WatchSettings> {
    let entries = diags.map(node, "watch")?;
    diags.known_keys(entries, "watch", KEYS);
    let url = |diags: &mut Diagnostics<'_>, n: &Node, key: &str| {
        let text = diags.non_empty_text(n, key)?;
        match http_url(&text) {
            Ok(url) => Some(url),
            Err(problem) => {
                diags.error(n.pos, key, problem);
                None
            }
        }
    };
    let targets = optional(entries, "targets", |n| diags.text_list(n, "watch.targets"));
    let every = optional(entries, "every", |n| diags.duration(n, "watch.every"));
    let confirm = optional(entries, "confirm", |n| {
        diags.integer(n, "watch.confirm", 0, 20).map(|v| v as u32)
    });
    let confirm_interval = optional(entries, "confirm_interval", |n| {
        diags.duration(n, "watch.confirm_interval")
    });
    let recover = optional(entries, "recover", |n| {
        diags.integer(n, "watch.recover", 1, 100).map(|v| v as u32)
    });
    let concurrency = optional(entries, "concurrency", |n| {
        diags
            .integer(n, "watch.concurrency", 1, 256)
            .map(|v| v as usize)
    });
    let webhook = optional(entries, "webhook", |n| url(diags, n, "watch.webhook"));
    let secret = optional(entries, "webhook_secret_from_env", |n| {
        diags.non_empty_text(n, "watch.webhook_secret_from_env")
    });
    let alertmanager = optional(entries, "alertmanager", |n| {
        url(diags, n, "watch.alertmanager")
    });
    let heartbeat = optional(entries, "heartbeat", |n| url(diags, n, "watch.heartbeat"));
    let history = optional(entries, "history", |n| {
        diags.non_empty_text(n, "watch.history").map(PathBuf::from)
    });
    let retention = optional(entries, "retention", |n| {
        diags.duration(n, "watch.retention")
    });
    let ssh_config = optional(entries, "ssh_config", |n| {
        diags
            .non_empty_text(n, "watch.ssh_config")
            .map(PathBuf::from)
    });
    let max_output = optional(entries, "max_output", |n| diags.size(n, "watch.max_output"));
    let smtp = optional(entries, "smtp", |n| {
        let e = diags.map(n, "watch.smtp")?;
        diags.known_keys(
            e,
            "watch.smtp",
            &[
                "server",
                "from",
                "to",
                "tls",
                "user",
                "password_from_env",
                "ca_file",
            ],
        );
        let field = |diags: &mut Diagnostics<'_>, key: &str| match get(e, key) {
            Some(v) => diags.non_empty_text(v, &format!("watch.smtp.{key}")),
            None => {
                diags.error(
                    n.pos,
                    &format!("watch.smtp.{key}"),
                    format!("missing key `{key}` in `watch.smtp`"),
                );
                None
            }
        };
        let server = field(diags, "server");
        let from = field(diags, "from");
        let to = match get(e, "to") {
            Some(v) => diags.text_list(v, "watch.smtp.to"),
            None => {
                diags.error(n.pos, "watch.smtp.to", "missing key `to` in `watch.smtp`");
                None
            }
        };
        let optional_text = |diags: &mut Diagnostics<'_>, key: &str| match get(e, key) {
            Some(v) => diags
                .non_empty_text(v, &format!("watch.smtp.{key}"))
                .map(Some),
            None => Some(None),
        };
        let tls = match get(e, "tls") {
            Some(v) => match diags.non_empty_text(v, "watch.smtp.tls") {
                Some(t) if SMTP_TLS.contains(&t.as_str()) => Some(Some(t)),
                Some(t) => {
                    diags.error(
                        v.pos,
                        "watch.smtp.tls",
                        format!("`{t}` is not one of none, starttls, tls"),
                    );
                    None
                }
                None => None,
            },
            None => Some(None),
        };
        let user = optional_text(diags, "user");
        let password_from_env = optional_text(diags, "password_from_env");
        let ca_file = optional_text(diags, "ca_file");
        Some(SmtpSettings {
            server: server?,
            from: from?,
            to: to?,
            tls: tls?,
            user: user?,
            password_from_env: password_from_env?,
            ca_file: ca_file?.map(PathBuf::from),
        })
    });
    Some(WatchSettings {
        targets: targets?.unwrap_or_default(),
        every: every?,
        confirm: confirm?,
        confirm_interval: confirm_interval?,
        recover: recover?,
        concurrency: concurrency?,
        webhook: webhook?,
        webhook_secret_from_env: secret?,
        alertmanager: alertmanager?,
        smtp: smtp?,
        heartbeat: heartbeat?,
        history: history?,
        retention: retention?,
        ssh_config: ssh_config?,
        max_output: max_output?,
    })
}
