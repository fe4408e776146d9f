//! A damaged data dir: the daemon fails closed, with a clear message and a non-zero exit, and
//! never serves from a half-read store.

use crate::support::Daemon;
use keyward_client::{Env, Scopes};
use std::os::unix::fs::FileExt;

/// Fills a daemon with acknowledged changes, then stops it cleanly.
fn daemon_with_history() -> Daemon {
    let mut daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    for _ in 0..200 {
        let c = admin.client_create(None, None, Scopes::new()).unwrap();
        // A revocation is what must never be lost.
        admin.revoke(c.session.id).unwrap();
    }
    drop(admin);
    assert!(daemon.terminate().success());
    daemon
}

/// Starts the daemon on its damaged dir and asserts it refuses, saying why.
fn assert_refuses(daemon: &Daemon, says: &str) {
    let out = daemon.command().output().unwrap();
    assert!(!out.status.success(), "started on a damaged data dir");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(says), "{stderr}");
    assert!(
        !daemon.socket.exists(),
        "bound a socket for a damaged store"
    );
}

/// Truncating sled's log (losing acknowledged revocations) is detected at start.
#[test]
fn truncated_log_is_refused() {
    let daemon = daemon_with_history();
    let log = daemon.data_dir.join("db/db");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert_refuses(&daemon, "is damaged");
}

/// Garbling bytes in the middle of the log is detected at start.
#[test]
fn garbled_log_is_refused() {
    let daemon = daemon_with_history();
    let log = daemon.data_dir.join("db/db");
    let len = std::fs::metadata(&log).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.write_all_at(&[0xa5; 256], len / 3).unwrap();
    assert_refuses(&daemon, "is damaged");
}

/// Garbling sled's config or losing the generation file is refused too.
#[test]
fn garbled_metadata_is_refused() {
    let daemon = daemon_with_history();
    std::fs::remove_file(daemon.data_dir.join("generation")).unwrap();
    assert_refuses(&daemon, "generation");
    std::fs::write(daemon.data_dir.join("generation"), b"junk").unwrap();
    assert_refuses(&daemon, "garbled");
    let conf = daemon.data_dir.join("db/conf");
    let f = std::fs::OpenOptions::new().write(true).open(&conf).unwrap();
    f.write_all_at(&[0xff; 8], 4).unwrap();
    assert_refuses(&daemon, "store at");
}
