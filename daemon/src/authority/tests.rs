//! Rules under an injected clock: sliding, the cap, kinds that never expire, seats, revocation,
//! environments and the sweep.

use super::*;
use crate::clock::ManualClock;
use keyward_protocol::{
    CredentialKind, Level, ListOrder, Requirements, ScopeRequirement, Scopes, Secret,
};
use std::time::Duration;

const H: i64 = 3_600_000;
const START: i64 = 1_700_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    auth: Authority,
    live: AdminContext,
}

fn fixture_with(policy: Policy) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START);
    let (auth, live) = test_authority(
        dir.path(),
        &clock,
        policy,
        crate::store::StoreOptions::default(),
    );
    Fixture {
        _dir: dir,
        clock,
        auth,
        live,
    }
}

fn fixture() -> Fixture {
    fixture_with(Policy::default())
}

fn ok<T>(o: Outcome<T>) -> T {
    o.expect("no fault").expect("allowed")
}

fn denied<T: std::fmt::Debug>(o: Outcome<T>) -> Denied {
    o.expect("no fault").expect_err("denied")
}

fn scopes(pairs: &[(&str, Level)]) -> Scopes {
    pairs.iter().map(|(n, l)| (n.to_string(), *l)).collect()
}

impl Fixture {
    fn client(&self) -> (uuid::Uuid, Secret) {
        let c = ok(self
            .auth
            .change()
            .create_client(
                self.live,
                Some("alice"),
                None,
                &Scopes::new(),
                NewIdentity::none(),
            )
            .acknowledged());
        (c.client_id, c.session.token)
    }

    fn verify(&self, token: &Secret) -> Outcome<keyward_protocol::Verified> {
        self.auth.verify(token, &Requirements::new())
    }
}

/// An unused session expires 24 h after issue, and not a moment later.
#[test]
fn idle_session_expires_after_24h() {
    let f = fixture();
    let (_, token) = f.client();
    f.clock.advance_ms(24 * H - 1);
    ok(f.verify(&token));
    let f2 = fixture();
    let (_, token) = f2.client();
    f2.clock.advance_ms(24 * H);
    assert_eq!(
        denied(f2.verify(&token)).code(),
        ErrorCode::CredentialInvalid
    );
}

/// Each use pushes the expiry to 24 h after that use.
#[test]
fn use_slides_expiry() {
    let f = fixture();
    let (_, token) = f.client();
    f.clock.advance_ms(20 * H);
    let v = ok(f.verify(&token));
    assert_eq!(v.expires_at, Some(START + 44 * H));
    f.clock.advance_ms(23 * H);
    ok(f.verify(&token));
}

/// Daily use keeps a session alive for 7 days from issue, and no longer.
#[test]
fn sliding_is_capped_at_seven_days() {
    let f = fixture();
    let (_, token) = f.client();
    for _ in 0..7 {
        f.clock.advance_ms(23 * H);
        ok(f.verify(&token));
    }
    f.clock.set(START + 168 * H - 1);
    assert_eq!(ok(f.verify(&token)).expires_at, Some(START + 168 * H));
    f.clock.set(START + 168 * H);
    assert_eq!(
        denied(f.verify(&token)).code(),
        ErrorCode::CredentialInvalid
    );
}

/// Test keys and API tokens without expiry verify years later; admin keys too.
#[test]
fn never_expiring_kinds() {
    let f = fixture();
    let (client, _) = f.client();
    let test_key = ok(f
        .auth
        .change()
        .create_test_key(f.live, client)
        .acknowledged());
    let api = ok(f
        .auth
        .change()
        .create_api_token(f.live, "ci", &Scopes::new(), None, NewIdentity::none())
        .acknowledged());
    let admin = ok(f
        .auth
        .change()
        .create_admin_key("other", Env::Live)
        .acknowledged());
    f.clock.advance_ms(5 * 365 * 24 * H);
    assert_eq!(ok(f.verify(&test_key.token)).expires_at, None);
    assert_eq!(ok(f.verify(&api.token)).kind, CredentialKind::ApiToken);
    let admin_too = Requirements::new().kind(CredentialKind::AdminKey);
    assert_eq!(
        ok(f.auth.verify(&admin.secret, &admin_too)).kind,
        CredentialKind::AdminKey
    );
    f.auth.change().sweep().unwrap();
    ok(f.verify(&test_key.token));
}

