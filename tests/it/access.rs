//! Host-admin decisions come from SO_PEERCRED: another uid is refused admin-key management.

use crate::support::{
    binary, json, require_root, run_as, shared_base, shared_copy, Daemon, NOBODY,
};
use keyward_client::{Env, Scopes};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

/// A CLI run as `nobody` may verify tokens but gets FORBIDDEN for admin-key commands.
#[test]
fn non_admin_peer_is_refused() {
    require_root();
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let token = admin
        .client_create(None, None, Scopes::new())
        .unwrap()
        .session
        .token;
    daemon.open_socket_to_all();

    let as_nobody = |args: &[&str]| daemon.cli_as(NOBODY, args);
    for args in [
        &["admin-key", "create", "--label", "x", "--json"][..],
        &["admin-key", "list", "--json"][..],
    ] {
        let out = as_nobody(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert_eq!(json(&out)["error"]["code"], "FORBIDDEN", "{args:?}");
    }
    let out = as_nobody(&["verify", token.expose(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The refusal is logged with the peer's uid.
    assert!(
        daemon.log_text().contains("uid=65534"),
        "{}",
        daemon.log_text()
    );
}

/// A checkout under a directory other users cannot enter (root's home is 0700) still runs the
/// tests that switch to `nobody`: they run shared copies of the binaries.
#[test]
fn private_checkout_binaries_reach_nobody() {
    require_root();
    let daemon = Daemon::start();
    daemon.open_socket_to_all();
    let private = tempfile::Builder::new()
        .prefix("keyward-it-private")
        .tempdir_in(shared_base())
        .unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let checkout = private.path().join("keyward");
    std::fs::copy(binary("keyward"), &checkout).unwrap();
    let env = [("KEYWARD_SOCKET", daemon.socket.as_os_str())];
    // The failure this guards against: nobody cannot run a binary inside the private dir.
    let err = std::process::Command::new(&checkout)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    let out = run_as(NOBODY, &shared_copy(&checkout), &["ping", "--json"], &env);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A peer without permission on the socket is told which socket it tried and which group to
/// join; `ping` names the socket it used.
#[test]
fn permission_denied_names_socket_and_group() {
    require_root();
    let daemon = Daemon::start();
    daemon.open_socket_to_all();
    let out = daemon.cli_as(NOBODY, &["ping"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&daemon.socket.display().to_string()),
        "{stdout}"
    );
    // The directories stay open, the socket goes back to owner and group only (root:root).
    std::fs::set_permissions(&daemon.socket, std::fs::Permissions::from_mode(0o660)).unwrap();
    let out = daemon.cli_as(NOBODY, &["ping", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let message = json(&out)["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&daemon.socket.display().to_string()),
        "{message}"
    );
    assert!(message.contains("group root"), "{message}");
    assert!(message.contains("usermod -aG root"), "{message}");
}
