//! The `axum` feature of the client crate: a real axum app served on a Unix socket, guarded by
//! `keyward_client::axum::layer` against the real `keywardd`, and called with real HTTP/1.1
//! requests.

use crate::support::{http_get, wait_for, Daemon, HttpAnswer};
use axum::routing::get;
use axum::Router;
use hyper::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::StatusCode;
use keyward_client::axum::Verified;
use keyward_client::{
    CredentialKind, Env, Level, Requirements, ScopeRequirement, Scopes, Secret, SharedClient,
};
use std::path::{Path, PathBuf};

/// The handler behind the layer: answers with the identity it was handed.
async fn whoami(Verified(who): Verified) -> String {
    format!("{} {} {}", who.principal_id, who.kind, who.env)
}

/// An axum app on its own Unix socket and runtime: `/whoami` behind the layer, and
/// `/unguarded`, which asks for the identity without the layer.
struct App {
    runtime: tokio::runtime::Runtime,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// What the app answered.
type Answer = HttpAnswer;

impl HttpAnswer {
    /// The code of a `{"error":{"code","message"}}` body.
    fn code(&self) -> String {
        let body: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{e}: not JSON: {}", self.body));
        body["error"]["code"].as_str().expect("a code").to_owned()
    }
}

impl App {
    /// Serves the app, verifying tokens with the daemon at `daemon` against `require`.
    fn serve(daemon: &Path, require: Requirements) -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("app.sock");
        runtime.block_on(async {
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            let keyward = SharedClient::new(daemon);
            let app = Router::new()
                .route("/whoami", get(whoami))
                .layer(keyward_client::axum::layer(keyward, require))
                .merge(Router::new().route("/unguarded", get(whoami)));
            tokio::spawn(async move { axum::serve(listener, app).await });
        });
        App {
            runtime,
            socket,
            _dir: dir,
        }
    }

    /// `GET path` with `authorization`, if any, as the `Authorization` header.
    fn get(&self, path: &str, authorization: Option<&str>) -> Answer {
        self.runtime
            .block_on(request(&self.socket, path, authorization))
    }

    /// `GET /whoami` with `token` as the bearer token.
    fn whoami(&self, token: &Secret) -> Answer {
        self.get("/whoami", Some(&format!("Bearer {}", token.expose())))
    }
}

/// One HTTP/1.1 request on a new connection to the app at `socket`.
async fn request(socket: &Path, path: &str, authorization: Option<&str>) -> Answer {
    let mut headers = vec![("host", "app")];
    if let Some(value) = authorization {
        headers.push(("authorization", value));
    }
    http_get(socket, path, &headers).await
}

/// Asserts a 401 for a bad token: `error="invalid_token"` and `code` in the body.
fn invalid_token(answer: &Answer, code: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(
        answer.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="keyward", error="invalid_token""#)
    );
    assert_eq!(answer.code(), code);
}

/// A valid session gets through with its identity; no token is a bare challenge; a malformed
/// token is `invalid_token`; a handler outside the layer fails closed.
#[test]
fn layer_admits_valid_sessions_and_challenges_the_rest() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let app = App::serve(&daemon.socket, Requirements::new());

    let ok = app.whoami(&created.session.token);
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body, format!("{} session live", created.client_id));

    for missing in [None, Some("Basic dXNlcjpwYXNz")] {
        let answer = app.get("/whoami", missing);
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
        assert_eq!(
            answer.header(WWW_AUTHENTICATE),
            Some(r#"Bearer realm="keyward""#)
        );
        assert_eq!(answer.code(), "CREDENTIAL_MISSING");
    }
    invalid_token(
        &app.get("/whoami", Some("Bearer kw_ses_live_garbage")),
        "CREDENTIAL_MALFORMED",
    );

    let token = format!("Bearer {}", created.session.token.expose());
    let unguarded = app.get("/unguarded", Some(&token));
    assert_eq!(unguarded.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(unguarded.code(), "INTERNAL");
}

/// Nothing is cached: the request right after a revocation is refused.
#[test]
fn revoked_token_is_refused_on_the_very_next_request() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let app = App::serve(&daemon.socket, Requirements::new());
    assert_eq!(app.whoami(&created.session.token).status, StatusCode::OK);
    admin.revoke(created.session.id).unwrap();
    invalid_token(&app.whoami(&created.session.token), "CREDENTIAL_INVALID");
}

