//! The JSON shapes of replies, one contract for the CLI's `--json` and the daemon's HTTP API.
//!
//! These are not the protocol's serde forms: the JSON promises lowercase names (`live`,
//! `write`, `session`) and RFC 3339 times, while the wire carries enum variants and Unix
//! milliseconds, and a change to one must not silently change the other. Fields are declared in
//! the order the contract lists them, and serialised straight to text so that order is kept.

use crate::{
    AdminKeyCreated, AdminKeyInfo, ApiTokenCreated, ApiTokenInfo, ClientDetails, ClientSettings,
    ClientSummary, CredentialInfo, Meta, Reply, Scopes, SessionIssued, Stats, TestKeyCreated,
    UnixMillis, Verified,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};
use uuid::Uuid;

/// The last millisecond humantime can format: it refuses years after 9999, and panics on times
/// before 1970.
pub const LAST_FORMATTABLE_MS: UnixMillis = 253_402_300_799_999;

/// `reply` as its one-line JSON object.
pub fn render_reply(reply: &Reply) -> String {
    match reply {
        Reply::Pong { version } => line(&Pong { version }),
        Reply::AdminKeyCreated(k) => line(&AdminKeyNew::from(k)),
        Reply::AdminKeys(page) => line(&AdminKeys {
            admin_keys: page.admin_keys.iter().map(AdminKey::from).collect(),
            next: page.next.as_deref(),
        }),
        Reply::Revoked { id } => line(&Revoked { revoked: *id }),
        Reply::ClientCreated(c) => line(&ClientNew {
            client_id: c.client_id,
            session: Session::from(&c.session),
        }),
        Reply::Client(c) => line(&Client::from(c)),
        Reply::Clients(page) => line(&Clients {
            clients: page.clients.iter().map(ClientRow::from).collect(),
            next: page.next.as_deref(),
        }),
        Reply::RevokedCount { count } => line(&RevokedCount { revoked: *count }),
        Reply::SessionIssued(s) => line(&Session::from(s)),
        Reply::TestKeyCreated(t) => line(&TestKey::from(t)),
        Reply::ApiTokenCreated(t) => line(&ApiToken::from(t)),
        Reply::Verified(v) => line(&Identity::from(v)),
        Reply::Stats(s) => line(&Counts::from(s)),
        Reply::Audit(page) => line(&AuditLog {
            entries: page.entries.iter().map(AuditRow::from).collect(),
            next: page.next.clone(),
        }),
        // The backup steps are internal to `keyward backup`, which prints its own result.
        Reply::BackupStarted { id, bytes } => line(&serde_json::json!({"id": id, "bytes": bytes})),
        Reply::BackupChunk(bytes) => line(&serde_json::json!({"bytes": bytes.len()})),
        Reply::BackupEnded => line(&serde_json::json!({})),
        Reply::ApiTokens(page) => line(&ApiTokens {
            api_tokens: page.api_tokens.iter().map(ApiTokenRow::from).collect(),
            next: page.next.as_deref(),
        }),
        Reply::ApiToken(t) => line(&ApiTokenRow::from(t)),
        Reply::ClientUpdated(c) => line(&ClientRecord::from(c)),
        Reply::Disabled { id } => line(&Disabled { disabled: *id }),
        Reply::Enabled { id } => line(&Enabled { enabled: *id }),
    }
}

/// The error body: `{"error":{"code":…,"message":…}}`.
pub fn render_error(code: &str, message: &str) -> String {
    line(&ErrorBody {
        error: ErrorDetail { code, message },
    })
}

/// `at` as RFC 3339 UTC with seconds precision, e.g. `2026-11-23T11:00:00Z`.
///
/// Times humantime cannot represent (before 1970 or after 9999) come out as
/// `<n> ms since the Unix epoch` instead of panicking: they can only come from a confused daemon,
/// and the reply should still show what it holds.
pub fn rfc3339(at: UnixMillis) -> String {
    match u64::try_from(at) {
        Ok(ms) if at <= LAST_FORMATTABLE_MS => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        _ => format!("{at} ms since the Unix epoch"),
    }
}

