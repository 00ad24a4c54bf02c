//! `file: PATH`: existence, type, mode, owner, group, size, digests, symlink target, content.

use super::{expect, Kind, Parse, Spec};
use crate::check::facts::{quote, Facts, Script, Wants};
use crate::check::judge::{nearest_line, Judgement};
use crate::check::matcher::Matcher;
use crate::config::diag::Diagnostics;
use crate::config::yaml::Node;

/// The largest file content read for `contains`.
pub const MAX_CONTENT: usize = 1024 * 1024;

/// The `file` kind.
pub const KIND: Kind = Kind {
    name: "file",
    asserts: &[
        "exists", "type", "filetype", "mode", "owner", "group", "size", "sha256", "sha512", "md5",
        "contains", "target",
    ],
    parse,
    gather,
};

/// File types a `file` check can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A block device.
    Block,
    /// A character device.
    Character,
    /// A named pipe.
    Pipe,
    /// A Unix socket.
    Socket,
}

impl FileType {
    /// The word users write.
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
            FileType::Block => "block-device",
            FileType::Character => "character-device",
            FileType::Pipe => "pipe",
            FileType::Socket => "socket",
        }
    }

    /// The type `stat -c %F` names.
    fn of_stat(found: &str) -> Option<FileType> {
        Some(match found {
            "regular file" | "regular empty file" => FileType::File,
            "directory" => FileType::Directory,
            "symbolic link" => FileType::Symlink,
            "block special file" => FileType::Block,
            "character special file" => FileType::Character,
            "fifo" => FileType::Pipe,
            "socket" => FileType::Socket,
            _ => return None,
        })
    }
}

/// The digests a `file` check can compare: key, tool, hex length.
const DIGESTS: &[(&str, &str, usize)] = &[
    ("sha256", "sha256sum", 64),
    ("sha512", "sha512sum", 128),
    ("md5", "md5sum", 32),
];

/// A `file` check.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// The path.
    pub path: String,
    /// `exists` (default true).
    pub exists: bool,
    /// `type` (or `filetype`).
    pub kind: Option<FileType>,
    /// `mode`, plain values as four octal digits.
    pub mode: Option<Matcher>,
    /// `owner`: a name or a uid.
    pub owner: Option<Matcher>,
    /// `group`: a name or a gid.
    pub group: Option<Matcher>,
    /// `size`.
    pub size: Option<Matcher>,
    /// `sha256`, `sha512`, `md5`, by key.
    pub digests: Vec<(&'static str, Matcher)>,
    /// `contains`.
    pub contains: Vec<Matcher>,
    /// `target` (symlink target).
    pub target: Option<Matcher>,
}