/// An API token created with an expiry stops verifying then, swept or not.
#[test]
fn api_token_with_expiry() {
    let f = fixture();
    let api = ok(f
        .auth
        .change()
        .create_api_token(
            f.live,
            "ci",
            &Scopes::new(),
            Some(Duration::from_secs(60)),
            NewIdentity::none(),
        )
        .acknowledged());
    assert_eq!(api.expires_at, Some(START + 60_000));
    f.clock.advance_ms(60_000);
    assert_eq!(
        denied(f.verify(&api.token)).code(),
        ErrorCode::CredentialInvalid
    );
    assert_eq!(f.auth.change().sweep().unwrap().swept, 1);
    assert_eq!(
        denied(f.verify(&api.token)).code(),
        ErrorCode::CredentialInvalid
    );
}

/// Seats: the limit holds; expiry and revocation free a seat at once; test keys and API tokens
/// never take one.
#[test]
fn seat_counting() {
    let f = fixture();
    let c = ok(f
        .auth
        .change()
        .create_client(f.live, None, Some(2), &Scopes::new(), NewIdentity::none())
        .acknowledged());
    ok(f.auth
        .change()
        .create_test_key(f.live, c.client_id)
        .acknowledged());
    ok(f.auth
        .change()
        .create_api_token(f.live, "x", &Scopes::new(), None, NewIdentity::none())
        .acknowledged());
    let second = ok(f
        .auth
        .change()
        .issue_session(f.live, c.client_id)
        .acknowledged());
    assert_eq!(
        denied(
            f.auth
                .change()
                .issue_session(f.live, c.client_id)
                .acknowledged()
        ),
        Denied::SessionLimit { limit: 2 }
    );
    ok(f.auth.change().logout(&second.token).acknowledged());
    let third = ok(f
        .auth
        .change()
        .issue_session(f.live, c.client_id)
        .acknowledged());
    // Keep the third alive; let the first expire without sweeping: its seat frees anyway.
    f.clock.advance_ms(12 * H);
    ok(f.verify(&third.token));
    f.clock.advance_ms(12 * H);
    ok(f.auth
        .change()
        .issue_session(f.live, c.client_id)
        .acknowledged());
    assert!(matches!(
        denied(
            f.auth
                .change()
                .issue_session(f.live, c.client_id)
                .acknowledged()
        ),
        Denied::SessionLimit { .. }
    ));
}

/// The daemon-wide default applies to clients without their own limit.
#[test]
fn default_seat_limit() {
    let f = fixture_with(Policy {
        max_sessions_per_client: 1,
        ..Policy::default()
    });
    let (client, _) = f.client();
    assert!(matches!(
        denied(f.auth.change().issue_session(f.live, client).acknowledged()),
        Denied::SessionLimit { limit: 1 }
    ));
}

/// Every kind of revocation takes effect at once.
#[test]
fn revocations() {
    let f = fixture();
    let (client, first) = f.client();
    let second = ok(f.auth.change().issue_session(f.live, client).acknowledged());
    let tk = ok(f
        .auth
        .change()
        .create_test_key(f.live, client)
        .acknowledged());
    assert_eq!(
        ok(f.auth.change().revoke(f.live, tk.id).acknowledged()),
        tk.id
    );
    assert_eq!(
        denied(f.verify(&tk.token)).code(),
        ErrorCode::CredentialInvalid
    );
    assert_eq!(
        ok(f.auth
            .change()
            .revoke_sessions(f.live, client)
            .acknowledged()),
        2
    );
    assert_eq!(
        denied(f.verify(&first)).code(),
        ErrorCode::CredentialInvalid
    );
    assert_eq!(
        denied(f.verify(&second.token)).code(),
        ErrorCode::CredentialInvalid
    );
    let key = ok(f
        .auth
        .change()
        .create_admin_key("temp", Env::Live)
        .acknowledged());
    ok(f.auth.change().revoke_admin_key(key.id).acknowledged());
    assert_eq!(
        denied(f.auth.authenticate_admin(&key.secret)).code(),
        ErrorCode::CredentialInvalid
    );
}

/// A client has at most one test key.
#[test]
fn one_test_key_per_client() {
    let f = fixture();
    let (client, _) = f.client();
    let first = ok(f
        .auth
        .change()
        .create_test_key(f.live, client)
        .acknowledged());
    assert!(matches!(
        denied(
            f.auth
                .change()
                .create_test_key(f.live, client)
                .acknowledged()
        ),
        Denied::BadRequest(_)
    ));
    ok(f.auth.change().revoke(f.live, first.id).acknowledged());
    ok(f.auth
        .change()
        .create_test_key(f.live, client)
        .acknowledged());
}

