//! `diff:`: which roots the state diff compares, what it skips, what it compares without
//! content, and which differences are intended.

use super::diag::Diagnostics;
use super::project::optional;
use super::yaml::Node;

/// `diff`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffSettings {
    /// Roots whose state is compared.
    pub paths: Vec<String>,
    /// Globs skipped while reading state (added to the defaults unless `ignore_defaults: false`).
    pub ignore: Vec<String>,
    /// Globs whose content is per-machine by design (added to the defaults unless
    /// `ignore_defaults: false`): compared on existence, type, mode and owner, not content.
    pub content_ignore: Vec<String>,
    /// Whether the built-in ignores (and content ignores) apply.
    pub ignore_defaults: bool,
    /// Globs of known, intended differences.
    pub allow: Vec<String>,
}

impl Default for DiffSettings {
    fn default() -> Self {
        DiffSettings {
            paths: ["/etc", "/var/www", "/usr/local", "/opt", "/srv"]
                .map(String::from)
                .to_vec(),
            ignore: Vec::new(),
            content_ignore: Vec::new(),
            ignore_defaults: true,
            allow: Vec::new(),
        }
    }
}

pub(super) fn diff(diags: &mut Diagnostics<'_>, node: &Node) -> Option<DiffSettings> {
    const KEY: &str = "diff";
    let entries = diags.map(node, KEY)?;
    diags.known_keys(
        entries,
        KEY,
        &[
            "paths",
            "ignore",
            "content_ignore",
            "ignore_defaults",
            "allow",
        ],
    );
    let defaults = DiffSettings::default();
    let paths = optional(entries, "paths", |n| {
        let paths = diags.text_list(n, "diff.paths")?;
        for p in &paths {
            if !p.starts_with('/') {
                diags.error(
                    n.pos,
                    "diff.paths",
                    format!(
                        "`{p}` is not absolute; expected paths inside the container such as /etc"
                    ),
                );
                return None;
            }
        }
        Some(paths)
    });
    let ignore = optional(entries, "ignore", |n| globs(diags, n, "diff.ignore"));
    let ignore_defaults = optional(entries, "ignore_defaults", |n| {
        diags.boolean(n, "diff.ignore_defaults")
    });
    let allow = optional(entries, "allow", |n| globs(diags, n, "diff.allow"));
    let content_ignore = optional(entries, "content_ignore", |n| {
        globs(diags, n, "diff.content_ignore")
    });
    Some(DiffSettings {
        paths: paths?.unwrap_or(defaults.paths),
        ignore: ignore?.unwrap_or_default(),
        content_ignore: content_ignore?.unwrap_or_default(),
        ignore_defaults: ignore_defaults?.unwrap_or(true),
        allow: allow?.unwrap_or_default(),
    })
}

fn globs(diags: &mut Diagnostics<'_>, node: &Node, key: &str) -> Option<Vec<String>> {
    let list = diags.text_list(node, key)?;
    for glob in &list {
        if let Err(e) = globset::Glob::new(glob) {
            diags.error(node.pos, key, format!("`{glob}` is not a valid glob: {e}"));
            return None;
        }
    }
    Some(list)
}
