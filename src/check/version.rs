//! Package versions as dpkg orders them, and the constraints a `package` check puts on them
//! (`{ version: ">= 1.22, << 2" }`).

use std::cmp::Ordering;

/// Compares two versions by dpkg's rules: `[epoch:]upstream[-revision]`, epochs as numbers,
/// then the upstream version and the revision, each as alternating non-digit and digit runs:
/// letters sort before other characters, `~` before everything (even the end: `1.2~rc1` <
/// `1.2`), digit runs as numbers.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

/// `(epoch, upstream, revision)`; a missing epoch is 0, a missing revision empty.
fn split(version: &str) -> (u64, &str, &str) {
    let version = version.trim();
    let (epoch, rest) = match version.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// A character's weight in a non-digit run: `~` lowest, the end next, letters, then the rest.
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // The non-digit runs, character by character.
        loop {
            let (ca, cb) = (a.first().copied(), b.first().copied());
            let a_text = ca.is_some_and(|c| !c.is_ascii_digit());
            let b_text = cb.is_some_and(|c| !c.is_ascii_digit());
            if !a_text && !b_text {
                break;
            }
            let (wa, wb) = (weight(ca.filter(|_| a_text)), weight(cb.filter(|_| b_text)));
            if wa != wb {
                return wa.cmp(&wb);
            }
            if a_text {
                a = &a[1..];
            }
            if b_text {
                b = &b[1..];
            }
        }
        // The digit runs, as numbers (leading zeros do not count).
        let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let na = trim_zeros(&a[..da]);
        let nb = trim_zeros(&b[..db]);
        let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if order != Ordering::Equal {
            return order;
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

/// One comparison a version must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// `>=`, `<=`, `>`, `<`, `=` or `!=` (`>>` and `<<` are read as `>` and `<`).
    pub op: &'static str,
    /// The version compared with.
    pub version: String,
}

impl Constraint {
    /// Whether `found` passes.
    pub fn holds(&self, found: &str) -> bool {
        let order = compare(found, &self.version);
        match self.op {
            ">=" => order != Ordering::Less,
            "<=" => order != Ordering::Greater,
            ">" => order == Ordering::Greater,
            "<" => order == Ordering::Less,
            "!=" => order != Ordering::Equal,
            _ => order == Ordering::Equal,
        }
    }
}

/// Reads `>= 1.22, << 2` (comma-separated; every one must hold), or says what is wrong.
pub fn parse_constraints(text: &str) -> Result<Vec<Constraint>, String> {
    const OPS: &[(&str, &str)] = &[
        (">=", ">="),
        ("<=", "<="),
        (">>", ">"),
        ("<<", "<"),
        ("!=", "!="),
        ("==", "="),
        (">", ">"),
        ("<", "<"),
        ("=", "="),
    ];
    let mut out = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let Some((written, op)) = OPS.iter().find(|(w, _)| part.starts_with(w)) else {
            return Err(format!(
                "`{part}` has no comparison; expected one of >=, <=, >, <, =, != and a version, such as `>= 1.22`"
            ));
        };
        let version = part[written.len()..].trim();
        let valid = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+-~:".contains(c));
        if !valid {
            return Err(format!(
                "`{part}`: `{version}` is not a version (letters, digits and . + - ~ :)"
            ));
        }
        out.push(Constraint {
            op,
            version: version.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        for (a, b) in [
            ("1.2~rc1", "1.2"),
            ("1.2~~", "1.2~"),
            ("1.2", "1.2.1"),
            ("1.2", "1.2a"),
            ("1.2a", "1.2+b1"),
            ("1.9", "1.10"),
            ("1.22.1-9", "1.22.1-10"),
            ("1.22.1-9", "1:0.1"),
            ("2:1.0", "10:0.1"),
            ("1.0-1", "1.0-1+deb12u1"),
            ("1.0-1~bpo12+1", "1.0-1"),
        ] {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in [("1.0", "1.00"), ("0:1.0-1", "1.0-1"), ("1.01", "1.1")] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} = {b}");
        }
    }

    #[test]
    fn constraints_hold_or_say_what_is_wrong() {
        let c = parse_constraints(">= 1.22, << 2").unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.holds("1.22.1-9")));
        assert!(!c.iter().all(|c| c.holds("1.22~rc1-1")));
        assert!(!c.iter().all(|c| c.holds("2.0-1")));
        assert!(!c.iter().all(|c| c.holds("1:1.0")), "an epoch wins");
        assert!(parse_constraints("!= 1.2").unwrap()[0].holds("1.2.0"));
        assert!(parse_constraints("= 1.2").unwrap()[0].holds("1.2"));
        assert_eq!(
            parse_constraints("~> 1.2").unwrap_err(),
            "`~> 1.2` has no comparison; expected one of >=, <=, >, <, =, != and a version, such as `>= 1.22`"
        );
        assert_eq!(
            parse_constraints(">= one two").unwrap_err(),
            "`>= one two`: `one two` is not a version (letters, digits and . + - ~ :)"
        );
    }
}
