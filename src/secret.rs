//! Secret values and their masking: the one place that turns a secret into `***`, used by
//! events, provisioner logs and reports alike.

use std::sync::Arc;

/// The secret values of a run; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Arc<Vec<String>>,
}

/// What a masked secret reads as.
pub const MASK: &str = "***";

impl Secrets {
    /// These values (empty ones are dropped: masking "" would mask everything).
    pub fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets {
            values: Arc::new(values),
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret replaced by [`MASK`], and the credentials of every URL in it
    /// ([`redact_urls`]).
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        self.mask_in_place(&mut out);
        out
    }

    /// Masks `text` where it is.
    pub fn mask_in_place(&self, text: &mut String) {
        for secret in self.values.iter() {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), MASK);
            }
        }
        if let std::borrow::Cow::Owned(redacted) = redact_urls(text) {
            *text = redacted;
        }
    }

    /// `json` (serialized JSON text) with every secret replaced wherever it stands, also where
    /// JSON escaping changed how it is written (a secret with a quote or a backslash), and
    /// URL credentials redacted. The caller parses the result back: masking never goes
    /// through a structure that could skip a field.
    pub fn mask_serialized(&self, json: &str) -> String {
        let mut out = json.to_string();
        for secret in self.values.iter() {
            let escaped = serde_json::to_string(secret).unwrap_or_default();
            let escaped = escaped.trim_start_matches('"').trim_end_matches('"');
            for form in [secret.as_str(), escaped] {
                if !form.is_empty() && out.contains(form) {
                    out = out.replace(form, MASK);
                }
            }
        }
        redact_urls(&out).into_owned()
    }

    /// Masks every string anywhere in a JSON value.
    pub fn mask_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.mask_in_place(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.mask_json(v)),
            _ => {}
        }
    }
}

/// Query parameters whose values are credentials.
const CREDENTIAL_PARAMETERS: &str =
    "access_token|api_key|apikey|auth|key|password|passwd|private_token|secret|sig|signature|token";

/// `text` with the credentials of every URL in it replaced by [`MASK`]: the user and password
/// (`https://***@hooks.example/`) and the values of query parameters that carry tokens
/// (`?token=***`). Borrowed when there is nothing to redact.
pub fn redact_urls(text: &str) -> std::borrow::Cow<'_, str> {
    use std::sync::OnceLock;
    static USERINFO: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static QUERY: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let userinfo = USERINFO.get_or_init(|| {
        regex::Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]+(?::[^/\s@]*)?@").ok()
    });
    let query = QUERY.get_or_init(|| {
        regex::Regex::new(&format!(r"(?i)([?&](?:{CREDENTIAL_PARAMETERS})=)[^&\s#]+")).ok()
    });
    let (Some(userinfo), Some(query)) = (userinfo, query) else {
        return std::borrow::Cow::Borrowed(text);
    };
    let first = userinfo.replace_all(text, format!("${{1}}{MASK}@").as_str());
    match query.replace_all(&first, format!("${{1}}{MASK}").as_str()) {
        std::borrow::Cow::Borrowed(_) => first,
        std::borrow::Cow::Owned(both) => std::borrow::Cow::Owned(both),
    }
}

/// A URL without its user and password (for labels that name where something came from).
pub fn without_userinfo(url: &str) -> String {
    redact_urls(url).replace(&format!("{MASK}@"), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_and_ignores_empty_values() {
        let secrets = Secrets::new(["s3cr3t".to_string(), String::new()]);
        assert_eq!(secrets.mask("token=s3cr3t and s3cr3t"), "token=*** and ***");
        assert_eq!(secrets.mask("nothing here"), "nothing here");
        assert!(Secrets::new([String::new()]).is_empty());
    }

    #[test]
    fn a_secret_containing_another_is_masked_whole() {
        let secrets = Secrets::new(["abc".to_string(), "abcdef".to_string()]);
        assert_eq!(secrets.mask("x abcdef y abc"), "x *** y ***");
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact_urls("POST https://ops:hunter2@hooks.example/x?channel=a&token=abc123 failed"),
            "POST https://***@hooks.example/x?channel=a&token=*** failed"
        );
        assert_eq!(
            redact_urls("git https://x-access-token:ghp_1@github.com/o/r.git"),
            "git https://***@github.com/o/r.git"
        );
        assert!(matches!(
            redact_urls("http://localhost:8080/status?limit=5"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            without_userinfo("https://user:pw@git.example/o/r.git"),
            "https://git.example/o/r.git"
        );
        assert_eq!(
            without_userinfo("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }

    #[test]
    fn serialized_masking_finds_escaped_secrets() {
        let secrets = Secrets::new([r#"pa"ss\w"#.to_string()]);
        let json = serde_json::json!({ "log": r#"password is pa"ss\w!"# }).to_string();
        let masked = secrets.mask_serialized(&json);
        let back: serde_json::Value = serde_json::from_str(&masked).unwrap();
        assert_eq!(back["log"], "password is ***!");
    }

    #[test]
    fn masks_inside_json() {
        let secrets = Secrets::new(["pw".to_string()]);
        let mut value = serde_json::json!({"a": ["pw1", {"b": "x pw"}], "n": 3});
        secrets.mask_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": ["***1", {"b": "x ***"}], "n": 3})
        );
    }
}
