//! Requests and responses: the body of every frame after the handshake.
//!
//! Every [`Request`] carries an id that its [`Response`] echoes, so a client may pipeline
//! requests on one connection. The daemon answers requests of one connection in order.

use crate::{
    CredentialKind, Env, Identity, ListOrder, Meta, Requirements, Scopes, Secret, UnixMillis,
    WireError,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client; echoed in the response.
    pub id: u64,
    /// The admin key, for operations that need one ([`Op::needs_admin_key`]).
    pub admin_key: Option<Secret>,
    /// What to do.
    pub op: Op,
}

/// The operations the daemon offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// The cheapest request: answers with the daemon's version.
    Ping,
    /// Host admin only: mint an admin key.
    AdminKeyCreate {
        /// A name for people.
        label: String,
        /// The environment the key works in.
        env: Env,
    },
    /// Host admin only: list admin keys, a page at a time.
    AdminKeyList {
        /// At most this many (capped at [`MAX_PAGE`], and by the frame size).
        limit: u32,
        /// Only keys after this cursor: the `next` of the page before, in the same order.
        after: Option<String>,
        /// In id order, or least lately used first.
        order: ListOrder,
    },
    /// Host admin only: revoke an admin key.
    AdminKeyRevoke {
        /// The key's public id.
        id: Uuid,
    },
    /// Create a client and its first session.
    ClientCreate {
        /// A name for people.
        label: Option<String>,
        /// The client's seat limit; `None` uses the daemon default.
        max_sessions: Option<u32>,
        /// The client's scopes.
        scopes: Scopes,
        /// Its external id, unique in the environment, and its metadata.
        identity: Box<Identity>,
    },
    /// Show one client and a page of its live credentials, in id order.
    ClientShow {
        /// The client's id.
        client_id: Uuid,
        /// At most this many credentials (capped at [`MAX_PAGE`], and by the frame size).
        limit: u32,
        /// Only credentials after this cursor: the [`ClientDetails::next`] of the page before.
        after: Option<String>,
    },
    /// List the clients of the admin key's environment, a page at a time.
    ClientList {
        /// At most this many (capped at [`MAX_PAGE`], and by the frame size).
        limit: u32,
        /// Only clients after this cursor: the [`ClientPage::next`] of the page before, taken
        /// in the same order.
        after: Option<String>,
        /// In id order, or least lately used first.
        order: ListOrder,
    },
    /// Revoke every session of a client.
    ClientRevokeSessions {
        /// The client's id.
        client_id: Uuid,
    },
    /// Issue a fresh session for an existing client (the seeds' refresh call).
    SessionIssue {
        /// The client's id.
        client_id: Uuid,
    },
    /// Create the client's test key, which never expires.
    TestKeyCreate {
        /// The client's id.
        client_id: Uuid,
    },
    /// Create an API token: a scoped pseudo-user principal.
    ApiTokenCreate {
        /// A name for people.
        name: String,
        /// The token's scopes.
        scopes: Scopes,
        /// Seconds until it expires; `None` never expires.
        expires_in_secs: Option<u64>,
        /// Its external id, unique in the environment among clients and API tokens, and its
        /// metadata.
        identity: Box<Identity>,
    },
    /// Check a token; on success slides a session's idle expiry. A credential that fails a
    /// requirement is refused and does not slide.
    Verify {
        /// The token presented.
        token: Secret,
        /// What the credential must be: environment, kinds (admin keys only if named) and
        /// scope.
        require: Requirements,
    },
    /// Revoke the presented token.
    Logout {
        /// The token presented.
        token: Secret,
    },
    /// Revoke one credential by its public id.
    Revoke {
        /// The credential's public id.
        credential_id: Uuid,
    },
    /// Counts of what the daemon holds and has done.
    Stats,
    /// Host admin only: read the audit log, a page at a time, newest pages first.
    Audit {
        /// Only entries at or after this time.
        since: Option<UnixMillis>,
        /// At most this many (the most recent ones), capped by the daemon.
        limit: u32,
        /// Only entries older than this cursor: the [`AuditPage::next`] of the page before.
        before: Option<String>,
        /// Only what this uid did or tried.
        uid: Option<u32>,
        /// Only this operation ([`Op::NAMES`]).
        action: Option<String>,
        /// Only this kind of outcome.
        outcome: Option<AuditOutcome>,
    },
    /// Host admin only: take a consistent snapshot for `keyward backup`.
    BackupBegin,
    /// Host admin only: read part of a snapshot.
    BackupRead {
        /// The snapshot, from [`Reply::BackupStarted`].
        id: Uuid,
        /// Where to read from.
        offset: u64,
    },
    /// Host admin only: discard a snapshot once read.
    BackupEnd {
        /// The snapshot.
        id: Uuid,
        /// Whether the client wrote and checked its file: the audit log records a backup that
        /// failed on the client's side as `abandoned`, never as `ok`.
        completed: bool,
    },
    /// Revoke every credential of a client (sessions, test key) and remove the client.
    ClientDelete {
        /// The client's id.
        client_id: Uuid,
    },
    /// List the API tokens of the admin key's environment, a page at a time.
    ApiTokenList {
        /// At most this many (the daemon caps it at [`MAX_PAGE`], and by the frame size).
        limit: u32,
        /// Only tokens after this cursor: the [`ApiTokenPage::next`] of the page before, taken
        /// in the same order.
        after: Option<String>,
        /// In id order, or least lately used first.
        order: ListOrder,
    },
    /// Show one API token.
    ApiTokenShow {
        /// The token's principal id or its credential id.
        id: Uuid,
    },
    /// Rename an API token or change its scopes; a scope change holds from the next verify.
    ApiTokenUpdate {
        /// The token's principal id or its credential id.
        id: Uuid,
        /// The change (boxed: it would double the size of every `Op`).
        update: Box<PrincipalUpdate>,
    },
    /// Change a client's label, seat limit or scopes; a scope change holds from the next
    /// verify of every one of its credentials.
    ClientUpdate {
        /// The client's id.
        client_id: Uuid,
        /// The change (boxed: it would double the size of every `Op`).
        update: Box<PrincipalUpdate>,
    },
    /// Disable a client (all of its credentials), one credential, an API token or an admin
    /// key (the last only from a host admin): it stops verifying, with
    /// [`ErrorCode::CredentialDisabled`](crate::ErrorCode::CredentialDisabled), until enabled.
    Disable {
        /// A client, API-token principal or credential id.
        id: Uuid,
    },
    /// Undo [`Op::Disable`]: everything disabled comes back as it was, expiry unchanged.
    Enable {
        /// As for [`Op::Disable`].
        id: Uuid,
    },
    /// Show the client with this external id, as [`Op::ClientShow`] does.
    ClientFind {
        /// The client's external id.
        external_id: String,
        /// At most this many credentials (capped at [`MAX_PAGE`], and by the frame size).
        limit: u32,
        /// Only credentials after this cursor: the [`ClientDetails::next`] of the page before.
        after: Option<String>,
    },
}

