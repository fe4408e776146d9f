//! Issue 15 §3's external ids and metadata, through the CLI, the client crate and HTTP: unique
//! per environment (`CONFLICT`, 409), found by `client show --external-id`, returned by every
//! verify (frames, `/v1/verify`, forward auth's `X-Keyward-External-Id`), limited, freed by a
//! delete, moved by an update, and kept across a kill -9.

use crate::http::call;
use crate::support::{json, Daemon};
use keyward_client::{ErrorCode, Meta, PrincipalUpdate, Requirements, Scopes, Secret};
use serde_json::json;
use std::process::Output;

fn meta(pairs: &[(&str, &str)]) -> Meta {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A CLI run that the daemon refused with `code`: exit status 1, the code on stderr.
fn refused(out: &Output, code: &str) -> String {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{code}: {text}");
    assert!(text.contains(code), "{code}: {text}");
    text
}

/// Through the CLI: create with an external id and metadata, a second holder refused with
/// CONFLICT in the same environment (client or API token) but not in the other, `client show
/// --external-id`, and `verify --json`, `client list --json` and `api-token show --json`
/// carrying both.
#[test]
fn cli_external_ids_and_metadata() {
    let d = Daemon::start();
    let (_, live) = d.admin_client(keyward_client::Env::Live);
    let (_, test) = d.admin_client(keyward_client::Env::Test);
    let cli = |args: &[&str], key: &Secret| d.cli_with(args, Some(key), None);

    let created = json(&cli(
        &[
            "client",
            "create",
            "--external-id",
            "user-1",
            "--meta",
            "plan=pro",
            "--meta",
            "region=eu=west",
            "--json",
        ],
        &live,
    ));
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let session = created["session"]["token"].as_str().unwrap().to_owned();

    let shown = json(&cli(
        &["client", "show", "--external-id", "user-1", "--json"],
        &live,
    ));
    assert_eq!(shown["client_id"], client_id.as_str());
    assert_eq!(shown["external_id"], "user-1");
    assert_eq!(shown["meta"], json!({"plan": "pro", "region": "eu=west"}));
    assert_eq!(shown["credentials"].as_array().unwrap().len(), 1);
    let by_id = json(&cli(&["client", "show", &client_id, "--json"], &live));
    assert_eq!(by_id["external_id"], "user-1");
    let human = cli(&["client", "show", "--external-id", "user-1"], &live);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("external_id   user-1"), "{text}");
    assert!(text.contains("plan=pro, region=eu=west"), "{text}");

    let again = cli(&["client", "create", "--external-id", "user-1"], &live);
    let text = refused(&again, "CONFLICT");
    assert!(
        text.contains("keyward client show --external-id"),
        "says how to find the holder: {text}"
    );
    let token = cli(
        &[
            "api-token",
            "create",
            "--name",
            "x",
            "--external-id",
            "user-1",
        ],
        &live,
    );
    refused(&token, "CONFLICT");
    // Unique per environment: the test environment has its own.
    let other = json(&cli(
        &["client", "create", "--external-id", "user-1", "--json"],
        &test,
    ));
    assert_ne!(other["client_id"], client_id.as_str());
    let missing = cli(&["client", "show", "--external-id", "nobody"], &live);
    refused(&missing, "NOT_FOUND");
    // A find is audited like a show, naming the client found.
    let audit = json(&d.cli(&["audit", "--action", "client_find", "--json"]));
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["target"] == client_id.as_str() && e["outcome"] == "ok"),
        "{audit}"
    );
    let both = cli(
        &["client", "show", &client_id, "--external-id", "user-1"],
        &live,
    );
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));

    let verified = json(&d.cli_with(&["verify", "-", "--json"], None, Some(&session)));
    assert_eq!(verified["external_id"], "user-1");
    assert_eq!(
        verified["meta"],
        json!({"plan": "pro", "region": "eu=west"})
    );

    let listed = json(&cli(&["client", "list", "--json"], &live));
    let row = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["external_id"], "user-1");
    assert_eq!(row["meta"]["plan"], "pro");

    let api = json(&cli(
        &[
            "api-token",
            "create",
            "--name",
            "importer",
            "--external-id",
            "svc-importer",
            "--meta",
            "team=data",
            "--json",
        ],
        &live,
    ));
    let api_token = api["token"].as_str().unwrap().to_owned();
    let shown = json(&cli(
        &["api-token", "show", api["id"].as_str().unwrap(), "--json"],
        &live,
    ));
    assert_eq!(shown["external_id"], "svc-importer");
    assert_eq!(shown["meta"], json!({"team": "data"}));
    let verified = json(&d.cli_with(&["verify", "-", "--json"], None, Some(&api_token)));
    assert_eq!(verified["external_id"], "svc-importer");
    assert_eq!(verified["meta"], json!({"team": "data"}));
    // An API token's external id names no client.
    let not_a_client = cli(&["client", "show", "--external-id", "svc-importer"], &live);
    refused(&not_a_client, "NOT_FOUND");
    // A client without either verifies with null and {}.
    let bare = json(&cli(&["client", "create", "--json"], &live));
    let bare_session = bare["session"]["token"].as_str().unwrap().to_owned();
    let verified = json(&d.cli_with(&["verify", "-", "--json"], None, Some(&bare_session)));
    assert_eq!(verified["external_id"], json!(null));
    assert_eq!(verified["meta"], json!({}));
}

