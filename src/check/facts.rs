//! Facts about a container, gathered in one exec and parsed on the host.
//!
//! One POSIX shell script (it runs on busybox as well as on Debian) prints every fact the
//! declarative checks need, in sections separated by a marker line that carries a random
//! nonce. The number of engine round trips therefore stays at one whatever the number of
//! file, package, process, port, user and group checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::{Check, Spec};

/// The largest file content read for `contains`.
pub const MAX_CONTENT: usize = 1024 * 1024;

/// What the script must gather.
#[derive(Debug, Default)]
pub struct Wants {
    /// Files to `stat`.
    pub stat: BTreeSet<String>,
    /// Files whose content is needed.
    pub content: BTreeSet<String>,
    /// Files whose sha256 is needed.
    pub sha256: BTreeSet<String>,
    /// Symlinks whose target is needed.
    pub link: BTreeSet<String>,
    /// The package databases.
    pub packages: bool,
    /// The process list.
    pub processes: bool,
    /// The socket tables.
    pub sockets: bool,
    /// `/etc/passwd`.
    pub passwd: bool,
    /// `/etc/group`.
    pub group: bool,
    /// Services whose state is needed.
    pub services: BTreeSet<String>,
}

impl Wants {
    /// What `checks` need.
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Wants {
        let mut wants = Wants::default();
        for check in checks {
            match &check.spec {
                Spec::File {
                    path,
                    contains,
                    sha256,
                    target,
                    ..
                } => {
                    wants.stat.insert(path.clone());
                    if !contains.is_empty() {
                        wants.content.insert(path.clone());
                    }
                    if sha256.is_some() {
                        wants.sha256.insert(path.clone());
                    }
                    if target.is_some() {
                        wants.link.insert(path.clone());
                    }
                }
                Spec::Package { .. } => wants.packages = true,
                Spec::Process { user, .. } => {
                    wants.processes = true;
                    wants.passwd |= user.is_some();
                }
                Spec::Port { .. } => wants.sockets = true,
                Spec::User { .. } => {
                    wants.passwd = true;
                    wants.group = true;
                }
                Spec::Group { .. } => wants.group = true,
                Spec::Service { name, .. } => {
                    wants.services.insert(name.clone());
                }
                Spec::Command { .. } | Spec::Http { .. } => {}
            }
        }
        wants
    }

    /// Whether anything must be gathered.
    pub fn is_empty(&self) -> bool {
        self.stat.is_empty()
            && !self.packages
            && !self.processes
            && !self.sockets
            && !self.passwd
            && !self.group
            && self.services.is_empty()
    }
}

