//! The HTTP/JSON API on `http.sock`, against the real daemon: every route answers what the
//! CLI's `--json` prints for the same operation, errors carry the issue's statuses and headers,
//! and the socket keeps the frame socket's rules (peer uid, shared connection slots, limits).
//!
//! Requests are written by hand on a plain `UnixStream`; the daemon's side is hyper.

use crate::support::{binary, json, require_root, wait_for, Daemon, NOBODY};
use keyward_client::Secret;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {:?}", self.status, self.body))
    }

    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The daemon's HTTP socket.
pub(crate) fn http_sock(daemon: &Daemon) -> PathBuf {
    daemon.socket.with_file_name("http.sock")
}

/// The raw request text.
pub(crate) fn request_text(
    method: &str,
    path: &str,
    key: Option<&Secret>,
    body: Option<&str>,
) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: keyward\r\n");
    if let Some(key) = key {
        text += &format!("Authorization: Bearer {}\r\n", key.expose());
    }
    if let Some(body) = body {
        text += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    } else {
        text += "\r\n";
    }
    text
}

/// Reads one response off `stream` (the daemon always sends `Content-Length`).
pub(crate) fn read_reply(stream: &mut UnixStream) -> Reply {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read the response head");
        assert_eq!(
            n,
            1,
            "closed mid-head after {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// Sends one request on a fresh connection to `socket`.
pub(crate) fn call_on(
    socket: &Path,
    method: &str,
    path: &str,
    key: Option<&Secret>,
    body: Option<&str>,
) -> Reply {
    let mut stream = UnixStream::connect(socket).expect("connect to http.sock");
    stream
        .write_all(request_text(method, path, key, body).as_bytes())
        .unwrap();
    read_reply(&mut stream)
}

pub(crate) fn call(
    d: &Daemon,
    method: &str,
    path: &str,
    key: Option<&Secret>,
    body: Option<&str>,
) -> Reply {
    call_on(&http_sock(d), method, path, key, body)
}

/// Whether `a` and `b` have the same shape: the same keys at every level, and the same JSON
/// types where neither is null.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x
            .first()
            .zip(y.first())
            .is_none_or(|(v, w)| same_shape(v, w)),
        (Value::Null, _) | (_, Value::Null) => true,
        (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
    }
}

/// Asserts `http` answered `status` with the shape the CLI printed for the same operation.
fn assert_like_cli(what: &str, http: &Reply, status: u16, cli: &std::process::Output) {
    assert_eq!(http.status, status, "{what}: {}", http.body);
    assert_eq!(
        http.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    let cli = json(cli);
    assert!(
        same_shape(&http.json(), &cli),
        "{what}: http {} vs cli {cli}",
        http.body
    );
}

/// Every route: its success status, and JSON of the CLI's `--json` shape (equal values where
/// the two read the same state).
#[test]
fn every_route_answers_like_the_cli() {
    let d = Daemon::start();
    let ping = call(&d, "GET", "/v1/ping", None, None);
    assert_eq!(ping.status, 200);
    assert_eq!(
        ping.json()["version"],
        json(&d.cli(&["ping", "--json"]))["version"]
    );

    let created = call(
        &d,
        "POST",
        "/v1/admin-keys",
        None,
        Some(r#"{"label":"web","env":"test"}"#),
    );
    let cli_key = d.cli(&[
        "admin-key",
        "create",
        "--label",
        "cli",
        "--env",
        "test",
        "--json",
    ]);
    assert_like_cli("admin-key create", &created, 201, &cli_key);
    let key = Secret::new(created.json()["secret"].as_str().unwrap());
    assert_eq!(created.json()["env"], "test");
    let listed = call(&d, "GET", "/v1/admin-keys", None, None);
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.json(),
        json(&d.cli(&["admin-key", "list", "--json"]))
    );

    let body = r#"{"label":"phone","max_sessions":3,"scopes":{"catalog-a":"write"}}"#;
    let client = call(&d, "POST", "/v1/clients", Some(&key), Some(body));
    let cli = d.cli_with(
        &["client", "create", "--scope", "x=read", "--json"],
        Some(&key),
        None,
    );
    assert_like_cli("client create", &client, 201, &cli);
    let cli_client_id = json(&cli)["client_id"].as_str().unwrap().to_owned();
    let client_id = client.json()["client_id"].as_str().unwrap().to_owned();
    let token = client.json()["session"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let list = call(&d, "GET", "/v1/clients", Some(&key), None);
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json(),
        json(&d.cli_with(&["client", "list", "--json"], Some(&key), None))
    );
    let show = call(
        &d,
        "GET",
        &format!("/v1/clients/{client_id}"),
        Some(&key),
        None,
    );
    assert_eq!(show.status, 200);
    let cli_show = d.cli_with(&["client", "show", &client_id, "--json"], Some(&key), None);
    assert_eq!(show.json(), json(&cli_show));
    assert_eq!(show.json()["scopes"], json!({"catalog-a": "write"}));

    let path = format!("/v1/clients/{client_id}/sessions");
    let issued = call(&d, "POST", &path, Some(&key), None);
    let cli = d.cli_with(
        &["session", "issue", &client_id, "--json"],
        Some(&key),
        None,
    );
    assert_like_cli("session issue", &issued, 201, &cli);
    let test_key = call(
        &d,
        "POST",
        &format!("/v1/clients/{client_id}/test-key"),
        Some(&key),
        None,
    );
    let cli = d.cli_with(
        &["test-key", "create", &cli_client_id, "--json"],
        Some(&key),
        None,
    );
    assert_like_cli("test-key create", &test_key, 201, &cli);
    assert_eq!(test_key.json()["expires_at"], Value::Null);

    let body = r#"{"name":"ci","scopes":{"catalog-a":"write"},"expires_in":"30d"}"#;
    let api = call(&d, "POST", "/v1/api-tokens", Some(&key), Some(body));
    let cli = d.cli_with(
        &[
            "api-token",
            "create",
            "--name",
            "ci2",
            "--expires-in",
            "30d",
            "--json",
        ],
        Some(&key),
        None,
    );
    assert_like_cli("api-token create", &api, 201, &cli);
    let api_token = api.json()["token"].as_str().unwrap().to_owned();

    let body = json!({"token": token, "env": "test", "kinds": ["session"]}).to_string();
    let verified = call(&d, "POST", "/v1/verify", None, Some(&body));
    let cli = d.cli(&[
        "verify", &token, "--env", "test", "--kind", "session", "--json",
    ]);
    assert_like_cli("verify", &verified, 200, &cli);
    let (h, c) = (verified.json(), json(&cli));
    for field in ["principal_id", "kind", "env", "scopes", "credential_id"] {
        assert_eq!(h[field], c[field], "verify {field}");
    }
    let body = json!({"token": api_token, "scope": "catalog-a", "level": "read"}).to_string();
    let scoped = call(&d, "POST", "/v1/verify", None, Some(&body));
    assert_eq!(scoped.status, 200, "{}", scoped.body);
    assert_eq!(scoped.json()["kind"], "api_token");

    let stats = call(&d, "GET", "/v1/stats", None, None);
    assert_like_cli("stats", &stats, 200, &d.cli(&["stats", "--json"]));
    let audit = call(
        &d,
        "GET",
        "/v1/audit?limit=5&outcome=ok&action=client_create",
        None,
        None,
    );
    let cli = d.cli(&[
        "audit",
        "--limit",
        "5",
        "--outcome",
        "ok",
        "--action",
        "client_create",
        "--json",
    ]);
    assert_like_cli("audit", &audit, 200, &cli);
    assert_eq!(audit.json()["entries"], json(&cli)["entries"]);
    assert!(!audit.json()["entries"].as_array().unwrap().is_empty());

    let disabled = call(
        &d,
        "POST",
        &format!("/v1/credentials/{client_id}/disable"),
        Some(&key),
        None,
    );
    let cli = d.cli_with(&["disable", &cli_client_id, "--json"], Some(&key), None);
    assert_like_cli("disable", &disabled, 200, &cli);
    assert_eq!(disabled.json(), json!({"disabled": client_id}));
    let body = json!({"token": token}).to_string();
    let refused = call(&d, "POST", "/v1/verify", None, Some(&body));
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "CREDENTIAL_DISABLED");
    assert_eq!(
        refused.header("www-authenticate"),
        Some(r#"Bearer realm="keyward", error="invalid_token""#)
    );
    let enabled = call(
        &d,
        "POST",
        &format!("/v1/credentials/{client_id}/enable"),
        Some(&key),
        None,
    );
    let cli = d.cli_with(&["enable", &cli_client_id, "--json"], Some(&key), None);
    assert_like_cli("enable", &enabled, 200, &cli);
    assert_eq!(enabled.json(), json!({"enabled": client_id}));
    let again = call(&d, "POST", "/v1/verify", None, Some(&body));
    assert_eq!(again.status, 200, "{}", again.body);

    let revoke_sessions = call(&d, "DELETE", &path, Some(&key), None);
    assert_eq!(revoke_sessions.status, 200, "{}", revoke_sessions.body);
    // The first session, and one each issued over HTTP and by the CLI.
    assert_eq!(revoke_sessions.json()["revoked"], 3);
    let test_id = test_key.json()["id"].as_str().unwrap().to_owned();
    let revoked = call(
        &d,
        "DELETE",
        &format!("/v1/credentials/{test_id}"),
        Some(&key),
        None,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.json(), json!({"revoked": test_id}));
    let body = json!({"token": api_token}).to_string();
    let logout = call(&d, "POST", "/v1/logout", None, Some(&body));
    assert_eq!(logout.status, 200, "{}", logout.body);
    assert_eq!(logout.json()["revoked"], api.json()["id"]);
    // The sessions were revoked above; the test key was revoked by id: nothing live is left.
    let client_path = format!("/v1/clients/{client_id}");
    let deleted = call(&d, "DELETE", &client_path, Some(&key), None);
    let cli = d.cli_with(
        &["client", "delete", &cli_client_id, "--json"],
        Some(&key),
        None,
    );
    assert_like_cli("client delete", &deleted, 200, &cli);
    assert_eq!(deleted.json(), json!({"revoked": 0}));
    assert_eq!(
        json(&cli),
        json!({"revoked": 2}),
        "the CLI client's first session and test key"
    );
    let gone_client = call(&d, "GET", &client_path, Some(&key), None);
    assert_eq!(gone_client.status, 404, "{}", gone_client.body);
    let key_id = created.json()["id"].as_str().unwrap().to_owned();
    let gone = call(
        &d,
        "DELETE",
        &format!("/v1/admin-keys/{key_id}"),
        None,
        None,
    );
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.json(), json!({"revoked": key_id}));

    let doc = call(&d, "GET", "/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    let committed = include_str!("../../docs/openapi.json");
    assert_eq!(
        doc.json(),
        serde_json::from_str::<Value>(committed).unwrap()
    );
    // Every reply has exactly the fields its schema in the document names.
    let doc = doc.json();
    let replies = [
        ("Pong", &ping),
        ("AdminKeyCreated", &created),
        ("AdminKeys", &listed),
        ("ClientCreated", &client),
        ("Clients", &list),
        ("Client", &show),
        ("Session", &issued),
        ("TestKey", &test_key),
        ("ApiToken", &api),
        ("Identity", &verified),
        ("Stats", &stats),
        ("AuditLog", &audit),
        ("RevokedCount", &revoke_sessions),
        ("RevokedCount", &deleted),
        ("Revoked", &revoked),
        ("Revoked", &logout),
        ("Revoked", &gone),
        ("Disabled", &disabled),
        ("Enabled", &enabled),
    ];
    for (schema, reply) in replies {
        let described: std::collections::BTreeSet<&String> = doc["components"]["schemas"][schema]
            ["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {schema}"))
            .keys()
            .collect();
        let body = reply.json();
        let sent: std::collections::BTreeSet<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(described, sent, "{schema}");
    }
}

/// Each error code answers with its status and headers, and the CLI's error body.
#[test]
fn errors_carry_status_and_headers() {
    let d = Daemon::start_with("max_sessions_per_client = 1\n");
    let (_, key) = d.admin_client(keyward_client::Env::Live);

    let missing = call(&d, "GET", "/v1/clients", None, None);
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="keyward""#)
    );
    // The same code as keyward_client::axum's layer for a missing token.
    assert_eq!(missing.code(), "CREDENTIAL_MISSING", "{}", missing.body);

    let invalid = call(
        &d,
        "GET",
        "/v1/clients",
        Some(&Secret::new("kw_adm_live_nope")),
        None,
    );
    assert_eq!(invalid.status, 401, "{}", invalid.body);
    assert!(
        invalid.code().starts_with("CREDENTIAL_"),
        "{}",
        invalid.body
    );
    let challenge = r#"Bearer realm="keyward", error="invalid_token""#;
    assert_eq!(invalid.header("www-authenticate"), Some(challenge));
    let bad_token = call(
        &d,
        "POST",
        "/v1/verify",
        None,
        Some(r#"{"token":"garbage"}"#),
    );
    assert_eq!(
        (bad_token.status, bad_token.code().as_str()),
        (401, "CREDENTIAL_MALFORMED")
    );
    assert_eq!(bad_token.header("www-authenticate"), Some(challenge));

    // A scheme other than Bearer is a malformed credential where a key is needed, and none of
    // a route's business where none is (a proxy may pass its own).
    for (path, status) in [("/v1/clients", 401), ("/v1/ping", 200)] {
        let mut stream = UnixStream::connect(http_sock(&d)).unwrap();
        let text = format!("GET {path} HTTP/1.1\r\nHost: k\r\nAuthorization: Basic YTpi\r\n\r\n");
        stream.write_all(text.as_bytes()).unwrap();
        let reply = read_reply(&mut stream);
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
    }

    let unknown = "/v1/clients/0b6f3c1e-5a2d-4c1b-9e7f-2d3c4b5a6978";
    let not_found = call(&d, "GET", unknown, Some(&key), None);
    assert_eq!(
        (not_found.status, not_found.code().as_str()),
        (404, "NOT_FOUND")
    );

    let client = call(&d, "POST", "/v1/clients", Some(&key), Some("{}"));
    assert_eq!(client.status, 201, "{}", client.body);
    let id = client.json()["client_id"].as_str().unwrap().to_owned();
    let full = call(
        &d,
        "POST",
        &format!("/v1/clients/{id}/sessions"),
        Some(&key),
        None,
    );
    assert_eq!(
        (full.status, full.code().as_str()),
        (409, "SESSION_LIMIT"),
        "{}",
        full.body
    );

    let field = call(
        &d,
        "POST",
        "/v1/clients",
        Some(&key),
        Some(r#"{"lable":"x"}"#),
    );
    assert_eq!((field.status, field.code().as_str()), (400, "BAD_REQUEST"));
    assert!(field.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("lable"));
    let typed = call(
        &d,
        "POST",
        "/v1/clients",
        Some(&key),
        Some(r#"{"max_sessions":"x"}"#),
    );
    assert_eq!(typed.status, 400);
    assert!(typed.body.contains("max_sessions"), "{}", typed.body);
    let malformed = call(&d, "POST", "/v1/verify", None, Some("{\"token\":"));
    assert_eq!(
        (malformed.status, malformed.code().as_str()),
        (400, "BAD_REQUEST")
    );
    let duration = r#"{"name":"x","expires_in":"soon"}"#;
    let bad_duration = call(&d, "POST", "/v1/api-tokens", Some(&key), Some(duration));
    assert_eq!(bad_duration.status, 400);
    assert!(
        bad_duration.body.contains("expires_in"),
        "{}",
        bad_duration.body
    );
    let query = call(&d, "GET", "/v1/audit?colour=red", None, None);
    assert_eq!((query.status, query.code().as_str()), (400, "BAD_REQUEST"));
    let nowhere = call(&d, "GET", "/v1/nowhere", None, None);
    assert_eq!(
        (nowhere.status, nowhere.code().as_str()),
        (404, "NOT_FOUND")
    );
}

/// A body announced over 64 KiB is refused with 413 from its headers alone: the daemon
/// answers without waiting for a byte of it.
#[test]
fn large_body_is_refused_before_it_is_read() {
    let d = Daemon::start();
    let mut stream = UnixStream::connect(http_sock(&d)).unwrap();
    let head = "POST /v1/verify HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\n\
                Content-Length: 70000\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (413, "BAD_REQUEST"),
        "{}",
        reply.body
    );
    // A 64 KiB body within the limit is read, and judged on its content.
    let token = "k".repeat(65_000);
    let body = json!({ "token": token }).to_string();
    let fits = call(&d, "POST", "/v1/verify", None, Some(&body));
    assert_eq!(fits.status, 401, "{}", fits.body);
}

/// Host admin comes from the HTTP peer's `SO_PEERCRED`: `nobody` may not mint an admin key or
/// read the audit log, whatever it sends.
#[test]
fn host_admin_is_decided_by_peer_uid() {
    require_root();
    let d = Daemon::start();
    d.open_socket_to_all();
    let sock = http_sock(&d);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut stream = crate::slots::connect_as(NOBODY, &sock, 1).remove(0);
    let body = r#"{"label":"sneaky"}"#;
    stream
        .write_all(request_text("POST", "/v1/admin-keys", None, Some(body)).as_bytes())
        .unwrap();
    let refused = read_reply(&mut stream);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "FORBIDDEN"),
        "{}",
        refused.body
    );
    // The same connection, kept alive: nobody may still ping.
    stream
        .write_all(request_text("GET", "/v1/audit", None, None).as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut stream).status, 403);
    stream
        .write_all(request_text("GET", "/v1/ping", None, None).as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut stream).status, 200);
    // Root, on the same socket, may.
    assert_eq!(
        call(&d, "POST", "/v1/admin-keys", None, Some(body)).status,
        201
    );
}