/// An admin key sees only its own environment; the other's objects are NOT_FOUND.
#[test]
fn environments_are_isolated() {
    let f = fixture();
    let (client, token) = f.client();
    let key = ok(f
        .auth
        .change()
        .create_admin_key("staging", Env::Test)
        .acknowledged());
    let test = ok(f.auth.authenticate_admin(&key.secret));
    assert_eq!(test.env, Env::Test);
    assert_eq!(
        denied(f.auth.change().issue_session(test, client).acknowledged()),
        Denied::NotFound("client")
    );
    assert_eq!(
        denied(f.auth.show_client(test, client, 100, None)),
        Denied::NotFound("client")
    );
    let id = ok(f.verify(&token)).credential_id;
    assert_eq!(
        denied(f.auth.change().revoke(test, id).acknowledged()),
        Denied::NotFound("credential")
    );
    assert!(f
        .auth
        .list_clients(test, 100, None, ListOrder::Id)
        .unwrap()
        .unwrap()
        .clients
        .is_empty());
}

/// Scope requirements: enough level passes, too little or a missing scope is FORBIDDEN.
#[test]
fn scope_requirements() {
    let f = fixture();
    let api = ok(f
        .auth
        .change()
        .create_api_token(
            f.live,
            "importer",
            &scopes(&[("photos", Level::Write)]),
            None,
            NewIdentity::none(),
        )
        .acknowledged());
    let need = |scope: &str, level| ScopeRequirement {
        scope: scope.into(),
        level,
    };
    ok(f.auth.verify(
        &api.token,
        &Requirements::new().scope(need("photos", Level::Read).clone()),
    ));
    ok(f.auth.verify(
        &api.token,
        &Requirements::new().scope(need("photos", Level::Write).clone()),
    ));
    let d = denied(f.auth.verify(
        &api.token,
        &Requirements::new().scope(need("photos", Level::Admin).clone()),
    ));
    assert_eq!(d.code(), ErrorCode::Forbidden);
    let d = denied(f.auth.verify(
        &api.token,
        &Requirements::new().scope(need("music", Level::Read).clone()),
    ));
    assert_eq!(d.code(), ErrorCode::Forbidden);
}

/// A verify that fails a kind or environment requirement is `CREDENTIAL_INVALID`, names the
/// requirement, and does not slide the session; admin keys verify only when asked for.
#[test]
fn failed_requirement_is_invalid_and_does_not_slide() {
    let f = fixture();
    let (_, token) = f.client();
    f.clock.advance_ms(20 * H);
    let test_only = Requirements::new().env(Env::Test);
    let d = denied(f.auth.verify(&token, &test_only));
    assert_eq!(d.code(), ErrorCode::CredentialInvalid);
    assert!(d.to_string().contains("environment"), "{d}");
    let keys_only = Requirements::new().kind(CredentialKind::TestKey);
    let d = denied(f.auth.verify(&token, &keys_only));
    assert_eq!(d.code(), ErrorCode::CredentialInvalid);
    assert!(d.to_string().contains("kind session"), "{d}");
    // Unslid: the session still expires 24 h after issue.
    f.clock.set(START + 24 * H);
    assert_eq!(
        denied(f.verify(&token)).code(),
        ErrorCode::CredentialInvalid
    );

    let admin = ok(f
        .auth
        .change()
        .create_admin_key("backend", Env::Live)
        .acknowledged());
    let d = denied(f.verify(&admin.secret));
    assert_eq!(d.code(), ErrorCode::CredentialInvalid);
    assert!(d.to_string().contains("admin_key"), "{d}");
    let live_admin = Requirements::new()
        .env(Env::Live)
        .kind(CredentialKind::AdminKey);
    ok(f.auth.verify(&admin.secret, &live_admin));
}