/// Quotes a string for POSIX sh.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The script that prints what `wants` asks for, sections introduced by `marker`.
pub fn script(wants: &Wants, marker: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "M={}\nsec() {{ printf '\\n%s %s\\n' \"$M\" \"$1\"; }}\n",
        quote(marker)
    ));
    // A tool or file that is missing must give an error, never a false "not found".
    let mut tools: Vec<&str> = Vec::new();
    if !wants.stat.is_empty() {
        tools.push("stat");
    }
    if !wants.sha256.is_empty() {
        tools.push("sha256sum");
    }
    if !wants.link.is_empty() {
        tools.push("readlink");
    }
    if !wants.content.is_empty() {
        tools.push("head");
    }
    for tool in tools {
        s.push_str(&format!(
            "command -v {tool} >/dev/null 2>&1 || {{ sec 'missing {tool}'; }}\n"
        ));
    }
    if wants.passwd {
        s.push_str("if [ -r /etc/passwd ]; then sec passwd; cat /etc/passwd; fi\n");
    }
    if wants.group {
        s.push_str("if [ -r /etc/group ]; then sec group; cat /etc/group; fi\n");
    }
    if wants.packages {
        s.push_str("if [ -r /var/lib/dpkg/status ]; then sec dpkg; cat /var/lib/dpkg/status; fi\n");
        s.push_str(
            "if [ -r /lib/apk/db/installed ]; then sec apk; cat /lib/apk/db/installed; fi\n",
        );
        s.push_str("if command -v rpm >/dev/null 2>&1 && [ -d /var/lib/rpm ] || [ -d /usr/lib/sysimage/rpm ]; then sec rpm; rpm -qa --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' 2>/dev/null; fi\n");
    }
    if wants.processes {
        s.push_str(
            // State comes before Uid in /proc/PID/status: a zombie (Z) or dead (X) process
            // still has a name, and must not count as running.
            "sec procs\nfor d in /proc/[0-9]*; do read -r c < \"$d/comm\" 2>/dev/null || continue; u=; t=; \
             while read -r k v r; do case $k in State:) t=$v;; Uid:) u=$v; break;; esac; done < \"$d/status\" 2>/dev/null; \
             echo \"${d#/proc/} $u $t $c\"; done\n",
        );
    }
    if wants.sockets {
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            s.push_str(&format!(
                "if [ -r /proc/net/{table} ]; then sec net-{table}; cat /proc/net/{table}; fi\n"
            ));
        }
    }
    if !wants.stat.is_empty() {
        let paths: Vec<String> = wants.stat.iter().map(|p| quote(p)).collect();
        s.push_str(&format!(
            "sec stat; stat -c '%F|%a|%u|%g|%U|%G|%s|%n' -- {} 2>/dev/null\n",
            paths.join(" ")
        ));
    }
    if !wants.sha256.is_empty() {
        let paths: Vec<String> = wants.sha256.iter().map(|p| quote(p)).collect();
        s.push_str(&format!(
            "sec sha256; sha256sum -- {} 2>/dev/null\n",
            paths.join(" ")
        ));
    }
    for (i, path) in wants.link.iter().enumerate() {
        s.push_str(&format!(
            "if [ -L {p} ]; then sec 'link {i}'; readlink -- {p}; fi\n",
            p = quote(path)
        ));
    }
    for (i, path) in wants.content.iter().enumerate() {
        s.push_str(&format!(
            "if [ -f {p} ]; then sec 'content {i}'; head -c {MAX_CONTENT} -- {p}; fi\n",
            p = quote(path)
        ));
    }
    for (i, name) in wants.services.iter().enumerate() {
        s.push_str(&super::service::script(i, name));
    }
    s.push_str("sec end\n");
    s
}

/// `stat` facts of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// `regular file`, `directory`, `symbolic link`, ...
    pub kind: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Owner name (`UNKNOWN` when none).
    pub user: String,
    /// Group name.
    pub group: String,
    /// Size in bytes.
    pub size: u64,
}

/// One process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its real uid.
    pub uid: Option<u32>,
    /// Its state letter from `/proc/PID/status` (`R`, `S`, `D`, `Z`, ...), when read.
    pub state: Option<char>,
    /// Its command name.
    pub comm: String,
}

impl Process {
    /// Whether it is alive: a zombie (`Z`, exited, not yet reaped) or a dead (`X`) process
    /// keeps its name but runs nothing.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, Some('Z' | 'X'))
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

/// A passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home.
    pub home: String,
    /// Shell.
    pub shell: String,
}

/// A group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// gid.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
}

/// Everything gathered.
#[derive(Debug, Default)]
pub struct Facts {
    /// By path.
    pub stat: HashMap<String, Stat>,
    /// By path.
    pub sha256: HashMap<String, String>,
    /// By path.
    pub link: HashMap<String, String>,
    /// By path (at most [`MAX_CONTENT`] bytes).
    pub content: HashMap<String, Vec<u8>>,
    /// Installed packages and versions, when a package database was found.
    pub packages: Option<HashMap<String, String>>,
    /// Processes.
    pub processes: Vec<Process>,
    /// Sockets.
    pub sockets: Vec<Socket>,
    /// Whether any socket table was readable.
    pub sockets_read: bool,
    /// Users by name (`None` when there is no readable /etc/passwd).
    pub users: Option<BTreeMap<String, User>>,
    /// Groups by name (`None` when there is no readable /etc/group).
    pub groups: Option<BTreeMap<String, Group>>,
    /// Services by name.
    pub services: HashMap<String, super::service::Service>,
    /// Tools the container lacks (`stat`, `sha256sum`, ...).
    pub missing_tools: Vec<String>,
    /// Whether the script ran to its end.
    pub complete: bool,
}

