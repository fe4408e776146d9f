//! The `--json` shapes: one object per reply or error, each printed on one line.
//!
//! These are the CLI's own types, not the protocol's serde forms: the CLI promises lowercase
//! names (`live`, `write`, `session`) and RFC 3339 times, while the wire carries enum variants
//! and Unix milliseconds, and a change to one must not silently change the other. Fields are
//! declared in the order the contract lists them, and serialised straight to text so that order
//! is kept.

use crate::failure::Failure;
use crate::when;
use keyward_client::{
    AdminKeyCreated, AdminKeyInfo, ApiTokenCreated, ClientDetails, ClientSummary, CredentialInfo,
    Reply, Scopes, SessionIssued, Stats, TestKeyCreated, UnixMillis, Verified,
};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// `reply` as its one-line JSON object.
pub(crate) fn render_reply(reply: &Reply) -> String {
    match reply {
        Reply::Pong { version } => line(&Pong { version }),
        Reply::AdminKeyCreated(k) => line(&AdminKeyNew::from(k)),
        Reply::AdminKeys(keys) => line(&AdminKeys {
            admin_keys: keys.iter().map(AdminKey::from).collect(),
        }),
        Reply::Revoked { id } => line(&Revoked { revoked: *id }),
        Reply::ClientCreated(c) => line(&ClientNew {
            client_id: c.client_id,
            session: Session::from(&c.session),
        }),
        Reply::Client(c) => line(&Client::from(c)),
        Reply::Clients(clients) => line(&Clients {
            clients: clients.iter().map(ClientRow::from).collect(),
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
        // The backup steps are internal to `keyward backup`, which prints `render_backup`.
        Reply::BackupStarted { id, bytes } => line(&serde_json::json!({"id": id, "bytes": bytes})),
        Reply::BackupChunk(bytes) => line(&serde_json::json!({"bytes": bytes.len()})),
        Reply::BackupEnded => line(&serde_json::json!({})),
    }
}

/// `ping`'s answer: `{"version","socket"}`.
pub(crate) fn render_ping(version: &str, socket: &std::path::Path) -> String {
    line(&Ping {
        version,
        socket: socket.display().to_string(),
    })
}

/// `keyward backup`'s result: `{"file","bytes","sha256"}`.
pub(crate) fn render_backup(done: &crate::backup::BackupDone) -> String {
    line(&serde_json::json!({
        "file": done.file.display().to_string(),
        "bytes": done.bytes,
        "sha256": done.sha256,
    }))
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

impl From<&keyward_client::AuditEntry> for AuditRow {
    fn from(e: &keyward_client::AuditEntry) -> Self {
        AuditRow {
            at: when::rfc3339(e.at),
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

/// `failure` as `{"error":{"code":…,"message":…}}`.
pub(crate) fn render_failure(failure: &Failure) -> String {
    line(&ErrorBody {
        error: ErrorDetail {
            code: failure.code(),
            message: failure.message(),
        },
    })
}

/// One line of JSON.
fn line(value: &impl Serialize) -> String {
    // These types hold only strings, integers, UUIDs, options and string-keyed maps, which
    // serde_json always serialises.
    serde_json::to_string(value).expect("CLI JSON types always serialise")
}

/// A time as RFC 3339 UTC.
fn time(at: UnixMillis) -> String {
    when::rfc3339(at)
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

/// `ping`: the version and the socket used.
#[derive(Serialize)]
struct Ping<'a> {
    version: &'a str,
    socket: String,
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
}

/// One listed admin key.
#[derive(Serialize)]
struct AdminKey<'a> {
    id: Uuid,
    label: &'a str,
    env: &'static str,
    created_at: String,
    last_used_at: Option<String>,
}

impl<'a> From<&'a AdminKeyInfo> for AdminKey<'a> {
    fn from(k: &'a AdminKeyInfo) -> Self {
        AdminKey {
            id: k.id,
            label: &k.label,
            env: k.env.as_str(),
            created_at: time(k.created_at),
            last_used_at: maybe_time(k.last_used_at),
        }
    }
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
    credentials: Vec<Credential>,
}

impl<'a> From<&'a ClientDetails> for Client<'a> {
    fn from(c: &'a ClientDetails) -> Self {
        Client {
            client_id: c.client_id,
            label: c.label.as_deref(),
            env: c.env.as_str(),
            scopes: scope_names(&c.scopes),
            max_sessions: c.max_sessions,
            credentials: c.credentials.iter().map(Credential::from).collect(),
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
}

impl From<&CredentialInfo> for Credential {
    fn from(c: &CredentialInfo) -> Self {
        Credential {
            id: c.id,
            kind: c.kind.as_str(),
            created_at: time(c.created_at),
            last_used_at: maybe_time(c.last_used_at),
            expires_at: maybe_time(c.expires_at),
        }
    }
}

/// `client list`.
#[derive(Serialize)]
struct Clients<'a> {
    clients: Vec<ClientRow<'a>>,
}

/// One listed client.
#[derive(Serialize)]
struct ClientRow<'a> {
    client_id: Uuid,
    label: Option<&'a str>,
}

impl<'a> From<&'a ClientSummary> for ClientRow<'a> {
    fn from(c: &'a ClientSummary) -> Self {
        ClientRow {
            client_id: c.client_id,
            label: c.label.as_deref(),
        }
    }
}

/// `client revoke-sessions`.
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

/// The error wrapper.
#[derive(Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

/// The error itself.
#[derive(Serialize)]
struct ErrorDetail {
    code: &'static str,
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_client::{CredentialKind, Env, Error, ErrorCode, Level, Secret, WireError};
    use serde_json::{json, Value};

    /// 2026-11-23T11:00:00Z.
    const T: UnixMillis = 1_795_431_600_000;
    const T_TEXT: &str = "2026-11-23T11:00:00Z";
    const HOUR: UnixMillis = 3_600_000;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn parsed(reply: &Reply) -> Value {
        let text = render_reply(reply);
        assert!(!text.contains('\n'), "one line: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn session(n: u128) -> SessionIssued {
        SessionIssued {
            id: id(n),
            token: Secret::new("kw_ses_live_tok"),
            expires_at: T,
            max_expires_at: T + 24 * HOUR,
        }
    }

    /// `ping` and the revocations.
    #[test]
    fn small_shapes() {
        let pong = Reply::Pong {
            version: "0.1.0".into(),
        };
        assert_eq!(parsed(&pong), json!({"version": "0.1.0"}));
        let ping: Value =
            serde_json::from_str(&render_ping("0.1.0", std::path::Path::new("/s"))).unwrap();
        assert_eq!(ping, json!({"version": "0.1.0", "socket": "/s"}));
        assert_eq!(
            parsed(&Reply::Revoked { id: id(1) }),
            json!({"revoked": id(1).to_string()})
        );
        assert_eq!(
            parsed(&Reply::RevokedCount { count: 3 }),
            json!({"revoked": 3})
        );
    }

    /// Admin keys: created with their secret, listed without.
    #[test]
    fn admin_key_shapes() {
        let created = Reply::AdminKeyCreated(AdminKeyCreated {
            id: id(1),
            label: "ci".into(),
            env: Env::Test,
            secret: Secret::new("kw_adm_test_s"),
        });
        assert_eq!(
            parsed(&created),
            json!({"id": id(1), "label": "ci", "env": "test", "secret": "kw_adm_test_s"})
        );
        let listed = Reply::AdminKeys(vec![AdminKeyInfo {
            id: id(2),
            label: "ops".into(),
            env: Env::Live,
            created_at: T,
            last_used_at: None,
        }]);
        assert_eq!(
            parsed(&listed),
            json!({"admin_keys": [{"id": id(2), "label": "ops", "env": "live",
                "created_at": T_TEXT, "last_used_at": null}]})
        );
    }

    /// Clients: created with a session, shown in full, listed briefly.
    #[test]
    fn client_shapes() {
        let created = Reply::ClientCreated(keyward_client::ClientCreated {
            client_id: id(1),
            session: session(2),
        });
        assert_eq!(
            parsed(&created),
            json!({"client_id": id(1), "session": {"id": id(2), "token": "kw_ses_live_tok",
                "expires_at": T_TEXT, "max_expires_at": "2026-11-24T11:00:00Z"}})
        );
        let shown = Reply::Client(ClientDetails {
            client_id: id(1),
            label: None,
            env: Env::Live,
            scopes: Scopes::from([
                ("photos".to_owned(), Level::Write),
                ("music".to_owned(), Level::Read),
            ]),
            max_sessions: Some(5),
            credentials: vec![
                CredentialInfo {
                    id: id(3),
                    kind: CredentialKind::Session,
                    created_at: T,
                    last_used_at: Some(T + HOUR),
                    expires_at: Some(T + 2 * HOUR),
                },
                CredentialInfo {
                    id: id(4),
                    kind: CredentialKind::TestKey,
                    created_at: T,
                    last_used_at: None,
                    expires_at: None,
                },
            ],
        });
        assert_eq!(
            parsed(&shown),
            json!({"client_id": id(1), "label": null, "env": "live",
                "scopes": {"photos": "write", "music": "read"}, "max_sessions": 5,
                "credentials": [
                    {"id": id(3), "kind": "session", "created_at": T_TEXT,
                     "last_used_at": "2026-11-23T12:00:00Z", "expires_at": "2026-11-23T13:00:00Z"},
                    {"id": id(4), "kind": "test_key", "created_at": T_TEXT,
                     "last_used_at": null, "expires_at": null}]})
        );
        let listed = Reply::Clients(vec![
            ClientSummary {
                client_id: id(1),
                label: Some("phone".into()),
            },
            ClientSummary {
                client_id: id(2),
                label: None,
            },
        ]);
        assert_eq!(
            parsed(&listed),
            json!({"clients": [{"client_id": id(1), "label": "phone"},
                {"client_id": id(2), "label": null}]})
        );
    }

    /// Sessions, test keys and API tokens carry their token and expiry.
    #[test]
    fn credential_shapes() {
        assert_eq!(
            parsed(&Reply::SessionIssued(session(2))),
            json!({"id": id(2), "token": "kw_ses_live_tok", "expires_at": T_TEXT,
                "max_expires_at": "2026-11-24T11:00:00Z"})
        );
        let test_key = Reply::TestKeyCreated(TestKeyCreated {
            id: id(3),
            token: Secret::new("kw_tst_test_k"),
        });
        assert_eq!(
            parsed(&test_key),
            json!({"id": id(3), "token": "kw_tst_test_k", "expires_at": null})
        );
        let mut api = ApiTokenCreated {
            id: id(4),
            principal_id: id(5),
            token: Secret::new("kw_api_live_a"),
            expires_at: Some(T),
        };
        assert_eq!(
            parsed(&Reply::ApiTokenCreated(api.clone())),
            json!({"id": id(4), "principal_id": id(5), "token": "kw_api_live_a",
                "expires_at": T_TEXT})
        );
        api.expires_at = None;
        assert_eq!(
            parsed(&Reply::ApiTokenCreated(api))["expires_at"],
            Value::Null
        );
    }

    /// `verify` names kind, env and levels in lowercase.
    #[test]
    fn verify_shape() {
        for (kind, name) in [
            (CredentialKind::Session, "session"),
            (CredentialKind::TestKey, "test_key"),
            (CredentialKind::ApiToken, "api_token"),
            (CredentialKind::AdminKey, "admin_key"),
        ] {
            let v = Reply::Verified(Verified {
                principal_id: id(1),
                kind,
                env: Env::Live,
                scopes: Scopes::from([("photos".to_owned(), Level::Admin)]),
                expires_at: None,
                credential_id: id(2),
            });
            assert_eq!(
                parsed(&v),
                json!({"principal_id": id(1), "kind": name, "env": "live",
                    "scopes": {"photos": "admin"}, "expires_at": null, "credential_id": id(2)})
            );
        }
    }

    /// `stats` is all numbers, in the contract's order, then the runtime counters.
    #[test]
    fn stats_shape() {
        let stats = Reply::Stats(Stats {
            clients: 1,
            live_sessions: 2,
            test_keys: 3,
            api_tokens: 4,
            admin_keys: 5,
            sweeps_run: 6,
            credentials_swept: 7,
            connections_open: 8,
            connections_total: 9,
            connections_refused: 10,
            audit_dropped: 14,
            requests: [("verify".to_owned(), 11)].into(),
            errors: [("NOT_FOUND".to_owned(), 12)].into(),
            uptime_secs: 13,
        });
        assert_eq!(
            render_reply(&stats),
            r#"{"clients":1,"live_sessions":2,"test_keys":3,"api_tokens":4,"admin_keys":5,"sweeps_run":6,"credentials_swept":7,"connections_open":8,"connections_total":9,"connections_refused":10,"audit_dropped":14,"requests":{"verify":11},"errors":{"NOT_FOUND":12},"uptime_secs":13}"#
        );
    }

    /// An audit page carries each entry's count and the cursor for the page before, `null`
    /// at the start.
    #[test]
    fn audit_page_shape() {
        let entry = keyward_client::AuditEntry {
            at: 0,
            uid: 65534,
            gid: 65534,
            pid: 7,
            admin_key_id: None,
            action: "admin_key_create".into(),
            target: None,
            outcome: "FORBIDDEN".into(),
            count: 42,
        };
        for next in [Some("00ff".to_owned()), None] {
            let page = Reply::Audit(keyward_client::AuditPage {
                entries: vec![entry.clone()],
                next: next.clone(),
            });
            let v = parsed(&page);
            assert_eq!(v["entries"][0]["count"], 42);
            assert_eq!(v["next"], json!(next));
        }
    }

    /// Errors carry the daemon's code, USAGE or UNREACHABLE, and a message.
    #[test]
    fn error_shapes() {
        let daemon = Failure::Client(Error::Daemon(WireError::new(
            ErrorCode::CredentialInvalid,
            "revoked",
        )));
        assert_eq!(
            render_failure(&daemon),
            r#"{"error":{"code":"CREDENTIAL_INVALID","message":"revoked"}}"#
        );
        let usage = Failure::Usage(crate::secrets::NEEDS_ADMIN_KEY.to_owned());
        let value: Value = serde_json::from_str(&render_failure(&usage)).unwrap();
        assert_eq!(
            value,
            json!({"error": {"code": "USAGE", "message":
                "this command needs an admin key: set KEYWARD_ADMIN_KEY or pass --admin-key-file PATH"}})
        );
        let unreachable = Failure::Client(Error::Protocol("closed".into()));
        let value: Value = serde_json::from_str(&render_failure(&unreachable)).unwrap();
        assert_eq!(value["error"]["code"], "UNREACHABLE");
    }
}
