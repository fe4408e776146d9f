//! Start, stop, crash and restart: what survives, what is refused, what is left behind.

use crate::support::{binary, wait_for, Daemon};
use keyward_client::{Env, ErrorCode, Scopes};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// After kill -9 and a restart, every acknowledged credential verifies and every acknowledged
/// revocation still holds.
#[test]
fn crash_and_restart_keep_everything() {
    let mut daemon = Daemon::start();
    let (mut admin, key) = daemon.admin_client(Env::Live);
    let c = admin
        .client_create(Some("a".into()), Some(3), Scopes::new())
        .unwrap();
    let s2 = admin.session_issue(c.client_id).unwrap();
    let tk = admin.test_key_create(c.client_id).unwrap();
    let api = admin.api_token_create("svc", Scopes::new(), None).unwrap();
    let revoked = admin.session_issue(c.client_id).unwrap();
    admin.revoke(revoked.id).unwrap();
    drop(admin);
    daemon.kill9();
    daemon.restart();

    let mut app = daemon.client();
    let any = keyward_client::Requirements::new()
        .kind(keyward_client::CredentialKind::Session)
        .kind(keyward_client::CredentialKind::TestKey)
        .kind(keyward_client::CredentialKind::ApiToken)
        .kind(keyward_client::CredentialKind::AdminKey);
    for token in [&c.session.token, &s2.token, &tk.token, &api.token, &key] {
        app.verify(token, any.clone()).unwrap();
    }
    assert_eq!(
        app.verify(&revoked.token, keyward_client::Requirements::new())
            .unwrap_err()
            .code(),
        Some(ErrorCode::CredentialInvalid)
    );
    // Seats survived too: two live sessions of three, so exactly one more fits.
    let mut admin = daemon.client();
    admin.set_admin_key(key);
    admin.session_issue(c.client_id).unwrap();
    assert_eq!(
        admin.session_issue(c.client_id).unwrap_err().code(),
        Some(ErrorCode::SessionLimit)
    );
}

/// SIGTERM: exit status 0, socket removed, data flushed.
#[test]
fn sigterm_shuts_down_cleanly() {
    let mut daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let token = admin
        .client_create(None, None, Scopes::new())
        .unwrap()
        .session
        .token;
    // An idle open connection must not hold the shutdown up.
    let _idle = daemon.client();
    let status = daemon.terminate();
    assert!(
        status.success(),
        "exit status {status}: {}",
        daemon.log_text()
    );
    assert!(!daemon.socket.exists(), "socket left behind");
    daemon.restart();
    daemon
        .client()
        .verify(&token, keyward_client::Requirements::new())
        .unwrap();
}

/// A second daemon on the same data dir exits with a clear error and leaves the first alone.
#[test]
fn one_daemon_per_data_dir() {
    let daemon = Daemon::start();
    let other_socket = daemon.dir().join("other.sock");
    let out = Command::new(binary("keywardd"))
        .arg("--socket")
        .arg(&other_socket)
        .arg("--data-dir")
        .arg(&daemon.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already using data dir"), "{stderr}");
    assert!(!other_socket.exists());
    daemon.client().ping().unwrap();
}

/// A live socket is never replaced: a daemon on another data dir but the same socket refuses.
#[test]
fn live_socket_is_not_replaced() {
    let daemon = Daemon::start();
    let out = Command::new(binary("keywardd"))
        .arg("--socket")
        .arg(&daemon.socket)
        .arg("--data-dir")
        .arg(daemon.dir().join("data2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already listening"), "{stderr}");
    daemon.client().ping().unwrap();
}

/// A stale socket left by a dead daemon is replaced.
#[test]
fn stale_socket_is_replaced() {
    let mut daemon = Daemon::start();
    daemon.kill9();
    assert!(daemon.socket.exists(), "kill -9 leaves the socket file");
    daemon.restart();
    daemon.client().ping().unwrap();
}

/// The socket is 0660 and the data dir 0700.
#[test]
fn file_modes() {
    let daemon = Daemon::start();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&daemon.socket), 0o660);
    assert_eq!(mode(&daemon.data_dir), 0o700);
}

/// No token, or its random body, appears in the data dir or in trace-level logs.
#[test]
fn secrets_stay_out_of_disk_and_logs() {
    let mut daemon = Daemon::start_with("log_level = \"trace\"");
    let (mut admin, key) = daemon.admin_client(Env::Live);
    let c = admin.client_create(None, None, Scopes::new()).unwrap();
    let tk = admin.test_key_create(c.client_id).unwrap();
    let api = admin.api_token_create("svc", Scopes::new(), None).unwrap();
    let mut app = daemon.client();
    app.verify(&c.session.token, keyward_client::Requirements::new())
        .unwrap();
    let bad = format!("{}x", c.session.token.expose());
    let _ = app.verify(
        &keyward_client::Secret::new(bad),
        keyward_client::Requirements::new(),
    );
    app.logout(&tk.token).unwrap();
    drop((admin, app));
    assert!(daemon.terminate().success());

    let secrets = [&key, &c.session.token, &tk.token, &api.token];
    let bodies: Vec<&str> = secrets.iter().map(|s| &s.expose()[12..]).collect();
    let mut files = vec![];
    let mut stack = vec![daemon.data_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for body in &bodies {
            assert!(
                !bytes.windows(body.len()).any(|w| w == body.as_bytes()),
                "a token appears in {}",
                file.display()
            );
        }
    }
    let log = daemon.log_text();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging was not on"
    );
    for body in &bodies {
        assert!(!log.contains(body), "a token appears in the log");
    }
}

/// With a thread pool instead of the default single event loop, the daemon serves just the
/// same, concurrent clients included.
#[test]
fn thread_pool_runtime_serves() {
    let daemon = Daemon::start_with("worker_threads = 0\n");
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let token = created.session.token;
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut c = daemon.client();
                for _ in 0..50 {
                    c.verify(&token, keyward_client::Requirements::new())
                        .unwrap();
                }
            });
        }
    });
    admin.revoke(created.session.id).unwrap();
    assert!(daemon
        .client()
        .verify(&token, keyward_client::Requirements::new())
        .is_err());
}

/// The daemon refuses a config file with an unknown key instead of ignoring it.
#[test]
fn bad_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "idle_timout = \"1h\"\n").unwrap();
    let out = Command::new(binary("keywardd"))
        .arg("--config")
        .arg(&config)
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("idle_timout"));
}

/// With no flags at all, the daemon picks its default paths from the environment.
#[test]
fn runs_on_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary("keywardd"))
        .env("RUNTIME_DIRECTORY", dir.path().join("run"))
        .env("STATE_DIRECTORY", dir.path().join("state"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.path().join("run/keyward.sock");
    wait_for("the default socket to answer", || {
        keyward_client::blocking::Client::connect(&socket)
            .ok()?
            .ping()
            .ok()
    });
    assert!(dir.path().join("state/db").exists());
    child.kill().unwrap();
    child.wait().unwrap();
}
