//! Issue 15 §2 and §3's update: API tokens listed, shown and updated, clients updated, and a
//! scope change that holds from the very next verify of every credential, on every connection
//! (frames and HTTP), durably.

use crate::http::{call, http_sock, read_reply, request_text};
use crate::support::{json, Daemon};
use keyward_client::blocking::Client;
use keyward_client::{
    Env, ErrorCode, Level, PrincipalUpdate, Requirements, ScopeRequirement, Scopes, Secret,
};
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::net::UnixStream;

fn scoped(scope: &str, level: Level) -> Requirements {
    Requirements::new().scope(ScopeRequirement {
        scope: scope.to_owned(),
        level,
    })
}

/// Verifies `token` over an open HTTP connection, answering the status and body.
fn http_verify(stream: &mut UnixStream, token: &Secret, scope: &str, level: &str) -> (u16, Value) {
    let body = json!({"token": token.expose(), "scope": scope, "level": level}).to_string();
    stream
        .write_all(request_text("POST", "/v1/verify", None, Some(&body)).as_bytes())
        .unwrap();
    let reply = read_reply(stream);
    (reply.status, serde_json::from_str(&reply.body).unwrap())
}

/// What each open connection makes of `token` at `scope`/`level`: `Ok` or the error code.
fn verdicts(
    conns: &mut [Client],
    http: &mut [UnixStream],
    token: &Secret,
    scope: &str,
    level: Level,
) -> Vec<Option<ErrorCode>> {
    let mut out: Vec<Option<ErrorCode>> = conns
        .iter_mut()
        .map(|c| {
            c.verify(token, scoped(scope, level))
                .err()
                .map(|e| e.code().unwrap())
        })
        .collect();
    for stream in http {
        let (status, body) = http_verify(stream, token, scope, level.as_str());
        out.push(match status {
            200 => None,
            403 => {
                assert_eq!(body["error"]["code"], "FORBIDDEN");
                Some(ErrorCode::Forbidden)
            }
            other => panic!("verify over HTTP answered {other}: {body}"),
        });
    }
    out
}

/// A downgraded, removed or added scope holds from the next verify of every credential of the
/// principal (sessions, test key, API token) on every open connection, frames and HTTP alike,
/// including a session whose owner was learnt to hold no scopes; and it survives a kill -9.
#[test]
fn a_scope_change_holds_at_once_on_every_connection() {
    let mut d = Daemon::start();
    let (mut admin, key) = d.admin_client(Env::Live);
    let photos_write = Scopes::from([("photos".to_owned(), Level::Write)]);
    let client = admin
        .client_create(None, None, photos_write.clone())
        .unwrap();
    let session = client.session.token.clone();
    let test_key = admin.test_key_create(client.client_id).unwrap().token;
    let token = admin
        .api_token_create("ci", photos_write.clone(), None)
        .unwrap();
    // A client with no scopes: its sessions learn that, and must unlearn it.
    let bare = admin.client_create(None, None, Scopes::new()).unwrap();

    let mut conns: Vec<Client> = (0..4).map(|_| d.client()).collect();
    let mut http: Vec<UnixStream> = (0..2)
        .map(|_| UnixStream::connect(http_sock(&d)).unwrap())
        .collect();
    let all_ok = vec![None; 6];
    let all_forbidden = vec![Some(ErrorCode::Forbidden); 6];
    for t in [&session, &test_key, &token.token] {
        assert_eq!(
            verdicts(&mut conns, &mut http, t, "photos", Level::Write),
            all_ok
        );
    }
    assert_eq!(
        verdicts(
            &mut conns,
            &mut http,
            &bare.session.token,
            "photos",
            Level::Read
        ),
        all_forbidden
    );

    // Downgrade through the CLI, the API token through HTTP, and grant the bare client a scope.
    let out = d.cli_with(
        &[
            "client",
            "update",
            &client.client_id.to_string(),
            "--scope",
            "photos=read",
            "--label",
            "renamed",
            "--json",
        ],
        Some(&key),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = json(&out);
    assert_eq!(shown["scopes"], json!({"photos": "read"}));
    assert_eq!(shown["label"], "renamed");
    let body = json!({"scopes": {"photos": "read"}}).to_string();
    let path = format!("/v1/api-tokens/{}", token.id);
    let patched = call(&d, "PATCH", &path, Some(&key), Some(&body));
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.json()["scopes"], json!({"photos": "read"}));
    let update = PrincipalUpdate {
        scopes: Scopes::from([("photos".to_owned(), Level::Read)]),
        ..PrincipalUpdate::default()
    };
    admin.client_update(bare.client_id, update).unwrap();

    for t in [&session, &test_key, &token.token] {
        assert_eq!(
            verdicts(&mut conns, &mut http, t, "photos", Level::Write),
            all_forbidden,
            "a downgraded credential still verified"
        );
        assert_eq!(
            verdicts(&mut conns, &mut http, t, "photos", Level::Read),
            all_ok
        );
    }
    assert_eq!(
        verdicts(
            &mut conns,
            &mut http,
            &bare.session.token,
            "photos",
            Level::Read
        ),
        all_ok,
        "a session kept its owner's old 'no scopes'"
    );

    // Removal, acknowledged and then crashed: still removed after the restart.
    let removal = PrincipalUpdate {
        remove_scopes: vec!["photos".into()],
        ..PrincipalUpdate::default()
    };
    admin
        .client_update(client.client_id, removal.clone())
        .unwrap();
    admin.api_token_update(token.principal_id, removal).unwrap();
    d.kill9();
    d.restart();
    let mut fresh = d.client();
    for t in [&session, &test_key, &token.token] {
        let refused = fresh.verify(t, scoped("photos", Level::Read)).unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::Forbidden));
        assert!(fresh
            .verify(t, Requirements::new())
            .unwrap()
            .scopes
            .is_empty());
    }
    let shown = admin_after_restart(&d, &key)
        .client_show(client.client_id)
        .unwrap();
    assert_eq!(shown.label.as_deref(), Some("renamed"));
}

