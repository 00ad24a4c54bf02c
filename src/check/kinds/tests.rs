//! Every kind judged against facts as the fact script prints them.

use std::path::Path;

use super::*;
use crate::check::facts::item_section;
use crate::check::parse_checks;
use crate::outcome::Verdict;

/// The one check of `yaml` (a check file with one check).
fn spec(yaml: &str) -> Spec {
    let checks = parse_checks(Path::new("t.yaml"), yaml).unwrap_or_else(|d| panic!("{d:?}"));
    checks[0].spec.clone()
}

fn facts(sections: &[(&str, &str)]) -> Facts {
    Facts::from_sections(sections.iter().map(|(k, v)| (*k, v.as_bytes())))
}

fn base() -> Vec<(String, String)> {
    vec![
        (
            "stat".into(),
            "regular file|600|0|0|root|root|16|/var/www/html/index.html\n".into(),
        ),
        (
            item_section("content", "/var/www/html/index.html"),
            "Hello old world\n".into(),
        ),
        (
            "dpkg".into(),
            "Package: nginx\nStatus: install ok installed\nVersion: 1.22.1-9\n".into(),
        ),
        ("procs".into(), "7 33 S nginx\n".into()),
        ("net-tables".into(), "tcp udp\n".into()),
        (
            "net".into(),
            "  sl  local_address rem_address   st\n   0: 00000000:1F90 00000000:0000 0A\n   sl  local_address rem_address   st\n   0: 00000000:0050 00000000:0000 07\n".into(),
        ),
        (
            "passwd".into(),
            "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n".into(),
        ),
        ("group".into(), "root:x:0:\nwww-data:x:33:\n".into()),
    ]
}

fn judge(yaml: &str, sections: &[(String, String)]) -> (Verdict, String) {
    let pairs: Vec<(&str, &str)> = sections
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let j = spec(yaml).judge(&facts(&pairs));
    (j.status, j.message)
}

fn message(yaml: &str) -> String {
    judge(yaml, &base()).1
}

const PAGE: &str = "- name: page\n  file: /var/www/html/index.html\n";

#[test]
fn file_mode_message_shows_expected_and_found() {
    assert_eq!(
        message(&format!(
            "{PAGE}  type: file\n  owner: root\n  mode: \"0644\"\n"
        )),
        "mode: expected 0644, found 0600"
    );
    assert_eq!(
        message(&format!(
            "{PAGE}  mode: {{ not: \"0600\" }}\n  size: {{ gt: 100 }}\n"
        )),
        "mode: expected { not: \"0600\" }, found 0600; size: expected { gt: 100 }, found 16"
    );
    assert_eq!(
        judge(
            &format!("{PAGE}  owner: /^ro/\n  group: 0\n  size: {{ lt: 100 }}\n"),
            &base()
        )
        .0,
        Verdict::Pass
    );
}

#[test]
fn contains_message_shows_nearest_line() {
    assert_eq!(
        message(&format!("{PAGE}  contains: [\"Hello world\"]\n")),
        "contains: \"Hello world\" not found; nearest line: \"Hello old world\""
    );
    assert_eq!(
        judge(
            &format!("{PAGE}  mode: \"0600\"\n  contains: [old, \"!/new/\"]\n"),
            &base()
        )
        .0,
        Verdict::Pass
    );
    assert_eq!(
        message(&format!("{PAGE}  contains: [\"!/old/\"]\n")),
        "contains: !/old/ does not hold"
    );
}

#[test]
fn file_types_and_digests() {
    let mut sections = base();
    sections.push((
        "md5".into(),
        "d41d8cd98f00b204e9800998ecf8427e  /var/www/html/index.html\n".into(),
    ));
    let (status, msg) = judge(
        &format!(
            "{PAGE}  filetype: directory\n  md5: d41d8cd98f00b204e9800998ecf8427e\n  sha512: {}\n",
            "a".repeat(128)
        ),
        &sections,
    );
    assert_eq!(status, Verdict::Fail);
    assert_eq!(
        msg,
        "type: expected directory, found regular file; sha512: not a readable regular file"
    );
    let (status, _) = judge(
        "- name: pipe\n  file: /run/pipe\n  filetype: pipe\n",
        &[("stat".into(), "fifo|644|0|0|root|root|0|/run/pipe\n".into())],
    );
    assert_eq!(status, Verdict::Pass);
}

