//! Forward auth (`GET /v1/auth`) through Debian's real nginx and Caddy, configured from the
//! shipped `examples/nginx/keyward.conf` and `examples/caddy/Caddyfile` with only their socket
//! paths and listen address changed, in front of an app that echoes the `X-Keyward-*` headers
//! it receives.
//! Every socket is a Unix socket: no TCP port is opened.

use crate::support::{http_get, now_ms, wait_for, Daemon, HttpAnswer};
use axum::http::HeaderMap;
use axum::Router;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use keyward_client::{Env, Level, Scopes, Secret};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The shipped nginx example.
const NGINX_EXAMPLE: &str = include_str!("../../examples/nginx/keyward.conf");
/// The shipped Caddy example.
const CADDY_EXAMPLE: &str = include_str!("../../examples/caddy/Caddyfile");
/// Where the examples expect keywardd's HTTP socket and the app's.
const KEYWARD_SOCK: &str = "/run/keyward/http.sock";
const APP_SOCK: &str = "/run/app/app.sock";

/// `text` with `from` replaced by `to`, which must occur in it.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example no longer contains {from:?}"
    );
    text.replace(from, to)
}

/// A runtime of its own, for the app and the requests.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The app behind the proxy: answers every request with the `X-Keyward-*` headers it got, as
/// a JSON object of lowercase names.
async fn echo(headers: HeaderMap) -> String {
    let seen: BTreeMap<String, String> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-keyward-"))
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
        .collect();
    serde_json::to_string(&seen).unwrap()
}