fn admin_after_restart(d: &Daemon, key: &Secret) -> Client {
    let mut c = d.client();
    c.set_admin_key(key.clone());
    c
}

/// `api-token list` pages in a stable order with `--limit`/`--after`, `--all` joins every page
/// into one object with `"next": null`, `show` takes either id, and HTTP answers the CLI's JSON.
#[test]
fn api_tokens_are_listed_shown_and_updated() {
    let d = Daemon::start();
    let (mut admin, key) = d.admin_client(Env::Live);
    let mut made = Vec::new();
    for n in 0..5 {
        // Clients in between: a page passes over them.
        admin.client_create(None, None, Scopes::new()).unwrap();
        made.push(
            admin
                .api_token_create(&format!("t{n}"), Scopes::new(), None)
                .unwrap(),
        );
    }
    let (mut test_admin, _) = d.admin_client(Env::Test);
    test_admin
        .api_token_create("other env", Scopes::new(), None)
        .unwrap();

    let cli = |args: &[&str]| {
        let out = d.cli_with(args, Some(&key), None);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(&out)
    };
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["api-token", "list", "--limit", "2", "--json"];
        if let Some(cursor) = &after {
            args.extend(["--after", cursor]);
        }
        let page = cli(&args);
        let items = page["api_tokens"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|t| t["principal_id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = made.iter().map(|t| t.principal_id.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected, "each live-env token once, in id order");

    let all = cli(&["api-token", "list", "--limit", "2", "--all", "--json"]);
    assert_eq!(all["next"], Value::Null);
    assert_eq!(all["api_tokens"].as_array().unwrap().len(), 5);
    let http = call(&d, "GET", "/v1/api-tokens?limit=1000", Some(&key), None);
    assert_eq!(http.status, 200, "{}", http.body);
    assert_eq!(http.json(), all, "HTTP and the CLI print one contract");
    let bad = call(&d, "GET", "/v1/api-tokens?limit=1001", Some(&key), None);
    assert_eq!(bad.status, 400);

    let one = &made[0];
    let by_id = cli(&["api-token", "show", &one.id.to_string(), "--json"]);
    let by_principal = cli(&["api-token", "show", &one.principal_id.to_string(), "--json"]);
    assert_eq!(by_id, by_principal);
    assert_eq!(by_id["name"], "t0");
    assert_eq!(by_id["id"], one.id.to_string());

    let updated = cli(&[
        "api-token",
        "update",
        &one.id.to_string(),
        "--name",
        "deploy",
        "--scope",
        "photos=admin",
        "--json",
    ]);
    assert_eq!(updated["name"], "deploy");
    assert_eq!(updated["scopes"], json!({"photos": "admin"}));
    let out = d.cli_with(
        &[
            "api-token",
            "update",
            &one.id.to_string(),
            "--remove-scope",
            "nope",
        ],
        Some(&key),
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BAD_REQUEST"));
    let missing = call(
        &d,
        "GET",
        &format!("/v1/api-tokens/{}", uuid::Uuid::new_v4()),
        Some(&key),
        None,
    );
    assert_eq!(missing.status, 404);

    let audit = cli_audit(&d);
    assert!(audit.contains("api_token_update"), "{audit}");
}

fn cli_audit(d: &Daemon) -> String {
    let out = d.cli(&["audit", "--action", "api_token_update", "--json"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}
