//! On-disk records: what the store persists, separate from the wire types.
//!
//! Records are encoded with the protocol's codec (the one module that calls bincode) behind a
//! leading format-version byte, so a record layout can change without touching the wire and
//! old data can be recognised. Conversions to and from protocol types are explicit.

use keyward_protocol::codec;
use keyward_protocol::{CredentialKind, Env, Level, Meta, Scopes, UnixMillis};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreError;

/// The version byte of credential records: 2 added the owner's scopes.
const CREDENTIAL_VERSION: u8 = 2;
/// The version byte of audit records: 2 added the count of aggregated attempts.
const AUDIT_VERSION: u8 = 2;
/// The version byte of principal records: 2 added the external id and metadata.
const PRINCIPAL_VERSION: u8 = 2;

/// An environment as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StoredEnv {
    Test,
    Live,
}

impl From<Env> for StoredEnv {
    fn from(e: Env) -> Self {
        match e {
            Env::Test => StoredEnv::Test,
            Env::Live => StoredEnv::Live,
        }
    }
}

impl From<StoredEnv> for Env {
    fn from(e: StoredEnv) -> Self {
        match e {
            StoredEnv::Test => Env::Test,
            StoredEnv::Live => Env::Live,
        }
    }
}

/// A credential kind as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StoredKind {
    AdminKey,
    Session,
    TestKey,
    ApiToken,
}

impl From<CredentialKind> for StoredKind {
    fn from(k: CredentialKind) -> Self {
        match k {
            CredentialKind::AdminKey => StoredKind::AdminKey,
            CredentialKind::Session => StoredKind::Session,
            CredentialKind::TestKey => StoredKind::TestKey,
            CredentialKind::ApiToken => StoredKind::ApiToken,
        }
    }
}

impl From<StoredKind> for CredentialKind {
    fn from(k: StoredKind) -> Self {
        match k {
            StoredKind::AdminKey => CredentialKind::AdminKey,
            StoredKind::Session => CredentialKind::Session,
            StoredKind::TestKey => CredentialKind::TestKey,
            StoredKind::ApiToken => CredentialKind::ApiToken,
        }
    }
}

/// One credential, keyed in the store by the SHA-256 of its token. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CredentialRecord {
    /// Public id.
    pub id: Uuid,
    pub kind: StoredKind,
    pub env: StoredEnv,
    /// The client or API-token principal it authenticates; nil for admin keys.
    pub owner: Uuid,
    /// A label (admin keys).
    pub label: Option<String>,
    pub created_at: UnixMillis,
    /// Last use as persisted; lags the true last use by at most the slide granularity.
    pub last_used_at: Option<UnixMillis>,
    /// When it stops verifying; `None` never.
    pub expires_at: Option<UnixMillis>,
    /// The cap on sliding (sessions only).
    pub max_expires_at: Option<UnixMillis>,
    /// The owner's scopes, copied at issue so verify needs one lookup. A scope change
    /// rewrites this copy in the same transaction as the principal (`store::update`), so it
    /// cannot go stale.
    pub scopes: Vec<(String, StoredLevel)>,
}

impl CredentialRecord {
    /// The principal its uses count for: its owner, or none (nil) for an admin key.
    pub(crate) fn usage_owner(&self) -> Uuid {
        match self.kind {
            StoredKind::AdminKey => Uuid::nil(),
            _ => self.owner,
        }
    }

    /// Whether it still verifies at `now`.
    pub fn is_live(&self, now: UnixMillis) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    pub fn kind(&self) -> CredentialKind {
        self.kind.into()
    }

    pub fn env(&self) -> Env {
        self.env.into()
    }

    pub fn scopes(&self) -> Scopes {
        self.scopes
            .iter()
            .map(|(name, level)| (name.clone(), (*level).into()))
            .collect()
    }
}

/// What kind of principal a [`PrincipalRecord`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PrincipalKind {
    Client,
    ApiToken,
}

