//! Request bodies and query strings as `Op`s: the same field names as the CLI's `--json`
//! output, durations as text (`"30d"`), scopes as `{"catalog-a": "write"}`.
//!
//! Every type denies unknown fields, so a misspelt field is a 400 naming it, never silently
//! ignored.

use keyward_protocol::{
    AuditOutcome, CredentialKind, Env, Identity, Level, ListOrder, Meta, Op, PrincipalUpdate,
    Requirements, ScopeRequirement, Scopes, Secret, UnixMillis, MAX_PAGE,
};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// `POST /v1/admin-keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminKeyNew {
    label: String,
    #[serde(default, deserialize_with = "env")]
    env: Option<Env>,
}

impl From<AdminKeyNew> for Op {
    fn from(b: AdminKeyNew) -> Op {
        // The CLI's default.
        Op::AdminKeyCreate {
            label: b.label,
            env: b.env.unwrap_or(Env::Live),
        }
    }
}

/// `POST /v1/clients`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientNew {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    max_sessions: Option<u32>,
    #[serde(default, deserialize_with = "scopes")]
    scopes: Scopes,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    meta: Meta,
}

impl ClientNew {
    /// The operation, or why not: a seat limit of 0, which the CLI refuses too.
    pub fn into_op(self) -> Result<Op, String> {
        if self.max_sessions == Some(0) {
            return Err("max_sessions must be at least 1".to_owned());
        }
        Ok(Op::ClientCreate {
            label: self.label,
            max_sessions: self.max_sessions,
            scopes: self.scopes,
            identity: Box::new(Identity {
                external_id: self.external_id,
                meta: self.meta,
            }),
        })
    }
}

/// `POST /v1/api-tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiTokenNew {
    name: String,
    #[serde(default, deserialize_with = "scopes")]
    scopes: Scopes,
    #[serde(default, deserialize_with = "duration")]
    expires_in: Option<Duration>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    meta: Meta,
}

impl ApiTokenNew {
    /// The operation, or why not: an expiry under one second, which would round to an
    /// already-expired token.
    pub fn into_op(self) -> Result<Op, String> {
        let expires_in_secs = match self.expires_in.map(|d| d.as_secs()) {
            Some(0) => return Err("expires_in must be at least one second, e.g. 30d".to_owned()),
            secs => secs,
        };
        Ok(Op::ApiTokenCreate {
            name: self.name,
            scopes: self.scopes,
            expires_in_secs,
            identity: Box::new(Identity {
                external_id: self.external_id,
                meta: self.meta,
            }),
        })
    }
}

/// `POST /v1/verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    token: Secret,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default, deserialize_with = "level")]
    level: Option<Level>,
    #[serde(default, deserialize_with = "env")]
    env: Option<Env>,
    #[serde(default, deserialize_with = "kinds")]
    kinds: Vec<CredentialKind>,
}

impl VerifyBody {
    /// The operation, or why not: `scope` and `level` come as a pair, as on the CLI.
    pub fn into_op(self) -> Result<Op, String> {
        let mut require = self
            .kinds
            .into_iter()
            .fold(Requirements::new(), Requirements::kind);
        if let Some(env) = self.env {
            require = require.env(env);
        }
        match (self.scope, self.level) {
            (Some(scope), Some(level)) => {
                require = require.scope(ScopeRequirement { scope, level });
            }
            (None, None) => {}
            _ => return Err("scope and level must be given together".to_owned()),
        }
        Ok(Op::Verify {
            token: self.token,
            require,
        })
    }
}

/// `POST /v1/logout`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogoutBody {
    token: Secret,
}

impl From<LogoutBody> for Op {
    fn from(b: LogoutBody) -> Op {
        Op::Logout { token: b.token }
    }
}

/// `GET /v1/audit`'s query: the CLI's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    #[serde(default, deserialize_with = "duration")]
    since: Option<Duration>,
    #[serde(default)]
    limit: Option<u32>,
    /// `after` too, as on the other lists.
    #[serde(default, alias = "after")]
    before: Option<String>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default, deserialize_with = "outcome")]
    outcome: Option<AuditOutcome>,
}

/// The CLI's `--limit` default.
const AUDIT_LIMIT: u32 = 100;