#[test]
fn packages_ports_processes() {
    let pkg = |version: &str| format!("- name: p\n  package: nginx\n  version: {version}\n");
    assert_eq!(judge(&pkg("\"1.22\""), &base()).0, Verdict::Pass);
    assert_eq!(
        message(&pkg("\"1.2\"")),
        "version: expected 1.2, found 1.22.1-9"
    );
    assert_eq!(
        message("- name: p\n  package: apache2\n"),
        "apache2: expected installed, not installed"
    );
    assert_eq!(
        judge(&pkg("{ version: \">= 1.22~rc1, << 1.23\" }"), &base()).0,
        Verdict::Pass
    );
    assert_eq!(
        message(&pkg("{ version: \">= 1.22.1-10\" }")),
        "version: expected >= 1.22.1-10 (dpkg's ordering), found 1.22.1-9"
    );
    assert_eq!(
        message(&pkg("{ any: [\"1.20\", \"/^2\\\\./\"] }")),
        "version: expected { any: [\"1.20\", /^2\\./] }, found 1.22.1-9"
    );
    assert_eq!(
        message("- name: p\n  port: 80\n"),
        "tcp/80: expected listening, not listening (listening tcp ports: 8080)"
    );
    assert_eq!(
        message("- name: p\n  port: 8080\n  listening: false\n"),
        "tcp/8080: expected closed, listening on 0.0.0.0"
    );
    assert_eq!(
        message("- name: p\n  process: nginx\n  min_count: 2\n"),
        "count: expected at least 2, found 1"
    );
    assert_eq!(
        message("- name: p\n  process: nginx\n  count: { ge: 1 }\n  user: www-data\n"),
        "1 nginx process(es) running"
    );
    assert_eq!(
        message("- name: p\n  user: www-data\n  uid: { lt: 30 }\n  shell: \"!/nologin/\"\n"),
        "uid: expected { lt: 30 }, found 33; shell: expected !/nologin/, found /usr/sbin/nologin"
    );
}

#[test]
fn a_zombie_is_not_a_running_process() {
    let with = |procs: &str| {
        let mut s = base();
        s.retain(|(k, _)| k != "procs");
        s.push(("procs".into(), procs.into()));
        s
    };
    let running = "- name: p\n  process: nginx\n";
    assert_eq!(
        judge(running, &with("41 0 Z nginx\n")),
        (
            Verdict::Fail,
            "expected a running nginx process, found none; 1 zombie (exited, not reaped) nginx process(es) not counted (pid 41)".into()
        )
    );
    assert_eq!(
        judge(
            "- name: p\n  process: nginx\n  running: false\n",
            &with("41 0 Z nginx\n")
        )
        .0,
        Verdict::Pass
    );
    assert_eq!(
        judge(running, &with("41 0 Z nginx\n42 0 S nginx\n")).1,
        "1 nginx process(es) running; 1 zombie (exited, not reaped) nginx process(es) not counted (pid 41)"
    );
}

#[test]
fn missing_package_database_is_an_error_not_a_failure() {
    let (status, _) = judge("- name: p\n  package: x\n", &[]);
    assert_eq!(status, Verdict::Error);
}

