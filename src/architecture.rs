//! The module boundaries of `ARCHITECTURE.md`, enforced: every `crate::X` a module refers to
//! must be listed in that module's row of the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The table between the `boundaries` markers: module → modules it may import.
fn allowed(markdown: &str) -> BTreeMap<String, BTreeSet<String>> {
    let start = markdown
        .find("<!-- boundaries:start -->")
        .expect("start marker");
    let end = markdown
        .find("<!-- boundaries:end -->")
        .expect("end marker");
    let name = |cell: &str| cell.trim().trim_matches('`').to_string();
    markdown[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
            let allowed = cells
                .get(1)
                .map(|c| c.split(',').map(name).filter(|n| !n.is_empty()).collect())
                .unwrap_or_default();
            (name(cells[0]), allowed)
        })
        .collect()
}

/// The top-level modules `source` refers to as `crate::X` or `crate::{X, ...}`, comments aside.
fn imports(source: &str) -> BTreeSet<String> {
    let single = regex::Regex::new(r"crate::([a-z_]+)").expect("regex");
    let group = regex::Regex::new(r"crate::\{([^}]*)\}").expect("regex");
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for c in single.captures_iter(code) {
            found.insert(c[1].to_string());
        }
        for c in group.captures_iter(code) {
            for item in c[1].split(',') {
                let head = item.trim().split("::").next().unwrap_or("").trim();
                if !head.is_empty() {
                    found.insert(head.to_string());
                }
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn modules(src: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(src).expect("under src");
            let top = relative
                .components()
                .next()
                .map(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .trim_end_matches(".rs")
                        .to_string()
                })
                .unwrap_or_default();
            // The binaries are not modules of the library; this test's own fixtures name
            // forbidden imports on purpose.
            if ["bin", "main", "lib", "architecture"].contains(&top.as_str()) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((top, path));
            }
        }
    }
    out.sort();
    out
}

/// Forbidden imports in `src`: (file, module, import) for every `crate::X` not allowed.
fn violations(src: &Path, table: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (module, file) in modules(src) {
        let Some(allowed) = table.get(&module) else {
            out.push(format!(
                "{}: module `{module}` has no row in ARCHITECTURE.md",
                file.display()
            ));
            continue;
        };
        let source = std::fs::read_to_string(&file).expect("read source");
        for import in imports(&source) {
            if import != module && !allowed.contains(&import) {
                out.push(format!(
                    "{}: `{module}` may not import `{import}`",
                    file.display()
                ));
            }
        }
    }
    out
}

#[test]
fn boundaries_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let markdown = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let table = allowed(&markdown);
    assert!(table.len() >= 15, "the table was not read: {table:?}");
    let found = violations(&root.join("src"), &table);
    assert!(found.is_empty(), "forbidden imports:\n{}", found.join("\n"));
}

#[test]
fn a_forbidden_import_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("state")).expect("mkdir");
    std::fs::write(src.join("state/mod.rs"), "use crate::docker::Engine;\n").expect("write");
    std::fs::write(
        src.join("report.rs"),
        "use crate::{outcome::Verdict, pipeline::run};\n// crate::docker in a comment\n",
    )
    .expect("write");
    let table = allowed(
        "<!-- boundaries:start -->\n| `state` | `outcome` |\n| `report` | `outcome` |\n<!-- boundaries:end -->",
    );
    let mut found = violations(src, &table);
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].ends_with("`report` may not import `pipeline`"),
        "{found:?}"
    );
    assert!(
        found[1].ends_with("`state` may not import `docker`"),
        "{found:?}"
    );
}
