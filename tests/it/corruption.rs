//! A damaged data dir: the daemon fails closed, with a clear message and a non-zero exit, and
//! never serves from a half-read store.

use crate::support::Daemon;
use keyward_client::{Env, Scopes};
use std::os::unix::fs::FileExt;
use std::path::Path;

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

/// A file's length.
fn len_of(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Cuts `path` to `len` bytes.
fn truncate(path: &Path, len: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

/// Overwrites `path` with `bytes` at `at`.
fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

/// Truncating sled's log (losing acknowledged revocations) is detected at start.
#[test]
fn truncated_log_is_refused() {
    let daemon = daemon_with_history();
    let log = daemon.data_dir.join("db/db");
    truncate(&log, len_of(&log) / 2);
    assert_refuses(&daemon, "is damaged");
}

/// Garbling bytes in the middle of the log is detected at start.
#[test]
fn garbled_log_is_refused() {
    let daemon = daemon_with_history();
    let log = daemon.data_dir.join("db/db");
    overwrite(&log, len_of(&log) / 3, &[0xa5; 256]);
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
    overwrite(&daemon.data_dir.join("db/conf"), 4, &[0xff; 8]);
    assert_refuses(&daemon, "store at");
}

/// Truncating the session journal below what was acknowledged is detected at start.
#[test]
fn truncated_session_journal_is_refused() {
    let daemon = daemon_with_history();
    let journal = daemon.data_dir.join("sessions.journal");
    truncate(&journal, len_of(&journal) - 10);
    assert_refuses(&daemon, "acknowledged session changes");
}

/// Truncating the audit log below what was synced is detected at start.
#[test]
fn truncated_audit_log_is_refused() {
    let daemon = daemon_with_history();
    let segment = daemon.data_dir.join("audit/0000000000000001.log");
    truncate(&segment, len_of(&segment) - 10);
    assert_refuses(&daemon, "audit entries are missing");
}

/// Garbling a journal record, or losing the journal's state file, is refused.
#[test]
fn garbled_session_journal_is_refused() {
    let daemon = daemon_with_history();
    let journal = daemon.data_dir.join("sessions.journal");
    overwrite(&journal, len_of(&journal) / 2, &[0xa5; 64]);
    assert_refuses(&daemon, "fails its checksum");
    std::fs::remove_file(daemon.data_dir.join("sessions.state")).unwrap();
    assert_refuses(&daemon, "sessions.state is missing");
}

/// A torn record at the journal's end (a crash mid-write of something never acknowledged) is
/// cut off: the daemon starts, and what was acknowledged holds, revocations included.
#[test]
fn torn_journal_tail_is_cut_off() {
    let mut daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let kept = admin.client_create(None, None, Scopes::new()).unwrap();
    let revoked = admin.client_create(None, None, Scopes::new()).unwrap();
    admin.revoke(revoked.session.id).unwrap();
    drop(admin);
    assert!(daemon.terminate().success());
    let journal = daemon.data_dir.join("sessions.journal");
    let len = len_of(&journal);
    // The first bytes of a record: a length and part of a CRC.
    overwrite(&journal, len, &[90, 0, 0, 0, 1, 2]);
    daemon.restart();
    let mut client = daemon.client();
    client
        .verify(&kept.session.token, keyward_client::Requirements::new())
        .unwrap();
    let err = client
        .verify(&revoked.session.token, keyward_client::Requirements::new())
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(keyward_client::ErrorCode::CredentialInvalid),
        "{err}"
    );
    assert!(daemon.log_text().contains("torn tail"));
    assert_eq!(len_of(&journal), len);
}
