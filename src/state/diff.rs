//! Comparing two manifests: what only one side has, and which fields differ on both.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use similar::{Algorithm, TextDiff};

use super::manifest::{Entry, Manifest};
use crate::outcome::{PathChange, Verdict};

/// The comparison of two manifests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// Paths only the left side has.
    pub only_left: Vec<String>,
    /// Paths only the right side has.
    pub only_right: Vec<String>,
    /// Paths on both whose facts differ.
    pub changed: Vec<PathChange>,
    /// Findings accepted by the allow list.
    pub allowed: Vec<String>,
    /// Paths whose content differs on disk but is the same once per-container values, dated
    /// fields and per-machine content are set aside.
    pub normalised: Vec<String>,
}

impl Comparison {
    /// Whether nothing (outside the allow list) differs.
    pub fn is_empty(&self) -> bool {
        self.only_left.is_empty() && self.only_right.is_empty() && self.changed.is_empty()
    }

    /// Number of findings.
    pub fn len(&self) -> usize {
        self.only_left.len() + self.only_right.len() + self.changed.len()
    }
}

impl Comparison {
    /// `Pass` when nothing (outside the allow list) differs, else `Fail`.
    pub fn verdict(&self) -> Verdict {
        if self.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// Compiles `diff.allow` globs.
pub fn allow_set(globs: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        builder.add(GlobBuilder::new(g).literal_separator(true).build()?);
    }
    builder.build()
}

/// Compares `left` with `right`; `labels` name the sides in unified diffs.
pub fn compare(
    left: &Manifest,
    right: &Manifest,
    allow: &GlobSet,
    labels: (&str, &str),
) -> Comparison {
    let mut out = Comparison::default();
    let mut l = left.entries.iter().peekable();
    let mut r = right.entries.iter().peekable();
    loop {
        let order = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some((path, _)) = l.next() {
                    push(&mut out, allow, path, |o| &mut o.only_left);
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((path, _)) = r.next() {
                    push(&mut out, allow, path, |o| &mut o.only_right);
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((path, a)), Some((_, b))) = (l.next(), r.next()) {
                    match change(path, a, b, labels) {
                        Some(_) if allow.is_match(path) => out.allowed.push(path.clone()),
                        Some(change) => out.changed.push(change),
                        None if a.raw_hash.or(a.hash) != b.raw_hash.or(b.hash) => {
                            out.normalised.push(path.clone())
                        }
                        None => {}
                    }
                }
            }
        }
    }
    out
}

fn push(
    out: &mut Comparison,
    allow: &GlobSet,
    path: &str,
    list: impl Fn(&mut Comparison) -> &mut Vec<String>,
) {
    if allow.is_match(path) {
        out.allowed.push(path.to_string());
    } else {
        list(out).push(path.to_string());
    }
}

/// The fields that differ between two entries of one path, with a readable content diff.
pub fn change(path: &str, a: &Entry, b: &Entry, labels: (&str, &str)) -> Option<PathChange> {
    let mut fields = Vec::new();
    if a.kind != b.kind {
        fields.push("type".to_string());
    }
    if a.mode != b.mode {
        fields.push("mode".to_string());
    }
    if a.uid != b.uid || a.gid != b.gid {
        fields.push("owner".to_string());
    }
    if a.kind == b.kind && a.hash != b.hash {
        fields.push("content".to_string());
    }
    if a.target != b.target && a.kind == b.kind {
        fields.push("target".to_string());
    }
    if fields.is_empty() {
        return None;
    }
    let mut unified = None;
    let mut detail = Vec::new();
    if fields.iter().any(|f| f == "type") {
        detail.push(format!("type: {} → {}", describe(a), describe(b)));
    }
    if fields.iter().any(|f| f == "mode") {
        detail.push(format!("mode: {:04o} → {:04o}", a.mode, b.mode));
    }
    if fields.iter().any(|f| f == "owner") {
        detail.push(format!("owner: {}:{} → {}:{}", a.uid, a.gid, b.uid, b.gid));
    }
    if fields.iter().any(|f| f == "target") {
        detail.push(format!(
            "target: {} → {}",
            a.target.as_deref().unwrap_or("-"),
            b.target.as_deref().unwrap_or("-")
        ));
    }
    if fields.iter().any(|f| f == "content") {
        match (&a.text, &b.text) {
            (Some(x), Some(y)) => {
                let diff = TextDiff::configure()
                    .algorithm(Algorithm::Patience)
                    .diff_lines(x.as_str(), y.as_str());
                unified = Some(
                    diff.unified_diff()
                        .context_radius(3)
                        .header(
                            &format!("{}{path}", labels.0),
                            &format!("{}{path}", labels.1),
                        )
                        .to_string(),
                );
            }
            _ => detail.push(format!(
                "content: {} bytes ({}) → {} bytes ({})",
                a.size,
                a.short_hash(12),
                b.size,
                b.short_hash(12)
            )),
        }
    }
    Some(PathChange {
        path: path.to_string(),
        fields,
        unified,
        detail: (!detail.is_empty()).then(|| detail.join("; ")),
    })
}