/// Through the client crate and HTTP: create, CONFLICT and 409, the find route, verify over
/// frames and `/v1/verify`, and forward auth's `X-Keyward-External-Id` (empty when unset).
#[test]
fn client_crate_and_http_external_ids() {
    let d = Daemon::start();
    let (mut admin, key) = d.admin_client(keyward_client::Env::Live);
    let created = admin
        .client_create_with(
            None,
            None,
            Scopes::new(),
            Some("user 2".into()),
            meta(&[("plan", "free")]),
        )
        .unwrap();
    let e = admin
        .client_create_with(
            None,
            None,
            Scopes::new(),
            Some("user 2".into()),
            Meta::new(),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Conflict), "{e}");
    let found = admin.client_find("user 2").unwrap();
    assert_eq!(found.client_id, created.client_id);
    assert_eq!(found.meta, meta(&[("plan", "free")]));
    let e = admin.client_find("user 3").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound), "{e}");
    let v = admin
        .verify(&created.session.token, Requirements::new())
        .unwrap();
    assert_eq!(v.external_id.as_deref(), Some("user 2"));
    assert_eq!(v.meta, meta(&[("plan", "free")]));
    let api = admin
        .api_token_create_with("ci", Scopes::new(), None, Some("svc".into()), Meta::new())
        .unwrap();
    let v = admin.verify(&api.token, Requirements::new()).unwrap();
    assert_eq!(v.external_id.as_deref(), Some("svc"));
    assert!(v.meta.is_empty());

    // HTTP.
    let body = json!({"external_id": "user-3", "meta": {"a": "b"}}).to_string();
    let reply = call(&d, "POST", "/v1/clients", Some(&key), Some(&body));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let session = Secret::new(reply.json()["session"]["token"].as_str().unwrap());
    let client_id = reply.json()["client_id"].as_str().unwrap().to_owned();
    let reply = call(&d, "POST", "/v1/clients", Some(&key), Some(&body));
    assert_eq!((reply.status, reply.code()), (409, "CONFLICT".to_owned()));
    let token_body = json!({"name": "t", "external_id": "user-3"}).to_string();
    let reply = call(&d, "POST", "/v1/api-tokens", Some(&key), Some(&token_body));
    assert_eq!((reply.status, reply.code()), (409, "CONFLICT".to_owned()));
    let reply = call(
        &d,
        "GET",
        "/v1/clients/by-external-id/user-3",
        Some(&key),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["client_id"], client_id.as_str());
    assert_eq!(reply.json()["meta"], json!({"a": "b"}));
    let reply = call(
        &d,
        "GET",
        "/v1/clients/by-external-id/user%202",
        Some(&key),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["client_id"], created.client_id.to_string());
    let reply = call(
        &d,
        "GET",
        "/v1/clients/by-external-id/nobody",
        Some(&key),
        None,
    );
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND".to_owned()));
    let verify = json!({"token": session.expose()}).to_string();
    let reply = call(&d, "POST", "/v1/verify", None, Some(&verify));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["external_id"], "user-3");
    assert_eq!(reply.json()["meta"], json!({"a": "b"}));
    let reply = call(&d, "GET", "/v1/auth", Some(&session), None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("x-keyward-external-id"), Some("user-3"));
    assert!(
        reply.header("x-keyward-meta").is_none(),
        "metadata stays out of headers"
    );
    let bare = admin.client_create(None, None, Scopes::new()).unwrap();
    let reply = call(&d, "GET", "/v1/auth", Some(&bare.session.token), None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("x-keyward-external-id"), Some(""));
}

