//! `disable` and `enable` against the real daemon: every kind of id, refused at once on every
//! connection and over HTTP, and kept across a SIGKILL.

use crate::http::call;
use crate::support::Daemon;
use keyward_client::blocking::Client;
use keyward_client::{CredentialKind, Env, ErrorCode, Requirements, Scopes, Secret};
use uuid::Uuid;

/// Asserts `token` verifies (as an admin key when `kind` says so).
fn verifies(c: &mut Client, token: &Secret, kind: CredentialKind, when: &str) {
    c.verify(token, Requirements::new().kind(kind))
        .unwrap_or_else(|e| panic!("{when}: {e}"));
}

/// Asserts `token` is refused with `CREDENTIAL_DISABLED`.
fn disabled(c: &mut Client, token: &Secret, kind: CredentialKind, when: &str) {
    let e = c.verify(token, Requirements::new().kind(kind)).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialDisabled), "{when}: {e}");
}

/// A client with two sessions and a test key.
struct Held {
    id: Uuid,
    sessions: [(Uuid, Secret); 2],
    test_key: Secret,
}

fn make(a: &mut Client) -> Held {
    let created = a.client_create(None, None, Scopes::new()).unwrap();
    let id = created.client_id;
    let second = a.session_issue(id).unwrap();
    let test_key = a.test_key_create(id).unwrap().token;
    Held {
        id,
        sessions: [
            (created.session.id, created.session.token),
            (second.id, second.token),
        ],
        test_key,
    }
}

/// One session, a whole client, an API token (by principal and by credential id) and an admin
/// key: each is refused with `CREDENTIAL_DISABLED` while disabled, and comes back as it was.
#[test]
fn each_kind_of_id_disables_and_enables() {
    let d = Daemon::start();
    let (mut a, _) = d.admin_client(Env::Live);
    let mut c = d.client();
    let held = make(&mut a);
    let [(first_id, first), (_, second)] = &held.sessions;
    let (s, t) = (CredentialKind::Session, CredentialKind::TestKey);

    // One session: only it.
    assert_eq!(a.disable(*first_id).unwrap(), *first_id);
    disabled(&mut c, first, s, "one session");
    verifies(&mut c, second, s, "its sibling");
    verifies(&mut c, &held.test_key, t, "the test key");
    let shown = a.client_show(held.id).unwrap();
    assert!(!shown.disabled);
    let flags: Vec<(Uuid, bool)> = shown
        .credentials
        .iter()
        .map(|c| (c.id, c.disabled))
        .collect();
    assert!(flags.contains(&(*first_id, true)), "{flags:?}");
    a.enable(*first_id).unwrap();
    verifies(&mut c, first, s, "enabled");

    // The client: every credential, and no new ones.
    a.disable(held.id).unwrap();
    for (token, kind) in [(first, s), (second, s), (&held.test_key, t)] {
        disabled(&mut c, token, kind, "client disabled");
    }
    assert!(a.client_show(held.id).unwrap().disabled);
    assert!(a
        .client_list()
        .unwrap()
        .iter()
        .any(|c| c.client_id == held.id && c.disabled));
    let e = a.session_issue(held.id).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialDisabled), "{e}");
    let e = a.test_key_create(held.id).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialDisabled), "{e}");
    // Twice is harmless.
    a.disable(held.id).unwrap();
    a.enable(held.id).unwrap();
    for (token, kind) in [(first, s), (second, s), (&held.test_key, t)] {
        verifies(&mut c, token, kind, "client enabled");
    }
    assert!(!a.client_show(held.id).unwrap().disabled);
    a.session_issue(held.id).unwrap();

    // An API token, by its principal and by its credential id.
    let api = a.api_token_create("ci", Scopes::new(), None).unwrap();
    let k = CredentialKind::ApiToken;
    for id in [api.principal_id, api.id] {
        a.disable(id).unwrap();
        disabled(&mut c, &api.token, k, "api token disabled");
        assert!(a.api_token_show(api.principal_id).unwrap().disabled);
        a.enable(id).unwrap();
        verifies(&mut c, &api.token, k, "api token enabled");
        assert!(!a.api_token_show(api.principal_id).unwrap().disabled);
    }

    // An admin key: it can manage nothing, and is listed as disabled.
    let (mut b, b_key) = d.admin_client(Env::Live);
    let b_id = a
        .admin_key_list()
        .unwrap()
        .into_iter()
        .max_by_key(|k| k.created_at)
        .unwrap()
        .id;
    a.disable(b_id).unwrap();
    let e = b.client_create(None, None, Scopes::new()).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialDisabled), "{e}");
    let e = b.client_list().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialDisabled), "{e}");
    assert!(e.to_string().contains("the admin key is disabled"), "{e}");
    disabled(
        &mut c,
        &b_key,
        CredentialKind::AdminKey,
        "admin key disabled",
    );
    let listed = a.admin_key_list().unwrap();
    assert!(listed.iter().any(|k| k.id == b_id && k.disabled));
    assert!(listed.iter().filter(|k| k.disabled).count() == 1);
    a.enable(b_id).unwrap();
    b.client_create(None, None, Scopes::new()).unwrap();

    // Unknown ids are NOT_FOUND.
    let e = a.disable(Uuid::new_v4()).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound), "{e}");
    // Disabling is audited under its own action names.
    let audit = d.cli(&["audit", "--action", "disable", "--json"]);
    let audit = crate::support::json(&audit);
    assert!(!audit["entries"].as_array().unwrap().is_empty(), "{audit}");
}

