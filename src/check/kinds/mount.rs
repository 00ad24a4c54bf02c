//! `mount: /data`: a mount point, its source, filesystem and options, from `/proc/mounts`.

use super::{expect, Kind, Parse, Spec};
use crate::check::facts::{Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `mount` kind.
pub const KIND: Kind = Kind {
    name: "mount",
    asserts: &["exists", "source", "filesystem", "opts"],
    parse,
    gather,
};

/// A `mount` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// The mount point.
    pub path: String,
    /// `exists` (default true).
    pub exists: bool,
    /// `source` (the device or `tmpfs`, ...).
    pub source: Option<Matcher>,
    /// `filesystem` (`ext4`, `tmpfs`, ...).
    pub filesystem: Option<Matcher>,
    /// `opts`: a list of options it must have, or a matcher on all of them.
    pub opts: Option<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let path = p.subject_text()?;
    if !path.starts_with('/') {
        p.subject_error(format!(
            "`{path}` is not absolute; expected a mount point such as /data"
        ));
        return None;
    }
    let exists = p.flag("exists", true);
    let source = p.text("source");
    let filesystem = p.text("filesystem");
    let opts = p.members("opts");
    Some(Spec::new(Mount {
        path: match path.trim_end_matches('/') {
            "" => "/".to_string(),
            trimmed => trimmed.to_string(),
        },
        exists: exists?,
        source: source?,
        filesystem: filesystem?,
        opts: opts?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("mounts") {
        s.line("if [ -r /proc/mounts ]; then sec mounts; cat /proc/mounts; fi");
    }
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The device or pseudo source.
    pub source: String,
    /// The mount point.
    pub path: String,
    /// The filesystem type.
    pub filesystem: String,
    /// The options.
    pub opts: Vec<String>,
}

/// The mount table, `None` when `/proc/mounts` was not readable.
pub fn mounts(facts: &Facts) -> std::sync::Arc<Option<Vec<Entry>>> {
    facts.table("mounts", |f| f.text("mounts").map(|t| parse_mounts(&t)))
}

/// `/proc/mounts` escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mounts(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            Some(Entry {
                source: unescape(f.next()?),
                path: unescape(f.next()?),
                filesystem: f.next()?.to_string(),
                opts: f.next()?.split(',').map(String::from).collect(),
            })
        })
        .collect()
}

impl super::Assertion for Mount {
    fn kind(&self) -> &'static str {
        "mount"
    }

    fn want(&self, w: &mut Wants) {
        w.flag("mounts");
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let table = mounts(facts);
        let Some(table) = table.as_ref() else {
            return Judgement::error("/proc/mounts is not readable in the target");
        };
        let path = &self.path;
        // The last mount on a path is the one in use.
        let Some(found) = table.iter().rev().find(|m| &m.path == path) else {
            return if self.exists {
                Judgement::fail(format!(
                    "{path}: expected a mount point, nothing is mounted there"
                ))
            } else {
                Judgement::pass(format!("nothing is mounted on {path}"))
            };
        };
        if !self.exists {
            return Judgement::fail(format!(
                "{path}: expected no mount, found {} ({})",
                found.source, found.filesystem
            ));
        }
        let mut problems = Vec::new();
        expect(&mut problems, "source", self.source.as_ref(), &found.source);
        expect(&mut problems, "filesystem", self.filesystem.as_ref(),
            &found.filesystem,
        );
        if let Some(want) = &self.opts {
            if !want.matches_list(&found.opts) {
                problems.push(format!(
                    "opts: expected {want}, found {}",
                    found.opts.join(",")
                ));
            }
        }
        Judgement::from_problems(
            problems,
            format!(
                "{path} is mounted from {} ({})",
                found.source, found.filesystem
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_escaped_mount_points() {
        let m = parse_mounts("tmpfs /mnt/my\\040data tmpfs rw,nosuid,size=1024k 0 0\n");
        assert_eq!(m[0].path, "/mnt/my data");
        assert_eq!(m[0].opts, ["rw", "nosuid", "size=1024k"]);
    }
}
