//! Identifiers: the id of a run, and engine ids as people read them.

/// A run id that no other run on any machine sharing the engine has: the time in seconds (so
/// ids sort by start, roughly) and 48 random bits, in hex. Time and pid alone collide when two
/// CI jobs in containers (each its own pid namespace, often the same pid) start in one second.
pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut random = [0u8; 6];
    if getrandom::fill(&mut random).is_err() {
        // No entropy source: still distinct from every other process of this machine.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mixed = u64::from(nanos) ^ (u64::from(std::process::id()) << 24);
        random.copy_from_slice(&mixed.to_le_bytes()[..6]);
    }
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{secs:x}{random}")
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
    fn run_ids_are_hex_and_differ_within_one_second_and_one_process() {
        let ids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_run_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids
            .iter()
            .all(|id| id.len() >= 20 && id.chars().all(|c| c.is_ascii_hexdigit())));
    }
}
