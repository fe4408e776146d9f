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

/// The order of a list of clients or API tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ListOrder {
    /// By id: stable, so a walk sees each item exactly once.
    #[default]
    Id,
    /// By last use as of the daemon's last fold of usage (every few seconds), never-used
    /// first, then by id: finds dead credentials. An item used during a walk moves later and
    /// may be seen again; none that existed for the whole walk is missed.
    LastUsed,
}

impl ListOrder {
    /// The name used in the CLI and HTTP: `id` or `last-used`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListOrder::Id => "id",
            ListOrder::LastUsed => "last-used",
        }
    }
}

impl fmt::Display for ListOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ListOrder {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "id" => Ok(ListOrder::Id),
            "last-used" => Ok(ListOrder::LastUsed),
            _ => Err(ParseEnumError {
                what: "order",
                given: s.to_owned(),
                expected: "id, last-used",
            }),
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

/// A set of [`CredentialKind`]s, as a bit set: four kinds need no allocation and no length
/// limit on the wire, and unknown bits are refused when decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Kinds(u8);

impl Kinds {
    /// No kind at all. As a requirement it means "not given": see [`Requirements::kinds`].
    pub const EMPTY: Kinds = Kinds(0);
    /// What a verify accepts when no kind is asked for: everything but admin keys, which are
    /// a backend's own key and never a user.
    pub const DEFAULT: Kinds = Kinds(0b1110);
    /// Every bit a kind uses.
    const ALL: u8 = 0b1111;

    fn bit(kind: CredentialKind) -> u8 {
        match kind {
            CredentialKind::AdminKey => 0b0001,
            CredentialKind::Session => 0b0010,
            CredentialKind::TestKey => 0b0100,
            CredentialKind::ApiToken => 0b1000,
        }
    }

    /// This set with `kind` added.
    #[must_use]
    pub fn with(self, kind: CredentialKind) -> Kinds {
        Kinds(self.0 | Kinds::bit(kind))
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: CredentialKind) -> bool {
        self.0 & Kinds::bit(kind) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = CredentialKind> {
        [
            CredentialKind::Session,
            CredentialKind::TestKey,
            CredentialKind::ApiToken,
            CredentialKind::AdminKey,
        ]
        .into_iter()
        .filter(move |k| self.contains(*k))
    }
}

impl FromIterator<CredentialKind> for Kinds {
    fn from_iter<I: IntoIterator<Item = CredentialKind>>(iter: I) -> Self {
        iter.into_iter().fold(Kinds::EMPTY, Kinds::with)
    }
}

impl fmt::Display for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(CredentialKind::as_str).collect();
        f.write_str(&names.join(", "))
    }
}

impl From<Kinds> for u8 {
    fn from(kinds: Kinds) -> u8 {
        kinds.0
    }
}

impl TryFrom<u8> for Kinds {
    type Error = String;
    fn try_from(bits: u8) -> Result<Self, Self::Error> {
        if bits & !Kinds::ALL == 0 {
            Ok(Kinds(bits))
        } else {
            Err(format!("unknown credential kind bits {bits:#04x}"))
        }
    }
}

/// Everything a verify may demand of a credential, so that a service pins what it accepts:
/// its environment, its kinds and a scope.
///
/// ```
/// use keyward_protocol::{CredentialKind, Env, Level, Requirements, ScopeRequirement};
/// let need = Requirements::new()
///     .env(Env::Live)
///     .kind(CredentialKind::Session)
///     .scope(ScopeRequirement { scope: "photos".into(), level: Level::Read });
/// assert_eq!(need.accepted_kinds().to_string(), "session");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// The environment the credential must belong to; `None` accepts both.
    pub env: Option<Env>,
    /// The kinds accepted; empty means [`Kinds::DEFAULT`] (no admin keys).
    pub kinds: Kinds,
    /// A scope and minimum level the credential must hold.
    pub scope: Option<ScopeRequirement>,
}

impl Requirements {
    /// No requirement beyond the default kinds.
    pub fn new() -> Self {
        Requirements::default()
    }

    /// Demands environment `env`.
    #[must_use]
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Accepts `kind`; repeat for each kind accepted. An admin key verifies only if asked for
    /// here.
    #[must_use]
    pub fn kind(mut self, kind: CredentialKind) -> Self {
        self.kinds = self.kinds.with(kind);
        self
    }

    /// Demands a scope and minimum level.
    #[must_use]
    pub fn scope(mut self, scope: ScopeRequirement) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The kinds a credential may be of: those asked for, or [`Kinds::DEFAULT`].
    pub fn accepted_kinds(&self) -> Kinds {
        if self.kinds.is_empty() {
            Kinds::DEFAULT
        } else {
            self.kinds
        }
    }

    /// Which of the kind and environment requirements a credential of `kind` in `env` fails,
    /// said for the caller; `None` if it meets both. The scope is checked apart, since it
    /// needs the credential's scopes.
    pub fn refusal(&self, kind: CredentialKind, env: Env) -> Option<String> {
        let kinds = self.accepted_kinds();
        if !kinds.contains(kind) {
            return Some(format!(
                "the credential is of kind {kind}, which this verify does not accept \
                 (accepted: {kinds}{})",
                if kind == CredentialKind::AdminKey {
                    "; an admin key verifies only when admin_key is asked for"
                } else {
                    ""
                }
            ));
        }
        match self.env {
            Some(need) if need != env => Some(format!(
                "the credential belongs to the {env} environment, but {need} is required"
            )),
            _ => None,
        }
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

    /// With no kind asked for, admin keys are refused and the other kinds accepted; asking for
    /// kinds accepts exactly those; a wrong environment is named.
    #[test]
    fn requirements_pin_kinds_and_env() {
        use CredentialKind::*;
        let default = Requirements::new();
        assert!(default.refusal(AdminKey, Env::Live).is_some());
        for kind in [Session, TestKey, ApiToken] {
            assert_eq!(default.refusal(kind, Env::Test), None);
        }
        let admin = Requirements::new().kind(AdminKey);
        assert_eq!(admin.refusal(AdminKey, Env::Live), None);
        assert!(admin.refusal(Session, Env::Live).is_some());
        let live = Requirements::new().env(Env::Live).kind(Session);
        let why = live.refusal(Session, Env::Test).unwrap();
        assert!(why.contains("test") && why.contains("live"), "{why}");
        let why = live.refusal(TestKey, Env::Live).unwrap();
        assert!(why.contains("test_key") && why.contains("session"), "{why}");
        assert!(Kinds::try_from(0x10).is_err());
        assert_eq!(Kinds::try_from(0b1111).unwrap().iter().count(), 4);
    }
}