fn file_type(d: &mut Diagnostics<'_>, n: &Node, key: &str) -> Option<FileType> {
    let t = d.text(n, key)?;
    Some(match t.as_str() {
        "file" => FileType::File,
        "directory" | "dir" => FileType::Directory,
        "symlink" | "link" => FileType::Symlink,
        "block-device" => FileType::Block,
        "character-device" => FileType::Character,
        "pipe" | "fifo" => FileType::Pipe,
        "socket" => FileType::Socket,
        _ => {
            d.error(
                n.pos,
                key,
                format!("unknown file type `{t}`; expected file, directory, symlink, block-device, character-device, pipe or socket"),
            );
            return None;
        }
    })
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let path = p.subject_text()?;
    if !path.starts_with('/') {
        p.subject_error(format!(
            "`{path}` is not absolute; expected a path such as /etc/nginx/nginx.conf"
        ));
        return None;
    }
    let kind = p.opt("type", |d, n| file_type(d, n, "type"));
    let filetype = p.opt("filetype", |d, n| file_type(d, n, "filetype"));
    let mode = p.matcher(
        "mode",
        &|d, n, t| match u32::from_str_radix(t.trim_start_matches("0o"), 8) {
            Ok(m) if m <= 0o7777 => Some(format!("{m:04o}")),
            _ => {
                d.error(
                    n.pos,
                    "mode",
                    format!("`{t}` is not a file mode; expected octal such as \"0644\""),
                );
                None
            }
        },
    );
    let exists = p.flag("exists", true);
    let owner = p.text("owner");
    let group = p.text("group");
    let size = p.number("size", 0, i64::MAX);
    let mut digests = Some(Vec::new());
    for (key, _, len) in DIGESTS {
        let read = p.matcher(key, &|d, n, t| {
            let t = t.to_ascii_lowercase();
            if t.len() != *len || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                d.error(n.pos, key, format!("expected {len} hexadecimal digits"));
                return None;
            }
            Some(t)
        });
        match (read, digests.as_mut()) {
            (Some(Some(m)), Some(all)) => all.push((*key, m)),
            (Some(None), _) => {}
            _ => digests = None,
        }
    }
    let contains = p.patterns("contains");
    let target = p.text("target");
    let kind = match (kind?, filetype?) {
        (Some(_), Some(_)) => {
            p.subject_error("`type` and `filetype` say the same thing; keep one");
            return None;
        }
        (a, b) => a.or(b),
    };
    Some(Spec::new(File {
        path,
        exists: exists?,
        kind,
        mode: mode?,
        owner: owner?,
        group: group?,
        size: size?,
        digests: digests?,
        contains: contains?,
        target: target?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("stat") {
        s.tool("stat");
        let paths: Vec<String> = w.items("stat").map(|p| quote(p)).collect();
        s.line(format!(
            "sec stat; stat -c '%F|%a|%u|%g|%U|%G|%s|%n' -- {} 2>/dev/null",
            paths.join(" ")
        ));
    }
    for (key, tool, _) in DIGESTS {
        if w.has(key) {
            s.tool(tool);
            let paths: Vec<String> = w.items(key).map(|p| quote(p)).collect();
            s.line(format!(
                "sec {key}; {tool} -- {} 2>/dev/null",
                paths.join(" ")
            ));
        }
    }
    per_path(w, s, "link", "readlink", "-L", "readlink --");
    per_path(w, s, "content", "head", "-f", &format!("head -c {MAX_CONTENT} --"));
}

/// One section per wanted path of `key` that passes `[ TEST PATH ]`, printed by `command PATH`.
fn per_path(w: &Wants, s: &mut Script, key: &'static str, tool: &'static str, test: &str, command: &str) {
    if w.has(key) {
        s.tool(tool);
    }
    for path in w.items(key) {
        s.line(format!(
            "if [ {test} {p} ]; then sec {n}; {command} {p}; fi",
            p = quote(path),
            n = quote(&crate::check::facts::item_section(key, path))
        ));
    }
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

/// The `stat` table, by path.
pub fn stats(facts: &Facts) -> std::sync::Arc<std::collections::HashMap<String, Stat>> {
    facts.table("stat", |f| {
        f.text("stat").map(|t| parse_stat(&t)).unwrap_or_default()
    })
}

/// A digest table (`sha256`, ...), by path.
fn digest_table(
    facts: &Facts,
    key: &'static str,
) -> std::sync::Arc<std::collections::HashMap<String, String>> {
    facts.table(key, |f| {
        f.text(key)
            .map(|t| {
                t.lines()
                    .filter_map(|l| l.split_once("  "))
                    .map(|(hash, path)| (path.to_string(), hash.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn parse_stat(text: &str) -> std::collections::HashMap<String, Stat> {
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

/// A name, or the id it stands for.
fn name_or_id(id: u32) -> impl Fn(&str, &str) -> bool {
    move |want, found| want == found || want.parse::<u32>().ok() == Some(id)
}

impl super::Assertion for File {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn want(&self, w: &mut Wants) {
        w.add("stat", &self.path);
        if !self.contains.is_empty() {
            w.add("content", &self.path);
        }
        for (key, _) in &self.digests {
            w.add(key, &self.path);
        }
        if self.target.is_some() {
            w.add("link", &self.path);
        }
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let needs = |tool: &str| facts.lacks(tool);
        let lacking = needs("stat")
            || (!self.contains.is_empty() && needs("head"))
            || self
                .digests
                .iter()
                .any(|(key, _)| DIGESTS.iter().any(|(k, tool, _)| k == key && needs(tool)))
            || (self.target.is_some() && needs("readlink"));
        if lacking {
            return Judgement::error(format!(
                "the container lacks the tools file checks need ({})",
                facts.missing_tools.join(", ")
            ));
        }
        let path = &self.path;
        let stats = stats(facts);
        let Some(stat) = stats.get(path) else {
            return if self.exists {
                Judgement::fail(format!("{path}: expected to exist, not found"))
            } else {
                Judgement::pass(format!("{path} is absent"))
            };
        };
        if !self.exists {
            return Judgement::fail(format!(
                "{path}: expected to be absent, found a {}",
                stat.kind
            ));
        }
        let mut problems = Vec::new();
        if let Some(kind) = self.kind {
            if FileType::of_stat(&stat.kind) != Some(kind) {
                problems.push(format!(
                    "type: expected {}, found {}",
                    kind.as_str(),
                    stat.kind
                ));
            }
        }
        expect(&mut problems, "mode", self.mode.as_ref(),
            &format!("{:04o}", stat.mode),
        );
        if let Some(owner) = &self.owner {
            if !owner.matches_with(&stat.user, &name_or_id(stat.uid)) {
                problems.push(format!("owner: expected {owner}, found {}", stat.user));
            }
        }
        if let Some(group) = &self.group {
            if !group.matches_with(&stat.group, &name_or_id(stat.gid)) {
                problems.push(format!("group: expected {group}, found {}", stat.group));
            }
        }
        expect(&mut problems, "size", self.size.as_ref(), &stat.size.to_string());
        for (key, want) in &self.digests {
            match digest_table(facts, key).get(path) {
                Some(found) if want.matches(found) => {}
                Some(found) => problems.push(format!("{key}: expected {want}, found {found}")),
                None => problems.push(format!("{key}: not a readable regular file")),
            }
        }
        if let Some(want) = &self.target {
            match facts.item("link", path) {
                Some(found) => {
                    let found = String::from_utf8_lossy(found);
                    let found = found.trim_end();
                    if !want.matches(found) {
                        problems.push(format!("target: expected {want}, found {found}"));
                    }
                }
                None => problems.push(format!(
                    "target: expected a symlink to {want}, found a {}",
                    stat.kind
                )),
            }
        }
        if !self.contains.is_empty() {
            match facts.item("content", path) {
                None => problems.push(format!("contains: {path} is not a readable regular file")),
                Some(bytes) => {
                    let text = String::from_utf8_lossy(bytes);
                    for pattern in &self.contains {
                        if !pattern.matches_with(&text, &crate::check::matcher::substring) {
                            let mut problem = format!("contains: {}", pattern.miss());
                            if stat.size as usize > MAX_CONTENT {
                                problem.push_str(&format!(
                                    " in the first {} MiB",
                                    MAX_CONTENT / 1024 / 1024
                                ));
                            }
                            if let Some(near) = nearest_line(pattern, &text) {
                                problem.push_str(&format!("; nearest line: {near:?}"));
                            }
                            problems.push(problem);
                        }
                    }
                }
            }
        }
        Judgement::from_problems(problems, format!("{path} is a {} as expected", stat.kind))
    }
}