/// A proxy in front of the echo app, on `socket`, stopped on drop.
struct Proxy {
    name: &'static str,
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

/// What the client got back through the proxy.
type Answer = HttpAnswer;

impl HttpAnswer {
    /// The headers the app saw.
    fn seen(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

impl Proxy {
    /// Starts the echo app and a temp dir for the proxy beside `daemon`.
    fn prepare(name: &'static str) -> (Proxy, Command) {
        let dir = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let app = dir.path().join("app.sock");
        runtime.block_on(async {
            let listener = tokio::net::UnixListener::bind(&app).unwrap();
            let router = Router::new().fallback(echo);
            tokio::spawn(async move { axum::serve(listener, router).await });
        });
        let program = match name {
            "nginx" => "/usr/sbin/nginx",
            _ => "/usr/bin/caddy",
        };
        assert!(
            Path::new(program).exists(),
            "{program} is missing: scripts/test installs it (apt-get install {name})"
        );
        let proxy = Proxy {
            name,
            // Replaced by the caller once the config is written.
            child: Command::new("true").spawn().unwrap(),
            socket: dir.path().join("proxy.sock"),
            log: dir.path().join("error.log"),
            runtime,
            dir,
        };
        (proxy, Command::new(program))
    }

    /// nginx from the shipped example, in front of `daemon`.
    fn nginx(daemon: &Daemon) -> Proxy {
        let (proxy, mut command) = Proxy::prepare("nginx");
        let dir = proxy.dir.path().to_owned();
        let site = substitute(NGINX_EXAMPLE, KEYWARD_SOCK, path(&http_sock(daemon)));
        let site = substitute(&site, APP_SOCK, path(&dir.join("app.sock")));
        let site = substitute(
            &site,
            "listen 80;",
            &format!("listen unix:{};", path(&proxy.socket)),
        );
        std::fs::write(dir.join("keyward.conf"), site).unwrap();
        let d = path(&dir);
        // The suite runs as root: the workers stay root so they reach the 0700 temp dirs.
        let user = if nix::unistd::geteuid().is_root() {
            "user root;"
        } else {
            ""
        };
        let main = format!(
            "{user}\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\ninclude {d}/keyward.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        command.args(["-p", d, "-e", &format!("{d}/error.log"), "-c"]);
        command
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"]);
        proxy.start(command)
    }

    /// Caddy from the shipped example, in front of `daemon`.
    fn caddy(daemon: &Daemon) -> Proxy {
        let (proxy, mut command) = Proxy::prepare("caddy");
        let dir = proxy.dir.path().to_owned();
        let site = substitute(CADDY_EXAMPLE, KEYWARD_SOCK, path(&http_sock(daemon)));
        let site = substitute(&site, APP_SOCK, path(&dir.join("app.sock")));
        let site = substitute(
            &site,
            ":80 {",
            &format!("http:// {{\n\tbind unix/{}", path(&proxy.socket)),
        );
        let config = format!("{{\n\tadmin off\n\tauto_https off\n}}\n\n{site}");
        std::fs::write(dir.join("Caddyfile"), config).unwrap();
        command
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stderr(std::fs::File::create(&proxy.log).unwrap());
        proxy.start(command)
    }

    /// Runs the proxy and waits until it answers on its socket.
    fn start(mut self, mut command: Command) -> Proxy {
        let _ = self.child.wait();
        self.child = command.stdin(Stdio::null()).spawn().unwrap();
        let name = self.name;
        wait_for(&format!("{name} to listen"), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} exited with {status}: {}", self.log_text());
            }
            std::os::unix::net::UnixStream::connect(&self.socket)
                .ok()
                .map(|_| ())
        });
        self
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` through the proxy with `headers`.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut all = vec![("host", "app.example")];
        all.extend_from_slice(headers);
        self.runtime.block_on(http_get(&self.socket, path, &all))
    }

    fn bearer(&self, path: &str, token: &Secret) -> Answer {
        self.get(path, &[("authorization", &bearer(token))])
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM: nginx's master stops its workers, Caddy exits; both are waited for.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn http_sock(daemon: &Daemon) -> PathBuf {
    daemon.socket.with_file_name("http.sock")
}

fn bearer(token: &Secret) -> String {
    format!("Bearer {}", token.expose())
}

/// A 401 for a bad token, with its reason in `X-Keyward-Error`.
fn assert_invalid(proxy: &Proxy, answer: &Answer, code: &str) {
    let name = proxy.name;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{name}: {answer:?}"
    );
    assert_eq!(
        answer.header("www-authenticate"),
        Some(r#"Bearer realm="keyward", error="invalid_token""#),
        "{name}: {answer:?}"
    );
    assert_eq!(
        answer.header("x-keyward-error"),
        Some(code),
        "{name}: {answer:?}"
    );
}

/// Every case of the issue but expiry, through `proxy` in front of `daemon`.
fn cases(daemon: &Daemon, proxy: &Proxy) {
    let name = proxy.name;
    let (mut live, _) = daemon.admin_client(Env::Live);
    let (mut test, _) = daemon.admin_client(Env::Test);
    let reader = live
        .client_create_with(
            None,
            None,
            [("catalog-a".to_owned(), Level::Read)].into(),
            Some("reader-1".into()),
            [("plan".to_owned(), "pro".to_owned())].into(),
        )
        .unwrap();
    let writer = live
        .client_create(None, None, [("catalog-a".to_owned(), Level::Write)].into())
        .unwrap();
    let test_writer = test
        .client_create(None, None, [("catalog-a".to_owned(), Level::Write)].into())
        .unwrap();
    let test_key = test.test_key_create(test_writer.client_id).unwrap();
    let api = live.api_token_create("ci", Scopes::new(), None).unwrap();

    // No token: the bare challenge.
    let none = proxy.get("/", &[]);
    assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{name}: {none:?}");
    assert_eq!(
        none.header("www-authenticate"),
        Some(r#"Bearer realm="keyward""#),
        "{name}"
    );

    // A malformed token, with its reason.
    let garbage = Secret::new("kw_ses_live_garbage");
    assert_invalid(proxy, &proxy.bearer("/", &garbage), "CREDENTIAL_MALFORMED");

    // A valid session: its identity reaches the app, and the client's forged headers do not.
    let forged = [
        ("authorization", bearer(&reader.session.token)),
        (
            "x-keyward-principal",
            "00000000-0000-0000-0000-000000000000".into(),
        ),
        ("x-keyward-scopes", "catalog-a=admin".into()),
        ("x-keyward-external-id", "someone-else".into()),
    ];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let seen = proxy.get("/", &forged).seen();
    assert_eq!(
        seen["x-keyward-principal"],
        reader.client_id.to_string(),
        "{name}"
    );
    assert_eq!(seen["x-keyward-external-id"], "reader-1", "{name}");
    assert_eq!(seen["x-keyward-kind"], "session", "{name}");
    assert_eq!(seen["x-keyward-env"], "live", "{name}");
    assert_eq!(
        seen["x-keyward-credential"],
        reader.session.id.to_string(),
        "{name}"
    );
    assert_eq!(seen["x-keyward-scopes"], "catalog-a=read", "{name}");
    let expires = seen["x-keyward-expires"].as_str().unwrap();
    humantime::parse_rfc3339(expires).unwrap_or_else(|e| panic!("{name}: {expires}: {e}"));

    // An API token without scopes or expiry: the client's forged scopes do not survive the
    // empty value.
    let forged = [
        ("authorization", bearer(&api.token)),
        ("x-keyward-scopes", "catalog-a=admin".into()),
        (
            "x-keyward-principal",
            "00000000-0000-0000-0000-000000000000".into(),
        ),
        ("x-keyward-external-id", "someone-else".into()),
    ];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let seen = proxy.get("/", &forged).seen();
    assert_eq!(
        seen["x-keyward-principal"],
        api.principal_id.to_string(),
        "{name}"
    );
    assert!(
        seen.get("x-keyward-external-id").is_none_or(|s| s == ""),
        "{name}: {seen}"
    );
    assert_eq!(seen["x-keyward-kind"], "api_token", "{name}");
    assert_eq!(seen["x-keyward-expires"], "never", "{name}");
    assert!(
        seen.get("x-keyward-scopes").is_none_or(|s| s == ""),
        "{name}: {seen}"
    );

    // A wrong scope level: 403.
    let low = proxy.bearer("/catalog/items", &reader.session.token);
    assert_eq!(low.status, StatusCode::FORBIDDEN, "{name}: {low:?}");
    assert_eq!(low.header("x-keyward-error"), Some("FORBIDDEN"), "{name}");
    let seen = proxy.bearer("/catalog/items", &writer.session.token).seen();
    assert_eq!(seen["x-keyward-scopes"], "catalog-a=write", "{name}");

    // A test key where live is required; it passes where nothing is.
    let wrong_env = proxy.bearer("/catalog/items", &test_key.token);
    assert_invalid(proxy, &wrong_env, "CREDENTIAL_INVALID");
    let seen = proxy.bearer("/", &test_key.token).seen();
    assert_eq!(seen["x-keyward-env"], "test", "{name}");
    assert_eq!(seen["x-keyward-kind"], "test_key", "{name}");

    // The token in ?session= (the asset seed's API), and in the cookie.
    let token = writer.session.token.expose();
    let seen = proxy
        .get(&format!("/catalog/items?x=1&session={token}"), &[])
        .seen();
    assert_eq!(
        seen["x-keyward-principal"],
        writer.client_id.to_string(),
        "{name}"
    );
    let cookie = format!("theme=dark; keyward_session={token}");
    let seen = proxy.get("/", &[("cookie", &cookie)]).seen();
    assert_eq!(
        seen["x-keyward-principal"],
        writer.client_id.to_string(),
        "{name}"
    );

    // A revoked token is refused on the next request.
    live.revoke(writer.session.id).unwrap();
    let revoked = proxy.bearer("/", &writer.session.token);
    assert_invalid(proxy, &revoked, "CREDENTIAL_INVALID");
    let revoked = proxy.get(&format!("/?session={token}"), &[]);
    assert_invalid(proxy, &revoked, "CREDENTIAL_INVALID");
}

/// nginx with the shipped `keyward.conf`: every case of the issue.
#[test]
fn nginx_forward_auth() {
    let daemon = Daemon::start();
    let proxy = Proxy::nginx(&daemon);
    cases(&daemon, &proxy);
}

/// Caddy with the shipped `Caddyfile`: every case of the issue.
#[test]
fn caddy_forward_auth() {
    let daemon = Daemon::start();
    let proxy = Proxy::caddy(&daemon);
    cases(&daemon, &proxy);
}

/// A forward-auth verify slides a session: one made halfway through its idle time keeps it
/// alive past its first expiry; once idle past `idle_timeout`, it is refused through both
/// proxies.
#[test]
fn expired_session_is_refused_through_both_proxies() {
    let daemon = Daemon::start_with("idle_timeout = \"4s\"\n");
    let nginx = Proxy::nginx(&daemon);
    let caddy = Proxy::caddy(&daemon);
    let (mut live, _) = daemon.admin_client(Env::Live);
    let created = live.client_create(None, None, Scopes::new()).unwrap();
    let token = &created.session.token;
    let first_expiry = created.session.expires_at;
    let expires = |seen: &Value| {
        humantime::parse_rfc3339(seen["x-keyward-expires"].as_str().unwrap())
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    wait_for("half the idle time", || {
        (now_ms() > first_expiry - 2_000).then_some(())
    });
    let slid = expires(&nginx.bearer("/", token).seen());
    assert!(slid > first_expiry, "{slid} <= {first_expiry}");
    wait_for("the first expiry to pass", || {
        (now_ms() > first_expiry + 200).then_some(())
    });
    let last = expires(&caddy.bearer("/", token).seen());
    // The RFC 3339 value is in whole seconds: wait one more.
    wait_for("the session to pass its idle expiry", || {
        (now_ms() > last + 1_100).then_some(())
    });
    for proxy in [&nginx, &caddy] {
        assert_invalid(proxy, &proxy.bearer("/", token), "CREDENTIAL_INVALID");
    }
}

/// `GET /v1/auth` straight on `http.sock` with `headers`: the status and the response head.
fn auth_direct(daemon: &Daemon, headers: &[(&str, &str)]) -> (u16, HeaderMap) {
    runtime().block_on(async {
        let stream = tokio::net::UnixStream::connect(http_sock(daemon))
            .await
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut builder = Request::get("/v1/auth").header("host", "keyward");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = sender
            .send_request(builder.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        (response.status().as_u16(), response.headers().clone())
    })
}

/// Every identity header is in a 204 even when its value is empty, since older Caddy keeps a
/// header the client forged when the auth reply lacks it; no token is the bare challenge, a
/// scope too low is 403 `insufficient_scope`, and a bad requirement is a 400.
#[test]
fn every_identity_header_is_sent_even_when_empty() {
    let daemon = Daemon::start();
    let (mut live, _) = daemon.admin_client(Env::Live);
    let api = live.api_token_create("ci", Scopes::new(), None).unwrap();
    let token = bearer(&api.token);
    let (status, headers) = auth_direct(&daemon, &[("authorization", &token)]);
    assert_eq!(status, 204, "{headers:?}");
    let value = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing: {headers:?}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(value("x-keyward-principal"), api.principal_id.to_string());
    assert_eq!(value("x-keyward-kind"), "api_token");
    assert_eq!(value("x-keyward-env"), "live");
    assert_eq!(value("x-keyward-credential"), api.id.to_string());
    assert_eq!(value("x-keyward-scopes"), "");
    assert_eq!(value("x-keyward-expires"), "never");
    assert_eq!(value("x-keyward-external-id"), "");

    let (status, headers) = auth_direct(&daemon, &[]);
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="keyward""#);
    let reader = live
        .client_create(None, None, [("catalog-a".to_owned(), Level::Read)].into())
        .unwrap();
    let write = [
        ("authorization", bearer(&reader.session.token)),
        ("x-keyward-require-scope", "catalog-a".into()),
        ("x-keyward-require-level", "write".into()),
    ];
    let write: Vec<(&str, &str)> = write.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, headers) = auth_direct(&daemon, &write);
    assert_eq!(status, 403);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="keyward", error="insufficient_scope""#
    );
    assert_eq!(headers["x-keyward-error"], "FORBIDDEN");

    for (name, bad) in [
        ("x-keyward-require-env", "prod"),
        ("x-keyward-require-kind", "session,cookie"),
    ] {
        let (status, headers) = auth_direct(&daemon, &[("authorization", &token), (name, bad)]);
        assert_eq!(status, 400, "{name}: {headers:?}");
    }
}
