//! Facts about a target, gathered in one exec and parsed on the host.
//!
//! One POSIX shell script (it runs on busybox as well as on Debian) prints every fact the
//! gathered checks need, in sections separated by a marker line that carries a random nonce.
//! Each kind adds its sections ([`super::kinds::Kind::gather`]) for what its checks want
//! ([`Wants`]); the number of engine round trips stays at one whatever the number of checks.

use std::any::Any;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use super::kinds::KINDS;
use super::Check;

/// What the script must gather: named sets of items (paths, names, keys); an empty item
/// stands for "the whole table".
#[derive(Debug, Default)]
pub struct Wants {
    sets: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Wants {
    /// What `checks` need.
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Wants {
        let mut wants = Wants::default();
        for check in checks {
            check.spec.want(&mut wants);
        }
        wants
    }

    /// Asks for `item` of the fact `key`.
    pub fn add(&mut self, key: &'static str, item: impl Into<String>) {
        self.sets.entry(key).or_default().insert(item.into());
    }

    /// Asks for the whole fact `key` (a table such as the process list).
    pub fn flag(&mut self, key: &'static str) {
        self.sets.entry(key).or_default();
    }

    /// Whether the fact `key` is wanted.
    pub fn has(&self, key: &str) -> bool {
        self.sets.contains_key(key)
    }

    /// The items of `key` wanted, in order.
    pub fn items(&self, key: &str) -> impl Iterator<Item = &String> {
        self.sets.get(key).into_iter().flatten()
    }

    /// Whether anything must be gathered.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The fact script being written: the tools it needs and its sections.
#[derive(Debug, Default)]
pub struct Script {
    tools: BTreeSet<&'static str>,
    body: String,
}

impl Script {
    /// A tool whose absence must be an error, never a false "not found".
    pub fn tool(&mut self, tool: &'static str) {
        self.tools.insert(tool);
    }

    /// A line of shell; `sec NAME` starts a section.
    pub fn line(&mut self, line: impl AsRef<str>) {
        self.body.push_str(line.as_ref());
        self.body.push('\n');
    }
}

/// Quotes a string for POSIX sh.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Shell that prints a small text file with the shell's own `read` (no process started);
/// only for files that read the same in small pieces (not `/proc/sys`).
pub fn print_small(path: &str) -> String {
    format!("while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done < {path}")
}

/// The section name of one item of a fact (`content /etc/x` as `content 2f6574632f78`): any
/// path or name survives the trip through a header line.
pub fn item_section(key: &str, item: &str) -> String {
    use std::fmt::Write;
    let mut name = String::with_capacity(key.len() + 1 + 2 * item.len());
    name.push_str(key);
    name.push(' ');
    for b in item.bytes() {
        let _ = write!(name, "{b:02x}");
    }
    name
}

/// The script that prints what `wants` asks for, sections introduced by `marker`.
pub fn script(wants: &Wants, marker: &str) -> String {
    let mut parts = Script::default();
    for kind in KINDS {
        (kind.gather)(wants, &mut parts);
    }
    let mut s = format!(
        "M={}\nsec() {{ printf '\\n%s %s\\n' \"$M\" \"$1\"; }}\n",
        quote(marker)
    );
    for tool in &parts.tools {
        s.push_str(&format!(
            "command -v {tool} >/dev/null 2>&1 || {{ sec 'missing {tool}'; }}\n"
        ));
    }
    s.push_str(&parts.body);
    s.push_str("sec end\n");
    s
}

/// Everything gathered: the sections by name, and tables parsed from them once.
#[derive(Default)]
pub struct Facts {
    sections: HashMap<String, Vec<u8>>,
    /// Tools the target lacks (`stat`, `sha256sum`, ...).
    pub missing_tools: Vec<String>,
    /// Whether the script ran to its end.
    pub complete: bool,
    tables: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
}

impl Facts {
    /// Facts from sections given directly (tests, and targets read another way).
    pub fn from_sections<'a>(sections: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Facts {
        Facts {
            sections: sections
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
            complete: true,
            ..Default::default()
        }
    }

    /// A section's body, when the script printed it.
    pub fn section(&self, name: &str) -> Option<&[u8]> {
        self.sections.get(name).map(Vec::as_slice)
    }

    /// A section's body as text (invalid UTF-8 replaced).
    pub fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.section(name).map(String::from_utf8_lossy)
    }