fn describe(e: &Entry) -> String {
    match &e.target {
        Some(t) if e.kind == super::manifest::Kind::Symlink => format!("symlink to {t}"),
        _ => e.kind.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::identity::{Identity, ValueKind};
    use crate::state::ignore::Ignore;
    use crate::state::manifest::{read_tar, read_tar_of, tests::tar_of};

    fn manifest(files: &[(&str, Option<&str>, u32)], links: &[(&str, &str)]) -> Manifest {
        let mut m = Manifest::default();
        read_tar(
            tar_of(files, links).as_slice(),
            "/etc",
            &Ignore::none(),
            &mut m,
        )
        .unwrap();
        m
    }

    #[test]
    fn identical_states_have_no_findings() {
        let a = manifest(&[("etc", None, 0o755), ("etc/a", Some("x\n"), 0o644)], &[]);
        let result = compare(
            &a,
            &a.clone(),
            &allow_set(&[]).unwrap(),
            ("fresh", "upgrade"),
        );
        assert!(result.is_empty());
        assert_eq!(result.len(), 0);
    }

    #[test]
    fn finds_orphans_modes_contents_and_replaced_symlinks() {
        let fresh = manifest(
            &[
                ("etc", None, 0o755),
                ("etc/site.conf", Some("listen 80;\nroot /var/www;\n"), 0o644),
                ("etc/secret", Some("k"), 0o600),
            ],
            &[("etc/current", "site.conf")],
        );
        let upgrade = manifest(
            &[
                ("etc", None, 0o755),
                (
                    "etc/site.conf",
                    Some("listen 8080;\nroot /var/www;\n"),
                    0o644,
                ),
                ("etc/secret", Some("k"), 0o644),
                ("etc/old.conf", Some("legacy\n"), 0o644),
                ("etc/current", Some("copied\n"), 0o644),
            ],
            &[],
        );
        let result = compare(
            &fresh,
            &upgrade,
            &allow_set(&[]).unwrap(),
            ("fresh", "upgrade"),
        );
        assert_eq!(result.only_left, Vec::<String>::new());
        assert_eq!(result.only_right, ["/etc/old.conf"]);
        let fields: Vec<(String, Vec<String>)> = result
            .changed
            .iter()
            .map(|c| (c.path.clone(), c.fields.clone()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (
                    "/etc/current".to_string(),
                    vec!["type".to_string(), "mode".to_string()]
                ),
                ("/etc/secret".to_string(), vec!["mode".to_string()]),
                ("/etc/site.conf".to_string(), vec!["content".to_string()]),
            ]
        );
        let unified = result.changed[2].unified.as_deref().unwrap();
        assert_eq!(
            unified,
            "--- fresh/etc/site.conf\n+++ upgrade/etc/site.conf\n@@ -1,2 +1,2 @@\n-listen 80;\n+listen 8080;\n root /var/www;\n"
        );
        assert_eq!(
            result.changed[1].detail.as_deref(),
            Some("mode: 0600 → 0644")
        );
        assert_eq!(
            result.changed[0].detail.as_deref(),
            Some("type: symlink to site.conf → file; mode: 0777 → 0644")
        );
    }

    #[test]
    fn allow_list_accepts_known_differences() {
        let a = manifest(&[("etc", None, 0o755)], &[]);
        let b = manifest(
            &[("etc", None, 0o755), ("etc/old.conf", Some("x"), 0o644)],
            &[],
        );
        let result = compare(
            &a,
            &b,
            &allow_set(&["/etc/old.conf".to_string()]).unwrap(),
            ("a", "b"),
        );
        assert!(result.is_empty());
        assert_eq!(result.allowed, ["/etc/old.conf"]);
    }

    /// The manifest of one container: default rules, and `identity` normalised.
    fn container(files: &[(&str, Option<&str>, u32)], identity: &Identity) -> Manifest {
        let ignore = Ignore::new(true, &[])
            .unwrap()
            .with_content(true, &[])
            .unwrap();
        let mut m = Manifest::default();
        read_tar_of(
            tar_of(files, &[]).as_slice(),
            "/etc",
            &ignore,
            identity,
            &mut m,
        )
        .unwrap();
        m
    }

    fn ip(address: &str) -> Identity {
        Identity::new([(ValueKind::Ipv4, address.to_string())])
    }

    #[test]
    fn shadow_entries_of_different_days_match_and_say_so() {
        let built_last_week = "root:*:20400:0:99999:7:::\napp:!:20401:0:99999:7:::\n";
        let today = "root:*:20400:0:99999:7:::\napp:!:20408:0:99999:7:::\n";
        let a = container(
            &[
                ("etc", None, 0o755),
                ("etc/shadow", Some(built_last_week), 0o640),
            ],
            &Identity::none(),
        );
        let b = container(
            &[("etc", None, 0o755), ("etc/shadow", Some(today), 0o640)],
            &Identity::none(),
        );
        let result = compare(&a, &b, &allow_set(&[]).unwrap(), ("fresh", "upgrade"));
        assert!(result.is_empty(), "{result:?}");
        assert_eq!(result.normalised, ["/etc/shadow"]);
    }

    #[test]
    fn a_user_on_one_side_only_is_still_drift() {
        let a = container(
            &[
                ("etc", None, 0o755),
                ("etc/shadow", Some("root:*:1::::::\n"), 0o640),
            ],
            &Identity::none(),
        );
        let b = container(
            &[
                ("etc", None, 0o755),
                ("etc/shadow", Some("root:*:1::::::\napp:!:2::::::\n"), 0o640),
            ],
            &Identity::none(),
        );
        let result = compare(&a, &b, &allow_set(&[]).unwrap(), ("fresh", "upgrade"));
        assert_eq!(result.changed.len(), 1);
        let unified = result.changed[0].unified.as_deref().unwrap();
        assert!(unified.contains("+app:!:<day>::::::"), "{unified}");
    }

    #[test]
    fn each_container_s_own_address_is_normalised_but_other_lines_are_not() {
        let fresh = container(
            &[
                ("etc", None, 0o755),
                (
                    "etc/listen.conf",
                    Some("listen 172.17.0.2:80;\nport=1\n"),
                    0o644,
                ),
            ],
            &ip("172.17.0.2"),
        );
        let same = container(
            &[
                ("etc", None, 0o755),
                (
                    "etc/listen.conf",
                    Some("listen 172.17.0.3:80;\nport=1\n"),
                    0o644,
                ),
            ],
            &ip("172.17.0.3"),
        );
        let result = compare(
            &fresh,
            &same,
            &allow_set(&[]).unwrap(),
            ("fresh", "upgrade"),
        );
        assert!(result.is_empty());
        assert_eq!(result.normalised, ["/etc/listen.conf"]);
        let drifted = container(
            &[
                ("etc", None, 0o755),
                (
                    "etc/listen.conf",
                    Some("listen 172.17.0.3:80;\nport=2\n"),
                    0o644,
                ),
            ],
            &ip("172.17.0.3"),
        );
        let result = compare(
            &fresh,
            &drifted,
            &allow_set(&[]).unwrap(),
            ("fresh", "upgrade"),
        );
        assert_eq!(
            result.changed[0].unified.as_deref(),
            Some("--- fresh/etc/listen.conf\n+++ upgrade/etc/listen.conf\n@@ -1,2 +1,2 @@\n listen <container-ipv4>:80;\n-port=1\n+port=2\n")
        );
    }

    #[test]
    fn host_keys_compare_without_content_but_with_mode() {
        let key = |content: &str, mode: u32| {
            container(
                &[
                    ("etc", None, 0o755),
                    ("etc/ssh", None, 0o755),
                    ("etc/ssh/ssh_host_ed25519_key", Some(content), mode),
                ],
                &Identity::none(),
            )
        };
        let result = compare(
            &key("AAA", 0o600),
            &key("BBB", 0o600),
            &allow_set(&[]).unwrap(),
            ("fresh", "upgrade"),
        );
        assert!(result.is_empty());
        assert_eq!(result.normalised, ["/etc/ssh/ssh_host_ed25519_key"]);
        let result = compare(
            &key("AAA", 0o600),
            &key("BBB", 0o640),
            &allow_set(&[]).unwrap(),
            ("fresh", "upgrade"),
        );
        assert_eq!(result.changed.len(), 1);
        assert_eq!(result.changed[0].fields, ["mode"]);
    }
}