/// The most items one page may ask for.
pub const MAX_PAGE: u32 = 1000;

/// A change to a client or an API token; a field left `None` (or empty) is left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalUpdate {
    /// A new label (client) or name (API token).
    pub label: Option<String>,
    /// A new seat limit (clients only).
    pub max_sessions: Option<u32>,
    /// Scopes to grant or regrade.
    pub scopes: Scopes,
    /// Scopes to take away.
    pub remove_scopes: Vec<String>,
    /// A new external id, unique in the environment.
    pub external_id: Option<String>,
    /// Metadata keys to set (added or replaced).
    pub meta: Meta,
    /// Metadata keys to take away.
    pub remove_meta: Vec<String>,
}

impl Op {
    /// Whether the request must carry an admin key.
    pub fn needs_admin_key(&self) -> bool {
        matches!(
            self,
            Op::ClientCreate { .. }
                | Op::ClientShow { .. }
                | Op::ClientList { .. }
                | Op::ClientRevokeSessions { .. }
                | Op::SessionIssue { .. }
                | Op::TestKeyCreate { .. }
                | Op::ApiTokenCreate { .. }
                | Op::Revoke { .. }
                | Op::ClientDelete { .. }
                | Op::ApiTokenList { .. }
                | Op::ApiTokenShow { .. }
                | Op::ApiTokenUpdate { .. }
                | Op::ClientUpdate { .. }
                | Op::Disable { .. }
                | Op::Enable { .. }
                | Op::ClientFind { .. }
        )
    }

    /// Whether only a host admin (decided from the peer's uid/gid) may send it.
    pub fn needs_host_admin(&self) -> bool {
        matches!(
            self,
            Op::AdminKeyCreate { .. }
                | Op::AdminKeyList { .. }
                | Op::AdminKeyRevoke { .. }
                | Op::Audit { .. }
                | Op::BackupBegin
                | Op::BackupRead { .. }
                | Op::BackupEnd { .. }
        )
    }