/// A scope grant as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StoredLevel {
    Read,
    Write,
    Admin,
}

impl From<Level> for StoredLevel {
    fn from(l: Level) -> Self {
        match l {
            Level::Read => StoredLevel::Read,
            Level::Write => StoredLevel::Write,
            Level::Admin => StoredLevel::Admin,
        }
    }
}

impl From<StoredLevel> for Level {
    fn from(l: StoredLevel) -> Self {
        match l {
            StoredLevel::Read => Level::Read,
            StoredLevel::Write => Level::Write,
            StoredLevel::Admin => Level::Admin,
        }
    }
}

/// A client or an API-token pseudo-user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PrincipalRecord {
    pub id: Uuid,
    pub kind: PrincipalKind,
    pub env: StoredEnv,
    /// Client label or API-token name.
    pub label: Option<String>,
    pub scopes: Vec<(String, StoredLevel)>,
    /// The client's own seat limit.
    pub max_sessions: Option<u32>,
    pub created_at: UnixMillis,
    /// Its id in the caller's system, unique per environment (the `external_ids` tree).
    pub external_id: Option<String>,
    /// Free-form metadata, in key order.
    pub meta: Vec<(String, String)>,
}

/// A principal record as version 1 wrote it: without external id and metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PrincipalRecordV1 {
    id: Uuid,
    kind: PrincipalKind,
    env: StoredEnv,
    label: Option<String>,
    scopes: Vec<(String, StoredLevel)>,
    max_sessions: Option<u32>,
    created_at: UnixMillis,
}

/// Encodes a principal record (current version).
pub(crate) fn encode_principal(record: &PrincipalRecord) -> Result<Vec<u8>, StoreError> {
    encode_as(PRINCIPAL_VERSION, record)
}

/// Decodes a principal record of any version this build knows; version 1 has no external id
/// and no metadata.
pub(crate) fn decode_principal(bytes: &[u8]) -> Result<PrincipalRecord, StoreError> {
    let corrupt =
        |e: keyward_protocol::codec::DecodeError| StoreError::corrupt("principals", e.to_string());
    match bytes.split_first() {
        Some((&1, body)) => {
            let v1: PrincipalRecordV1 = codec::decode(body).map_err(corrupt)?;
            Ok(PrincipalRecord {
                id: v1.id,
                kind: v1.kind,
                env: v1.env,
                label: v1.label,
                scopes: v1.scopes,
                max_sessions: v1.max_sessions,
                created_at: v1.created_at,
                external_id: None,
                meta: Vec::new(),
            })
        }
        Some((&PRINCIPAL_VERSION, body)) => codec::decode(body).map_err(corrupt),
        Some((v, _)) => Err(StoreError::corrupt(
            "principals",
            format!("record version {v}, this build reads 1 and {PRINCIPAL_VERSION}"),
        )),
        None => Err(StoreError::corrupt("principals", "empty record".to_owned())),
    }
}

impl PrincipalRecord {
    pub fn scopes(&self) -> Scopes {
        self.scopes
            .iter()
            .map(|(name, level)| (name.clone(), (*level).into()))
            .collect()
    }

    pub fn stored_scopes(scopes: &Scopes) -> Vec<(String, StoredLevel)> {
        scopes
            .iter()
            .map(|(name, level)| (name.clone(), (*level).into()))
            .collect()
    }

    pub fn env(&self) -> Env {
        self.env.into()
    }

    pub fn meta(&self) -> Meta {
        self.meta.iter().cloned().collect()
    }

    /// What a verify of one of its credentials reports of it besides scopes, shared by every
    /// verify through the owner cache; `None` when it has neither external id nor metadata.
    pub fn identity(&self) -> Option<std::sync::Arc<Identity>> {
        (self.external_id.is_some() || !self.meta.is_empty()).then(|| {
            std::sync::Arc::new(Identity {
                external_id: self.external_id.clone(),
                meta: self.meta(),
            })
        })
    }
}