/// A layer pinned to the test environment and to sessions refuses a live session and a test
/// key, and admits a test session.
#[test]
fn pinned_environment_and_kind_refuse_the_rest() {
    let daemon = Daemon::start();
    let (mut live, _) = daemon.admin_client(Env::Live);
    let (mut test, _) = daemon.admin_client(Env::Test);
    let live_session = live.client_create(None, None, Scopes::new()).unwrap();
    let test_session = test.client_create(None, None, Scopes::new()).unwrap();
    let test_key = test.test_key_create(test_session.client_id).unwrap();
    let pinned = Requirements::new()
        .env(Env::Test)
        .kind(CredentialKind::Session);
    let app = App::serve(&daemon.socket, pinned);

    invalid_token(
        &app.whoami(&live_session.session.token),
        "CREDENTIAL_INVALID",
    );
    invalid_token(&app.whoami(&test_key.token), "CREDENTIAL_INVALID");
    let ok = app.whoami(&test_session.session.token);
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.ends_with("session test"), "{}", ok.body);
}

/// A token whose scope level is below the one required is a 403 `insufficient_scope`.
#[test]
fn scope_too_low_is_forbidden() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let reader = admin
        .client_create(None, None, [("photos".to_owned(), Level::Read)].into())
        .unwrap();
    let writer = admin
        .client_create(None, None, [("photos".to_owned(), Level::Write)].into())
        .unwrap();
    let write_photos = Requirements::new().scope(ScopeRequirement {
        scope: "photos".into(),
        level: Level::Write,
    });
    let app = App::serve(&daemon.socket, write_photos);

    let answer = app.whoami(&reader.session.token);
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(
        answer.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="keyward", error="insufficient_scope""#)
    );
    assert_eq!(answer.code(), "FORBIDDEN");
    assert_eq!(app.whoami(&writer.session.token).status, StatusCode::OK);
}

/// While the daemon is down the layer answers 503 with `Retry-After`; once it is back, the
/// next request is served on a new connection.
#[test]
fn layer_reconnects_after_the_daemon_restarts() {
    let mut daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let app = App::serve(&daemon.socket, Requirements::new());
    assert_eq!(app.whoami(&created.session.token).status, StatusCode::OK);

    daemon.terminate();
    let down = app.whoami(&created.session.token);
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    assert_eq!(down.header(RETRY_AFTER), Some("1"));
    assert_eq!(down.code(), "UNAVAILABLE");

    daemon.restart();
    let back = app.whoami(&created.session.token);
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
}

/// A connection the daemon closed while idle is replaced without failing the request that
/// finds it closed.
#[test]
fn idle_connection_closed_by_the_daemon_costs_no_request() {
    let daemon = Daemon::start_with("connection_idle_timeout = \"300ms\"\n");
    let created = {
        let (mut admin, _) = daemon.admin_client(Env::Live);
        admin.client_create(None, None, Scopes::new()).unwrap()
    };
    let app = App::serve(&daemon.socket, Requirements::new());
    assert_eq!(app.whoami(&created.session.token).status, StatusCode::OK);
    // Only the client asking is open: the layer's connection has been closed.
    wait_for("the daemon to close the idle connection", || {
        (daemon.client().stats().ok()?.connections_open == 1).then_some(())
    });
    let answer = app.whoami(&created.session.token);
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

/// Concurrent requests to the app share the layer's one connection to the daemon.
#[test]
fn concurrent_requests_share_one_connection() {
    const REQUESTS: usize = 32;
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let app = App::serve(&daemon.socket, Requirements::new());
    let before = admin.stats().unwrap().connections_total;

    let authorization = format!("Bearer {}", created.session.token.expose());
    let statuses = app.runtime.block_on(async {
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..REQUESTS {
            let socket = app.socket.clone();
            let authorization = authorization.clone();
            requests.spawn(async move {
                request(&socket, "/whoami", Some(&authorization))
                    .await
                    .status
            });
        }
        requests.join_all().await
    });
    assert_eq!(statuses, vec![StatusCode::OK; REQUESTS]);

    let stats = admin.stats().unwrap();
    assert_eq!(
        stats.connections_total - before,
        1,
        "{REQUESTS} requests opened more than one connection"
    );
}
