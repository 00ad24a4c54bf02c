//! Reviewable state: a manifest as a sorted, line-per-path text file meant to be committed.
//!
//! A line is `PATH<TAB>KIND MODE UID:GID SIZE HASH[ -> TARGET]`, hashes shortened to 16 hex
//! digits, so a pull request's diff of the file shows exactly which paths a change touches.

use std::collections::BTreeMap;

use super::manifest::{Kind, Manifest};

/// The default file name.
pub const FILE_NAME: &str = "drydock.state";

const HEADER: &str = "# drydock state snapshot: the fresh install's files under diff.paths.\n# Regenerate with `drydock snapshot`; `drydock run` reports differences, `--locked` fails on them.\n";

/// Renders a manifest as snapshot text.
pub fn render(manifest: &Manifest) -> String {
    let mut out = String::from(HEADER);
    for (path, e) in &manifest.entries {
        let hash = if e.kind == Kind::File {
            e.short_hash(16)
        } else {
            "-".into()
        };
        let size = if e.kind == Kind::File {
            e.size.to_string()
        } else {
            "-".into()
        };
        out.push_str(&format!(
            "{path}\t{} {:04o} {}:{} {size} {hash}",
            e.kind.as_str(),
            e.mode,
            e.uid,
            e.gid
        ));
        if let Some(t) = &e.target {
            out.push_str(&format!(" -> {t}"));
        }
        out.push('\n');
    }
    out
}

fn lines(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .collect()
}

/// Differences between a committed snapshot and a new rendering, one line each:
/// `+ PATH` (new), `- PATH` (gone), `~ PATH: OLD → NEW`.
pub fn differences(committed: &str, current: &str) -> Vec<String> {
    let old = lines(committed);
    let new = lines(current);
    let mut out = Vec::new();
    for (path, facts) in &new {
        match old.get(path) {
            None => out.push(format!("+ {path}")),
            Some(before) if before != facts => out.push(format!("~ {path}: {before} → {facts}")),
            _ => {}
        }
    }
    for path in old.keys() {
        if !new.contains_key(path) {
            out.push(format!("- {path}"));
        }
    }
    out.sort_by(|a, b| a[2..].cmp(&b[2..]));
    out
}

/// Whether a snapshot line's path belongs to one of `platforms` (`PLATFORM/HOST:/path`).
fn on_platforms(line: &str, platforms: &[String]) -> bool {
    platforms.iter().any(|p| {
        line.strip_prefix(p.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The committed snapshot's lines of `platforms` only: what a run of some of a project's
/// platforms (`--platform`, a shard) is compared with.
pub fn of_platforms(committed: &str, platforms: &[String]) -> String {
    let mut out = String::from(HEADER);
    for line in committed
        .lines()
        .filter(|l| !l.starts_with('#') && on_platforms(l, platforms))
    {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A new rendering of `platforms` merged into the committed snapshot: the other platforms'
/// lines are kept as they were, sorted in with the new ones.
pub fn replace_platforms(committed: &str, rendered: &str, platforms: &[String]) -> String {
    let mut body: Vec<&str> = committed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !on_platforms(l, platforms))
        .chain(
            rendered
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty()),
        )
        .collect();
    body.sort_by(|a, b| a.split('\t').next().cmp(&b.split('\t').next()));
    let mut out = String::from(HEADER);
    for line in body {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ignore::Ignore;
    use crate::state::manifest::{read_tar, tests::tar_of};

    #[test]
    fn renders_sorted_lines_and_reports_differences() {
        let mut a = Manifest::default();
        read_tar(
            tar_of(
                &[
                    ("etc", None, 0o755),
                    ("etc/b", Some("1"), 0o644),
                    ("etc/a", Some("x"), 0o600),
                ],
                &[("etc/l", "a")],
            )
            .as_slice(),
            "/etc",
            &Ignore::none(),
            &mut a,
        )
        .unwrap();
        let text = render(&a);
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(body.len(), 4);
        assert!(body[0].starts_with("/etc\tdir 0755 0:0 - -"));
        assert!(body[1].starts_with("/etc/a\tfile 0600 0:0 1 "));
        assert_eq!(body[3], "/etc/l\tsymlink 0777 0:0 - - -> a");
        assert_eq!(differences(&text, &text), Vec::<String>::new());

        let mut b = a.clone();
        b.entries.remove("/etc/b");
        if let Some(e) = b.entries.get_mut("/etc/a") {
            e.mode = 0o644;
        }
        let changed = differences(&text, &render(&b));
        assert_eq!(changed.len(), 2);
        assert!(changed[0].starts_with("~ /etc/a: file 0600"), "{changed:?}");
        assert_eq!(changed[1], "- /etc/b");
    }

    #[test]
    fn a_subset_of_platforms_is_compared_and_rewritten_alone() {
        let committed = format!(
            "{HEADER}bookworm/web:/etc\tdir 0755 0:0 - -\nbookworm-tools/web:/etc\tdir 0755 0:0 - -\ntrixie/web:/etc\tdir 0755 0:0 - -\n"
        );
        let trixie = vec!["trixie".to_string()];
        assert_eq!(
            of_platforms(&committed, &trixie),
            format!("{HEADER}trixie/web:/etc\tdir 0755 0:0 - -\n")
        );
        let bookworm = vec!["bookworm".to_string()];
        assert_eq!(
            of_platforms(&committed, &bookworm),
            format!("{HEADER}bookworm/web:/etc\tdir 0755 0:0 - -\n"),
            "bookworm-tools is another platform"
        );
        let rendered = format!(
            "{HEADER}trixie/web:/etc\tdir 0700 0:0 - -\ntrixie/web:/etc/a\tfile 0644 0:0 1 ab\n"
        );
        assert_eq!(
            replace_platforms(&committed, &rendered, &trixie),
            format!("{HEADER}bookworm-tools/web:/etc\tdir 0755 0:0 - -\nbookworm/web:/etc\tdir 0755 0:0 - -\ntrixie/web:/etc\tdir 0700 0:0 - -\ntrixie/web:/etc/a\tfile 0644 0:0 1 ab\n")
        );
    }
}