/// A principal's external id and metadata, as verify hands them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub external_id: Option<String>,
    pub meta: Meta,
}

/// How an audited action ended, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StoredOutcome {
    /// Written before the action; replaced once it ends. Left over only by a crash.
    Pending,
    /// Done.
    Ok,
    /// Refused or failed, with the wire error code's name.
    Failed(String),
}

/// One audit-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditRecord {
    pub at: UnixMillis,
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    pub admin_key: Option<Uuid>,
    /// The operation's name.
    pub action: String,
    pub target: Option<Uuid>,
    pub outcome: StoredOutcome,
    /// How many attempts the entry stands for (refused attempts are aggregated).
    pub count: u64,
}

/// An audit record as version 1 wrote it: one attempt per entry, without a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AuditRecordV1 {
    at: UnixMillis,
    uid: u32,
    gid: u32,
    pid: i32,
    admin_key: Option<Uuid>,
    action: String,
    target: Option<Uuid>,
    outcome: StoredOutcome,
}

/// Encodes an audit record (current version).
pub(crate) fn encode_audit(record: &AuditRecord) -> Result<Vec<u8>, StoreError> {
    encode_as(AUDIT_VERSION, record)
}

/// Decodes an audit record of any version this build knows; version 1 stands for one attempt.
pub(crate) fn decode_audit(bytes: &[u8]) -> Result<AuditRecord, StoreError> {
    let corrupt =
        |e: keyward_protocol::codec::DecodeError| StoreError::corrupt("audit", e.to_string());
    match bytes.split_first() {
        Some((&1, body)) => {
            let v1: AuditRecordV1 = codec::decode(body).map_err(corrupt)?;
            Ok(AuditRecord {
                at: v1.at,
                uid: v1.uid,
                gid: v1.gid,
                pid: v1.pid,
                admin_key: v1.admin_key,
                action: v1.action,
                target: v1.target,
                outcome: v1.outcome,
                count: 1,
            })
        }
        Some((&AUDIT_VERSION, body)) => codec::decode(body).map_err(corrupt),
        Some((v, _)) => Err(StoreError::corrupt(
            "audit",
            format!("record version {v}, this build reads 1 and {AUDIT_VERSION}"),
        )),
        None => Err(StoreError::corrupt("audit", "empty record".to_owned())),
    }
}

fn encode_as<T: Serialize>(version: u8, record: &T) -> Result<Vec<u8>, StoreError> {
    let body = codec::encode(record).map_err(|e| StoreError::corrupt("encode", e.to_string()))?;
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(version);
    out.extend_from_slice(&body);
    Ok(out)
}

/// A credential record as version 1 wrote it: without the owner's scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CredentialRecordV1 {
    id: Uuid,
    kind: StoredKind,
    env: StoredEnv,
    owner: Uuid,
    label: Option<String>,
    created_at: UnixMillis,
    last_used_at: Option<UnixMillis>,
    expires_at: Option<UnixMillis>,
    max_expires_at: Option<UnixMillis>,
}

/// Encodes a credential record (current version).
pub(crate) fn encode_credential(record: &CredentialRecord) -> Result<Vec<u8>, StoreError> {
    encode_as(CREDENTIAL_VERSION, record)
}

