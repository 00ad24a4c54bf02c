//! Where notifications go: a webhook (signed with HMAC-SHA256 when a secret is set),
//! Alertmanager (API v2; a recovery resolves the alert), e-mail over SMTP, and a heartbeat URL
//! pinged every round. Webhook, Alertmanager and e-mail go through the history store's outbox:
//! a receiver that is down gets the notification, with the same id, when it is back — also
//! after drydock restarts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::rfc3339;
use super::state::{Change, CheckState, TargetState};
use crate::event::{Events, Scope};
use crate::history::{self, History, Pending};
use crate::outcome::CheckResult;

/// How long one delivery attempt may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest pause between two attempts at one notification.
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;

/// One notification, as the webhook receives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notification {
    /// The same on every delivery attempt and every channel.
    pub id: String,
    /// `failing`, `recovered`, `unreachable` or `reachable`.
    pub event: String,
    /// The target.
    pub target: String,
    /// The check (empty for `unreachable` and `reachable`).
    pub check: String,
    /// What was found.
    pub message: String,
    /// Since when the condition held (RFC 3339).
    pub since: String,
    /// Since, in unix ms.
    pub since_ms: i64,
    /// When it was sent (RFC 3339).
    pub at: String,
    /// Diagnostic checks run on the target when the failure was confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<CheckResult>,
    /// How often the check failed over the last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate_1d: Option<String>,
    /// The monitor's version.
    pub drydock_version: String,
}

/// A notification's (or transition's) id: the same for the same key, on every attempt.
pub fn id_of(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex()[..20].to_string()
}

impl Notification {
    /// A notification of `change` on `target` (and `check`).
    pub fn new(
        change: Change,
        target: &str,
        check: &str,
        message: &str,
        since: i64,
        at: i64,
        diagnostics: Vec<CheckResult>,
    ) -> Notification {
        let key = format!("{}\n{target}\n{check}\n{since}", change.as_str());
        Notification {
            id: id_of(&key),
            event: change.as_str().to_string(),
            target: target.to_string(),
            check: check.to_string(),
            message: message.to_string(),
            since: rfc3339(since),
            since_ms: since,
            at: rfc3339(at),
            diagnostics,
            failure_rate_1d: None,
            drydock_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// One line for people.
    pub fn headline(&self) -> String {
        let what = if self.check.is_empty() {
            self.target.clone()
        } else {
            format!("{} on {}", self.check, self.target)
        };
        format!("{}: {what}", self.event.to_uppercase())
    }
}

/// An SMTP relay and the addresses of the mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    /// Host of the relay.
    pub host: String,
    /// Its port (25 plain, 587 STARTTLS, 465 TLS by default).
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// Log in with this user and password (only over TLS).
    pub credentials: Option<(String, String)>,
    /// A root certificate (PEM) trusted beside the public ones: a relay with an internal CA.
    pub ca_pem: Option<Vec<u8>>,
    /// `From:`.
    pub from: String,
    /// `To:`.
    pub to: Vec<String>,
}

/// How the connection to the SMTP relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text (a relay on a trusted network).
    None,
    /// STARTTLS, required: a relay that does not offer it is a failed delivery.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl SmtpSecurity {
    /// `none`, `starttls` or `tls`.
    pub fn parse(text: &str) -> Option<SmtpSecurity> {
        match text {
            "none" => Some(SmtpSecurity::None),
            "starttls" => Some(SmtpSecurity::StartTls),
            "tls" => Some(SmtpSecurity::Tls),
            _ => None,
        }
    }

    /// The port a relay listens on for this security unless told.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::None => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        }
    }
}

/// Where notifications go.
#[derive(Default)]
pub struct Notifier {
    /// The webhook's URL.
    pub webhook: Option<String>,
    /// The webhook's HMAC secret.
    pub webhook_secret: Option<String>,
    /// Alertmanager's base URL.
    pub alertmanager: Option<String>,
    /// The SMTP relay.
    pub smtp: Option<Smtp>,
    /// A URL pinged every round (`/fail` appended when something is down).
    pub heartbeat: Option<String>,
    client: Option<reqwest::Client>,
}