impl AuditQuery {
    /// The operation at `now`, or why not: a limit of 0.
    pub fn into_op(self, now: UnixMillis) -> Result<Op, String> {
        let limit = self.limit.unwrap_or(AUDIT_LIMIT);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(format!("limit must be from 1 to {MAX_PAGE}"));
        }
        Ok(Op::Audit {
            since: self
                .since
                .map(|d| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
            limit,
            before: self.before,
            uid: self.uid,
            action: self.action,
            outcome: self.outcome,
        })
    }
}

/// `?limit=&after=` of the paged lists: the CLI's `--limit` and `--after`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    after: Option<String>,
}

/// The CLI's `--limit` default for the paged lists.
const PAGE_LIMIT: u32 = 100;

impl PageQuery {
    /// The limit and cursor, or why not: a limit outside 1 to [`MAX_PAGE`], as on the CLI.
    pub fn into_parts(self) -> Result<(u32, Option<String>), String> {
        let limit = self.limit.unwrap_or(PAGE_LIMIT);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(format!("limit must be from 1 to {MAX_PAGE}"));
        }
        Ok((limit, self.after))
    }
}

/// `?limit=&after=&sort=` of the lists that may be sorted (clients and API tokens): the CLI's
/// `--limit`, `--after` and `--sort`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SortedPageQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    sort: Option<String>,
}

impl SortedPageQuery {
    /// The limit, cursor and order, or why not.
    pub fn into_parts(self) -> Result<(u32, Option<String>, ListOrder), String> {
        let (limit, after) = PageQuery {
            limit: self.limit,
            after: self.after,
        }
        .into_parts()?;
        let order = match self.sort.as_deref() {
            None => ListOrder::Id,
            Some(text) => text
                .parse::<ListOrder>()
                .map_err(|e| format!("sort: {e}"))?,
        };
        Ok((limit, after, order))
    }
}

/// `PATCH /v1/clients/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientChange {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    max_sessions: Option<u32>,
    #[serde(default, deserialize_with = "scopes")]
    scopes: Scopes,
    #[serde(default)]
    remove_scopes: Vec<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    meta: Meta,
    #[serde(default)]
    remove_meta: Vec<String>,
}

impl ClientChange {
    /// The operation on client `client_id`, or why not: a seat limit of 0, or no change.
    pub fn into_op(self, client_id: Uuid) -> Result<Op, String> {
        if self.max_sessions == Some(0) {
            return Err("max_sessions must be at least 1".to_owned());
        }
        let update = PrincipalUpdate {
            label: self.label,
            max_sessions: self.max_sessions,
            scopes: self.scopes,
            remove_scopes: self.remove_scopes,
            external_id: self.external_id,
            meta: self.meta,
            remove_meta: self.remove_meta,
        };
        changed(&update)?;
        Ok(Op::ClientUpdate {
            client_id,
            update: Box::new(update),
        })
    }
}

/// `PATCH /v1/api-tokens/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiTokenChange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "scopes")]
    scopes: Scopes,
    #[serde(default)]
    remove_scopes: Vec<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    meta: Meta,
    #[serde(default)]
    remove_meta: Vec<String>,
}

impl ApiTokenChange {
    /// The operation on API token `id`, or why not: no change.
    pub fn into_op(self, id: Uuid) -> Result<Op, String> {
        let update = PrincipalUpdate {
            label: self.name,
            max_sessions: None,
            scopes: self.scopes,
            remove_scopes: self.remove_scopes,
            external_id: self.external_id,
            meta: self.meta,
            remove_meta: self.remove_meta,
        };
        changed(&update)?;
        Ok(Op::ApiTokenUpdate {
            id,
            update: Box::new(update),
        })
    }
}

/// Refuses an update that changes nothing, as the CLI does.
fn changed(update: &PrincipalUpdate) -> Result<(), String> {
    if *update == PrincipalUpdate::default() {
        return Err("nothing to change: give at least one field".to_owned());
    }
    Ok(())
}

/// A value parsed from text by `parse`, named in the error as `what`.
fn text<'de, D, T>(
    d: D,
    what: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    parse(&text).map_err(|e| serde::de::Error::custom(format!("{what}: {e}")))
}

fn env<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Env>, D::Error> {
    text(d, "env", |s| s.parse::<Env>().map_err(|e| e.to_string())).map(Some)
}

