//! [`Secret`]: a string that never shows itself in `Debug` or `Display`, and is wiped from memory
//! when dropped.

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroize;

/// A secret token or key as text. Its `Debug` and `Display` print `Secret(<redacted>)`, so a
/// secret cannot reach a log line or an error message by accident. Read it with
/// [`Secret::expose`] at the one place that needs the text.
///
/// Dropping a `Secret` overwrites its bytes with zeros ([`zeroize`]), so a freed secret does not
/// linger in the heap for a later read of freed memory, a swap file or a core dump to find.
/// Copies made with [`Secret::expose`] are the caller's to wipe.
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

impl Zeroize for Secret {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.zeroize();
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

    /// Wiping a secret, which is what dropping it does, overwrites its bytes in place.
    #[test]
    fn wipe_overwrites_the_bytes() {
        let mut s = Secret::new("kw_ses_live_abcdef");
        let (ptr, len) = (s.expose().as_ptr(), s.expose().len());
        s.zeroize();
        assert_eq!(s.expose(), "");
        // SAFETY: zeroize clears the string but keeps its allocation, which `s` still owns,
        // and it has written every byte it read here.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        assert!(bytes.iter().all(|&b| b == 0), "{bytes:?}");
    }
}
