//! The two seed scenarios, end to end against the real daemon.

use crate::support::{now_ms, wait_for, Daemon};
use keyward_client::{
    CredentialKind, Env, ErrorCode, Level, Requirements, ScopeRequirement, Scopes,
};

/// Wallet seed: a backend creates a client and gets its first session; every use slides the
/// idle expiry; an idle session expires with CREDENTIAL_INVALID; the backend refreshes with
/// `session issue`; the test key never expires; the 7-day-style cap ends even an active session.
#[test]
fn wallet_backend_flow() {
    // Idle 2 s, cap 4 s: polling every 100 ms keeps a 20x margin over the idle timeout.
    let daemon = Daemon::start_with("idle_timeout = \"2s\"\nmax_lifetime = \"4s\"\n");
    let (mut backend, _) = daemon.admin_client(Env::Live);
    let created = backend
        .client_create(Some("alice".into()), None, Scopes::new())
        .unwrap();
    assert_eq!(
        created.session.max_expires_at - created.session.expires_at,
        2_000
    );

    // The app verifies from another process (a separate connection).
    let mut app = daemon.client();
    let first = app
        .verify(&created.session.token, Requirements::new())
        .unwrap();
    assert_eq!(first.principal_id, created.client_id);
    assert_eq!(first.kind, CredentialKind::Session);
    assert_eq!(first.env, Env::Live);

    // Each use slides the expiry forward.
    let later = wait_for("the expiry to slide", || {
        let v = app
            .verify(&created.session.token, Requirements::new())
            .unwrap();
        (v.expires_at > first.expires_at).then_some(v)
    });
    assert!(later.expires_at.unwrap() <= created.session.max_expires_at);

    // Left idle, it expires: the seed's INVALID_API_KEY.
    let idle_until = later.expires_at.unwrap();
    wait_for("the idle expiry to pass", || {
        (now_ms() > idle_until).then_some(())
    });
    let err = app
        .verify(&created.session.token, Requirements::new())
        .expect_err("an idle session must expire");
    assert_eq!(err.code(), Some(ErrorCode::CredentialInvalid));

    // The backend refreshes: a new session for the same client.
    let refreshed = backend.session_issue(created.client_id).unwrap();
    assert_eq!(
        app.verify(&refreshed.token, Requirements::new())
            .unwrap()
            .principal_id,
        created.client_id
    );

    // A test key has the same rights and never expires.
    let test_key = backend.test_key_create(created.client_id).unwrap();
    let v = app.verify(&test_key.token, Requirements::new()).unwrap();
    assert_eq!((v.kind, v.expires_at), (CredentialKind::TestKey, None));

    // Even a session used constantly ends at its max lifetime.
    let mut latest = refreshed.expires_at;
    let err = wait_for("the session to reach its max lifetime", || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        match app.verify(&refreshed.token, Requirements::new()) {
            Ok(v) => {
                latest = v.expires_at.unwrap();
                None
            }
            Err(e) => Some(e),
        }
    });
    assert_eq!(err.code(), Some(ErrorCode::CredentialInvalid));
    // Slides are persisted in steps of 1% of the idle timeout (20 ms here), never past the cap.
    assert!(latest <= refreshed.max_expires_at, "slid past the cap");
    assert!(
        latest >= refreshed.max_expires_at - 20,
        "stopped short of the cap: {latest}"
    );
    assert!(now_ms() >= latest, "ended before its last reported expiry");
    // And the test key still verifies afterwards.
    app.verify(&test_key.token, Requirements::new()).unwrap();
}

/// Forum seed: an API token is a scoped pseudo-user used in place of a session, takes no seat,
/// and a token pasted without its prefix gets an explanation rather than "invalid or expired".
#[test]
fn forum_api_token_flow() {
    let daemon = Daemon::start_with("max_sessions_per_client = 1");
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let scopes: Scopes = [
        ("catalog-a".to_owned(), Level::Write),
        ("catalog-b".to_owned(), Level::Read),
    ]
    .into();
    let token = admin
        .api_token_create("importer", scopes.clone(), None)
        .unwrap();
    assert_eq!(token.expires_at, None);

    let mut app = daemon.client();
    let v = app.verify(&token.token, Requirements::new()).unwrap();
    assert_eq!(v.kind, CredentialKind::ApiToken);
    assert_eq!(v.principal_id, token.principal_id);
    assert_eq!(v.scopes, scopes);

    let need = |scope: &str, level| {
        Requirements::new().scope(ScopeRequirement {
            scope: scope.into(),
            level,
        })
    };
    app.verify(&token.token, need("catalog-a", Level::Write))
        .unwrap();
    app.verify(&token.token, need("catalog-b", Level::Read))
        .unwrap();
    let e = app
        .verify(&token.token, need("catalog-b", Level::Write))
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let e = app
        .verify(&token.token, need("catalog-c", Level::Read))
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));

    // API tokens never count against seats: the one seat still goes to a client session.
    for n in 0..3 {
        admin
            .api_token_create(&format!("extra-{n}"), Scopes::new(), None)
            .unwrap();
    }
    let client = admin.client_create(None, None, Scopes::new()).unwrap();
    let e = admin.session_issue(client.client_id).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::SessionLimit));

    // The prefix is part of the token, and the error says so.
    let text = token.token.expose();
    let stripped = &text[text.len() - 58..];
    let e = app
        .verify(&keyward_client::Secret::new(stripped), Requirements::new())
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialMalformed));
    assert!(e.to_string().contains("part of the token"), "{e}");
}
