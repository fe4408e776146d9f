//! `--scope NAME=LEVEL` grants: parsing one, and gathering several into the protocol's
//! [`Scopes`].

use crate::{Level, Scopes};
use std::collections::btree_map::Entry;

/// The expected form, named in every scope error so the fix is in the message itself.
const FORM: &str =
    "expected NAME=LEVEL, e.g. photos=write, where LEVEL is one of read, write, admin";

/// One `--scope NAME=LEVEL` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeGrant {
    /// The scope name, e.g. a catalog.
    pub name: String,
    /// The level granted in it.
    pub level: Level,
}

impl ScopeGrant {
    /// Parses `NAME=LEVEL`. Used as clap's value parser, so a bad grant is a usage error.
    ///
    /// # Errors
    /// A message naming the problem and the expected form.
    pub fn parse(text: &str) -> Result<ScopeGrant, String> {
        let Some((name, level)) = text.split_once('=') else {
            return Err(format!("no level given: {FORM}"));
        };
        if name.is_empty() {
            return Err(format!("the scope name before '=' is empty: {FORM}"));
        }
        if level.is_empty() {
            return Err(format!("the level after '=' is empty: {FORM}"));
        }
        // Level's own error says "one of read, write, admin" but not the NAME=LEVEL form.
        let level = level
            .parse::<Level>()
            .map_err(|_| format!("{level:?} is not an access level: {FORM}"))?;
        Ok(ScopeGrant {
            name: name.to_owned(),
            level,
        })
    }
}

/// Gathers grants into [`Scopes`].
///
/// # Errors
/// A usage message if one scope name is given more than once: keeping either silently would
/// grant something the user may not have meant.
pub fn collect(grants: &[ScopeGrant]) -> Result<Scopes, String> {
    let mut scopes = Scopes::new();
    for grant in grants {
        match scopes.entry(grant.name.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(grant.level);
            }
            Entry::Occupied(_) => {
                return Err(format!(
                    "scope {:?} is given more than once: give each scope once, as NAME=LEVEL",
                    grant.name
                ));
            }
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(name: &str, level: Level) -> ScopeGrant {
        ScopeGrant {
            name: name.to_owned(),
            level,
        }
    }

    /// Each level parses, and only the first '=' separates name from level.
    #[test]
    fn parses_name_and_level() {
        assert_eq!(
            ScopeGrant::parse("photos=read"),
            Ok(grant("photos", Level::Read))
        );
        assert_eq!(
            ScopeGrant::parse("photos=write"),
            Ok(grant("photos", Level::Write))
        );
        assert_eq!(
            ScopeGrant::parse("photos=admin"),
            Ok(grant("photos", Level::Admin))
        );
        let err = ScopeGrant::parse("a=b=read").unwrap_err();
        assert!(err.contains("\"b=read\" is not an access level"), "{err}");
    }

    /// Every malformed grant names the expected form and the levels.
    #[test]
    fn errors_name_the_form_and_levels() {
        for bad in [
            "photos",
            "=read",
            "photos=",
            "photos=owner",
            "photos=Read",
            "",
        ] {
            let err = ScopeGrant::parse(bad).unwrap_err();
            assert!(err.contains("NAME=LEVEL"), "{bad}: {err}");
            assert!(err.contains("read, write, admin"), "{bad}: {err}");
        }
        assert!(ScopeGrant::parse("photos")
            .unwrap_err()
            .starts_with("no level given"));
        assert!(ScopeGrant::parse("photos=owner")
            .unwrap_err()
            .starts_with("\"owner\" is not an access level"));
    }

    /// Distinct grants collect into a map; a repeated name is refused.
    #[test]
    fn collect_refuses_repeats() {
        let scopes =
            collect(&[grant("photos", Level::Write), grant("music", Level::Read)]).unwrap();
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes["photos"], Level::Write);
        assert!(collect(&[]).unwrap().is_empty());
        let err = collect(&[grant("photos", Level::Read), grant("photos", Level::Write)]);
        assert!(err
            .unwrap_err()
            .contains("\"photos\" is given more than once"));
    }
}
