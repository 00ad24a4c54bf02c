//! `from: drydock`: `http` and `port` checks probed from the monitor, as a user or a load
//! balancer sees the target, instead of from inside it.

use std::time::Duration;

use super::judge::Judgement;
use super::kinds::http::Http;
use super::kinds::port::{Port, Protocol};
use super::Check;
use crate::outcome::Verdict;

/// Probes `check` against the target at `address` (an IP or host name); a URL whose host is
/// `localhost` or `127.0.0.1` is sent to `address` instead.
pub async fn probe(
    client: &reqwest::Client,
    check: &Check,
    address: &str,
    max_body: usize,
) -> Judgement {
    let timeout = check.timeout.unwrap_or(Duration::from_secs(10));
    if let Some(http) = check.spec.get::<Http>() {
        let url = retarget(&http.url, address);
        let method = http.method.as_deref().unwrap_or("GET");
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return Judgement::error(format!("`{method}` is not an HTTP method"));
        };
        let mut request = client.request(method, &url).timeout(timeout);
        for (name, value) in &http.request_headers {
            request = request.header(name, value);
        }
        if let Some(body) = &http.request_body {
            request = request.body(body.clone());
        }
        return probe_http(request, http, &url, max_body).await;
    }
    match check.spec.get::<Port>() {
        Some(Port {
            port,
            protocol: Protocol::Tcp,
            listening,
            ..
        }) => {
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
        Some(Port { port, .. }) => Judgement::error(format!(
            "udp/{port}: only tcp ports can be probed from the monitor"
        )),
        None => Judgement::error("only http and port checks can be probed from the monitor"),
    }
}

async fn probe_http(
    request: reqwest::RequestBuilder,
    http: &Http,
    url: &str,
    max_body: usize,
) -> Judgement {
    {
        {
            let response = request.send().await;
            let mut response = match response {
                Ok(r) => r,
                Err(e) => {
                    return Judgement {
                        status: Verdict::Fail,
                        message: format!(
                            "GET {} from the monitor failed: {}",
                            crate::secret::redact_urls(url),
                            e.without_url()
                        ),
                    }
                }
            };
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect();
            // At most `max_body` of it: a target that streams without end is cut, not read.
            let mut body = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() > max_body {
                    return Judgement::error(format!(
                        "the response body went past {} KiB, so it was cut there (watch.max_output, --max-output); it could not be judged",
                        max_body / 1024
                    ));
                }
            }
            let body = String::from_utf8_lossy(&body);
            http.judge_response(status, &headers, &body)
        }
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
