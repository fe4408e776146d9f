//! A principal's own identity in the caller's system: an external id, unique per environment,
//! and free-form metadata. Verify returns both, so a service learns who the user is without a
//! second call; the limits here keep every record, and every verify's copy, small.

use std::collections::BTreeMap;

/// Free-form metadata: keys to values, both text.
pub type Meta = BTreeMap<String, String>;

/// A new principal's external id and metadata, as [`crate::Op::ClientCreate`] and
/// [`crate::Op::ApiTokenCreate`] carry them (boxed there, so that every `Op` stays small). On the
/// wire its fields read as if they were the operation's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// Its id in the caller's system, unique in the environment ([`check_external_id`]).
    pub external_id: Option<String>,
    /// Free-form metadata ([`check_meta`]).
    pub meta: Meta,
}

/// The longest external id, in bytes.
pub const MAX_EXTERNAL_ID_LEN: usize = 256;
/// The most metadata keys one principal may hold.
pub const MAX_META_KEYS: usize = 16;
/// The most bytes of metadata (keys and values together) one principal may hold.
pub const MAX_META_BYTES: usize = 4096;

/// Why an external id is refused, or `Ok`: non-empty, at most [`MAX_EXTERNAL_ID_LEN`] bytes, no
/// control characters.
///
/// # Errors
/// A message for people naming the limit.
pub fn check_external_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the external id must not be empty".into());
    }
    if id.len() > MAX_EXTERNAL_ID_LEN {
        return Err(format!(
            "the external id is {} bytes; the limit is {MAX_EXTERNAL_ID_LEN}",
            id.len()
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("the external id must not contain control characters".into());
    }
    Ok(())
}

/// Why metadata is refused, or `Ok`: at most [`MAX_META_KEYS`] keys and [`MAX_META_BYTES`]
/// bytes in all, keys non-empty and without control characters.
///
/// # Errors
/// A message for people naming the limit.
pub fn check_meta<'a>(
    meta: impl IntoIterator<Item = (&'a String, &'a String)> + Clone,
) -> Result<(), String> {
    let keys = meta.clone().into_iter().count();
    if keys > MAX_META_KEYS {
        return Err(format!(
            "{keys} metadata keys given; the limit is {MAX_META_KEYS}"
        ));
    }
    let bytes: usize = meta
        .clone()
        .into_iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if bytes > MAX_META_BYTES {
        return Err(format!(
            "the metadata is {bytes} bytes (keys and values); the limit is {MAX_META_BYTES}"
        ));
    }
    for (key, _) in meta {
        if key.is_empty() || key.chars().any(char::is_control) {
            return Err(format!(
                "metadata key {key:?} must be non-empty, without control characters"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold_at_their_edges() {
        assert!(check_external_id(&"x".repeat(MAX_EXTERNAL_ID_LEN)).is_ok());
        assert!(check_external_id(&"x".repeat(MAX_EXTERNAL_ID_LEN + 1)).is_err());
        assert!(check_external_id("").is_err());
        assert!(check_external_id("a\nb").is_err());
        let keys: Meta = (0..MAX_META_KEYS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert!(check_meta(&keys).is_ok());
        let mut more = keys.clone();
        more.insert("one-more".into(), String::new());
        assert!(check_meta(&more).unwrap_err().contains("16"));
        let big = Meta::from([("k".into(), "v".repeat(MAX_META_BYTES - 1))]);
        assert!(check_meta(&big).is_ok());
        let over = Meta::from([("k".into(), "v".repeat(MAX_META_BYTES))]);
        assert!(check_meta(&over).unwrap_err().contains("4096"));
    }
}