impl Notifier {
    /// A notifier for the given receivers.
    pub fn new(
        webhook: Option<String>,
        webhook_secret: Option<String>,
        alertmanager: Option<String>,
        smtp: Option<Smtp>,
        heartbeat: Option<String>,
    ) -> Result<Notifier, String> {
        // A receiver that redirects has not received: following it would deliver a signed
        // payload to wherever the redirect points, and a 3xx is not a delivery.
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("drydock/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Notifier {
            webhook,
            webhook_secret,
            alertmanager: alertmanager.map(|u| u.trim_end_matches('/').to_string()),
            smtp,
            heartbeat,
            client: Some(client),
        })
    }

    /// The outbox entries for `notifications`: (id, channel, payload), one per receiver.
    pub fn queue(&self, notifications: &[Notification]) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for n in notifications {
            let payload = serde_json::to_string(n).unwrap_or_default();
            if self.webhook.is_some() {
                out.push((n.id.clone(), "webhook".into(), payload.clone()));
            }
            if self.alertmanager.is_some() {
                out.push((n.id.clone(), "alertmanager".into(), payload.clone()));
            }
            if self.smtp.is_some() && n.event != "reachable" {
                out.push((n.id.clone(), "email".into(), payload.clone()));
            }
        }
        out
    }

    /// Attempts every notification that is due, until `deadline`; a failed attempt is tried
    /// again later with a growing pause, keeping its id. A receiver that fails once is not
    /// tried again this round (its notifications wait in the outbox): one that hangs costs a
    /// round one attempt, never one per notification.
    pub async fn deliver(&self, history: &History, events: &Events, deadline: Instant) {
        let now = history::now_ms();
        let Ok(due) = history.due(now) else { return };
        let scope = Scope::Scenario("watch".into());
        let mut down: Vec<String> = Vec::new();
        for pending in due {
            if down.contains(&pending.channel) {
                continue;
            }
            if Instant::now() >= deadline {
                events.note(
                    &scope,
                    "the delivery budget of this round is spent; what is left waits in the outbox for the next round",
                );
                break;
            }
            let Ok(n) = serde_json::from_str::<Notification>(&pending.payload) else {
                // Written by another version and unreadable to this one: it can never go out.
                let _ = history.delivered(&pending.id, &pending.channel);
                events.note(
                    &scope,
                    format!("dropped the unreadable queued notification {}", pending.id),
                );
                continue;
            };
            match within(deadline, self.send(&pending, &n)).await {
                Ok(()) => {
                    let _ = history.delivered(&pending.id, &pending.channel);
                }
                Err(e) => {
                    down.push(pending.channel.clone());
                    let backoff = (1000_i64 << pending.attempts.clamp(0, 16)).min(MAX_BACKOFF_MS);
                    let _ = history.retry_at(&pending.id, &pending.channel, now + backoff);
                    events.note(
                        &scope,
                        format!(
                            "{} delivery of {} failed (attempt {}): {e}; trying again in {} s",
                            pending.channel,
                            pending.id,
                            pending.attempts + 1,
                            backoff / 1000
                        ),
                    );
                }
            }
        }
    }

    /// Sends `outbox` entries (id, channel, payload) once each, until `deadline`, without the
    /// history store: for a round the store could not take. What fails is said and lost.
    pub async fn deliver_now(
        &self,
        outbox: &[(String, String, String)],
        events: &Events,
        deadline: Instant,
    ) {
        let scope = Scope::Scenario("watch".into());
        let mut down: Vec<&str> = Vec::new();
        for (id, channel, payload) in outbox {
            if down.contains(&channel.as_str()) || Instant::now() >= deadline {
                events.note(&scope, format!("{channel} notification {id} was not sent"));
                continue;
            }
            let Ok(n) = serde_json::from_str::<Notification>(payload) else {
                continue;
            };
            let pending = Pending {
                id: id.clone(),
                channel: channel.clone(),
                payload: payload.clone(),
                attempts: 0,
            };
            if let Err(e) = within(deadline, self.send(&pending, &n)).await {
                down.push(channel);
                events.note(
                    &scope,
                    format!("{channel} delivery of {id} failed: {e}; with no outbox it is not tried again"),
                );
            }
        }
    }

    async fn send(&self, pending: &Pending, n: &Notification) -> Result<(), String> {
        match pending.channel.as_str() {
            "webhook" => self.post_webhook(&pending.payload).await,
            "alertmanager" => self.post_alerts(&[alert(n)]).await,
            "email" => self.mail(n).await,
            other => Err(format!("unknown channel {other}")),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .as_ref()
            .ok_or_else(|| "no HTTP client".to_string())
    }

    async fn post_webhook(&self, body: &str) -> Result<(), String> {
        let Some(url) = &self.webhook else {
            return Ok(());
        };
        let mut request = self
            .client()?
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(secret) = &self.webhook_secret {
            request = request.header("X-Drydock-Signature", signature(secret, body.as_bytes()));
        }
        // reqwest names the URL in its errors; a webhook URL often carries a token.
        let response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the webhook answered {}", response.status()))
        }
    }

    async fn post_alerts(&self, alerts: &[serde_json::Value]) -> Result<(), String> {
        let Some(base) = &self.alertmanager else {
            return Ok(());
        };
        if alerts.is_empty() {
            return Ok(());
        }
        let response = self
            .client()?
            .post(format!("{base}/api/v2/alerts"))
            .json(alerts)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("Alertmanager answered {}", response.status()))
        }
    }

    /// Tells Alertmanager again about everything still failing, as Prometheus does, so that
    /// firing alerts do not time out while they last.
    pub async fn firing(
        &self,
        checks: &HashMap<(String, String), CheckState>,
        reach: &HashMap<String, TargetState>,
        deadline: Instant,
    ) {
        if self.alertmanager.is_none() {
            return;
        }
        let now = history::now_ms();
        let mut alerts = Vec::new();
        for ((target, check), s) in checks {
            if let (true, Some(since)) = (s.is_alerting(), s.since) {
                let change = if s.is_erroring() {
                    Change::Erroring
                } else {
                    Change::Failing
                };
                let n = Notification::new(
                    change,
                    target,
                    check,
                    "still failing",
                    since,
                    now,
                    Vec::new(),
                );
                alerts.push(alert(&n));
            }
        }
        for (target, s) in reach {
            if let Some(since) = s.unreachable_since {
                let n = Notification::new(
                    Change::Unreachable,
                    target,
                    "",
                    "still unreachable",
                    since,
                    now,
                    Vec::new(),
                );
                alerts.push(alert(&n));
            }
        }
        let _ = within(deadline, self.post_alerts(&alerts)).await;
    }

    async fn mail(&self, n: &Notification) -> Result<(), String> {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let Some(smtp) = &self.smtp else {
            return Ok(());
        };
        let mut builder = Message::builder()
            .from(
                smtp.from
                    .parse()
                    .map_err(|e| format!("from address: {e}"))?,
            )
            .subject(format!("[drydock] {}", n.headline()));
        for to in &smtp.to {
            builder = builder.to(to.parse().map_err(|e| format!("to address {to}: {e}"))?);
        }
        let message = builder
            .body(mail_body(n))
            .map_err(|e| format!("building the mail: {e}"))?;
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(DELIVERY_TIMEOUT));
        if smtp.security != SmtpSecurity::None {
            use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
            let mut parameters = TlsParameters::builder(smtp.host.clone());
            if let Some(pem) = &smtp.ca_pem {
                let root = Certificate::from_pem(pem)
                    .map_err(|e| format!("the SMTP CA certificate: {e}"))?;
                parameters = parameters.add_root_certificate(root);
            }
            let parameters = parameters
                .build_rustls()
                .map_err(|e| format!("SMTP TLS settings: {e}"))?;
            transport = transport.tls(match smtp.security {
                SmtpSecurity::Tls => Tls::Wrapper(parameters),
                _ => Tls::Required(parameters),
            });
        }
        if let Some((user, password)) = &smtp.credentials {
            transport =
                transport.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user.clone(),
                    password.clone(),
                ));
        }
        let transport = transport.build();
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP {}:{}: {e}", smtp.host, smtp.port))
    }

    /// Pings the heartbeat URL: as is when everything passed, with `/fail` when not.
    pub async fn heartbeat(&self, ok: bool, deadline: Instant) {
        let (Some(url), Ok(client)) = (&self.heartbeat, self.client()) else {
            return;
        };
        let url = if ok {
            url.clone()
        } else {
            format!("{}/fail", url.trim_end_matches('/'))
        };
        let _ = within(deadline, async {
            client
                .get(url)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
    }
}

/// `work`, or an error when `deadline` comes first.
async fn within(
    deadline: Instant,
    work: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), work).await {
        Ok(result) => result,
        Err(_) => Err("no answer within the round's delivery budget".into()),
    }
}

