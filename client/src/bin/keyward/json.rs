//! The `--json` shapes: one object per reply or error, each printed on one line.
//!
//! A reply's shape is `keyward_protocol::json`, shared with the daemon's HTTP API so that both
//! keep one contract; this file adds what only the CLI prints (`ping`'s socket, `backup`'s
//! file, and its own failure codes) and pins the contract in its tests.

use crate::failure::Failure;
use keyward_client::Reply;
use serde::Serialize;

/// `reply` as its one-line JSON object.
pub(crate) fn render_reply(reply: &Reply) -> String {
    keyward_client::json::render_reply(reply)
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

/// `failure` as `{"error":{"code":…,"message":…}}`.
pub(crate) fn render_failure(failure: &Failure) -> String {
    keyward_client::json::render_error(failure.code(), &failure.message())
}

/// One line of JSON.
fn line(value: &impl Serialize) -> String {
    // These types hold only strings, which serde_json always serialises.
    serde_json::to_string(value).expect("CLI JSON types always serialise")
}

/// `ping`: the version and the socket used.
#[derive(Serialize)]
struct Ping<'a> {
    version: &'a str,
    socket: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_client::{
        AdminKeyCreated, AdminKeyInfo, ApiTokenCreated, ClientDetails, ClientSummary,
        CredentialInfo, CredentialKind, Env, Error, ErrorCode, Level, Scopes, Secret,
        SessionIssued, Stats, TestKeyCreated, UnixMillis, Verified, WireError,
    };
    use serde_json::{json, Value};
    use uuid::Uuid;

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
        let listed = Reply::AdminKeys(keyward_client::AdminKeyPage {
            admin_keys: vec![AdminKeyInfo {
                id: id(2),
                label: "ops".into(),
                env: Env::Live,
                created_at: T,
                last_used_at: None,
                disabled: false,
                uses: 3,
            }],
            next: None,
        });
        assert_eq!(
            parsed(&listed),
            json!({"admin_keys": [{"id": id(2), "label": "ops", "env": "live",
                "created_at": T_TEXT, "last_used_at": null, "disabled": false, "uses": 3}],
                "next": null})
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
                    disabled: false,
                    uses: 4,
                },
                CredentialInfo {
                    id: id(4),
                    kind: CredentialKind::TestKey,
                    created_at: T,
                    last_used_at: None,
                    expires_at: None,
                    disabled: false,
                    uses: 0,
                },
            ],
            next: None,
            disabled: false,
            external_id: Some("user-42".into()),
            meta: [("plan".to_owned(), "pro".to_owned())].into(),
            last_used_at: Some(T + HOUR),
            uses: 6,
        });
        assert_eq!(
            parsed(&shown),
            json!({"client_id": id(1), "label": null, "env": "live",
                "scopes": {"photos": "write", "music": "read"}, "max_sessions": 5,
                "disabled": false, "external_id": "user-42", "meta": {"plan": "pro"},
                "last_used_at": "2026-11-23T12:00:00Z", "uses": 6,
                "credentials": [
                    {"id": id(3), "kind": "session", "created_at": T_TEXT,
                     "last_used_at": "2026-11-23T12:00:00Z", "expires_at": "2026-11-23T13:00:00Z",
                     "disabled": false, "uses": 4},
                    {"id": id(4), "kind": "test_key", "created_at": T_TEXT,
                     "last_used_at": null, "expires_at": null, "disabled": false, "uses": 0}],
                "next": null})
        );
        let listed = Reply::Clients(keyward_client::ClientPage {
            clients: vec![
                ClientSummary {
                    client_id: id(1),
                    label: Some("phone".into()),
                    disabled: true,
                    external_id: None,
                    meta: Default::default(),
                    last_used_at: Some(T),
                    uses: 2,
                },
                ClientSummary {
                    client_id: id(2),
                    label: None,
                    disabled: false,
                    external_id: None,
                    meta: Default::default(),
                    last_used_at: None,
                    uses: 0,
                },
            ],
            next: None,
        });
        assert_eq!(
            parsed(&listed),
            json!({"clients": [
                {"client_id": id(1), "label": "phone", "disabled": true,
                 "external_id": null, "meta": {}, "last_used_at": T_TEXT, "uses": 2},
                {"client_id": id(2), "label": null, "disabled": false,
                 "external_id": null, "meta": {}, "last_used_at": null, "uses": 0}], "next": null})
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
                external_id: None,
                meta: Default::default(),
            });
            assert_eq!(
                parsed(&v),
                json!({"principal_id": id(1), "kind": name, "env": "live",
                    "scopes": {"photos": "admin"}, "expires_at": null, "credential_id": id(2),
                    "external_id": null, "meta": {}})
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