#[test]
fn kernel_params_mounts_interfaces_and_names() {
    let sections = vec![
        (
            "sysctl-present".to_string(),
            "/proc/sys/net/ipv4/ip_forward\n/proc/sys/net/ipv4/tcp_rmem\n".to_string(),
        ),
        (
            "sysctl".to_string(),
            "/proc/sys/net/ipv4/ip_forward:1\n/proc/sys/net/ipv4/tcp_rmem:4096\t131072\t6291456\n"
                .to_string(),
        ),
        (
            "mounts".to_string(),
            "overlay / overlay rw,relatime 0 0\ntmpfs /data tmpfs rw,nosuid,size=1024k 0 0\n"
                .to_string(),
        ),
        ("links".to_string(), "eth0 1500\nlo 65536\n".to_string()),
        (
            "ip-addr".to_string(),
            "25: eth0@if26    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\n"
                .to_string(),
        ),
        (
            item_section("dns", "- - web"),
            "getent\n172.18.0.3      STREAM web\n".to_string(),
        ),
        (item_section("dns", "- - nowhere"), "getent\n".to_string()),
    ];
    let cases: &[(&str, Verdict, &str)] = &[
        ("kernel_param: net.ipv4.ip_forward\n  value: \"1\"", Verdict::Pass, "net.ipv4.ip_forward = 1"),
        ("kernel_param: net.ipv4.ip_forward\n  value: \"0\"", Verdict::Fail, "value: expected 0, found 1"),
        ("kernel_param: net.ipv4.tcp_rmem\n  value: /^4096 /", Verdict::Pass, "net.ipv4.tcp_rmem = 4096 131072 6291456"),
        ("kernel_param: net.ipv4.nope", Verdict::Fail, "kernel parameter net.ipv4.nope does not exist (/proc/sys/net/ipv4/nope is not readable)"),
        ("mount: /data\n  filesystem: tmpfs\n  opts: [nosuid, rw]", Verdict::Pass, "/data is mounted from tmpfs (tmpfs)"),
        ("mount: /data\n  opts: [noexec]", Verdict::Fail, "opts: expected { contains: [\"noexec\"] }, found rw,nosuid,size=1024k"),
        ("mount: /srv", Verdict::Fail, "/srv: expected a mount point, nothing is mounted there"),
        ("mount: /srv\n  exists: false", Verdict::Pass, "nothing is mounted on /srv"),
        ("interface: eth0\n  addrs: [172.18.0.2/16]\n  mtu: 1500", Verdict::Pass, "eth0 is up with 172.18.0.2/16 (mtu 1500)"),
        ("interface: eth0\n  mtu: { ge: 9000 }", Verdict::Fail, "mtu: expected { ge: 9000 }, found 1500"),
        ("interface: eth1", Verdict::Fail, "interface eth1: expected to exist, not found (interfaces: eth0, lo)"),
        ("dns: web\n  addrs: [172.18.0.3]", Verdict::Pass, "web resolves to 172.18.0.3"),
        ("dns: web\n  addrs: /^10\\./", Verdict::Fail, "addrs: expected /^10\\./, found 172.18.0.3"),
        ("dns: nowhere", Verdict::Fail, "nowhere: expected to resolve, it does not"),
        ("dns: nowhere\n  resolvable: false", Verdict::Pass, "nowhere does not resolve"),
    ];
    for (body, status, msg) in cases {
        let got = judge(&format!("- name: c\n  {body}\n"), &sections);
        assert_eq!(&got, &(*status, msg.to_string()), "{body}");
    }
}

#[test]
fn new_kinds_name_their_mistakes() {
    let errors = |yaml: &str| -> Vec<String> {
        parse_checks(Path::new("t.yaml"), yaml)
            .unwrap_err()
            .iter()
            .map(|d| format!("{}:{}", d.pos.line, d.message))
            .collect()
    };
    assert_eq!(
        errors("- name: a\n  kernel_param: ../../etc/passwd\n- name: b\n  dns: web\n  type: SRV\n- name: c\n  addr: udp://db:53\n- name: d\n  mount: data\n- name: e\n  http: http://x/\n  cert_days_left: { gt: 3 }\n- name: f\n  http: https://x/\n  insecure: true\n  from: drydock\n"),
        [
            "2:`../../etc/passwd` is not a kernel parameter; expected a dotted name such as net.ipv4.ip_forward",
            "5:unknown record type `SRV`; expected one of: A, AAAA, CNAME, MX, TXT",
            "7:`udp://` cannot be probed; expected tcp://HOST:PORT",
            "9:`data` is not absolute; expected a mount point such as /data",
            "11:`cert_days_left` needs an https:// URL; `http://x/` has no certificate",
            "15:`insecure` applies to requests made from the target; it cannot be combined with `from: drydock`",
        ]
    );
}

/// The JSON Schema of check files lists each kind with exactly its keys.
#[test]
fn the_checks_schema_has_each_kind_with_exactly_its_keys() {
    use serde_json::Value;
    let root: Value =
        serde_json::from_str(include_str!("../../../schema/checks.schema.json")).unwrap();
    let variants = root["items"]["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), KINDS.len());
    for kind in KINDS {
        let variant = variants
            .iter()
            .find(|v| v["title"] == kind.name)
            .unwrap_or_else(|| panic!("no `{}` in the checks schema", kind.name));
        let mut listed: Vec<&str> = variant["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        listed.sort_unstable();
        let mut known: Vec<&str> = crate::check::definition::COMMON
            .iter()
            .chain(kind.asserts.iter())
            .copied()
            .chain([kind.name])
            .collect();
        known.sort_unstable();
        assert_eq!(listed, known, "the keys of a `{}` check", kind.name);
    }
}