/// `sha256=<hex HMAC-SHA256 of body with secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The Alertmanager alert of a notification: firing for `failing`/`unreachable`, resolved
/// (with `endsAt`) for `recovered`/`reachable`.
pub fn alert(n: &Notification) -> serde_json::Value {
    let unreachable = n.check.is_empty();
    let mut labels = serde_json::json!({
        "alertname": if unreachable { "DrydockTargetUnreachable" } else { "DrydockCheckFailing" },
        "target": n.target,
        "source": "drydock",
    });
    if !unreachable {
        labels["check"] = serde_json::Value::String(n.check.clone());
    }
    let mut alert = serde_json::json!({
        "labels": labels,
        "annotations": { "summary": n.headline(), "description": n.message },
        "startsAt": n.since,
    });
    if n.event == "recovered" || n.event == "reachable" {
        alert["endsAt"] = serde_json::Value::String(n.at.clone());
    }
    alert
}

/// The mail: the same fields in the same order every time.
pub fn mail_body(n: &Notification) -> String {
    let mut out = String::new();
    let field = |out: &mut String, k: &str, v: &str| out.push_str(&format!("{k:<14} {v}\n"));
    field(&mut out, "Event:", &n.event);
    field(
        &mut out,
        "Check:",
        if n.check.is_empty() {
            "(the target itself)"
        } else {
            &n.check
        },
    );
    field(&mut out, "Target:", &n.target);
    field(&mut out, "Since:", &n.since);
    field(&mut out, "Detected:", &n.at);
    field(&mut out, "Message:", &n.message);
    field(
        &mut out,
        "Failure rate:",
        n.failure_rate_1d.as_deref().unwrap_or("(no history yet)"),
    );
    field(&mut out, "drydock:", &n.drydock_version);
    field(&mut out, "Id:", &n.id);
    out.push_str("\nDiagnostics:\n");
    if n.diagnostics.is_empty() {
        out.push_str("  (none ran)\n");
    }
    for d in &n.diagnostics {
        out.push_str(&format!(
            "  [{}] {}: {}\n",
            d.status.as_str(),
            d.name,
            d.message
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn ids_are_stable_per_transition() {
        let a = Notification::new(
            Change::Failing,
            "container:web",
            "nginx",
            "m",
            1_000,
            2_000,
            vec![],
        );
        let b = Notification::new(
            Change::Failing,
            "container:web",
            "nginx",
            "other",
            1_000,
            9_000,
            vec![],
        );
        let c = Notification::new(
            Change::Recovered,
            "container:web",
            "nginx",
            "m",
            1_000,
            9_000,
            vec![],
        );
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.since, "1970-01-01T00:00:01Z");
    }

    #[test]
    fn alerts_fire_and_resolve() {
        let failing = Notification::new(Change::Failing, "t", "c", "m", 1_000, 2_000, vec![]);
        let a = alert(&failing);
        assert_eq!(a["labels"]["alertname"], "DrydockCheckFailing");
        assert_eq!(a["labels"]["check"], "c");
        assert!(a.get("endsAt").is_none());
        let recovered = Notification::new(Change::Recovered, "t", "c", "m", 1_000, 5_000, vec![]);
        assert_eq!(alert(&recovered)["endsAt"], "1970-01-01T00:00:05Z");
        let gone = Notification::new(Change::Unreachable, "t", "", "m", 1_000, 5_000, vec![]);
        assert_eq!(
            alert(&gone)["labels"]["alertname"],
            "DrydockTargetUnreachable"
        );
    }

    #[test]
    fn every_mail_field_is_filled() {
        let mut n = Notification::new(
            Change::Failing,
            "container:web",
            "nginx runs",
            "not running",
            1_000,
            2_000,
            vec![],
        );
        n.failure_rate_1d = Some("3 of 10".into());
        let body = mail_body(&n);
        for field in [
            "Event:",
            "Check:",
            "Target:",
            "Since:",
            "Detected:",
            "Message:",
            "Failure rate:",
            "drydock:",
            "Id:",
        ] {
            assert!(body.contains(field), "{field}");
        }
        assert!(body.contains("Check:         nginx runs\n"), "{body}");
    }
}
