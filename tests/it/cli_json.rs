//! The `keyward --json` contract: each command's output has exactly the documented shape.
//!
//! One test per command, each on its own daemon with the state it needs, made through the CLI.

use crate::cli::{fails, is_rfc3339, keys, ok, set};
use crate::support::Daemon;
use keyward_client::Secret;
use serde_json::Value;
use std::collections::BTreeSet;

/// A daemon and a live admin key made with `keyward admin-key create`.
struct Admin {
    daemon: Daemon,
    key: Secret,
    /// The key's id.
    id: String,
    /// What `admin-key create --json` printed.
    created: Value,
}

impl Admin {
    fn start() -> Admin {
        let daemon = Daemon::start();
        let created = ok(
            &daemon,
            &["admin-key", "create", "--label", "backend", "--json"],
            None,
            None,
        );
        Admin {
            key: Secret::new(created["secret"].as_str().unwrap()),
            id: created["id"].as_str().unwrap().to_owned(),
            daemon,
            created,
        }
    }

    /// Runs the CLI with the admin key; asserts exit 0 and one JSON object.
    fn ok(&self, args: &[&str]) -> Value {
        ok(&self.daemon, args, Some(&self.key), None)
    }

    /// Runs the CLI as host admin, without the key; asserts exit 0 and one JSON object.
    fn host(&self, args: &[&str], stdin: Option<&str>) -> Value {
        ok(&self.daemon, args, None, stdin)
    }

    /// `client create` for alice: at most 3 sessions, `photos=write`.
    fn create_client(&self) -> Value {
        self.ok(&[
            "client",
            "create",
            "--label",
            "alice",
            "--max-sessions",
            "3",
            "--scope",
            "photos=write",
            "--json",
        ])
    }