/// HTTP and frame connections share a uid's share: with one frame connection open, a share
/// of two leaves one HTTP connection, and the next is refused with 503 and `Retry-After`.
#[test]
fn http_and_frames_share_the_uid_share() {
    let d = Daemon::start_with("max_connections_per_uid = 2\n");
    let _frames = d.client();
    let mut first = UnixStream::connect(http_sock(&d)).unwrap();
    first
        .write_all(request_text("GET", "/v1/ping", None, None).as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut first).status, 200);
    let refused = call(&d, "GET", "/v1/ping", None, None);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (503, "UNAVAILABLE")
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    drop(first);
    wait_for("the HTTP slot to come back", || {
        (call(&d, "GET", "/v1/ping", None, None).status == 200).then_some(())
    });
}

/// `http = false` serves no `http.sock`; the frame socket is unaffected.
#[test]
fn http_false_serves_no_socket() {
    let d = Daemon::start_with("http = false\n");
    assert!(!http_sock(&d).exists());
    let on = Daemon::start();
    assert!(http_sock(&on).exists());
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (frames, http) = (
        std::fs::metadata(&on.socket).unwrap(),
        std::fs::metadata(http_sock(&on)).unwrap(),
    );
    assert!(http.file_type().is_socket());
    assert_eq!(http.mode() & 0o777, frames.mode() & 0o777);
    assert_eq!(http.gid(), frames.gid());
}

