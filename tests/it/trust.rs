//! Clients trust the daemon at the other end of the socket, not the socket's path: a listener
//! running as another uid gets nothing, not even the handshake, unless the caller names that uid.

use crate::support::{
    binary, json, require_root, shared_copy, wait_for, ForeignDaemon, DEADLINE, NOBODY,
};
use keyward_client::{ConnectOptions, CredentialKind, Env};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Set to a socket path, it makes [`impostor_listener`] listen there.
const IMPOSTOR_VAR: &str = "KEYWARD_IT_IMPOSTOR";

/// Not a check by itself: with `$KEYWARD_IT_IMPOSTOR` set, which only [`start_impostor`] does,
/// this is the impostor. It listens on that path, takes one connection, and prints how many
/// bytes arrived before the peer closed or a few seconds passed.
#[test]
fn impostor_listener() {
    let Some(path) = std::env::var_os(IMPOSTOR_VAR) else {
        return;
    };
    let listener = UnixListener::bind(&path).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let mut received = Vec::new();
    // A timeout ends the read as an error; what arrived before it is in `received`.
    let _ = conn.read_to_end(&mut received);
    println!("impostor received {} bytes", received.len());
}

/// Runs [`impostor_listener`] as `uid` on `socket` and waits until it listens.
fn start_impostor(uid: u32, socket: &Path) -> Child {
    let exe = shared_copy(&std::env::current_exe().unwrap());
    let child = Command::new(exe)
        .args([
            "--exact",
            "trust::impostor_listener",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(IMPOSTOR_VAR, socket)
        .uid(uid)
        .gid(uid)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the impostor to listen", || socket.exists().then_some(()));
    child
}

/// How many bytes the impostor received, from its output.
fn impostor_received(child: Child) -> usize {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split("impostor received ").nth(1))
        .and_then(|l| l.strip_suffix(" bytes"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count from the impostor: {out:?}"))
}

/// Runs the CLI as root with an admin key in the environment.
fn cli_with_key(socket: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let key = keyward_protocol::token::generate(CredentialKind::AdminKey, Env::Live).unwrap();
    Command::new(binary("keyward"))
        .args(args)
        .env("KEYWARD_SOCKET", socket)
        .env("KEYWARD_ADMIN_KEY", key.expose())
        .env_remove("KEYWARD_DAEMON_UID")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A squatted socket directory under /tmp: another user made it first, mode 0777, and listens
/// there. The CLI refuses before sending a byte (so no admin key), with UNTRUSTED_DAEMON and
/// exit status 3, naming the socket and the uid; a human run says the same on stderr.
#[test]
fn impostor_gets_nothing() {
    require_root();
    let base = ForeignDaemon::dir_for(NOBODY);
    let squat = base.path().join("keyward-1000");
    std::fs::create_dir(&squat).unwrap();
    std::fs::set_permissions(&squat, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = squat.join("keyward.sock");

    let impostor = start_impostor(NOBODY, &socket);
    let out = cli_with_key(&socket, &["client", "list", "--json"], &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let error = &json(&out)["error"];
    assert_eq!(error["code"], "UNTRUSTED_DAEMON", "{out:?}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&socket.display().to_string()), "{message}");
    assert!(message.contains("uid 65534"), "{message}");
    assert_eq!(impostor_received(impostor), 0, "the impostor heard from us");

    std::fs::remove_file(&socket).unwrap();
    let impostor = start_impostor(NOBODY, &socket);
    let out = cli_with_key(&socket, &["ping"], &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("keyward: UNTRUSTED_DAEMON: refusing to talk to"),
        "{stderr}"
    );
    assert!(stderr.contains("KEYWARD_DAEMON_UID=65534"), "{stderr}");
    assert_eq!(impostor_received(impostor), 0);

    // Once the caller names the uid, it is trusted: the handshake goes out.
    std::fs::remove_file(&socket).unwrap();
    let impostor = start_impostor(NOBODY, &socket);
    let out = cli_with_key(
        &socket,
        &["ping", "--json"],
        &[("KEYWARD_DAEMON_UID", "65534")],
    );
    assert_ne!(json(&out)["error"]["code"], "UNTRUSTED_DAEMON", "{out:?}");
    assert!(impostor_received(impostor) > 0);
}

/// A real daemon running as another uid is refused by default, and served once trusted through
/// `$KEYWARD_DAEMON_UID` (CLI) or `ConnectOptions::trust_uid` (library, blocking and async).
#[test]
fn daemon_of_another_uid_is_trusted_only_when_named() {
    require_root();
    let daemon = ForeignDaemon::start(NOBODY);
    let socket = daemon.socket.as_path();
    let out = cli_with_key(socket, &["ping", "--json"], &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(json(&out)["error"]["code"], "UNTRUSTED_DAEMON");
    for list in ["65534", "1,65534", " 65534 "] {
        let out = cli_with_key(socket, &["ping", "--json"], &[("KEYWARD_DAEMON_UID", list)]);
        assert_eq!(out.status.code(), Some(0), "{list:?}: {out:?}");
    }

    let err = keyward_client::blocking::Client::connect_with(
        socket,
        &ConnectOptions::without_environment(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            keyward_client::Error::UntrustedDaemon { uid: NOBODY, .. }
        ),
        "{err}"
    );
    let options = ConnectOptions::without_environment().trust_uid(NOBODY);
    keyward_client::blocking::Client::connect_with(socket, &options)
        .unwrap()
        .ping()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let refused =
            keyward_client::Client::connect_with(socket, &ConnectOptions::without_environment())
                .await;
        assert!(matches!(
            refused,
            Err(keyward_client::Error::UntrustedDaemon { .. })
        ));
        let mut client = tokio::time::timeout(DEADLINE, options.connect(socket))
            .await
            .unwrap()
            .unwrap();
        client.ping().await.unwrap();
    });
}
