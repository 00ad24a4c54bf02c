//! `addr: tcp://HOST:PORT`: whether the target can open a TCP connection there, within the
//! check's `timeout`; one exec of its own (python3, nc, or bash's /dev/tcp).
//!
//! The probe tells refused and unanswered connections apart from open ones; it cannot see a
//! proxy that accepts every connection on the target's way out.

use std::time::Duration;

use super::{Exec, Kind, Parse, Ran, Spec};
use crate::check::facts::{Script, Wants};
use crate::check::judge::Judgement;

/// The `addr` kind.
pub const KIND: Kind = Kind {
    name: "addr",
    asserts: &["reachable"],
    parse,
    gather,
};

/// How long a connection may take unless the check says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// An `addr` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Addr {
    /// The host (a name or an address).
    pub host: String,
    /// The port.
    pub port: u16,
    /// `reachable` (default true).
    pub reachable: bool,
}

/// `tcp://host:port`, `host:port` or `[v6]:port`.
fn split(written: &str) -> Result<(String, u16), String> {
    let rest = match written.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "`{scheme}://` cannot be probed; expected tcp://HOST:PORT"
            ))
        }
        None => written,
    };
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => v6
            .split_once("]:")
            .ok_or_else(|| format!("`{written}` has no port; expected tcp://[ADDRESS]:PORT"))?,
        None => rest
            .rsplit_once(':')
            .ok_or_else(|| format!("`{written}` has no port; expected tcp://HOST:PORT"))?,
    };
    let valid_host = !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c));
    if !valid_host {
        return Err(format!("`{host}` is not a host name or address"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host.to_string(), p)),
        _ => Err(format!("`{port}` is not a port; expected 1 to 65535")),
    }
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let written = p.subject_text()?;
    let (host, port) = match split(&written) {
        Ok(found) => found,
        Err(problem) => {
            p.subject_error(problem);
            return None;
        }
    };
    let reachable = p.flag("reachable", true);
    Some(Spec::new(Addr {
        host,
        port,
        reachable: reachable?,
    }))
}

fn gather(_: &Wants, _: &mut Script) {}

/// Opens one TCP connection: prints `open` or `closed: why`; exit 127 when the target has no
/// way to try. Arguments: host, port, timeout in seconds (a fraction for python3, whole for
/// nc and timeout).
const CONNECT: &str = r#"h=$1; p=$2; t=$3; w=$4
if command -v python3 >/dev/null 2>&1; then
exec python3 -c 'import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("open")
except Exception as e:
    print("closed: %s" % e)' "$h" "$p" "$t"
elif command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -e ' -z'; then
if nc -z -w "$w" "$h" "$p" </dev/null >/dev/null 2>&1; then echo open; else echo "closed: nc could not connect"; fi
elif command -v nc >/dev/null 2>&1; then
# busybox nc has no -z: it runs a program once connected, and exits 1 if it cannot connect.
if e=$(nc -w "$w" "$h" "$p" -e true 2>&1 </dev/null); then echo open; else echo "closed: ${e#nc: }"; fi
elif command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
if timeout "$w" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" 2>/dev/null; then echo open; else echo "closed: could not connect"; fi
else
echo "no way to open a connection in the target: it needs python3, nc, or bash with timeout" >&2; exit 127
fi
"#;

impl super::Assertion for Addr {
    fn kind(&self) -> &'static str {
        "addr"
    }

    fn exec(&self, timeout: Option<Duration>) -> Option<Exec> {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        Some(Exec {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                CONNECT.into(),
                "addr".into(),
                self.host.clone(),
                self.port.to_string(),
                format!("{}", timeout.as_secs_f64()),
                timeout.as_secs_f64().ceil().max(1.0).to_string(),
            ],
            limit: timeout + Duration::from_secs(5),
        })
    }

    fn judge_exec(&self, ran: Ran<'_>, timeout: Option<Duration>) -> Judgement {
        let at = format!("tcp://{}:{}", self.host, self.port);
        let out = match ran {
            Ran::TimedOut => {
                let waited = timeout.unwrap_or(DEFAULT_TIMEOUT).as_secs_f64();
                return if self.reachable {
                    Judgement::fail(format!(
                        "{at}: expected reachable, no answer within {waited} s"
                    ))
                } else {
                    Judgement::pass(format!(
                        "{at} is not reachable (no answer within {waited} s)"
                    ))
                };
            }
            Ran::Failed(e) => return Judgement::error(format!("could not run the probe: {e}")),
            Ran::Cut(why) => return Judgement::error(why),
            Ran::Output(out) => out,
        };
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.exit_code == 127 || !(said == "open" || said.starts_with("closed")) {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Judgement::error(if stderr.is_empty() { said } else { stderr });
        }
        let open = said == "open";
        let why = said.strip_prefix("closed: ").unwrap_or("");
        match (open, self.reachable) {
            (true, true) => Judgement::pass(format!("{at} is reachable")),
            (false, false) => Judgement::pass(format!("{at} is not reachable ({why})")),
            (false, true) => Judgement::fail(format!("{at}: expected reachable, {why}")),
            (true, false) => {
                Judgement::fail(format!("{at}: expected unreachable, a connection opened"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses() {
        assert_eq!(split("tcp://db:5432").unwrap(), ("db".to_string(), 5432));
        assert_eq!(split("10.0.0.5:80").unwrap(), ("10.0.0.5".to_string(), 80));
        assert_eq!(split("tcp://[::1]:22").unwrap(), ("::1".to_string(), 22));
        assert_eq!(
            split("udp://db:53").unwrap_err(),
            "`udp://` cannot be probed; expected tcp://HOST:PORT"
        );
        assert_eq!(
            split("db").unwrap_err(),
            "`db` has no port; expected tcp://HOST:PORT"
        );
        assert_eq!(
            split("tcp://db:0").unwrap_err(),
            "`0` is not a port; expected 1 to 65535"
        );
    }
}