/// Decodes a credential record of any version this build knows. For a version-1 record the
/// second value is `true`: its scopes are empty and must be read from its owner.
pub(crate) fn decode_credential(bytes: &[u8]) -> Result<(CredentialRecord, bool), StoreError> {
    match bytes.split_first() {
        Some((&1, body)) => {
            let v1: CredentialRecordV1 = codec::decode(body)
                .map_err(|e| StoreError::corrupt("credentials", e.to_string()))?;
            let record = CredentialRecord {
                id: v1.id,
                kind: v1.kind,
                env: v1.env,
                owner: v1.owner,
                label: v1.label,
                created_at: v1.created_at,
                last_used_at: v1.last_used_at,
                expires_at: v1.expires_at,
                max_expires_at: v1.max_expires_at,
                scopes: Vec::new(),
            };
            Ok((record, true))
        }
        Some((&CREDENTIAL_VERSION, body)) => codec::decode(body)
            .map(|r| (r, false))
            .map_err(|e| StoreError::corrupt("credentials", e.to_string())),
        Some((v, _)) => Err(StoreError::corrupt(
            "credentials",
            format!("record version {v}, this build reads 1 and {CREDENTIAL_VERSION}"),
        )),
        None => Err(StoreError::corrupt(
            "credentials",
            "empty record".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 credential record (written before scopes were copied in) still decodes,
    /// and says its scopes must be looked up; this pins the upgrade path.
    #[test]
    fn version_1_credentials_decode() {
        let v1 = CredentialRecordV1 {
            id: Uuid::new_v4(),
            kind: StoredKind::Session,
            env: StoredEnv::Live,
            owner: Uuid::new_v4(),
            label: None,
            created_at: 1,
            last_used_at: None,
            expires_at: Some(3),
            max_expires_at: Some(4),
        };
        let bytes = encode_as(1, &v1).unwrap();
        let (record, needs_scopes) = decode_credential(&bytes).unwrap();
        assert!(needs_scopes);
        assert_eq!(
            (record.id, record.owner, record.expires_at),
            (v1.id, v1.owner, Some(3))
        );
        let current = encode_credential(&record).unwrap();
        assert_eq!(decode_credential(&current).unwrap(), (record, false));
    }

    /// A version-1 principal record (before external ids) decodes with neither, and a current
    /// one round-trips.
    #[test]
    fn version_1_principals_decode() {
        let v1 = PrincipalRecordV1 {
            id: Uuid::new_v4(),
            kind: PrincipalKind::Client,
            env: StoredEnv::Test,
            label: Some("old".into()),
            scopes: vec![("photos".into(), StoredLevel::Read)],
            max_sessions: Some(3),
            created_at: 7,
        };
        let mut record = decode_principal(&encode_as(1, &v1).unwrap()).unwrap();
        assert_eq!((record.id, record.max_sessions), (v1.id, Some(3)));
        assert_eq!(
            (record.external_id.as_deref(), record.meta.len()),
            (None, 0)
        );
        record.external_id = Some("user-1".into());
        record.meta = vec![("plan".into(), "pro".into())];
        let bytes = encode_principal(&record).unwrap();
        assert_eq!(decode_principal(&bytes).unwrap(), record);
    }

    /// A version-1 audit record (one attempt per entry) decodes with a count of 1.
    #[test]
    fn version_1_audit_records_decode() {
        let v1 = AuditRecordV1 {
            at: 5,
            uid: 65534,
            gid: 65534,
            pid: 9,
            admin_key: None,
            action: "admin_key_create".into(),
            target: None,
            outcome: StoredOutcome::Failed("FORBIDDEN".into()),
        };
        let record = decode_audit(&encode_as(1, &v1).unwrap()).unwrap();
        assert_eq!((record.uid, record.count), (65534, 1));
        assert_eq!(
            decode_audit(&encode_audit(&record).unwrap()).unwrap(),
            record
        );
    }

    /// A record round-trips, and an unknown version is reported as corruption, not misread.
    #[test]
    fn versioned_round_trip() {
        let r = CredentialRecord {
            id: Uuid::new_v4(),
            kind: StoredKind::Session,
            env: StoredEnv::Live,
            owner: Uuid::new_v4(),
            label: None,
            created_at: 1,
            last_used_at: Some(2),
            expires_at: Some(3),
            max_expires_at: Some(4),
            scopes: vec![("photos".into(), StoredLevel::Write)],
        };
        let mut bytes = encode_credential(&r).unwrap();
        assert_eq!(decode_credential(&bytes).unwrap(), (r, false));
        bytes[0] = 9;
        assert!(matches!(
            decode_credential(&bytes),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