/// At most 16 keys and 4 KiB of metadata, and 256 bytes of external id: more is refused with a
/// message naming the limit, on create and on update, over the CLI and HTTP.
#[test]
fn limits_are_refused() {
    let d = Daemon::start();
    let (mut admin, key) = d.admin_client(keyward_client::Env::Live);
    let mut args: Vec<String> = vec!["client".into(), "create".into()];
    for i in 0..17 {
        args.push("--meta".into());
        args.push(format!("k{i}=v"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = refused(&d.cli_with(&args, Some(&key), None), "BAD_REQUEST");
    assert!(
        text.contains("17 metadata keys") && text.contains("16"),
        "{text}"
    );
    let big = format!("blob={}", "x".repeat(4096));
    let text = refused(
        &d.cli_with(&["client", "create", "--meta", &big], Some(&key), None),
        "BAD_REQUEST",
    );
    assert!(text.contains("4096"), "{text}");
    let long = "x".repeat(257);
    let text = refused(
        &d.cli_with(
            &["client", "create", "--external-id", &long],
            Some(&key),
            None,
        ),
        "BAD_REQUEST",
    );
    assert!(text.contains("256"), "{text}");
    // Exactly at the limits is fine.
    let sixteen: Meta = (0..16).map(|i| (format!("k{i}"), "v".into())).collect();
    let at_limit = admin
        .client_create_with(None, None, Scopes::new(), Some("x".repeat(256)), sixteen)
        .unwrap();
    // An update may not push a principal over them either.
    let e = admin
        .client_update(
            at_limit.client_id,
            PrincipalUpdate {
                meta: meta(&[("one-more", "v")]),
                ..PrincipalUpdate::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest), "{e}");
    let seventeen: serde_json::Map<String, serde_json::Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = json!({"name": "t", "meta": seventeen}).to_string();
    let reply = call(&d, "POST", "/v1/api-tokens", Some(&key), Some(&body));
    assert_eq!(
        (reply.status, reply.code()),
        (400, "BAD_REQUEST".to_owned())
    );
    assert!(reply.body.contains("16"), "{}", reply.body);
    let body = json!({"external_id": "a\nb"}).to_string();
    let reply = call(&d, "POST", "/v1/clients", Some(&key), Some(&body));
    assert_eq!(
        (reply.status, reply.code()),
        (400, "BAD_REQUEST".to_owned())
    );
    assert_eq!(admin.client_list().unwrap().len(), 1, "nothing else made");
}

/// A delete or an API token's revocation frees its external id; an update moves it (freeing
/// the old one) or is refused with CONFLICT; and a metadata change shows on the next verify of
/// a credential whose owner was already cached.
#[test]
fn ids_are_freed_moved_and_refreshed() {
    let d = Daemon::start();
    let (mut admin, key) = d.admin_client(keyward_client::Env::Live);
    let with = |a: &mut keyward_client::blocking::Client, id: &str| {
        a.client_create_with(None, None, Scopes::new(), Some(id.into()), Meta::new())
    };
    let first = with(&mut admin, "a").unwrap();
    admin.client_delete(first.client_id).unwrap();
    let second = with(&mut admin, "a").unwrap();
    let api = admin
        .api_token_create_with("t", Scopes::new(), None, Some("t".into()), Meta::new())
        .unwrap();
    admin.revoke(api.id).unwrap();
    admin
        .api_token_create_with("t", Scopes::new(), None, Some("t".into()), Meta::new())
        .unwrap();

    // Cache the owner, then move its id and change its metadata.
    let v = admin
        .verify(&second.session.token, Requirements::new())
        .unwrap();
    assert_eq!(v.external_id.as_deref(), Some("a"));
    let out = d.cli_with(
        &[
            "client",
            "update",
            &second.client_id.to_string(),
            "--external-id",
            "b",
            "--meta",
            "plan=pro",
            "--meta",
            "seats=3",
            "--json",
        ],
        Some(&key),
        None,
    );
    let updated = json(&out);
    assert_eq!(updated["external_id"], "b");
    assert_eq!(updated["meta"], json!({"plan": "pro", "seats": "3"}));
    let v = admin
        .verify(&second.session.token, Requirements::new())
        .unwrap();
    assert_eq!(v.external_id.as_deref(), Some("b"));
    assert_eq!(v.meta, meta(&[("plan", "pro"), ("seats", "3")]));
    let out = d.cli_with(
        &[
            "client",
            "update",
            &second.client_id.to_string(),
            "--remove-meta",
            "seats",
        ],
        Some(&key),
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = admin
        .verify(&second.session.token, Requirements::new())
        .unwrap();
    assert_eq!(v.meta, meta(&[("plan", "pro")]));
    // "a" is free again, "b" is held.
    let third = with(&mut admin, "a").unwrap();
    let e = with(&mut admin, "b").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Conflict), "{e}");
    let e = admin
        .client_update(
            third.client_id,
            PrincipalUpdate {
                external_id: Some("b".into()),
                ..PrincipalUpdate::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Conflict), "{e}");
    assert_eq!(admin.client_find("a").unwrap().client_id, third.client_id);
    // An API token's update goes through HTTP too.
    let body = json!({"external_id": "a"}).to_string();
    let path = format!("/v1/api-tokens/{}", api.principal_id);
    let reply = call(&d, "PATCH", &path, Some(&key), Some(&body));
    assert_eq!(reply.status, 404, "a revoked token is gone: {}", reply.body);
}

/// An acknowledged external id survives a kill -9 right after the answer: found, verified and
/// still unique after the restart; one freed by an acknowledged delete stays free.
#[test]
fn external_ids_survive_a_crash() {
    let mut d = Daemon::start();
    let (mut admin, key) = d.admin_client(keyward_client::Env::Live);
    let mut sessions = Vec::new();
    for i in 0..20 {
        let c = admin
            .client_create_with(
                None,
                None,
                Scopes::new(),
                Some(format!("user-{i}")),
                meta(&[("i", &i.to_string())]),
            )
            .unwrap();
        sessions.push((i, c.session.token));
    }
    let gone = admin.client_find("user-0").unwrap().client_id;
    admin.client_delete(gone).unwrap();
    d.kill9();
    d.restart();
    let mut admin = d.client();
    admin.set_admin_key(key);
    for (i, token) in sessions.iter().skip(1) {
        let v = admin.verify(token, Requirements::new()).unwrap();
        assert_eq!(v.external_id, Some(format!("user-{i}")));
        assert_eq!(v.meta, meta(&[("i", &i.to_string())]));
        let found = admin.client_find(&format!("user-{i}")).unwrap();
        assert_eq!(found.meta, v.meta);
        let e = admin
            .client_create_with(
                None,
                None,
                Scopes::new(),
                Some(format!("user-{i}")),
                Meta::new(),
            )
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Conflict), "{e}");
    }
    admin
        .client_create_with(
            None,
            None,
            Scopes::new(),
            Some("user-0".into()),
            Meta::new(),
        )
        .unwrap();
}

