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

    /// `text` with every secret replaced by [`MASK`].
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