/// A session's scopes are its owner's on every verify: the table learns from the first
/// verify whether the owner has any, and a session of an owner without scopes then skips the
/// lookup, without ever hiding the scopes of an owner that has them.
#[test]
fn session_scopes_are_the_owners_on_every_verify() {
    let f = fixture();
    let granted = scopes(&[("photos", Level::Write)]);
    let scoped = ok(f
        .auth
        .change()
        .create_client(f.live, Some("scoped"), None, &granted, NewIdentity::none())
        .acknowledged());
    let second = ok(f
        .auth
        .change()
        .issue_session(f.live, scoped.client_id)
        .acknowledged());
    let (_, plain) = f.client();
    for _ in 0..3 {
        for token in [&scoped.session.token, &second.token] {
            assert_eq!(ok(f.verify(token)).scopes, granted);
        }
        assert_eq!(ok(f.verify(&plain)).scopes, Scopes::new());
    }
    let need = ScopeRequirement {
        scope: "photos".into(),
        level: Level::Write,
    };
    ok(f.auth
        .verify(&second.token, &Requirements::new().scope(need.clone())));
    let d = denied(
        f.auth
            .verify(&plain, &Requirements::new().scope(need.clone())),
    );
    assert_eq!(d.code(), ErrorCode::Forbidden);
}

/// A session token is not an admin key.
#[test]
fn session_is_not_an_admin_key() {
    let f = fixture();
    let (_, token) = f.client();
    assert_eq!(
        denied(f.auth.authenticate_admin(&token)).code(),
        ErrorCode::Forbidden
    );
}

/// Refusals read as English: "an api_token", "a session", "1 live session".
#[test]
fn refusals_have_grammar() {
    let f = fixture();
    let (_, token) = f.client();
    let msg = denied(f.auth.authenticate_admin(&token)).to_string();
    assert!(msg.ends_with("but a session was given"), "{msg}");
    let api = ok(f
        .auth
        .change()
        .create_api_token(f.live, "ci", &Scopes::new(), None, NewIdentity::none())
        .acknowledged());
    let msg = denied(f.auth.authenticate_admin(&api.token)).to_string();
    assert!(msg.ends_with("but an api_token was given"), "{msg}");
    let one = Denied::SessionLimit { limit: 1 }.to_string();
    assert!(one.contains("holds 1 live session,"), "{one}");
    let two = Denied::SessionLimit { limit: 2 }.to_string();
    assert!(two.contains("holds 2 live sessions,"), "{two}");
}

/// The sweep deletes exactly the expired sessions; a slid one stays.
#[test]
fn sweep_deletes_only_expired() {
    let f = fixture();
    let (_, idle) = f.client();
    let (_, active) = f.client();
    f.clock.advance_ms(20 * H);
    ok(f.verify(&active));
    f.clock.advance_ms(5 * H);
    let report = f.auth.change().sweep().unwrap();
    assert_eq!(report, SweepReport { swept: 1, moved: 0 });
    ok(f.verify(&active));
    assert_eq!(denied(f.verify(&idle)).code(), ErrorCode::CredentialInvalid);
    let stats = f.auth.stats().unwrap();
    assert_eq!(
        (
            stats.live_sessions,
            stats.sweeps_run,
            stats.credentials_swept
        ),
        (1, 1, 1)
    );
}

/// A moved-back clock does not revive an expired session, and moved-forward expires it.
#[test]
fn clock_jumps() {
    let f = fixture();
    let (_, token) = f.client();
    f.clock.advance_ms(-H);
    let v = ok(f.verify(&token));
    assert_eq!(v.expires_at, Some(START + 24 * H), "no slide backwards");
    f.clock.advance_ms(3 * 24 * H);
    assert_eq!(
        denied(f.verify(&token)).code(),
        ErrorCode::CredentialInvalid
    );
    f.clock.advance_ms(-3 * 24 * H);
    f.auth.change().sweep().unwrap();
}

/// Reopening the store keeps every credential and every revocation.
#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START);
    let (token, revoked, key) = {
        let auth = Authority::new(
            Store::open(dir.path()).unwrap(),
            Arc::new(clock.clone()),
            Policy::default(),
        );
        let key = ok(auth
            .change()
            .create_admin_key("k", Env::Live)
            .acknowledged());
        let ctx = ok(auth.authenticate_admin(&key.secret));
        let c = ok(auth
            .change()
            .create_client(ctx, None, None, &Scopes::new(), NewIdentity::none())
            .acknowledged());
        let gone = ok(auth.change().issue_session(ctx, c.client_id).acknowledged());
        ok(auth.change().logout(&gone.token).acknowledged());
        (c.session.token, gone.token, key.secret)
    };
    let auth = Authority::new(
        Store::open(dir.path()).unwrap(),
        Arc::new(clock),
        Policy::default(),
    );
    ok(auth.verify(&token, &Requirements::new()));
    ok(auth.authenticate_admin(&key));
    assert_eq!(
        denied(auth.verify(&revoked, &Requirements::new())).code(),
        ErrorCode::CredentialInvalid
    );
}

