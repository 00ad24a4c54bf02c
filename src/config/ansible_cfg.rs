//! Reading an `ansible.cfg` (INI, as Python's configparser reads it): what drydock needs of a
//! repository's Ansible configuration — `roles_path`, `collections_path`, `inventory`.

/// The value of the first of `keys` (in the order given) in `[section]` of an INI text;
/// `key = value` and `key: value` both count, `#` and `;` lines are comments.
pub fn value(text: &str, section: &str, keys: &[&str]) -> Option<String> {
    let mut current = String::new();
    let mut found: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if current != section {
            continue;
        }
        let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            continue;
        };
        if let Some(rank) = keys.iter().position(|k| *k == key.trim()) {
            found.push((rank, value.trim().to_string()));
        }
    }
    found.sort_by_key(|(rank, _)| *rank);
    found.into_iter().next().map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_named_key_of_the_section_wins() {
        let text = "[galaxy]\nroles_path = /no\n[defaults]\n# roles_path = /commented\ncollections_paths: /old\ncollections_path = /new\n";
        assert_eq!(value(text, "defaults", &["roles_path"]), None);
        assert_eq!(
            value(text, "defaults", &["collections_path", "collections_paths"]).as_deref(),
            Some("/new")
        );
        assert_eq!(
            value(text, "galaxy", &["roles_path"]).as_deref(),
            Some("/no")
        );
    }
}