    /// Every operation's [`Op::name`], in [`Op::index`] order.
    pub const NAMES: [&'static str; 27] = [
        "ping",
        "admin_key_create",
        "admin_key_list",
        "admin_key_revoke",
        "client_create",
        "client_show",
        "client_list",
        "client_revoke_sessions",
        "session_issue",
        "test_key_create",
        "api_token_create",
        "verify",
        "logout",
        "revoke",
        "stats",
        "audit",
        "backup_begin",
        "backup_read",
        "backup_end",
        "client_delete",
        "api_token_list",
        "api_token_show",
        "api_token_update",
        "client_update",
        "disable",
        "enable",
        "client_find",
    ];

    /// The operation's position in [`Op::NAMES`], for per-operation counters.
    pub fn index(&self) -> usize {
        match self {
            Op::Ping => 0,
            Op::AdminKeyCreate { .. } => 1,
            Op::AdminKeyList { .. } => 2,
            Op::AdminKeyRevoke { .. } => 3,
            Op::ClientCreate { .. } => 4,
            Op::ClientShow { .. } => 5,
            Op::ClientList { .. } => 6,
            Op::ClientRevokeSessions { .. } => 7,
            Op::SessionIssue { .. } => 8,
            Op::TestKeyCreate { .. } => 9,
            Op::ApiTokenCreate { .. } => 10,
            Op::Verify { .. } => 11,
            Op::Logout { .. } => 12,
            Op::Revoke { .. } => 13,
            Op::Stats => 14,
            Op::Audit { .. } => 15,
            Op::BackupBegin => 16,
            Op::BackupRead { .. } => 17,
            Op::BackupEnd { .. } => 18,
            Op::ClientDelete { .. } => 19,
            Op::ApiTokenList { .. } => 20,
            Op::ApiTokenShow { .. } => 21,
            Op::ApiTokenUpdate { .. } => 22,
            Op::ClientUpdate { .. } => 23,
            Op::Disable { .. } => 24,
            Op::Enable { .. } => 25,
            Op::ClientFind { .. } => 26,
        }
    }

    /// A short name for logs. Never includes arguments, which may be secret.
    pub fn name(&self) -> &'static str {
        Op::NAMES[self.index()]
    }
}

/// The answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The id of the request this answers.
    pub id: u64,
    /// The outcome.
    pub result: Result<Reply, WireError>,
}

/// A successful outcome, one variant per [`Op`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// To [`Op::Ping`].
    Pong {
        /// The daemon's package version.
        version: String,
    },
    /// To [`Op::AdminKeyCreate`].
    AdminKeyCreated(AdminKeyCreated),
    /// To [`Op::AdminKeyList`].
    AdminKeys(AdminKeyPage),
    /// To the revoking operations that name one credential.
    Revoked {
        /// The revoked credential's id.
        id: Uuid,
    },
    /// To [`Op::ClientCreate`].
    ClientCreated(ClientCreated),
    /// To [`Op::ClientShow`] and [`Op::ClientFind`].
    Client(ClientDetails),
    /// To [`Op::ClientList`].
    Clients(ClientPage),
    /// To [`Op::ClientRevokeSessions`] and [`Op::ClientDelete`].
    RevokedCount {
        /// How many live credentials were revoked: sessions, and for a delete the test key.
        count: u64,
    },
    /// To [`Op::SessionIssue`].
    SessionIssued(SessionIssued),
    /// To [`Op::TestKeyCreate`].
    TestKeyCreated(TestKeyCreated),
    /// To [`Op::ApiTokenCreate`].
    ApiTokenCreated(ApiTokenCreated),
    /// To [`Op::Verify`].
    Verified(Verified),
    /// To [`Op::Stats`].
    Stats(Stats),
    /// To [`Op::Audit`].
    Audit(AuditPage),
    /// To [`Op::BackupBegin`].
    BackupStarted {
        /// The snapshot's id, for [`Op::BackupRead`] and [`Op::BackupEnd`].
        id: Uuid,
        /// Its size in bytes.
        bytes: u64,
    },
    /// To [`Op::BackupRead`]: the bytes at the offset; empty at the end.
    BackupChunk(Vec<u8>),
    /// To [`Op::BackupEnd`].
    BackupEnded,
    /// To [`Op::ApiTokenList`].
    ApiTokens(ApiTokenPage),
    /// To [`Op::ApiTokenShow`] and [`Op::ApiTokenUpdate`].
    ApiToken(ApiTokenInfo),
    /// To [`Op::ClientUpdate`]: the client as it now is, without its credentials.
    ClientUpdated(ClientSettings),
    /// To [`Op::Disable`].
    Disabled {
        /// The id disabled, as given.
        id: Uuid,
    },
    /// To [`Op::Enable`].
    Enabled {
        /// The id enabled, as given.
        id: Uuid,
    },
}

