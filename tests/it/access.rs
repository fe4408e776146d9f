//! Host-admin decisions come from SO_PEERCRED: another uid is refused admin-key management.

use crate::support::{binary, json, Daemon};
use keyward_client::{Env, Scopes};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The uid and gid of `nobody` on Debian.
pub const NOBODY: u32 = 65534;

/// Fails with a clear message when the suite cannot switch uids.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test switches to another uid and must run as root, as the README's test command does"
    );
}

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

    let as_nobody = |args: &[&str]| {
        Command::new(binary("keyward"))
            .args(args)
            .env("KEYWARD_SOCKET", &daemon.socket)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    };
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
