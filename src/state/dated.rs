//! Files with dated fields. `/etc/shadow` records the day each password last changed, so a user
//! created by the playbook differs between a production image built last week and today's
//! fresh server. It is compared per user, on every field but that day; `/etc/gshadow` has no
//! dated field and is compared per group. A user present on one side only, a changed hash,
//! shell field or expiry still differ.

/// What stands in place of the last-change day.
pub const DAY: &str = "<day>";

/// Whether `path` has dated fields.
pub fn applies(path: &str) -> bool {
    matches!(path, "/etc/shadow" | "/etc/gshadow")
}

/// The content of `path` with dated fields set aside and entries in name order, or `None` when
/// that changes nothing.
pub fn normalise(path: &str, content: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(content).ok()?;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if path == "/etc/shadow" {
        for line in &mut lines {
            let mut fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 3 && !fields[2].is_empty() {
                fields[2] = DAY;
                *line = fields.join(":");
            }
        }
    }
    // Per entry, whatever order the tools appended them in.
    lines.sort_by(|a, b| a.split(':').next().cmp(&b.split(':').next()).then(a.cmp(b)));
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    (out.as_bytes() != content).then(|| out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shadow(text: &str) -> String {
        String::from_utf8(
            normalise("/etc/shadow", text.as_bytes()).unwrap_or(text.as_bytes().to_vec()),
        )
        .unwrap()
    }

    #[test]
    fn the_last_change_day_does_not_count() {
        let last_week = "root:*:20400:0:99999:7:::\napp:!:20401:0:99999:7:::\n";
        let today = "root:*:20400:0:99999:7:::\napp:!:20408:0:99999:7:::\n";
        assert_eq!(shadow(last_week), shadow(today));
        assert_eq!(
            shadow(today),
            "app:!:<day>:0:99999:7:::\nroot:*:<day>:0:99999:7:::\n"
        );
    }

    #[test]
    fn users_are_compared_whatever_their_order() {
        let a = "root:*:1::::::\nweb:!:2::::::\ndb:!:3::::::\n";
        let b = "root:*:1::::::\ndb:!:3::::::\nweb:!:2::::::\n";
        assert_eq!(shadow(a), shadow(b));
    }

    #[test]
    fn real_differences_remain() {
        let base = "root:*:20400:0:99999:7:::\napp:!:20401:0:99999:7:::\n";
        for other in [
            "root:*:20400:0:99999:7:::\n", // a user missing
            "root:*:20400:0:99999:7:::\napp:$6$x:20401:0:99999:7:::\n", // a password hash
            "root:*:20400:0:99999:7:::\napp:!:20401:0:99999:7::20500:\n", // an expiry
            "root:*:20400:0:99999:7:::\napp:!:20401:1:99999:7:::\n", // a minimum age
        ] {
            assert_ne!(shadow(base), shadow(other), "{other}");
        }
    }

    #[test]
    fn gshadow_is_compared_per_group() {
        let a = b"root:*::\nweb:!::app\n";
        let b = b"web:!::app\nroot:*::\n";
        assert_eq!(normalise("/etc/gshadow", a), None);
        assert_eq!(normalise("/etc/gshadow", b).as_deref(), Some(&a[..]));
        assert!(!applies("/etc/passwd"));
    }
}