/// One page of API tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenPage {
    /// The tokens, in principal-id order.
    pub api_tokens: Vec<ApiTokenInfo>,
    /// The cursor for the next page, for [`Op::ApiTokenList`]'s `after`; `None` at the end.
    pub next: Option<String>,
}

/// An API token as listed and shown: no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    /// Its pseudo-user principal.
    pub principal_id: Uuid,
    /// Its credential's id; `None` once the credential was revoked.
    pub id: Option<Uuid>,
    /// Its name.
    pub name: String,
    /// Its environment.
    pub env: Env,
    /// Its scopes.
    pub scopes: Scopes,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it was last used, if ever (updated lazily).
    pub last_used_at: Option<UnixMillis>,
    /// When it expires, if ever.
    pub expires_at: Option<UnixMillis>,
    /// Whether it is disabled ([`Op::Disable`]), by its principal's id or its credential's.
    pub disabled: bool,
    /// Its external id, if any.
    pub external_id: Option<String>,
    /// Its metadata.
    pub meta: Meta,
    /// Its successful verifies, a revoked credential's included (updated lazily).
    pub uses: u64,
}

/// A client's own settings, without its credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSettings {
    /// The client's id.
    pub client_id: Uuid,
    /// Its label.
    pub label: Option<String>,
    /// Its environment.
    pub env: Env,
    /// Its scopes.
    pub scopes: Scopes,
    /// Its own seat limit, if set.
    pub max_sessions: Option<u32>,
    /// Its external id, if any.
    pub external_id: Option<String>,
    /// Its metadata.
    pub meta: Meta,
}

/// The outcomes an audit read can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditOutcome {
    /// The action was done.
    Ok,
    /// The action was refused or failed: any outcome but `ok` and `pending`.
    Refused,
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries, oldest first.
    pub entries: Vec<AuditEntry>,
    /// The cursor for the next (older) page, for [`Op::Audit`]'s `before`; `None` when no
    /// older entry matches.
    pub next: Option<String>,
}

/// One audit-log entry: who did (or tried) what to which object. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: UnixMillis,
    /// The peer's uid, from `SO_PEERCRED`.
    pub uid: u32,
    /// The peer's gid.
    pub gid: u32,
    /// The peer's pid.
    pub pid: i32,
    /// The admin key used, if any.
    pub admin_key_id: Option<Uuid>,
    /// The operation ([`Op::NAMES`]).
    pub action: String,
    /// The object acted on or created, if any.
    pub target: Option<Uuid>,
    /// `ok`, an error code such as `FORBIDDEN`, or `pending` (the daemon stopped before
    /// recording the outcome; the action may have happened).
    pub outcome: String,
    /// How many attempts the entry stands for: refused attempts with the same uid, action and
    /// error code within a few seconds share one entry. 1 for everything else.
    pub count: u64,
}

/// A new admin key. The secret is shown here once and never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminKeyCreated {
    /// Public id.
    pub id: Uuid,
    /// Label given at creation.
    pub label: String,
    /// Environment.
    pub env: Env,
    /// The key itself.
    pub secret: Secret,
}

/// An admin key as listed: no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminKeyInfo {
    /// Public id.
    pub id: Uuid,
    /// Label given at creation.
    pub label: String,
    /// Environment.
    pub env: Env,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it was last used, if ever (updated lazily).
    pub last_used_at: Option<UnixMillis>,
    /// Whether it is disabled ([`Op::Disable`]).
    pub disabled: bool,
    /// Its successful uses (updated lazily).
    pub uses: u64,
}

/// A new session. The token is shown here once and never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionIssued {
    /// The session's credential id.
    pub id: Uuid,
    /// The session token.
    pub token: Secret,
    /// When it expires unless used.
    pub expires_at: UnixMillis,
    /// The latest it can ever expire, however much it is used.
    pub max_expires_at: UnixMillis,
}

/// A new client with its first session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCreated {
    /// The client's id.
    pub client_id: Uuid,
    /// Its first session.
    pub session: SessionIssued,
}

/// A client's test key. The token is shown here once and never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestKeyCreated {
    /// The test key's credential id.
    pub id: Uuid,
    /// The key.
    pub token: Secret,
}