/// A backup carries external ids and metadata, and a restore rebuilds the index from it: the
/// backup's holders are found and still unique, and an id given out after the backup is free.
#[test]
fn external_ids_survive_backup_and_restore() {
    let mut d = Daemon::start();
    let (mut admin, key) = d.admin_client(keyward_client::Env::Live);
    let kept = admin
        .client_create_with(
            None,
            None,
            Scopes::new(),
            Some("kept".into()),
            meta(&[("plan", "pro")]),
        )
        .unwrap();
    let file = d.dir().join("ids.kwbk");
    let out = d.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Changed after the backup: the restore brings back the backup's state.
    admin.client_delete(kept.client_id).unwrap();
    admin
        .client_create_with(None, None, Scopes::new(), Some("later".into()), Meta::new())
        .unwrap();
    drop(admin);
    assert!(d.terminate().success());
    d.restore_forced(&file);
    d.restart();
    let mut admin = d.client();
    admin.set_admin_key(key);
    let found = admin.client_find("kept").unwrap();
    assert_eq!(found.client_id, kept.client_id);
    assert_eq!(found.meta, meta(&[("plan", "pro")]));
    let v = admin
        .verify(&kept.session.token, Requirements::new())
        .unwrap();
    assert_eq!(v.external_id.as_deref(), Some("kept"));
    let e = admin
        .client_create_with(None, None, Scopes::new(), Some("kept".into()), Meta::new())
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Conflict), "{e}");
    admin
        .client_create_with(None, None, Scopes::new(), Some("later".into()), Meta::new())
        .unwrap();
}
