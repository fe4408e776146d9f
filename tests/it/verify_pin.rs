//! Services pin what they accept: `keyward verify --env/--kind` against the real daemon, and
//! an admin key's id is as unknown to `revoke` as any other id.

use crate::support::{json, now_ms, wait_for, Daemon};
use keyward_client::{Env, Scopes, Secret};
use std::process::Output;

/// Runs `keyward verify - ARGS… --json` with `token` on stdin.
fn verify(daemon: &Daemon, token: &Secret, args: &[&str]) -> Output {
    let mut all = vec!["verify", "-", "--json"];
    all.extend_from_slice(args);
    daemon.cli_with(&all, None, Some(token.expose()))
}

/// Asserts a verify was refused as `CREDENTIAL_INVALID` with exit 1 and a message containing
/// `says`.
fn refused(out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let reply = json(out);
    assert_eq!(reply["error"]["code"], "CREDENTIAL_INVALID", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{message}");
}

/// `--env live --kind session` accepts a live session and nothing else: not a test-env
/// session, not a test key, not an admin key. With no `--kind`, an admin key is refused;
/// `--kind admin_key` accepts it.
#[test]
fn verify_pins_env_and_kind() {
    let daemon = Daemon::start();
    let (mut live, live_key) = daemon.admin_client(Env::Live);
    let (mut test, _) = daemon.admin_client(Env::Test);
    let session = live.client_create(None, None, Scopes::new()).unwrap();
    let test_key = live.test_key_create(session.client_id).unwrap();
    let test_session = test.client_create(None, None, Scopes::new()).unwrap();
    let pinned = ["--env", "live", "--kind", "session"];

    let out = verify(&daemon, &session.session.token, &pinned);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["kind"], "session");
    refused(
        &verify(&daemon, &test_session.session.token, &pinned),
        "environment",
    );
    refused(&verify(&daemon, &test_key.token, &pinned), "kind test_key");
    refused(&verify(&daemon, &live_key, &pinned), "kind admin_key");

    // The default accepts every kind but admin keys.
    refused(&verify(&daemon, &live_key, &[]), "admin_key");
    for token in [&session.session.token, &test_key.token] {
        let out = verify(&daemon, token, &[]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    let out = verify(&daemon, &live_key, &["--kind", "admin_key"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["kind"], "admin_key");
    refused(
        &verify(&daemon, &session.session.token, &["--kind", "admin_key"]),
        "kind session",
    );
}

/// A verify that fails a requirement does not slide the session: its stored expiry is the
/// one it was issued with, while a verify that passes does slide it.
#[test]
fn failed_requirement_does_not_slide() {
    // A 10 s idle timeout makes the slide granularity 100 ms.
    let daemon = Daemon::start_with("idle_timeout = \"10s\"\nmax_lifetime = \"1h\"\n");
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let issued_expiry = created.session.expires_at;
    let later = now_ms() + 500;
    wait_for("half a second to pass", || (now_ms() > later).then_some(()));
    let stored = |admin: &mut keyward_client::blocking::Client| {
        admin.client_show(created.client_id).unwrap().credentials[0].expires_at
    };

    for wrong in [&["--env", "test"][..], &["--kind", "test_key"][..]] {
        let out = verify(&daemon, &created.session.token, wrong);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
    }
    assert_eq!(stored(&mut admin), Some(issued_expiry), "slid");

    let out = verify(&daemon, &created.session.token, &["--env", "live"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stored(&mut admin).unwrap() > issued_expiry, "a pass slides");
}

/// `revoke <admin key id>` answers `NOT_FOUND` in the key's own environment, exactly as for
/// an id that does not exist, so the answer says nothing about the id; the key still works.
#[test]
fn revoke_of_an_admin_key_id_is_not_found() {
    let daemon = Daemon::start();
    let (mut live, live_key) = daemon.admin_client(Env::Live);
    let (_, test_key) = daemon.admin_client(Env::Test);
    let target = live.admin_key_create("target", Env::Live).unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();
    let id = target.id.to_string();
    let answer = |key: &Secret, id: &str| {
        let out = daemon.cli_with(&["revoke", id, "--json"], Some(key), None);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let reply = json(&out);
        (
            reply["error"]["code"].as_str().unwrap().to_owned(),
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .replace(id, "ID"),
        )
    };
    for key in [&live_key, &test_key] {
        assert_eq!(answer(key, &id), answer(key, &unknown));
        assert_eq!(answer(key, &id).0, "NOT_FOUND");
    }
    let out = verify(&daemon, &target.secret, &["--kind", "admin_key"]);
    assert_eq!(out.status.code(), Some(0), "still valid: {out:?}");
}