/// A new API token. The token is shown here once and never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenCreated {
    /// The token's credential id (used to revoke it).
    pub id: Uuid,
    /// The pseudo-user principal the token authenticates as.
    pub principal_id: Uuid,
    /// The token.
    pub token: Secret,
    /// When it expires, if ever.
    pub expires_at: Option<UnixMillis>,
}

/// A client as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSummary {
    /// The client's id.
    pub client_id: Uuid,
    /// Its label.
    pub label: Option<String>,
    /// Whether it is disabled ([`Op::Disable`]).
    pub disabled: bool,
    /// Its external id, if any.
    pub external_id: Option<String>,
    /// Its metadata.
    pub meta: Meta,
    /// When any of its credentials was last used, if ever (updated lazily).
    pub last_used_at: Option<UnixMillis>,
    /// Its credentials' successful verifies, revoked ones' included (updated lazily).
    pub uses: u64,
}

/// One of a client's credentials, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    /// Public id.
    pub id: Uuid,
    /// Session or test key.
    pub kind: CredentialKind,
    /// When it was issued.
    pub created_at: UnixMillis,
    /// When it was last used, if ever (updated lazily).
    pub last_used_at: Option<UnixMillis>,
    /// When it expires unless used; `None` never expires.
    pub expires_at: Option<UnixMillis>,
    /// Whether it is disabled itself ([`Op::Disable`] on its id).
    pub disabled: bool,
    /// Its successful verifies (updated lazily).
    pub uses: u64,
}

/// A client in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientDetails {
    /// The client's id.
    pub client_id: Uuid,
    /// Its label.
    pub label: Option<String>,
    /// Its environment.
    pub env: Env,
    /// Its scopes.
    pub scopes: Scopes,
    /// Its own seat limit, if set.
    pub max_sessions: Option<u32>,
    /// Whether the client is disabled: none of its credentials verifies.
    pub disabled: bool,
    /// When any of its credentials was last used, if ever (updated lazily).
    pub last_used_at: Option<UnixMillis>,
    /// Its credentials' successful verifies, revoked ones' included (updated lazily).
    pub uses: u64,
    /// A page of its live credentials, in id order.
    pub credentials: Vec<CredentialInfo>,
    /// The cursor for the next page of credentials; `None` at the end.
    pub next: Option<String>,
    /// Its external id, if any.
    pub external_id: Option<String>,
    /// Its metadata.
    pub meta: Meta,
}

/// One page of admin keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminKeyPage {
    /// The keys, in id order.
    pub admin_keys: Vec<AdminKeyInfo>,
    /// The cursor for the next page; `None` at the end.
    pub next: Option<String>,
}

/// One page of clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPage {
    /// The clients, in id order.
    pub clients: Vec<ClientSummary>,
    /// The cursor for the next page; `None` at the end.
    pub next: Option<String>,
}

/// Who a verified token belongs to, and with what rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The client, API-token principal or admin key the token authenticates.
    pub principal_id: Uuid,
    /// The credential's kind.
    pub kind: CredentialKind,
    /// Its environment.
    pub env: Env,
    /// The principal's scopes (empty for admin keys).
    pub scopes: Scopes,
    /// When it now expires unless used again; `None` never expires.
    pub expires_at: Option<UnixMillis>,
    /// The credential's public id.
    pub credential_id: Uuid,
    /// The principal's external id, if any (none for admin keys).
    pub external_id: Option<String>,
    /// The principal's metadata (empty for admin keys).
    pub meta: Meta,
}

/// What the daemon holds and has done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Clients, both environments.
    pub clients: u64,
    /// Sessions held: not expired, or expired since the last sweep.
    pub live_sessions: u64,
    /// Test keys.
    pub test_keys: u64,
    /// API tokens held: not expired, or expired since the last sweep.
    pub api_tokens: u64,
    /// Admin keys.
    pub admin_keys: u64,
    /// Sweeps run since the data dir was created.
    pub sweeps_run: u64,
    /// Credentials deleted by sweeps since the data dir was created.
    pub credentials_swept: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Connections accepted since the daemon started.
    pub connections_total: u64,
    /// Connections refused since the daemon started (a uid over its share).
    pub connections_refused: u64,
    /// Audit entries dropped since the daemon started because the queue waiting for the disk
    /// was full (refused attempts first).
    pub audit_dropped: u64,
    /// Requests answered since the daemon started, by operation ([`Op::NAMES`]).
    pub requests: std::collections::BTreeMap<String, u64>,
    /// Failed requests since the daemon started, by error code (`CREDENTIAL_INVALID`...).
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
}
