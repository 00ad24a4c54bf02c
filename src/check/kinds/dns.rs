//! `dns: NAME`: whether a name resolves in the target, to which addresses or records, asked of
//! its resolver (`getent`, python3) or of a given server (`dig`, `host` or `nslookup`).

use super::{Kind, Parse, Spec};
use crate::check::facts::{item_section, quote, Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `dns` kind.
pub const KIND: Kind = Kind {
    name: "dns",
    asserts: &["resolvable", "addrs", "type", "server"],
    parse,
    gather,
};

/// The record types a `dns` check can ask for.
pub const TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "TXT"];

/// A `dns` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Dns {
    /// The name.
    pub name: String,
    /// `resolvable` (default true).
    pub resolvable: bool,
    /// `addrs`: the records it must have (addresses, or `10 mail.example.org.` for MX), or a
    /// matcher on all of them.
    pub addrs: Option<Matcher>,
    /// `type`: the record type (default: addresses, A and AAAA, as the resolver returns).
    pub record: Option<String>,
    /// `server`: the DNS server to ask instead of the target's resolver.
    pub server: Option<String>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let name = p.subject_text()?;
    let valid = name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        && !name.starts_with(['-', '.']);
    if !valid {
        p.subject_error(format!(
            "`{name}` is not a host name; expected letters, digits, - _ and dots"
        ));
        return None;
    }
    let resolvable = p.flag("resolvable", true);
    let addrs = p.members("addrs");
    let record = p.opt("type", |d, n| {
        let t = d.text(n, "type")?.to_ascii_uppercase();
        if TYPES.contains(&t.as_str()) {
            Some(t)
        } else {
            d.error(
                n.pos,
                "type",
                format!(
                    "unknown record type `{t}`; expected one of: {}",
                    TYPES.join(", ")
                ),
            );
            None
        }
    });
    let server = p.opt("server", |d, n| {
        let s = d.non_empty_text(n, "server")?;
        if s.parse::<std::net::IpAddr>().is_err() {
            d.error(
                n.pos,
                "server",
                format!("`{s}` is not an IP address; expected the DNS server's address"),
            );
            return None;
        }
        Some(s)
    });
    Some(Spec::new(Dns {
        name,
        resolvable: resolvable?,
        addrs: addrs?,
        record: record?,
        server: server?,
    }))
}

impl Dns {
    /// The item gathered: `TYPE SERVER NAME` (`-` for none).
    fn item(&self) -> String {
        format!(
            "{} {} {}",
            self.record.as_deref().unwrap_or("-"),
            self.server.as_deref().unwrap_or("-"),
            self.name
        )
    }
}

fn gather(w: &Wants, s: &mut Script) {
    for item in w.items("dns") {
        let mut parts = item.splitn(3, ' ');
        let (record, server, name) = (
            parts.next().unwrap_or("-"),
            parts.next().unwrap_or("-"),
            parts.next().unwrap_or(""),
        );
        let ask = if server == "-" && matches!(record, "-" | "A" | "AAAA") {
            ask_resolver(record, name)
        } else {
            ask_server(record, server, name)
        };
        s.line(format!("sec {}; {ask}", quote(&item_section("dns", item))));
    }
}

/// Asks the target's resolver, as its programs see it (hosts file, search domains).
fn ask_resolver(record: &str, name: &str) -> String {
    let n = quote(name);
    let (database, family) = match record {
        "A" => ("ahostsv4", "socket.AF_INET"),
        "AAAA" => ("ahostsv6", "socket.AF_INET6"),
        _ => ("ahosts", "0"),
    };
    format!(
        "if command -v getent >/dev/null 2>&1; then echo getent; getent {database} {n}; \
         elif command -v python3 >/dev/null 2>&1; then echo python; python3 -c 'import socket,sys\n\
for a in sorted(set(i[4][0] for i in socket.getaddrinfo(sys.argv[1], None, {family}))): print(a)' {n} 2>/dev/null; \
         elif command -v nslookup >/dev/null 2>&1; then echo nslookup; nslookup {n} 2>&1; \
         else echo none; fi"
    )
}

/// Asks a DNS server (`-`: the target's) for records of one type (`-`: A).
fn ask_server(record: &str, server: &str, name: &str) -> String {
    let n = quote(name);
    let t = if record == "-" { "A" } else { record };
    let (at, after) = match server {
        "-" => (String::new(), String::new()),
        srv => (format!("@{srv}"), quote(srv)),
    };
    format!(
        "if command -v dig >/dev/null 2>&1; then echo dig; dig +short +time=3 +tries=1 {at} -t {t} {n}; \
         elif command -v host >/dev/null 2>&1; then echo host; host -W 3 -t {t} {n} {after}; \
         elif command -v nslookup >/dev/null 2>&1; then echo nslookup; nslookup -type={t} {n} {after} 2>&1; \
         else echo none; fi"
    )
}

