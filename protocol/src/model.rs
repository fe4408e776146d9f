//! Small value types that appear in requests and replies: environments, access levels, scopes,
//! credential kinds and timestamps.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Wall-clock time as milliseconds since the Unix epoch (UTC).
pub type UnixMillis = i64;

/// A scope name (for example a catalog) mapped to the access level held in it.
pub type Scopes = BTreeMap<String, Level>;

/// An error from parsing one of this module's enums from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}: expected one of {expected}")]
pub struct ParseEnumError {
    what: &'static str,
    given: String,
    expected: &'static str,
}

/// The environment an admin key, and everything it creates, belongs to. Objects of one
/// environment are invisible to keys of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Env {
    /// Development and testing.
    Test,
    /// Production.
    Live,
}

impl Env {
    /// The lowercase name used in tokens, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Test => "test",
            Env::Live => "live",
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Env {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(Env::Test),
            "live" => Ok(Env::Live),
            _ => Err(ParseEnumError {
                what: "environment",
                given: s.to_owned(),
                expected: "test, live",
            }),
        }
    }
}

/// An access level within one scope. Ordered: `Read < Write < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// May read.
    Read,
    /// May read and write.
    Write,
    /// May do anything within the scope.
    Admin,
}

impl Level {
    /// The lowercase name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Level::Read),
            "write" => Ok(Level::Write),
            "admin" => Ok(Level::Admin),
            _ => Err(ParseEnumError {
                what: "access level",
                given: s.to_owned(),
                expected: "read, write, admin",
            }),
        }
    }
}

/// The kinds of credential keyward issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CredentialKind {
    /// A host-admin-managed key for a backend service.
    AdminKey,
    /// A client's sliding session token.
    Session,
    /// A client's non-expiring test key.
    TestKey,
    /// A scoped pseudo-user token.
    ApiToken,
}

impl CredentialKind {
    /// The snake_case name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::AdminKey => "admin_key",
            CredentialKind::Session => "session",
            CredentialKind::TestKey => "test_key",
            CredentialKind::ApiToken => "api_token",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verify call may demand: at least `level` in `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRequirement {
    /// The scope name.
    pub scope: String,
    /// The minimum level.
    pub level: Level,
}

impl ScopeRequirement {
    /// Whether `scopes` grant this requirement.
    pub fn is_met_by(&self, scopes: &Scopes) -> bool {
        scopes
            .get(&self.scope)
            .is_some_and(|held| *held >= self.level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Levels order read < write < admin, and a requirement is met by any level at or above it.
    #[test]
    fn levels_are_ordered() {
        assert!(Level::Read < Level::Write && Level::Write < Level::Admin);
        let scopes: Scopes = [("photos".to_owned(), Level::Write)].into();
        let need = |level| ScopeRequirement {
            scope: "photos".into(),
            level,
        };
        assert!(need(Level::Read).is_met_by(&scopes));
        assert!(need(Level::Write).is_met_by(&scopes));
        assert!(!need(Level::Admin).is_met_by(&scopes));
        let other = ScopeRequirement {
            scope: "music".into(),
            level: Level::Read,
        };
        assert!(!other.is_met_by(&scopes));
    }

    /// Names round-trip through text, and unknown names say what was expected.
    #[test]
    fn names_parse() {
        assert_eq!("live".parse::<Env>().unwrap(), Env::Live);
        assert_eq!("admin".parse::<Level>().unwrap(), Level::Admin);
        let err = "prod".parse::<Env>().unwrap_err().to_string();
        assert!(err.contains("test, live"), "{err}");
    }
}
