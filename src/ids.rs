//! Identifiers: the id of a run, and engine ids as people read them.

/// A unique id for a run on this machine: time and pid, in hex.
pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs:x}{:x}", std::process::id())
}

/// The first 12 characters of an engine id, as `docker ps` shows it.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn run_ids_are_hex() {
        let id = new_run_id();
        assert!(id.len() > 8 && id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