/// The records a tool printed, by the tool named on the first line.
fn records(output: &str, record: Option<&str>) -> Option<Vec<String>> {
    let mut lines = output.lines();
    let tool = lines.next()?.trim();
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: &str| {
        let r = r.trim().to_string();
        if !r.is_empty() && !out.contains(&r) {
            out.push(r);
        }
    };
    match tool {
        "getent" => lines
            .filter_map(|l| l.split_whitespace().next())
            .for_each(&mut push),
        "python" | "dig" => lines.filter(|l| !l.starts_with(';')).for_each(&mut push),
        "host" => {
            for l in lines {
                for marker in [
                    " has address ",
                    " has IPv6 address ",
                    " mail is handled by ",
                    " descriptive text ",
                    " is an alias for ",
                ] {
                    if let Some((_, r)) = l.split_once(marker) {
                        push(r);
                    }
                }
            }
        }
        "nslookup" => {
            // The first block names the server asked; the answers follow a blank line.
            let mut answers = false;
            for l in lines {
                if l.trim().is_empty() {
                    answers = true;
                    continue;
                }
                if !answers {
                    continue;
                }
                let l = l.trim();
                if let Some(r) = l.strip_prefix("Address:").or_else(|| {
                    l.split_once("Address ")
                        .and_then(|(_, r)| r.split_once(':').map(|x| x.1))
                }) {
                    push(r);
                }
                for marker in ["mail exchanger = ", "text = ", "canonical name = "] {
                    if let Some((_, r)) = l.split_once(marker) {
                        push(r);
                    }
                }
            }
        }
        _ => return None,
    }
    // Addresses only, when addresses were asked for.
    if matches!(record, None | Some("A" | "AAAA")) && tool != "getent" && tool != "python" {
        out.retain(|r| r.parse::<std::net::IpAddr>().is_ok());
    }
    Some(out)
}

impl super::Assertion for Dns {
    fn kind(&self) -> &'static str {
        "dns"
    }

    fn want(&self, w: &mut Wants) {
        w.add("dns", self.item());
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let name = &self.name;
        let asked = match (&self.record, &self.server) {
            (None, None) => String::new(),
            (r, s) => format!(
                " ({}{}{})",
                r.as_deref().unwrap_or("A"),
                if s.is_some() { " at " } else { "" },
                s.as_deref().unwrap_or("")
            ),
        };
        let output = facts
            .item("dns", &self.item())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let Some(found) = records(&output, self.record.as_deref()) else {
            let needs = if self.server.is_some()
                || matches!(self.record.as_deref(), Some("CNAME" | "MX" | "TXT"))
            {
                "dig, host or nslookup"
            } else {
                "getent, python3 or nslookup"
            };
            return Judgement::error(format!(
                "the target has no tool to resolve {name}{asked}: it needs {needs}"
            ));
        };
        match (found.is_empty(), self.resolvable) {
            (true, true) => {
                Judgement::fail(format!("{name}{asked}: expected to resolve, it does not"))
            }
            (true, false) => Judgement::pass(format!("{name}{asked} does not resolve")),
            (false, false) => Judgement::fail(format!(
                "{name}{asked}: expected not to resolve, resolves to {}",
                found.join(", ")
            )),
            (false, true) => {
                let mut problems = Vec::new();
                if let Some(want) = &self.addrs {
                    if !want.matches_list(&found) {
                        problems.push(format!(
                            "addrs: expected {want}, found {}",
                            found.join(", ")
                        ));
                    }
                }
                Judgement::from_problems(
                    problems,
                    format!("{name}{asked} resolves to {}", found.join(", ")),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_tool() {
        assert_eq!(
            records(
                "getent\n172.18.0.2      STREAM web\n172.18.0.2      DGRAM\n",
                None
            )
            .unwrap(),
            ["172.18.0.2"]
        );
        assert_eq!(
            records(
                "dig\n10 mail.example.org.\n20 mx2.example.org.\n",
                Some("MX")
            )
            .unwrap(),
            ["10 mail.example.org.", "20 mx2.example.org."]
        );
        assert_eq!(
            records("host\nexample.org has address 93.184.215.14\nexample.org has IPv6 address 2606:2800::1\n", None).unwrap(),
            ["93.184.215.14", "2606:2800::1"]
        );
        assert_eq!(
            records("nslookup\nServer:\t\t127.0.0.11\nAddress:\t127.0.0.11:53\n\nNon-authoritative answer:\nName:\tweb\nAddress: 172.18.0.2\n", None).unwrap(),
            ["172.18.0.2"]
        );
        assert_eq!(
            records("nslookup\nServer:\t\t10.0.0.2\nAddress:\t10.0.0.2:53\n\nexample.org\tmail exchanger = 10 mail.example.org\n", Some("MX")).unwrap(),
            ["10 mail.example.org"]
        );
        assert!(records("none\n", None).is_none());
        assert_eq!(records("getent\n", None).unwrap(), Vec::<String>::new());
    }
}