/// Malformed tokens are refused before any lookup, with the parser's explanation.
#[test]
fn malformed_tokens() {
    let f = fixture();
    let d = denied(f.verify(&Secret::new("TOKEN-da921ac3")));
    assert_eq!(d.code(), ErrorCode::CredentialMalformed);
    assert!(d.to_string().contains("prefix"), "{d}");
}

/// While a snapshot holds changes off, `try_change` declines at once (the event loop then
/// sends the change to the blocking pool) and `change` waits for the snapshot to end.
#[test]
fn snapshots_hold_changes_off() {
    let f = fixture();
    let (entered, go) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            f.auth.frozen(|_| {
                entered.wait();
                go.wait();
            })
        });
        entered.wait();
        assert!(f.auth.try_change().is_none(), "a change during a snapshot");
        go.wait();
    });
    assert!(f.auth.try_change().is_some());
    f.client();
}

/// Enabling restores what was there: a session disabled for a while keeps the expiry it had
/// (a refused verify does not slide it), and one that expired while disabled stays dead.
#[test]
fn enable_restores_expiry_and_expired_stays_dead() {
    let f = fixture();
    let idle = crate::clock::millis(Policy::default().idle_timeout);
    let (client, token) = f.client();
    let any = Requirements::new();
    let before = ok(f.auth.verify(&token, &any)).expires_at;
    ok(f.auth
        .change()
        .set_disabled(f.live, false, client, true)
        .acknowledged());
    f.clock.advance_ms(idle / 2);
    let refused = denied(f.auth.verify(&token, &any));
    assert_eq!(refused.code(), ErrorCode::CredentialDisabled);
    ok(f.auth
        .change()
        .set_disabled(f.live, false, client, false)
        .acknowledged());
    let found = f
        .auth
        .store()
        .credential_by_id(session_id_of(&token))
        .unwrap();
    assert_eq!(
        found.map(|f| f.record.expires_at),
        Some(before),
        "no slide while disabled"
    );
    ok(f.auth
        .change()
        .set_disabled(f.live, false, client, true)
        .acknowledged());
    f.clock.advance_ms(idle);
    ok(f.auth
        .change()
        .set_disabled(f.live, false, client, false)
        .acknowledged());
    assert_eq!(
        denied(f.auth.verify(&token, &any)).code(),
        ErrorCode::CredentialInvalid,
        "expired while disabled"
    );
}

fn session_id_of(token: &Secret) -> uuid::Uuid {
    crate::store::session_id(&keyward_protocol::token::hash(token.expose()))
}

/// `api-token list` pages are full while more tokens exist, however many clients (of either
/// environment) lie between them in id order, and a walk by pages of 2 sees each token once.
#[test]
fn api_token_pages_are_full_among_many_clients() {
    let f = fixture();
    let test = AdminContext {
        env: keyward_protocol::Env::Test,
        ..f.live
    };
    let mut tokens = Vec::new();
    for i in 0..7 {
        for ctx in [f.live, test] {
            for _ in 0..40 {
                ok(f.auth
                    .change()
                    .create_client(ctx, None, None, &Scopes::new(), NewIdentity::none())
                    .acknowledged());
            }
        }
        let name = format!("t{i}");
        let api = ok(f
            .auth
            .change()
            .create_api_token(f.live, &name, &Scopes::new(), None, NewIdentity::none())
            .acknowledged());
        tokens.push(api.principal_id);
        ok(f.auth
            .change()
            .create_api_token(test, &name, &Scopes::new(), None, NewIdentity::none())
            .acknowledged());
    }
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = ok(f
            .auth
            .list_api_tokens(f.live, 2, after.as_deref(), ListOrder::Id));
        let ids: Vec<_> = page.api_tokens.iter().map(|t| t.principal_id).collect();
        if page.next.is_some() && seen.len() + ids.len() < tokens.len() {
            assert_eq!(ids.len(), 2, "a short page while more tokens exist");
        }
        seen.extend(ids);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tokens.sort();
    assert_eq!(seen, tokens);
}