/// `audit`: a page, and the cursor for the one before (`null` at the start).
#[derive(Serialize)]
struct AuditLog {
    entries: Vec<AuditRow>,
    next: Option<String>,
}

/// One audit entry, times as RFC 3339.
#[derive(Serialize)]
struct AuditRow {
    at: String,
    uid: u32,
    gid: u32,
    pid: i32,
    admin_key_id: Option<Uuid>,
    action: String,
    target: Option<Uuid>,
    outcome: String,
    /// Attempts the entry stands for (refused attempts are aggregated).
    count: u64,
}

impl From<&crate::AuditEntry> for AuditRow {
    fn from(e: &crate::AuditEntry) -> Self {
        AuditRow {
            at: rfc3339(e.at),
            uid: e.uid,
            gid: e.gid,
            pid: e.pid,
            admin_key_id: e.admin_key_id,
            action: e.action.clone(),
            target: e.target,
            outcome: e.outcome.clone(),
            count: e.count,
        }
    }
}

/// One line of JSON.
fn line(value: &impl Serialize) -> String {
    // These types hold only strings, integers, UUIDs, options and string-keyed maps, which
    // serde_json always serialises.
    serde_json::to_string(value).expect("CLI JSON types always serialise")
}

/// A time as RFC 3339 UTC.
fn time(at: UnixMillis) -> String {
    rfc3339(at)
}

/// An optional time; `None` is JSON `null`.
fn maybe_time(at: Option<UnixMillis>) -> Option<String> {
    at.map(time)
}

/// Scopes as `{"photos":"write"}`.
fn scope_names(scopes: &Scopes) -> BTreeMap<&str, &'static str> {
    scopes
        .iter()
        .map(|(name, level)| (name.as_str(), level.as_str()))
        .collect()
}

/// A bare pong.
#[derive(Serialize)]
struct Pong<'a> {
    version: &'a str,
}

/// `admin-key create`.
#[derive(Serialize)]
struct AdminKeyNew<'a> {
    id: Uuid,
    label: &'a str,
    env: &'static str,
    secret: &'a str,
}

impl<'a> From<&'a AdminKeyCreated> for AdminKeyNew<'a> {
    fn from(k: &'a AdminKeyCreated) -> Self {
        AdminKeyNew {
            id: k.id,
            label: &k.label,
            env: k.env.as_str(),
            // The one place an admin key is shown: at its creation.
            secret: k.secret.expose(),
        }
    }
}

/// `admin-key list`.
#[derive(Serialize)]
struct AdminKeys<'a> {
    admin_keys: Vec<AdminKey<'a>>,
    next: Option<&'a str>,
}

/// One listed admin key.
#[derive(Serialize)]
struct AdminKey<'a> {
    id: Uuid,
    label: &'a str,
    env: &'static str,
    created_at: String,
    last_used_at: Option<String>,
    disabled: bool,
    uses: u64,
}

impl<'a> From<&'a AdminKeyInfo> for AdminKey<'a> {
    fn from(k: &'a AdminKeyInfo) -> Self {
        AdminKey {
            id: k.id,
            label: &k.label,
            env: k.env.as_str(),
            created_at: time(k.created_at),
            last_used_at: maybe_time(k.last_used_at),
            disabled: k.disabled,
            uses: k.uses,
        }
    }
}

/// `disable`.
#[derive(Serialize)]
struct Disabled {
    disabled: Uuid,
}

/// `enable`.
#[derive(Serialize)]
struct Enabled {
    enabled: Uuid,
}

/// `admin-key revoke`, `logout` and `revoke`.
#[derive(Serialize)]
struct Revoked {
    revoked: Uuid,
}

/// `client create`.
#[derive(Serialize)]
struct ClientNew<'a> {
    client_id: Uuid,
    session: Session<'a>,
}

/// `session issue`, and the session inside `client create`.
#[derive(Serialize)]
struct Session<'a> {
    id: Uuid,
    token: &'a str,
    expires_at: String,
    max_expires_at: String,
}

