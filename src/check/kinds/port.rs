//! `port: N`: something listens on a TCP or UDP port, and on which address, from
//! `/proc/net/{tcp,tcp6,udp,udp6}`.

use super::{Kind, Parse, Spec};
use crate::check::facts::{Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `port` kind.
pub const KIND: Kind = Kind {
    name: "port",
    asserts: &["protocol", "listening", "address"],
    parse,
    gather,
};

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A `port` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The port.
    pub port: u16,
    /// `protocol` (default tcp).
    pub protocol: Protocol,
    /// `listening` (default true).
    pub listening: bool,
    /// `address`.
    pub address: Option<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let port = p
        .diags
        .integer(p.subject, p.key, 1, 65535)
        .map(|p| p as u16);
    let protocol = p.opt("protocol", |d, n| match d.text(n, "protocol")?.as_str() {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        other => {
            d.error(
                n.pos,
                "protocol",
                format!("unknown protocol `{other}`; expected tcp or udp"),
            );
            None
        }
    });
    let listening = p.flag("listening", true);
    let address = p.opt("address", |d, n| {
        if n.as_text().is_some() {
            d.non_empty_text(n, "address")?;
        }
        crate::check::matcher::parse(d, n, "address", &crate::check::matcher::any_text)
    });
    Some(Spec::new(Port {
        port: port?,
        protocol: protocol?.unwrap_or(Protocol::Tcp),
        listening: listening?,
        address: address?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("sockets") {
        // One `cat` for the four tables: each starts with its header line, and the readable
        // ones are named first, in order.
        s.line(
            "set --; n=; for t in tcp tcp6 udp udp6; do [ -r /proc/net/$t ] && { set -- \"$@\" /proc/net/$t; n=\"$n $t\"; }; done; \
             if [ $# -gt 0 ]; then sec net-tables; echo $n; sec net; cat -- \"$@\"; fi",
        );
    }
}

/// One socket from `/proc/net/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// The local address, as text (`0.0.0.0`, `::`, `127.0.0.1`).
    pub address: String,
    /// The local port.
    pub port: u16,
    /// Listening (TCP LISTEN, or a bound UDP socket).
    pub listening: bool,
}

/// Every socket, or `None` when no socket table was readable.
pub fn sockets(facts: &Facts) -> std::sync::Arc<Option<Vec<Socket>>> {
    facts.table("sockets", |f| {
        let tables = f.text("net-tables")?;
        let text = f.text("net").unwrap_or_default();
        let mut all = Vec::new();
        // Each table's text starts at its header line (`  sl  local_address ...`).
        let mut starts: Vec<usize> = text
            .match_indices("local_address")
            .map(|(i, _)| text[..i].rfind('\n').map_or(0, |n| n + 1))
            .collect();
        starts.push(text.len());
        for (table, span) in tables.split_whitespace().zip(starts.windows(2)) {
            all.extend(parse_sockets(&text[span[0]..span[1]], table));
        }
        Some(all)
    })
}

/// Sockets from one `/proc/net/{tcp,tcp6,udp,udp6}` table.
pub fn parse_sockets(text: &str, table: &str) -> Vec<Socket> {
    let protocol = if table.starts_with("tcp") {
        "tcp"
    } else {
        "udp"
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, port) = fields.get(1)?.split_once(':')?;
            let state = fields.get(3)?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let address = decode_address(address)?;
            let listening = match protocol {
                "tcp" => *state == "0A",
                _ => *state == "07",
            };
            Some(Socket {
                protocol,
                address,
                port,
                listening,
            })
        })
        .collect()
}

/// `/proc/net` addresses are hex words in host (little-endian) order.
pub fn decode_address(hex: &str) -> Option<String> {
    match hex.len() {
        8 => {
            let n = u32::from_str_radix(hex, 16).ok()?;
            Some(std::net::Ipv4Addr::from(n.to_le_bytes()).to_string())
        }
        32 => {
            let mut bytes = [0u8; 16];
            for word in 0..4 {
                let n = u32::from_str_radix(&hex[word * 8..word * 8 + 8], 16).ok()?;
                bytes[word * 4..word * 4 + 4].copy_from_slice(&n.to_le_bytes());
            }
            let v6 = std::net::Ipv6Addr::from(bytes);
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            })
        }
        _ => None,
    }
}

impl super::Assertion for Port {
    fn kind(&self) -> &'static str {
        "port"
    }

    fn want(&self, w: &mut Wants) {
        w.flag("sockets");
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let sockets = sockets(facts);
        let Some(sockets) = sockets.as_ref() else {
            return Judgement::error(
                "no socket table (/proc/net/tcp, udp) is readable in the container",
            );
        };
        let (proto, port) = (self.protocol.as_str(), self.port);
        let bound: Vec<&Socket> = sockets
            .iter()
            .filter(|s| s.protocol == proto && s.port == port && s.listening)
            .collect();
        if !self.listening {
            return match bound.first() {
                None => Judgement::pass(format!("nothing listens on {proto}/{port}")),
                Some(s) => Judgement::fail(format!(
                    "{proto}/{port}: expected closed, listening on {}",
                    s.address
                )),
            };
        }
        let Some(first) = bound.first() else {
            let mut open: Vec<String> = sockets
                .iter()
                .filter(|s| s.protocol == proto && s.listening)
                .map(|s| s.port.to_string())
                .collect();
            open.sort();
            open.dedup();
            let open = if open.is_empty() {
                "none".to_string()
            } else {
                open.join(", ")
            };
            return Judgement::fail(format!(
                "{proto}/{port}: expected listening, not listening (listening {proto} ports: {open})"
            ));
        };
        let mut problems = Vec::new();
        if let Some(address) = &self.address {
            if !bound.iter().any(|s| address.matches(&s.address)) {
                let found: Vec<&str> = bound.iter().map(|s| s.address.as_str()).collect();
                problems.push(format!(
                    "address: expected {address}, found {}",
                    found.join(", ")
                ));
            }
        }
        Judgement::from_problems(
            problems,
            format!("{proto}/{port} is listening on {}", first.address),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";
        let sockets = parse_sockets(tcp, "tcp");
        assert_eq!(
            sockets,
            vec![
                Socket {
                    protocol: "tcp",
                    address: "0.0.0.0".into(),
                    port: 80,
                    listening: true
                },
                Socket {
                    protocol: "tcp",
                    address: "127.0.0.1".into(),
                    port: 8080,
                    listening: false
                },
            ]
        );
        let tcp6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A\n   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A\n";
        let v6 = parse_sockets(tcp6, "tcp6");
        assert_eq!(v6[0].address, "::");
        assert_eq!(v6[1].address, "::1");
        assert_eq!(v6[1].port, 22);
    }
}