    /// `client create` as above; the new client's id.
    fn create_client_id(&self) -> String {
        self.create_client()["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A client (its id and first session's token) and a second session's token.
    fn client_with_two_sessions(&self) -> (String, String, String) {
        let v = self.create_client();
        let client = v["client_id"].as_str().unwrap().to_owned();
        let session = v["session"]["token"].as_str().unwrap().to_owned();
        let v = self.ok(&["session", "issue", &client, "--json"]);
        (client, session, v["token"].as_str().unwrap().to_owned())
    }

    /// `api-token create` for an importer with `cat=read`, expiring in an hour.
    fn create_api_token(&self) -> Value {
        self.ok(&[
            "api-token",
            "create",
            "--name",
            "importer",
            "--scope",
            "cat=read",
            "--expires-in",
            "1h",
            "--json",
        ])
    }
}

#[test]
fn json_ping() {
    let daemon = Daemon::start();
    let v = ok(&daemon, &["ping", "--json"], None, None);
    assert_eq!(keys(&v), set(&["version", "socket"]));
}

#[test]
fn json_admin_key_create() {
    let admin = Admin::start();
    let v = &admin.created;
    assert_eq!(keys(v), set(&["id", "label", "env", "secret"]));
    assert_eq!(
        (v["label"].as_str(), v["env"].as_str()),
        (Some("backend"), Some("live"))
    );
    let v = admin.host(
        &[
            "admin-key",
            "create",
            "--label",
            "t",
            "--env",
            "test",
            "--json",
        ],
        None,
    );
    assert_eq!(v["env"], "test");
}

#[test]
fn json_admin_key_list() {
    let admin = Admin::start();
    let v = admin.host(&["admin-key", "list", "--json"], None);
    assert_eq!(keys(&v), set(&["admin_keys", "next"]));
    assert!(v["next"].is_null());
    let first = &v["admin_keys"][0];
    assert_eq!(
        keys(first),
        set(&[
            "id",
            "label",
            "env",
            "created_at",
            "last_used_at",
            "disabled",
            "uses"
        ])
    );
    assert!(is_rfc3339(&first["created_at"]));
}

#[test]
fn json_admin_key_revoke() {
    let admin = Admin::start();
    let v = admin.host(&["admin-key", "revoke", &admin.id, "--json"], None);
    assert_eq!(v["revoked"].as_str(), Some(admin.id.as_str()));
    fails(
        &admin.daemon,
        &["client", "list", "--json"],
        Some(&admin.key),
        1,
        "CREDENTIAL_INVALID",
    );
}

#[test]
fn json_client_create() {
    let admin = Admin::start();
    let v = admin.create_client();
    assert_eq!(keys(&v), set(&["client_id", "session"]));
    assert_eq!(
        keys(&v["session"]),
        set(&["id", "token", "expires_at", "max_expires_at"])
    );
    assert!(is_rfc3339(&v["session"]["expires_at"]) && is_rfc3339(&v["session"]["max_expires_at"]));
}

#[test]
fn json_session_issue() {
    let admin = Admin::start();
    let client = admin.create_client_id();
    let v = admin.ok(&["session", "issue", &client, "--json"]);
    assert_eq!(
        keys(&v),
        set(&["id", "token", "expires_at", "max_expires_at"])
    );
}

#[test]
fn json_test_key_create() {
    let admin = Admin::start();
    let client = admin.create_client_id();
    let v = admin.ok(&["test-key", "create", &client, "--json"]);
    assert_eq!(keys(&v), set(&["id", "token", "expires_at"]));
    assert!(v["expires_at"].is_null());
}

#[test]
fn json_client_show() {
    let admin = Admin::start();
    let (client, _, _) = admin.client_with_two_sessions();
    admin.ok(&["test-key", "create", &client, "--json"]);
    let v = admin.ok(&["client", "show", &client, "--json"]);
    assert_eq!(
        keys(&v),
        set(&[
            "client_id",
            "label",
            "env",
            "scopes",
            "max_sessions",
            "disabled",
            "last_used_at",
            "uses",
            "credentials",
            "next",
            "external_id",
            "meta"
        ])
    );
    assert_eq!(v["scopes"], serde_json::json!({"photos": "write"}));
    assert_eq!(v["max_sessions"], 3);
    let creds = v["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 3);
    for c in creds {
        assert_eq!(
            keys(c),
            set(&[
                "id",
                "kind",
                "created_at",
                "last_used_at",
                "expires_at",
                "disabled",
                "uses"
            ])
        );
    }
    let kinds: BTreeSet<&str> = creds.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, set(&["session", "test_key"]));
}

#[test]
fn json_client_list() {
    let admin = Admin::start();
    admin.create_client();
    let v = admin.ok(&["client", "list", "--json"]);
    assert_eq!(keys(&v), set(&["clients", "next"]));
    assert_eq!(
        keys(&v["clients"][0]),
        set(&[
            "client_id",
            "label",
            "disabled",
            "external_id",
            "meta",
            "last_used_at",
            "uses"
        ])
    );
    assert_eq!(v["clients"][0]["disabled"], false);
    assert_eq!(v["clients"][0]["label"], "alice");
}

#[test]
fn json_api_token_create() {
    let admin = Admin::start();
    let v = admin.create_api_token();
    assert_eq!(
        keys(&v),
        set(&["id", "principal_id", "token", "expires_at"])
    );
    assert!(is_rfc3339(&v["expires_at"]));
    let v = admin.ok(&["api-token", "create", "--name", "forever", "--json"]);
    assert!(v["expires_at"].is_null());
}

#[test]
fn json_verify() {
    let admin = Admin::start();
    let v = admin.create_client();
    let client = v["client_id"].as_str().unwrap();
    let session = v["session"]["token"].as_str().unwrap();
    let api = admin.create_api_token()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = admin.host(
        &[
            "verify", session, "--scope", "photos", "--level", "write", "--json",
        ],
        None,
    );
    assert_eq!(
        keys(&v),
        set(&[
            "principal_id",
            "kind",
            "env",
            "scopes",
            "expires_at",
            "credential_id",
            "external_id",
            "meta"
        ])
    );
    assert_eq!(
        (v["kind"].as_str(), v["env"].as_str()),
        (Some("session"), Some("live"))
    );
    assert_eq!(v["principal_id"].as_str(), Some(client));
    let v = admin.host(&["verify", "-", "--json"], Some(&format!("{api}\n")));
    assert_eq!(v["kind"], "api_token");
    assert_eq!(v["scopes"], serde_json::json!({"cat": "read"}));
    let v = admin.host(
        &[
            "verify",
            admin.key.expose(),
            "--kind",
            "admin_key",
            "--json",
        ],
        None,
    );
    assert_eq!(v["kind"], "admin_key");
    assert!(v["expires_at"].is_null());
}

#[test]
fn json_logout() {
    let admin = Admin::start();
    let (_, _, second) = admin.client_with_two_sessions();
    let v = admin.host(&["logout", "-", "--json"], Some(&second));
    assert_eq!(keys(&v), set(&["revoked"]));
}

#[test]
fn json_revoke() {
    let admin = Admin::start();
    let client = admin.create_client_id();
    let v = admin.ok(&["test-key", "create", &client, "--json"]);
    let test_key_id = v["id"].as_str().unwrap();
    let v = admin.ok(&["revoke", test_key_id, "--json"]);
    assert_eq!(v["revoked"].as_str(), Some(test_key_id));
}

#[test]
fn json_client_revoke_sessions() {
    let admin = Admin::start();
    let (client, _, second) = admin.client_with_two_sessions();
    admin.host(&["logout", "-", "--json"], Some(&second));
    let v = admin.ok(&["client", "revoke-sessions", &client, "--json"]);
    assert_eq!(
        v["revoked"], 1,
        "the first session; the second was logged out"
    );
}

#[test]
fn json_disable() {
    let admin = Admin::start();
    let client = admin.create_client_id();
    let v = admin.ok(&["disable", &client, "--json"]);
    assert_eq!(v, serde_json::json!({"disabled": client}));
    let v = admin.ok(&["client", "list", "--json"]);
    assert_eq!(v["clients"][0]["disabled"], true);
    let v = admin.ok(&["client", "show", &client, "--json"]);
    assert_eq!(v["disabled"], true);
}

#[test]
fn json_enable() {
    let admin = Admin::start();
    let client = admin.create_client_id();
    admin.ok(&["disable", &client, "--json"]);
    let v = admin.ok(&["enable", &client, "--json"]);
    assert_eq!(v, serde_json::json!({"enabled": client}));
    let v = admin.ok(&["client", "show", &client, "--json"]);
    assert_eq!(v["disabled"], false);
}

#[test]
fn json_client_delete() {
    let admin = Admin::start();
    let (client, first, second) = admin.client_with_two_sessions();
    let v = admin.ok(&["test-key", "create", &client, "--json"]);
    let test_key = v["token"].as_str().unwrap().to_owned();
    let v = admin.ok(&["client", "delete", &client, "--json"]);
    assert_eq!(
        v,
        serde_json::json!({"revoked": 3}),
        "two sessions and the test key"
    );
    for token in [&first, &second, &test_key] {
        fails(
            &admin.daemon,
            &["verify", token, "--json"],
            None,
            1,
            "CREDENTIAL_INVALID",
        );
    }
    for args in [
        &["client", "show", &client, "--json"][..],
        &["client", "delete", &client, "--json"],
        &["session", "issue", &client, "--json"],
    ] {
        fails(&admin.daemon, args, Some(&admin.key), 1, "NOT_FOUND");
    }
    let v = admin.host(&["audit", "--action", "client_delete", "--json"], None);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{v}");
    assert_eq!(entries[0]["target"], client.as_str());
    assert_eq!(entries[0]["outcome"], "ok");
    assert_eq!(entries[1]["outcome"], "NOT_FOUND");
}

#[test]
fn json_stats() {
    let admin = Admin::start();
    admin.host(&["admin-key", "create", "--label", "t", "--json"], None);
    let client = admin.create_client_id();
    admin.ok(&["client", "revoke-sessions", &client, "--json"]);
    admin.create_api_token();
    admin.ok(&["api-token", "create", "--name", "forever", "--json"]);
    let v = admin.host(&["stats", "--json"], None);
    assert_eq!(
        keys(&v),
        set(&[
            "clients",
            "live_sessions",
            "test_keys",
            "api_tokens",
            "admin_keys",
            "sweeps_run",
            "credentials_swept",
            "connections_open",
            "connections_total",
            "connections_refused",
            "audit_dropped",
            "requests",
            "errors",
            "uptime_secs"
        ])
    );
    assert_eq!(
        (v["clients"].as_u64(), v["live_sessions"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        (v["api_tokens"].as_u64(), v["admin_keys"].as_u64()),
        (Some(2), Some(2))
    );
}