impl<'a> From<&'a SessionIssued> for Session<'a> {
    fn from(s: &'a SessionIssued) -> Self {
        Session {
            id: s.id,
            // Shown once, at issue.
            token: s.token.expose(),
            expires_at: time(s.expires_at),
            max_expires_at: time(s.max_expires_at),
        }
    }
}

/// `client show`.
#[derive(Serialize)]
struct Client<'a> {
    client_id: Uuid,
    label: Option<&'a str>,
    env: &'static str,
    scopes: BTreeMap<&'a str, &'static str>,
    max_sessions: Option<u32>,
    disabled: bool,
    external_id: Option<&'a str>,
    meta: &'a Meta,
    last_used_at: Option<String>,
    uses: u64,
    credentials: Vec<Credential>,
    next: Option<&'a str>,
}

impl<'a> From<&'a ClientDetails> for Client<'a> {
    fn from(c: &'a ClientDetails) -> Self {
        Client {
            client_id: c.client_id,
            label: c.label.as_deref(),
            env: c.env.as_str(),
            scopes: scope_names(&c.scopes),
            max_sessions: c.max_sessions,
            disabled: c.disabled,
            external_id: c.external_id.as_deref(),
            meta: &c.meta,
            last_used_at: maybe_time(c.last_used_at),
            uses: c.uses,
            credentials: c.credentials.iter().map(Credential::from).collect(),
            next: c.next.as_deref(),
        }
    }
}

/// One credential in `client show`.
#[derive(Serialize)]
struct Credential {
    id: Uuid,
    kind: &'static str,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    disabled: bool,
    uses: u64,
}

impl From<&CredentialInfo> for Credential {
    fn from(c: &CredentialInfo) -> Self {
        Credential {
            id: c.id,
            kind: c.kind.as_str(),
            created_at: time(c.created_at),
            last_used_at: maybe_time(c.last_used_at),
            expires_at: maybe_time(c.expires_at),
            disabled: c.disabled,
            uses: c.uses,
        }
    }
}

/// `client list`.
#[derive(Serialize)]
struct Clients<'a> {
    clients: Vec<ClientRow<'a>>,
    next: Option<&'a str>,
}

/// One listed client.
#[derive(Serialize)]
struct ClientRow<'a> {
    client_id: Uuid,
    label: Option<&'a str>,
    disabled: bool,
    external_id: Option<&'a str>,
    meta: &'a Meta,
    last_used_at: Option<String>,
    uses: u64,
}

impl<'a> From<&'a ClientSummary> for ClientRow<'a> {
    fn from(c: &'a ClientSummary) -> Self {
        ClientRow {
            client_id: c.client_id,
            label: c.label.as_deref(),
            disabled: c.disabled,
            external_id: c.external_id.as_deref(),
            meta: &c.meta,
            last_used_at: maybe_time(c.last_used_at),
            uses: c.uses,
        }
    }
}

/// `client revoke-sessions` and `client delete`.
#[derive(Serialize)]
struct RevokedCount {
    revoked: u64,
}

/// `test-key create`.
#[derive(Serialize)]
struct TestKey<'a> {
    id: Uuid,
    token: &'a str,
    /// Always `null`: test keys never expire. Kept so every created credential has the field.
    expires_at: Option<String>,
}

impl<'a> From<&'a TestKeyCreated> for TestKey<'a> {
    fn from(t: &'a TestKeyCreated) -> Self {
        TestKey {
            id: t.id,
            // Shown once, at creation.
            token: t.token.expose(),
            expires_at: None,
        }
    }
}

/// `api-token create`.
#[derive(Serialize)]
struct ApiToken<'a> {
    id: Uuid,
    principal_id: Uuid,
    token: &'a str,
    expires_at: Option<String>,
}

impl<'a> From<&'a ApiTokenCreated> for ApiToken<'a> {
    fn from(t: &'a ApiTokenCreated) -> Self {
        ApiToken {
            id: t.id,
            principal_id: t.principal_id,
            // Shown once, at creation.
            token: t.token.expose(),
            expires_at: maybe_time(t.expires_at),
        }
    }
}

