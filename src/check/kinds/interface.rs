//! `interface: eth0`: a network interface, its addresses and MTU, from `/sys/class/net` and
//! `ip -o addr` (or, without `ip`, `/proc/net/fib_trie`, `route` and `if_inet6`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{expect, Kind, Parse, Spec};
use crate::check::facts::{Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `interface` kind.
pub const KIND: Kind = Kind {
    name: "interface",
    asserts: &["exists", "addrs", "mtu"],
    parse,
    gather,
};

/// An `interface` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    /// The interface name.
    pub name: String,
    /// `exists` (default true).
    pub exists: bool,
    /// `addrs`: addresses it must have (`10.0.0.2/24`), or a matcher on all of them.
    pub addrs: Option<Matcher>,
    /// `mtu`.
    pub mtu: Option<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let name = p.subject_text()?;
    if name.contains(['/', ' ']) || name == "." || name == ".." {
        p.subject_error(format!("`{name}` is not an interface name"));
        return None;
    }
    let exists = p.flag("exists", true);
    let addrs = p.members("addrs");
    let mtu = p.number("mtu", 0, 1 << 20);
    Some(Spec::new(Interface {
        name,
        exists: exists?,
        addrs: addrs?,
        mtu: mtu?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("interfaces") {
        s.line("sec links; for d in /sys/class/net/*; do [ -e \"$d\" ] || continue; m=; read -r m < \"$d/mtu\" 2>/dev/null; echo \"${d##*/} $m\"; done");
        s.line("if command -v ip >/dev/null 2>&1 && ip -o addr show >/dev/null 2>&1; then sec ip-addr; ip -o addr show 2>/dev/null; else \
                [ -r /proc/net/fib_trie ] && { sec fib_trie; cat /proc/net/fib_trie; sec route; cat /proc/net/route; }; \
                [ -r /proc/net/if_inet6 ] && { sec if_inet6; cat /proc/net/if_inet6; }; fi");
    }
}

/// One interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// Its MTU, when read.
    pub mtu: Option<u32>,
    /// Its addresses with prefix lengths.
    pub addrs: Vec<String>,
}

/// Interfaces by name.
pub fn links(facts: &Facts) -> std::sync::Arc<BTreeMap<String, Link>> {
    facts.table("interfaces", |f| {
        let mut links: BTreeMap<String, Link> = BTreeMap::new();
        for line in f.text("links").unwrap_or_default().lines() {
            let mut words = line.split_whitespace();
            if let Some(name) = words.next() {
                links.entry(name.to_string()).or_default().mtu =
                    words.next().and_then(|m| m.parse().ok());
            }
        }
        let addrs = match f.text("ip-addr") {
            Some(text) => parse_ip_addr(&text),
            None => {
                let mut v4 = parse_fib_trie(
                    &f.text("fib_trie").unwrap_or_default(),
                    &f.text("route").unwrap_or_default(),
                );
                v4.extend(parse_if_inet6(&f.text("if_inet6").unwrap_or_default()));
                v4
            }
        };
        for (name, addr) in addrs {
            let link = links.entry(name).or_default();
            if !link.addrs.contains(&addr) {
                link.addrs.push(addr);
            }
        }
        links
    })
}

/// `2: eth0    inet 172.17.0.2/16 brd ...` lines: (interface, address/prefix).
fn parse_ip_addr(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let family = f.iter().position(|w| *w == "inet" || *w == "inet6")?;
            let name = f.get(1)?.trim_end_matches(':');
            // `eth0@if12`: the peer's index is not part of the name.
            let name = name.split('@').next()?;
            Some((name.to_string(), f.get(family + 1)?.to_string()))
        })
        .collect()
}

/// IPv4 addresses without `ip`: the local (`/32 host LOCAL`) addresses of the FIB, each given
/// the interface and prefix of the route that holds it (loopback: `lo`, /8).
fn parse_fib_trie(fib: &str, route: &str) -> Vec<(String, String)> {
    let routes: Vec<(String, u32, u32)> = route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?.swap_bytes();
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?.swap_bytes();
            Some((f[0].to_string(), dest, mask))
        })
        .filter(|(_, _, mask)| *mask != 0)
        .collect();
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("|-- ") {
            last = addr.parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            let Some(addr) = last else { continue };
            let n = u32::from(addr);
            let found = if addr.is_loopback() {
                Some(("lo".to_string(), 8))
            } else {
                routes
                    .iter()
                    .filter(|(_, dest, mask)| n & mask == *dest)
                    .max_by_key(|(_, _, mask)| mask.count_ones())
                    .map(|(name, _, mask)| (name.clone(), mask.count_ones()))
            };
            if let Some((name, prefix)) = found {
                let entry = (name, format!("{addr}/{prefix}"));
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
    }
    out
}

/// `/proc/net/if_inet6`: address (hex), index, prefix (hex), scope, flags, name.
fn parse_if_inet6(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = f.first()?;
            if hex.len() != 32 {
                return None;
            }
            let n = u128::from_str_radix(hex, 16).ok()?;
            let prefix = u8::from_str_radix(f.get(2)?, 16).ok()?;
            Some((
                f.get(5)?.to_string(),
                format!("{}/{prefix}", std::net::Ipv6Addr::from(n)),
            ))
        })
        .collect()
}

impl super::Assertion for Interface {
    fn kind(&self) -> &'static str {
        "interface"
    }

    fn want(&self, w: &mut Wants) {
        w.flag("interfaces");
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let links = links(facts);
        let name = &self.name;
        let Some(link) = links.get(name) else {
            let known: Vec<&str> = links.keys().map(String::as_str).collect();
            return if self.exists {
                Judgement::fail(format!(
                    "interface {name}: expected to exist, not found (interfaces: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            } else {
                Judgement::pass(format!("no interface {name}"))
            };
        };
        if !self.exists {
            return Judgement::fail(format!("interface {name}: expected absent, found it"));
        }
        let mut problems = Vec::new();
        let mtu = link
            .mtu
            .map(|m| m.to_string())
            .unwrap_or_else(|| "unknown".into());
        expect(&mut problems, "mtu", self.mtu.as_ref(), &mtu);
        if let Some(want) = &self.addrs {
            if !want.matches_list(&link.addrs) {
                problems.push(format!(
                    "addrs: expected {want}, found {}",
                    if link.addrs.is_empty() {
                        "none".to_string()
                    } else {
                        link.addrs.join(", ")
                    }
                ));
            }
        }
        Judgement::from_problems(
            problems,
            format!("{name} is up with {} (mtu {mtu})", link.addrs.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_with_and_without_ip() {
        let ip = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n25: eth0@if26    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\n";
        assert_eq!(
            parse_ip_addr(ip),
            [
                ("lo".to_string(), "127.0.0.1/8".to_string()),
                ("eth0".to_string(), "172.18.0.2/16".to_string())
            ]
        );
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 172.18.0.0/16 2 0 2\n        |-- 172.18.0.2\n           /32 host LOCAL\n  +-- 127.0.0.0/8 2 0 2\n     |-- 127.0.0.1\n        /32 host LOCAL\nLocal:\n        |-- 172.18.0.2\n           /32 host LOCAL\n";
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(
            parse_fib_trie(fib, route),
            [
                ("eth0".to_string(), "172.18.0.2/16".to_string()),
                ("lo".to_string(), "127.0.0.1/8".to_string())
            ]
        );
        let inet6 = "fe800000000000000042acfffe120002 19 40 20 80     eth0\n";
        assert_eq!(
            parse_if_inet6(inet6),
            [("eth0".to_string(), "fe80::42:acff:fe12:2/64".to_string())]
        );
    }
}