/// A disable refuses the very next verify on every open frame connection and over HTTP
/// (verify and forward auth), and an enable lets the next one through.
#[test]
fn refused_at_once_on_every_connection() {
    let d = Daemon::start();
    let (mut a, _) = d.admin_client(Env::Live);
    let held = make(&mut a);
    let token = &held.sessions[0].1;
    let s = CredentialKind::Session;
    let mut conns: Vec<Client> = (0..4).map(|_| d.client()).collect();
    for c in &mut conns {
        verifies(c, token, s, "before");
    }
    let body = serde_json::json!({ "token": token.expose() }).to_string();
    assert_eq!(
        call(&d, "POST", "/v1/verify", None, Some(&body)).status,
        200
    );

    a.disable(held.id).unwrap();
    for c in &mut conns {
        disabled(c, token, s, "after the disable");
    }
    let refused = call(&d, "POST", "/v1/verify", None, Some(&body));
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.code(), "CREDENTIAL_DISABLED");
    assert_eq!(
        refused.header("www-authenticate"),
        Some(r#"Bearer realm="keyward", error="invalid_token""#)
    );
    let forward = call(&d, "GET", "/v1/auth", Some(token), None);
    assert_eq!(forward.status, 401, "{}", forward.body);
    assert_eq!(
        forward.header("x-keyward-error"),
        Some("CREDENTIAL_DISABLED")
    );
    // The CLI exits with the daemon's refusal and names the code.
    let out = d.cli(&["verify", token.expose()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CREDENTIAL_DISABLED"), "{err}");

    a.enable(held.id).unwrap();
    for c in &mut conns {
        verifies(c, token, s, "after the enable");
    }
    assert_eq!(call(&d, "GET", "/v1/auth", Some(token), None).status, 204);
}

/// What was acknowledged holds after a SIGKILL right after the answer: disabled stays
/// disabled, enabled stays enabled.
#[test]
fn disable_and_enable_survive_sigkill() {
    let mut d = Daemon::start();
    let (mut a, key) = d.admin_client(Env::Live);
    let kept_off: Vec<Held> = (0..5).map(|_| make(&mut a)).collect();
    let back_on: Vec<Held> = (0..5).map(|_| make(&mut a)).collect();
    let one_off = make(&mut a);
    for h in &kept_off {
        a.disable(h.id).unwrap();
    }
    for h in &back_on {
        a.disable(h.id).unwrap();
        a.enable(h.id).unwrap();
    }
    a.disable(one_off.sessions[1].0).unwrap();
    drop(a);
    d.kill9();
    d.restart();
    let mut c = d.client();
    let s = CredentialKind::Session;
    for h in &kept_off {
        for (_, token) in &h.sessions {
            disabled(&mut c, token, s, "disabled, after SIGKILL");
        }
        disabled(
            &mut c,
            &h.test_key,
            CredentialKind::TestKey,
            "after SIGKILL",
        );
    }
    for h in &back_on {
        for (_, token) in &h.sessions {
            verifies(&mut c, token, s, "enabled, after SIGKILL");
        }
    }
    verifies(&mut c, &one_off.sessions[0].1, s, "sibling, after SIGKILL");
    disabled(
        &mut c,
        &one_off.sessions[1].1,
        s,
        "one session, after SIGKILL",
    );
    let mut a = d.client();
    a.set_admin_key(key);
    assert!(a.client_show(kept_off[0].id).unwrap().disabled);
    assert!(!a.client_show(back_on[0].id).unwrap().disabled);
}

/// Disabled ids survive a backup and a forced restore; ids enabled before the backup stay
/// enabled.
#[test]
fn disabled_survives_backup_and_restore() {
    let mut d = Daemon::start();
    let (mut a, key) = d.admin_client(Env::Live);
    let off = make(&mut a);
    let on = make(&mut a);
    a.disable(off.id).unwrap();
    a.disable(on.id).unwrap();
    a.enable(on.id).unwrap();
    let file = d.dir().join("b.kwbk");
    let out = d.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Changed after the backup: the restore brings back the backup's state.
    a.enable(off.id).unwrap();
    a.disable(on.id).unwrap();
    drop(a);
    assert!(d.terminate().success());
    d.restore_forced(&file);
    d.restart();
    let mut c = d.client();
    let t = CredentialKind::TestKey;
    disabled(&mut c, &off.test_key, t, "disabled in the backup");
    verifies(&mut c, &on.test_key, t, "enabled in the backup");
    let mut a = d.client();
    a.set_admin_key(key);
    assert!(a.client_show(off.id).unwrap().disabled);
}

/// The fixture's tokens: an admin key and a test key, made with the code before disable
/// existed.
const V1_ADMIN_KEY: &str = "kw_adm_live_pnpni0t84jfbaba91pbla72janhlqn362dh8c6dm6t5d2jtds03u5jiijk";
const V1_CLIENT: &str = "21fc8b17-31ac-4156-be11-08d26a95f05d";
const V1_TEST_KEY: &str = "kw_tst_live_lkcfhnvekqstdbbarv7k9csevc08l34driq478ged54asu28oulql6480o";

/// A version-1 backup (written by keywardd before disable existed, committed as a fixture)
/// still restores, nothing in it is disabled, and its client can then be disabled and enabled.
#[test]
fn a_version_1_backup_restores() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("it/fixtures/backup-v1.kwbk");
    assert_eq!(
        &std::fs::read(&file).unwrap()[8..10],
        &[0, 1],
        "a version-1 file"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(crate::support::binary("keywardd"))
        .arg("--data-dir")
        .arg(&data)
        .arg("restore")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = Daemon::start_on(&data, "");
    let mut a = d.client();
    a.set_admin_key(Secret::new(V1_ADMIN_KEY));
    let client: Uuid = V1_CLIENT.parse().unwrap();
    assert!(!a.client_show(client).unwrap().disabled);
    assert!(a.admin_key_list().unwrap().iter().all(|k| !k.disabled));
    let mut c = d.client();
    let (token, t) = (Secret::new(V1_TEST_KEY), CredentialKind::TestKey);
    verifies(&mut c, &token, t, "restored");
    a.disable(client).unwrap();
    disabled(&mut c, &token, t, "disabled after the restore");
    a.enable(client).unwrap();
    verifies(&mut c, &token, t, "enabled again");
}
