//! `--meta KEY=VALUE` pairs: parsing one, and gathering several into the protocol's [`Meta`].
//! The limits (keys, bytes) are the daemon's to enforce, so they are stated in one place.

use crate::Meta;

/// One `--meta KEY=VALUE` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaPair {
    /// The key.
    pub key: String,
    /// Its value, which may be empty.
    pub value: String,
}

impl MetaPair {
    /// Parses `KEY=VALUE` (the value may hold further `=`). Used as clap's value parser.
    ///
    /// # Errors
    /// A message naming the expected form.
    pub fn parse(text: &str) -> Result<MetaPair, String> {
        match text.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(MetaPair {
                key: key.to_owned(),
                value: value.to_owned(),
            }),
            _ => Err("expected KEY=VALUE, e.g. plan=pro, with a non-empty KEY".to_owned()),
        }
    }
}

/// Gathers pairs into [`Meta`].
///
/// # Errors
/// A usage message if one key is given more than once.
pub fn collect(pairs: &[MetaPair]) -> Result<Meta, String> {
    let mut meta = Meta::new();
    for pair in pairs {
        if meta.insert(pair.key.clone(), pair.value.clone()).is_some() {
            return Err(format!(
                "metadata key {:?} is given more than once: give each key once",
                pair.key
            ));
        }
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_and_collect() {
        let p = MetaPair::parse("a=b=c").unwrap();
        assert_eq!((p.key.as_str(), p.value.as_str()), ("a", "b=c"));
        assert_eq!(MetaPair::parse("k=").unwrap().value, "");
        assert!(MetaPair::parse("=v").is_err());
        assert!(MetaPair::parse("novalue").is_err());
        assert!(collect(&[p.clone(), p]).is_err());
    }
}
