//! A container's identity: the values that differ between two containers of the same host only
//! because they are different containers (the container id, its IP and MAC addresses on
//! drydock's networks). Before a file's content is hashed, each such value is replaced by a
//! stable placeholder, so a config file holding the host's address is the same file on the fresh
//! and the upgraded server.
//!
//! Values are replaced only where they stand alone: `172.17.0.2` inside `172.17.0.25` or
//! `10.172.17.0.2` is left as it is, and so is an id inside a longer hex string.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What kind of value a per-container value is; decides its placeholder and its boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// The container id (full or the 12-digit short form).
    ContainerId,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A MAC address.
    Mac,
}

impl ValueKind {
    /// The placeholder written in place of the value.
    pub fn placeholder(self) -> &'static str {
        match self {
            ValueKind::ContainerId => "<container-id>",
            ValueKind::Ipv4 => "<container-ipv4>",
            ValueKind::Ipv6 => "<container-ipv6>",
            ValueKind::Mac => "<container-mac>",
        }
    }

    /// Whether byte `b` next to a match would make it part of a longer value.
    fn continues(self, b: u8) -> bool {
        match self {
            ValueKind::ContainerId => b.is_ascii_alphanumeric(),
            ValueKind::Ipv4 => b.is_ascii_digit() || b == b'.',
            ValueKind::Ipv6 | ValueKind::Mac => b.is_ascii_hexdigit() || b == b':',
        }
    }
}

/// The per-container values of one container, compiled for replacement.
#[derive(Debug, Clone)]
pub struct Identity {
    matcher: Option<AhoCorasick>,
    kinds: Vec<(ValueKind, String)>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity::none()
    }
}

impl Identity {
    /// Nothing to replace.
    pub fn none() -> Identity {
        Identity {
            matcher: None,
            kinds: Vec::new(),
        }
    }

    /// The container's own values (empty ones and duplicates dropped), each replaced by its
    /// kind's placeholder.
    pub fn new(values: impl IntoIterator<Item = (ValueKind, String)>) -> Identity {
        Identity::with_placeholders(
            values
                .into_iter()
                .map(|(kind, value)| (kind, value, kind.placeholder().to_string())),
        )
    }

    /// Values with their own placeholders: the container's own, and those that differ between
    /// scenarios for the same reason without being the container's, such as the addresses of
    /// the other hosts of its scenario (`<host:web1:ipv4>`) or of its network
    /// (`<network:gateway>`). The first placeholder given for a value wins.
    pub fn with_placeholders(
        values: impl IntoIterator<Item = (ValueKind, String, String)>,
    ) -> Identity {
        // Hex values are also written upper-case (MACs by some tools); matching both spellings
        // exactly keeps the matcher's fast prefilter, which case folding would turn off.
        let mut entries: Vec<(String, ValueKind, String)> = Vec::new();
        for (kind, value, placeholder) in values {
            if value.len() < 3 {
                continue;
            }
            for spelling in [value.to_ascii_lowercase(), value.to_ascii_uppercase()] {
                if !entries.iter().any(|(v, _, _)| *v == spelling) {
                    entries.push((spelling, kind, placeholder.clone()));
                }
            }
        }
        if entries.is_empty() {
            return Identity::none();
        }
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(entries.iter().map(|(v, _, _)| v.as_str()))
            .ok();
        Identity {
            kinds: entries.into_iter().map(|(_, k, p)| (k, p)).collect(),
            matcher,
        }
    }

    /// Whether there is anything to replace.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// `content` with every standalone per-container value replaced by its placeholder, or
    /// `None` when nothing was replaced.
    pub fn normalise(&self, content: &[u8]) -> Option<Vec<u8>> {
        let matcher = self.matcher.as_ref()?;
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        for m in matcher.find_iter(content) {
            let (kind, placeholder) = &self.kinds[m.pattern().as_usize()];
            let kind = *kind;
            let before = m.start().checked_sub(1).map(|i| content[i]);
            let after = content.get(m.end()).copied();
            // `1.2.3.4.` ends a sentence; `1.2.3.4.5` is another value.
            let after_continues = match (kind, after) {
                (ValueKind::Ipv4, Some(b'.')) => {
                    content.get(m.end() + 1).is_some_and(|b| b.is_ascii_digit())
                }
                (_, Some(b)) => kind.continues(b),
                (_, None) => false,
            };
            if before.is_some_and(|b| kind.continues(b)) || after_continues {
                continue;
            }
            let buffer = out.get_or_insert_with(|| Vec::with_capacity(content.len()));
            buffer.extend_from_slice(&content[copied..m.start()]);
            buffer.extend_from_slice(placeholder.as_bytes());
            copied = m.end();
        }
        let mut buffer = out?;
        buffer.extend_from_slice(&content[copied..]);
        Some(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity::new([
            (ValueKind::ContainerId, "fde2d7c1a0b1".to_string()),
            (
                ValueKind::ContainerId,
                "fde2d7c1a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7".to_string(),
            ),
            (ValueKind::Ipv4, "172.17.0.2".to_string()),
            (ValueKind::Mac, "02:42:ac:11:00:02".to_string()),
        ])
    }

    fn normalised(text: &str) -> Option<String> {
        identity()
            .normalise(text.as_bytes())
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn replaces_each_kind_of_value() {
        assert_eq!(
            normalised("listen 172.17.0.2:80;\nnode=fde2d7c1a0b1\nether 02:42:AC:11:00:02\n")
                .as_deref(),
            Some("listen <container-ipv4>:80;\nnode=<container-id>\nether <container-mac>\n")
        );
        assert_eq!(
            normalised("id fde2d7c1a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7.")
                .as_deref(),
            Some("id <container-id>.")
        );
        assert_eq!(
            normalised("the address is 172.17.0.2.").as_deref(),
            Some("the address is <container-ipv4>.")
        );
    }

    #[test]
    fn leaves_longer_values_alone() {
        assert_eq!(normalised("172.17.0.25 10.172.17.0.2 172.17.0.2.9"), None);
        assert_eq!(normalised("sha fde2d7c1a0b1ff and xfde2d7c1a0b1"), None);
        assert_eq!(normalised("nothing to see"), None);
    }

    #[test]
    fn other_hosts_addresses_get_their_own_placeholders() {
        let identity = Identity::with_placeholders([
            (
                ValueKind::Ipv4,
                "192.168.176.3".to_string(),
                "<container-ipv4>".to_string(),
            ),
            (
                ValueKind::Ipv4,
                "192.168.176.4".to_string(),
                "<host:web1:ipv4>".to_string(),
            ),
            (
                ValueKind::Ipv4,
                "192.168.176.2".to_string(),
                "<host:web2:ipv4>".to_string(),
            ),
            (
                ValueKind::Ipv4,
                "192.168.176.1".to_string(),
                "<network:gateway>".to_string(),
            ),
        ]);
        let text = "bind 192.168.176.3:80\nserver web1 192.168.176.4:80\nserver web2 192.168.176.2:80\nroute via 192.168.176.1\n";
        assert_eq!(
            identity.normalise(text.as_bytes()).map(|b| String::from_utf8(b).unwrap()).as_deref(),
            Some("bind <container-ipv4>:80\nserver web1 <host:web1:ipv4>:80\nserver web2 <host:web2:ipv4>:80\nroute via <network:gateway>\n")
        );
    }

    #[test]
    fn no_identity_changes_nothing() {
        assert_eq!(Identity::none().normalise(b"172.17.0.2"), None);
        assert!(Identity::new([(ValueKind::Ipv4, String::new())]).is_empty());
    }
}