/// Parses the script's output.
pub fn parse(output: &[u8], wants: &Wants, marker: &str) -> Facts {
    let mut facts = Facts::default();
    let needle = format!("\n{marker} ");
    let links: Vec<&String> = wants.link.iter().collect();
    let contents: Vec<&String> = wants.content.iter().collect();
    for (name, body) in sections(output, needle.as_bytes()) {
        let text = || String::from_utf8_lossy(body);
        match name.as_str() {
            "passwd" => facts.users = Some(parse_passwd(&text())),
            "group" => facts.groups = Some(parse_group(&text())),
            "dpkg" => {
                facts
                    .packages
                    .get_or_insert_with(HashMap::new)
                    .extend(parse_dpkg(&text()));
            }
            "apk" => {
                facts
                    .packages
                    .get_or_insert_with(HashMap::new)
                    .extend(parse_apk(&text()));
            }
            "rpm" => {
                let packages = facts.packages.get_or_insert_with(HashMap::new);
                for line in text().lines() {
                    if let Some((n, v)) = line.split_once('\t') {
                        packages.insert(n.to_string(), v.to_string());
                    }
                }
            }
            "procs" => facts.processes = parse_procs(&text()),
            "stat" => facts.stat = parse_stat(&text()),
            "sha256" => {
                for line in text().lines() {
                    if let Some((hash, path)) = line.split_once("  ") {
                        facts.sha256.insert(path.to_string(), hash.to_string());
                    }
                }
            }
            "end" => facts.complete = true,
            other => {
                if let Some(tool) = other.strip_prefix("missing ") {
                    facts.missing_tools.push(tool.to_string());
                } else if let Some(table) = other.strip_prefix("net-") {
                    facts.sockets_read = true;
                    facts.sockets.extend(parse_sockets(&text(), table));
                } else if let Some(i) = other.strip_prefix("link ") {
                    if let Some(path) = i.parse::<usize>().ok().and_then(|i| links.get(i)) {
                        facts
                            .link
                            .insert((*path).clone(), text().trim_end().to_string());
                    }
                } else if let Some(i) = other.strip_prefix("service ") {
                    let name = i
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| wants.services.iter().nth(i));
                    if let (Some(name), Some(service)) = (name, super::service::parse(&text())) {
                        facts.services.insert(name.clone(), service);
                    }
                } else if let Some(i) = other.strip_prefix("content ") {
                    if let Some(path) = i.parse::<usize>().ok().and_then(|i| contents.get(i)) {
                        facts.content.insert((*path).clone(), body.to_vec());
                    }
                }
            }
        }
    }
    facts
}

/// Splits output at marker lines; yields (section name, body).
fn sections<'a>(output: &'a [u8], needle: &[u8]) -> Vec<(String, &'a [u8])> {
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(found) = find(&output[i..], needle) {
        starts.push(i + found);
        i += found + needle.len();
    }
    let mut out = Vec::new();
    for (n, start) in starts.iter().enumerate() {
        let header_start = start + needle.len();
        let Some(eol) = output[header_start..].iter().position(|b| *b == b'\n') else {
            // A marker without its newline can only be the last one (`end` cut short).
            let name = String::from_utf8_lossy(&output[header_start..]).into_owned();
            out.push((name, &output[output.len()..]));
            continue;
        };
        let name = String::from_utf8_lossy(&output[header_start..header_start + eol]).into_owned();
        let body_start = header_start + eol + 1;
        let body_end = starts.get(n + 1).copied().unwrap_or(output.len());
        out.push((name, &output[body_start.min(body_end)..body_end]));
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_passwd(text: &str) -> BTreeMap<String, User> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() >= 7).then(|| {
                Some((
                    f[0].to_string(),
                    User {
                        uid: f[2].parse().ok()?,
                        gid: f[3].parse().ok()?,
                        home: f[5].to_string(),
                        shell: f[6].to_string(),
                    },
                ))
            })?
        })
        .collect()
}