    /// One item's section (see [`item_section`]).
    pub fn item(&self, key: &str, item: &str) -> Option<&[u8]> {
        self.section(&item_section(key, item))
    }

    /// Whether the target lacks `tool`.
    pub fn lacks(&self, tool: &str) -> bool {
        self.missing_tools.iter().any(|t| t == tool)
    }

    /// A table parsed once from the sections and shared by every check that reads it.
    pub fn table<T: Any + Send + Sync>(
        &self,
        key: &'static str,
        build: impl FnOnce(&Facts) -> T,
    ) -> Arc<T> {
        let cached = self
            .tables
            .lock()
            .ok()
            .and_then(|t| t.get(key).cloned())
            .and_then(|t| t.downcast::<T>().ok());
        if let Some(table) = cached {
            return table;
        }
        let table = Arc::new(build(self));
        if let Ok(mut tables) = self.tables.lock() {
            tables.insert(key, table.clone());
        }
        table
    }
}

/// Parses the script's output.
pub fn parse(output: &[u8], marker: &str) -> Facts {
    let mut facts = Facts::default();
    let needle = format!("\n{marker} ");
    for (name, body) in sections(output, needle.as_bytes()) {
        match name.as_str() {
            "end" => facts.complete = true,
            other => {
                if let Some(tool) = other.strip_prefix("missing ") {
                    facts.missing_tools.push(tool.to_string());
                } else {
                    facts
                        .sections
                        .entry(name)
                        .or_default()
                        .extend_from_slice(body);
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
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    // The first byte of the needle (a newline) is rare enough for a simple scan.
    let first = needle[0];
    let mut at = 0;
    while let Some(p) = haystack[at..].iter().position(|b| *b == first) {
        let start = at + p;
        if haystack[start..].starts_with(needle) {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sections_and_keeps_binary_content() {
        let marker = "@@dd1234";
        let mut out = Vec::new();
        out.extend_from_slice(b"\n@@dd1234 missing stat\n");
        out.extend_from_slice(b"\n@@dd1234 passwd\nroot:x:0:0:root:/root:/bin/sh\n");
        out.extend_from_slice(
            format!("\n@@dd1234 {}\n", item_section("content", "/bin/x")).as_bytes(),
        );
        out.extend_from_slice(b"\x00\x01\n\xff");
        out.extend_from_slice(b"\n@@dd1234 end\n");
        let facts = parse(&out, marker);
        assert!(facts.complete);
        assert!(facts.lacks("stat"));
        assert_eq!(
            facts.text("passwd").unwrap(),
            "root:x:0:0:root:/root:/bin/sh\n"
        );
        assert_eq!(facts.item("content", "/bin/x").unwrap(), b"\x00\x01\n\xff");
        let cut = parse(b"\n@@dd1234 passwd\nroot\n\n@@dd1234 en", marker);
        assert!(!cut.complete);
    }

    #[test]
    fn item_sections_survive_any_name() {
        assert_eq!(item_section("link", "/a b\n"), "link 2f6120620a");
    }

    #[test]
    fn tables_are_built_once() {
        let facts = Facts::from_sections([("t", &b"1 2 3"[..])]);
        let built = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..3 {
            let t = facts.table("t", |f| {
                built.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                f.text("t").unwrap().split(' ').count()
            });
            assert_eq!(*t, 3);
        }
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn the_script_asks_for_tools_and_ends() {
        let mut wants = Wants::default();
        wants.add("stat", "/tmp/it's");
        let s = script(&wants, "@@m");
        assert!(s.contains("'/tmp/it'\\''s'"), "{s}");
        assert!(s.contains("command -v stat"), "{s}");
        assert!(s.ends_with("sec end\n"));
    }
}
