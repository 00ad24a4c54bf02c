//! `from: drydock`: `http` and `port` checks probed from the monitor, as a user or a load
//! balancer sees the target, instead of from inside it.

use std::time::Duration;

use super::judge::Judgement;
use crate::config::{Check, Protocol, Spec};
use crate::outcome::Verdict;

/// Probes `check` against the target at `address` (an IP or host name); a URL whose host is
/// `localhost` or `127.0.0.1` is sent to `address` instead.
pub async fn probe(client: &reqwest::Client, check: &Check, address: &str) -> Judgement {
    let timeout = check.timeout.unwrap_or(Duration::from_secs(10));
    match &check.spec {
        Spec::Http { url, .. } => {
            let url = retarget(url, address);
            let response = client.get(&url).timeout(timeout).send().await;
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    return Judgement {
                        status: Verdict::Fail,
                        message: format!("GET {url} from the monitor failed: {e}"),
                    }
                }
            };
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect();
            let body = response.text().await.unwrap_or_default();
            super::observed::judge_http(&check.spec, status, &headers, &body)
        }
        Spec::Port {
            port,
            protocol: Protocol::Tcp,
            listening,
            ..
        } => {
            let connect = tokio::net::TcpStream::connect((address, *port));
            let open = matches!(tokio::time::timeout(timeout, connect).await, Ok(Ok(_)));
            let found = if open { "open" } else { "closed" };
            Judgement {
                status: if open == *listening {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                message: format!(
                    "tcp/{port} on {address} from the monitor: expected {}, found {found}",
                    if *listening { "open" } else { "closed" }
                ),
            }
        }
        Spec::Port { port, .. } => Judgement::error(format!(
            "udp/{port}: only tcp ports can be probed from the monitor"
        )),
        _ => Judgement::error("only http and port checks can be probed from the monitor"),
    }
}

/// `url` with a local host replaced by `address`.
fn retarget(url: &str, address: &str) -> String {
    for local in ["localhost", "127.0.0.1"] {
        for scheme in ["http://", "https://"] {
            let prefix = format!("{scheme}{local}");
            if let Some(rest) = url.strip_prefix(&prefix) {
                if rest.is_empty() || rest.starts_with([':', '/']) {
                    return format!("{scheme}{address}{rest}");
                }
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_are_sent_to_the_target() {
        assert_eq!(
            retarget("http://localhost/", "172.17.0.2"),
            "http://172.17.0.2/"
        );
        assert_eq!(
            retarget("http://127.0.0.1:8080/x", "10.0.0.1"),
            "http://10.0.0.1:8080/x"
        );
        assert_eq!(retarget("http://localhostx/", "a"), "http://localhostx/");
        assert_eq!(
            retarget("https://example.org/", "a"),
            "https://example.org/"
        );
    }
}