/// `verify`.
#[derive(Serialize)]
struct Identity<'a> {
    principal_id: Uuid,
    kind: &'static str,
    env: &'static str,
    scopes: BTreeMap<&'a str, &'static str>,
    expires_at: Option<String>,
    credential_id: Uuid,
    external_id: Option<&'a str>,
    meta: &'a Meta,
}

impl<'a> From<&'a Verified> for Identity<'a> {
    fn from(v: &'a Verified) -> Self {
        Identity {
            principal_id: v.principal_id,
            kind: v.kind.as_str(),
            env: v.env.as_str(),
            scopes: scope_names(&v.scopes),
            expires_at: maybe_time(v.expires_at),
            credential_id: v.credential_id,
            external_id: v.external_id.as_deref(),
            meta: &v.meta,
        }
    }
}

/// `stats`. Its own type, so a counter added to the protocol appears here only on purpose.
#[derive(Serialize)]
struct Counts {
    clients: u64,
    live_sessions: u64,
    test_keys: u64,
    api_tokens: u64,
    admin_keys: u64,
    sweeps_run: u64,
    credentials_swept: u64,
    connections_open: u64,
    connections_total: u64,
    connections_refused: u64,
    audit_dropped: u64,
    requests: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    uptime_secs: u64,
}

impl From<&Stats> for Counts {
    fn from(s: &Stats) -> Self {
        Counts {
            clients: s.clients,
            live_sessions: s.live_sessions,
            test_keys: s.test_keys,
            api_tokens: s.api_tokens,
            admin_keys: s.admin_keys,
            sweeps_run: s.sweeps_run,
            credentials_swept: s.credentials_swept,
            connections_open: s.connections_open,
            connections_total: s.connections_total,
            connections_refused: s.connections_refused,
            audit_dropped: s.audit_dropped,
            requests: s.requests.clone(),
            errors: s.errors.clone(),
            uptime_secs: s.uptime_secs,
        }
    }
}

/// `api-token list`.
#[derive(Serialize)]
struct ApiTokens<'a> {
    api_tokens: Vec<ApiTokenRow<'a>>,
    next: Option<&'a str>,
}

/// `api-token show` and `api-token update`, and one listed API token.
#[derive(Serialize)]
struct ApiTokenRow<'a> {
    principal_id: Uuid,
    id: Option<Uuid>,
    name: &'a str,
    env: &'static str,
    scopes: BTreeMap<&'a str, &'static str>,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    disabled: bool,
    external_id: Option<&'a str>,
    meta: &'a Meta,
    uses: u64,
}

impl<'a> From<&'a ApiTokenInfo> for ApiTokenRow<'a> {
    fn from(t: &'a ApiTokenInfo) -> Self {
        ApiTokenRow {
            principal_id: t.principal_id,
            id: t.id,
            name: &t.name,
            env: t.env.as_str(),
            scopes: scope_names(&t.scopes),
            created_at: time(t.created_at),
            last_used_at: maybe_time(t.last_used_at),
            expires_at: maybe_time(t.expires_at),
            disabled: t.disabled,
            external_id: t.external_id.as_deref(),
            meta: &t.meta,
            uses: t.uses,
        }
    }
}

/// `client update`: the client as `client show` has it, without its credentials.
#[derive(Serialize)]
struct ClientRecord<'a> {
    client_id: Uuid,
    label: Option<&'a str>,
    env: &'static str,
    scopes: BTreeMap<&'a str, &'static str>,
    max_sessions: Option<u32>,
    external_id: Option<&'a str>,
    meta: &'a Meta,
}

impl<'a> From<&'a ClientSettings> for ClientRecord<'a> {
    fn from(c: &'a ClientSettings) -> Self {
        ClientRecord {
            client_id: c.client_id,
            label: c.label.as_deref(),
            env: c.env.as_str(),
            scopes: scope_names(&c.scopes),
            max_sessions: c.max_sessions,
            external_id: c.external_id.as_deref(),
            meta: &c.meta,
        }
    }
}

/// The error wrapper.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// The error itself.
#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}
