//! [`Secret`]: a string that never shows itself in `Debug` or `Display`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret token or key as text. Its `Debug` and `Display` print `Secret(<redacted>)`, so a
/// secret cannot reach a log line or an error message by accident. Read it with
/// [`Secret::expose`] at the one place that needs the text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret's text. Call only where the text itself must be used or shown once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debug and Display never print the secret.
    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("kw_ses_live_abcdef");
        assert!(!format!("{s:?}").contains("abcdef"));
        assert!(!format!("{s}").contains("abcdef"));
        assert_eq!(s.expose(), "kw_ses_live_abcdef");
    }
}