fn level<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Level>, D::Error> {
    text(d, "level", |s| {
        s.parse::<Level>().map_err(|e| e.to_string())
    })
    .map(Some)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    text(d, "duration", |s| {
        humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. \"30d\" or \"12h\")"))
    })
    .map(Some)
}

fn outcome<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AuditOutcome>, D::Error> {
    text(d, "outcome", |s| match s {
        "ok" => Ok(AuditOutcome::Ok),
        "refused" => Ok(AuditOutcome::Refused),
        _ => Err(format!("{s:?} is not one of ok, refused")),
    })
    .map(Some)
}

/// A kind's name as the CLI and `verify`'s JSON spell it.
pub(super) fn kind(name: &str) -> Result<CredentialKind, String> {
    [
        CredentialKind::Session,
        CredentialKind::TestKey,
        CredentialKind::ApiToken,
        CredentialKind::AdminKey,
    ]
    .into_iter()
    .find(|k| k.as_str() == name)
    .ok_or_else(|| {
        format!("{name:?} is not a credential kind: one of session, test_key, api_token, admin_key")
    })
}

/// `kinds` as a list, or as one comma-separated string (the form forward-auth headers use).
#[derive(Deserialize)]
#[serde(untagged)]
enum KindNames {
    List(Vec<String>),
    Text(String),
}

fn kinds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CredentialKind>, D::Error> {
    let names = match KindNames::deserialize(d)? {
        KindNames::List(names) => names,
        KindNames::Text(text) => text.split(',').map(|n| n.trim().to_owned()).collect(),
    };
    names
        .iter()
        .map(|n| kind(n))
        .collect::<Result<_, _>>()
        .map_err(|e| serde::de::Error::custom(format!("kinds: {e}")))
}

fn scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Scopes, D::Error> {
    let named = BTreeMap::<String, String>::deserialize(d)?;
    named
        .into_iter()
        .map(|(name, level)| {
            if name.is_empty() {
                return Err("a scope name is empty".to_owned());
            }
            let level = level.parse::<Level>().map_err(|_| {
                format!("{level:?} is not an access level: one of read, write, admin")
            })?;
            Ok((name, level))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| serde::de::Error::custom(format!("scopes: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unknown fields are refused, naming them; scopes, durations and kinds parse as the CLI's.
    #[test]
    fn bodies_parse_like_the_cli() {
        let err = serde_json::from_str::<ClientNew>(r#"{"lable":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("lable"), "{err}");
        let op = serde_json::from_str::<ApiTokenNew>(
            r#"{"name":"ci","scopes":{"catalog-a":"write"},"expires_in":"30d"}"#,
        )
        .unwrap()
        .into_op()
        .unwrap();
        assert_eq!(
            op,
            Op::ApiTokenCreate {
                name: "ci".into(),
                scopes: Scopes::from([("catalog-a".to_owned(), Level::Write)]),
                expires_in_secs: Some(30 * 86_400),
                identity: Box::default(),
            }
        );
        let err = serde_json::from_str::<ApiTokenNew>(r#"{"name":"ci","scopes":{"a":"rw"}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("scopes"), "{err}");
        let op = serde_json::from_str::<VerifyBody>(
            r#"{"token":"t","env":"live","kinds":["session"],"scope":"a","level":"read"}"#,
        )
        .unwrap()
        .into_op()
        .unwrap();
        let Op::Verify { require, .. } = op else {
            panic!("{op:?}")
        };
        assert_eq!(
            require,
            Requirements::new()
                .kind(CredentialKind::Session)
                .env(Env::Live)
                .scope(ScopeRequirement {
                    scope: "a".into(),
                    level: Level::Read
                })
        );
        let text =
            serde_json::from_str::<VerifyBody>(r#"{"token":"t","kinds":"session, api_token"}"#)
                .unwrap()
                .into_op()
                .unwrap();
        let Op::Verify { require, .. } = text else {
            panic!("{text:?}")
        };
        let both = Requirements::new()
            .kind(CredentialKind::Session)
            .kind(CredentialKind::ApiToken);
        assert_eq!(require, both);
        let half = serde_json::from_str::<VerifyBody>(r#"{"token":"t","scope":"a"}"#).unwrap();
        assert!(half.into_op().is_err());
    }
}
