//! The client crate against the real daemon: malformed tokens, revocation, environments.

use crate::support::Daemon;
use keyward_client::{Env, ErrorCode, Scopes, Secret};

/// Truncated, mistyped and prefix-less tokens are CREDENTIAL_MALFORMED with a reason.
#[test]
fn malformed_tokens_are_explained() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let token = admin
        .client_create(None, None, Scopes::new())
        .unwrap()
        .session
        .token;
    let text = token.expose();
    let mut mistyped = text.to_owned().into_bytes();
    let last = mistyped.len() - 3;
    mistyped[last] = if mistyped[last] == b'a' { b'b' } else { b'a' };
    let cases = [
        (text[..text.len() - 4].to_owned(), "truncated"),
        (String::from_utf8(mistyped).unwrap(), "checksum"),
        (text[text.len() - 58..].to_owned(), "prefix"),
        ("TOKEN-da921ac3-ab8a-437b".to_owned(), "prefix"),
        (format!("{text} "), "whitespace"),
    ];
    let mut c = daemon.client();
    for (bad, says) in cases {
        let e = c
            .verify(&Secret::new(bad), keyward_client::Requirements::new())
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::CredentialMalformed), "{e}");
        assert!(e.to_string().contains(says), "{e} should mention {says}");
        assert!(
            !e.to_string().contains(&text[20..40]),
            "error echoes the token: {e}"
        );
    }
    // The real token still works: nothing above disturbed it.
    c.verify(&token, keyward_client::Requirements::new())
        .unwrap();
}

/// Logout, revoke by id, revoke-sessions and admin-key revoke take effect on every connection.
#[test]
fn revocation_is_immediate_everywhere() {
    let daemon = Daemon::start();
    let (mut admin, key) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let s2 = admin.session_issue(created.client_id).unwrap();
    let s3 = admin.session_issue(created.client_id).unwrap();
    let mut other = daemon.client();
    other
        .verify(&s2.token, keyward_client::Requirements::new())
        .unwrap();

    assert_eq!(daemon.client().logout(&s2.token).unwrap(), s2.id);
    assert_eq!(
        other
            .verify(&s2.token, keyward_client::Requirements::new())
            .unwrap_err()
            .code(),
        Some(ErrorCode::CredentialInvalid)
    );
    assert_eq!(admin.revoke(s3.id).unwrap(), s3.id);
    assert_eq!(
        other
            .verify(&s3.token, keyward_client::Requirements::new())
            .unwrap_err()
            .code(),
        Some(ErrorCode::CredentialInvalid)
    );
    assert_eq!(admin.client_revoke_sessions(created.client_id).unwrap(), 1);
    assert_eq!(
        other
            .verify(&created.session.token, keyward_client::Requirements::new())
            .unwrap_err()
            .code(),
        Some(ErrorCode::CredentialInvalid)
    );
    let shown = admin.client_show(created.client_id).unwrap();
    assert!(shown.credentials.is_empty(), "{shown:?}");

    // Revoking the admin key locks its holder out.
    let listed = daemon.client().admin_key_list().unwrap();
    let id = listed.iter().find(|k| k.label == "it").unwrap().id;
    daemon.client().admin_key_revoke(id).unwrap();
    let e = admin.client_list().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialInvalid));
    let _ = key;
}

/// A test-environment admin key cannot see or touch live objects, and vice versa.
#[test]
fn environments_do_not_mix() {
    let daemon = Daemon::start();
    let (mut live, _) = daemon.admin_client(Env::Live);
    let (mut test, _) = daemon.admin_client(Env::Test);
    let c = live
        .client_create(Some("prod-user".into()), None, Scopes::new())
        .unwrap();
    assert_eq!(
        test.session_issue(c.client_id).unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        test.revoke(c.session.id).unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
    assert!(test.client_list().unwrap().is_empty());
    assert_eq!(live.client_list().unwrap().len(), 1);
    let t = test.client_create(None, None, Scopes::new()).unwrap();
    assert!(t.session.token.expose().starts_with("kw_ses_test_"));
    let v = daemon
        .client()
        .verify(&t.session.token, keyward_client::Requirements::new())
        .unwrap();
    assert_eq!(v.env, Env::Test);
}

/// Management calls without an admin key, or with a session token as one, are refused.
#[test]
fn management_needs_an_admin_key() {
    let daemon = Daemon::start();
    let mut anon = daemon.client();
    assert_eq!(
        anon.client_list().unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let session = admin
        .client_create(None, None, Scopes::new())
        .unwrap()
        .session
        .token;
    let mut impostor = daemon.client();
    impostor.set_admin_key(session);
    assert_eq!(
        impostor.client_list().unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
}

/// Pipelined requests on one connection are answered in order.
#[test]
fn pipelined_requests_answer_in_order() {
    let daemon = Daemon::start();
    let (_, key) = daemon.admin_client(Env::Live);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(pipeline(&daemon, key));
}

async fn pipeline(daemon: &Daemon, key: Secret) {
    let mut c = keyward_client::Client::connect(&daemon.socket)
        .await
        .unwrap();
    c.set_admin_key(key);
    let created = c.client_create(None, None, Scopes::new()).await.unwrap();
    let ops: Vec<_> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                keyward_client::Op::Verify {
                    token: created.session.token.clone(),
                    require: keyward_client::Requirements::new(),
                }
            } else {
                keyward_client::Op::Ping
            }
        })
        .collect();
    let replies = c.pipeline(ops).await.unwrap();
    assert_eq!(replies.len(), 50);
    for (i, r) in replies.into_iter().enumerate() {
        match (i % 2, r.unwrap()) {
            (0, keyward_client::Reply::Verified(_)) | (1, keyward_client::Reply::Pong { .. }) => {}
            (_, other) => panic!("reply {i} out of order: {other:?}"),
        }
    }
}