/// Under `systemd-socket-activate` with two sockets named by `--fdname`, the daemon serves
/// frames and HTTP each on the socket of its name, binding neither itself.
#[test]
fn socket_activation_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (frames, http) = (dir.path().join("f.sock"), dir.path().join("h.sock"));
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&http)
        .arg("-l")
        .arg(&frames)
        .arg("--fdname=http:keywardd.socket")
        .arg(binary("keywardd"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(dir.path().join("unused.sock"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package) must be installed");
    wait_for("the activation sockets", || {
        (frames.exists() && http.exists()).then_some(())
    });
    let ping = wait_for("an HTTP answer", || {
        let mut s = UnixStream::connect(&http).ok()?;
        s.write_all(request_text("GET", "/v1/ping", None, None).as_bytes())
            .ok()?;
        Some(read_reply(&mut s))
    });
    assert_eq!(ping.status, 200, "{}", ping.body);
    keyward_client::blocking::Client::connect(&frames)
        .unwrap()
        .ping()
        .unwrap();
    assert!(
        !dir.path().join("unused.sock").exists(),
        "bound its own socket"
    );
    assert!(
        !dir.path().join("http.sock").exists(),
        "bound its own HTTP socket"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("the daemon to exit", || child.try_wait().unwrap());
}

/// Whether the daemon closed `stream` (end of stream or reset) within [`support::DEADLINE`].
pub(crate) fn closed_by_daemon(stream: &mut UnixStream) -> bool {
    stream
        .set_read_timeout(Some(crate::support::DEADLINE))
        .unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Writes `head` to `stream` a byte every `every_ms`, over and over, never finishing it, until
/// the daemon hangs up.
pub(crate) fn trickle_head(
    stream: &UnixStream,
    head: &'static [u8],
    every_ms: u64,
) -> std::thread::JoinHandle<()> {
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        for byte in head.iter().cycle() {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(every_ms));
        }
    })
}

/// A head trickled a byte at a time is cut off `frame_timeout` after its first byte, though
/// bytes keep coming; a keep-alive connection outlives `frame_timeout` between requests and is
/// closed once idle for `connection_idle_timeout`.
#[test]
fn slow_heads_and_idle_connections_are_closed() {
    let d = Daemon::start_with("frame_timeout = \"1s\"\nconnection_idle_timeout = \"6s\"\n");
    let mut slow = UnixStream::connect(http_sock(&d)).unwrap();
    let trickle = trickle_head(&slow, b"GET /v1/ping HTTP/1.1\r\nX-Slow: ", 100);
    let started = std::time::Instant::now();
    assert!(
        closed_by_daemon(&mut slow),
        "a trickled head was never cut off"
    );
    // Well before the idle timeout's 6 s: the head deadline did it (generous either way).
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
    trickle.join().unwrap();

    let mut kept = UnixStream::connect(http_sock(&d)).unwrap();
    kept.write_all(request_text("GET", "/v1/ping", None, None).as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut kept).status, 200);
    // Idle for twice frame_timeout: still open.
    kept.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1];
    let err = kept
        .read(&mut buf)
        .expect_err("closed while idle under its idle timeout");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    kept.write_all(request_text("GET", "/v1/ping", None, None).as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut kept).status, 200);
    assert!(
        closed_by_daemon(&mut kept),
        "an idle connection was never closed"
    );
}