fn parse_group(text: &str) -> BTreeMap<String, Group> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some((
                f[0].to_string(),
                Group {
                    gid: f[2].parse().ok()?,
                    members: f[3]
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(String::from)
                        .collect(),
                },
            ))
        })
        .collect()
}

/// Installed packages from a dpkg status file.
pub fn parse_dpkg(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut installed = false;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(name), true) = (name, installed) {
            out.insert(name.to_string(), version.unwrap_or("").to_string());
        }
    }
    out
}

fn parse_apk(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = "";
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("P:") {
                name = Some(v);
            } else if let Some(v) = line.strip_prefix("V:") {
                version = v;
            }
        }
        if let Some(name) = name {
            out.insert(name.to_string(), version.to_string());
        }
    }
    out
}

fn parse_procs(text: &str) -> Vec<Process> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            let pid = parts.next()?.parse().ok()?;
            let uid = parts.next()?.parse().ok();
            let state = parts.next()?.chars().next();
            let comm = parts.next()?.to_string();
            Some(Process {
                pid,
                uid,
                state,
                comm,
            })
        })
        .collect()
}

fn parse_stat(text: &str) -> HashMap<String, Stat> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(8, '|').collect();
            if f.len() < 8 {
                return None;
            }
            Some((
                f[7].to_string(),
                Stat {
                    kind: f[0].to_string(),
                    mode: u32::from_str_radix(f[1], 8).ok()?,
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                    user: f[4].to_string(),
                    group: f[5].to_string(),
                    size: f[6].parse().ok()?,
                },
            ))
        })
        .collect()
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
fn decode_address(hex: &str) -> Option<String> {
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

    #[test]
    fn parses_dpkg_status_installed_only() {
        let status = "Package: nginx\nStatus: install ok installed\nVersion: 1.22.1-9\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n";
        let packages = parse_dpkg(status);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages["nginx"], "1.22.1-9");
        assert!(!packages.contains_key("gone"));
    }

    #[test]
    fn splits_sections_and_keeps_binary_content() {
        let mut wants = Wants::default();
        wants.content.insert("/bin/x".into());
        wants.stat.insert("/bin/x".into());
        wants.passwd = true;
        let marker = "@@dd1234";
        let mut out = Vec::new();
        out.extend_from_slice(b"\n@@dd1234 passwd\nroot:x:0:0:root:/root:/bin/sh\n");
        out.extend_from_slice(b"\n@@dd1234 stat\nregular file|755|0|0|root|root|4|/bin/x\n");
        out.extend_from_slice(b"\n@@dd1234 content 0\n\x00\x01\n\xff");
        out.extend_from_slice(b"\n@@dd1234 end\n");
        let facts = parse(&out, &wants, marker);
        assert!(facts.complete);
        assert_eq!(facts.users.as_ref().unwrap()["root"].shell, "/bin/sh");
        assert_eq!(facts.stat["/bin/x"].mode, 0o755);
        assert_eq!(facts.stat["/bin/x"].size, 4);
        assert_eq!(facts.content["/bin/x"], b"\x00\x01\n\xff");
    }

    #[test]
    fn script_quotes_paths() {
        let mut wants = Wants::default();
        wants.stat.insert("/tmp/it's".into());
        let s = script(&wants, "@@m");
        assert!(s.contains("'/tmp/it'\\''s'"), "{s}");
        assert!(s.ends_with("sec end\n"));
    }
}