/// At trace level, neither the admin key in `Authorization` nor a token in a body appears in
/// the daemon's log, on success or refusal.
#[test]
fn secrets_in_requests_stay_out_of_logs() {
    let d = Daemon::start_with("log_level = \"trace\"\n");
    let created = call(&d, "POST", "/v1/admin-keys", None, Some(r#"{"label":"l"}"#));
    let key = Secret::new(created.json()["secret"].as_str().unwrap());
    let client = call(&d, "POST", "/v1/clients", Some(&key), Some("{}"));
    let token = client.json()["session"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "token": token }).to_string();
    assert_eq!(
        call(&d, "POST", "/v1/verify", None, Some(&body)).status,
        200
    );
    let bad = json!({ "token": format!("{token}x") }).to_string();
    assert_eq!(call(&d, "POST", "/v1/verify", None, Some(&bad)).status, 401);
    let wrong = Secret::new(format!("{}x", key.expose()));
    assert_eq!(
        call(&d, "GET", "/v1/clients", Some(&wrong), None).status,
        401
    );
    assert_eq!(
        call(&d, "POST", "/v1/logout", None, Some(&body)).status,
        200
    );
    let log = d.log_text();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "not at trace level: {log}"
    );
    for secret in [key.expose(), token.as_str()] {
        assert!(!log.contains(&secret[12..]), "a secret is in the log");
    }
}

/// A body that stops short of its `Content-Length` is refused `frame_timeout` after its head,
/// and the connection closed, instead of holding the connection open.
#[test]
fn slow_body_is_cut_off() {
    let d = Daemon::start_with("frame_timeout = \"1s\"\n");
    let mut stream = UnixStream::connect(http_sock(&d)).unwrap();
    let head = "POST /v1/verify HTTP/1.1\r\nHost: k\r\nContent-Length: 100\r\n\r\n{\"token\":";
    stream.write_all(head.as_bytes()).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (400, "BAD_REQUEST"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("frame_timeout"), "{}", reply.body);
    assert!(
        closed_by_daemon(&mut stream),
        "kept a connection whose body never came"
    );
}
