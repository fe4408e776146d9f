//! Backup while serving, offline restore: a round trip of 100 000 credentials keeps every
//! live token, every revocation, every seat and every expiry; a damaged backup is refused.

use crate::support::{binary, json, Daemon};
use keyward_client::{Client, Env, ErrorCode, Requirements, Scopes, Secret};
use std::process::Command;

/// Credentials created through the daemon, and what must hold after a restore.
struct Population {
    live: Vec<(Secret, i64)>,
    revoked: Vec<Secret>,
    seated_client: uuid::Uuid,
}

/// Creates `n` credentials over `connections` concurrent connections, revoking every tenth.
async fn populate(daemon: &Daemon, key: &Secret, n: usize, connections: usize) -> Population {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let socket = daemon.socket.clone();
        let key = key.clone();
        let share = n / connections + usize::from(c < n % connections);
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&socket).await.unwrap();
            client.set_admin_key(key);
            let (mut live, mut revoked) = (Vec::new(), Vec::new());
            for i in 0..share {
                let created = client
                    .client_create(None, None, Scopes::new())
                    .await
                    .unwrap();
                if i % 10 == 9 {
                    client.revoke(created.session.id).await.unwrap();
                    revoked.push(created.session.token);
                } else {
                    live.push((created.session.token, created.session.expires_at));
                }
            }
            (live, revoked)
        }));
    }
    let mut pop = Population {
        live: Vec::new(),
        revoked: Vec::new(),
        seated_client: uuid::Uuid::nil(),
    };
    for t in tasks {
        let (live, revoked) = t.await.unwrap();
        pop.live.extend(live);
        pop.revoked.extend(revoked);
    }
    // One client at its seat limit, to check seats survive.
    let mut client = Client::connect(&daemon.socket).await.unwrap();
    client.set_admin_key(key.clone());
    let seated = client
        .client_create(None, Some(2), Scopes::new())
        .await
        .unwrap();
    client.session_issue(seated.client_id).await.unwrap();
    pop.seated_client = seated.client_id;
    pop
}

/// Restores `file` with `--force` into the stopped `daemon`'s data dir.
fn restore_forced(daemon: &Daemon, file: &std::path::Path) {
    let out = daemon
        .command()
        .arg("restore")
        .arg(file)
        .arg("--force")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 100 000 credentials (10% revoked) backed up from a serving daemon and restored offline.
#[test]
fn round_trip_100k() {
    let mut source = Daemon::start();
    let (_, key) = source.admin_client(Env::Live);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pop = runtime.block_on(populate(&source, &key, 100_000, 64));
    assert_eq!(pop.live.len() + pop.revoked.len(), 100_000);

    let file = source.dir().join("keyward.kwbk");
    let out = source.cli(&["backup", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let summary = json(&out);
    assert_eq!(
        summary["bytes"].as_u64(),
        Some(std::fs::metadata(&file).unwrap().len())
    );
    assert!(source.terminate().success());

    let restored = Daemon::start_with("");
    let mut target = restored;
    assert!(target.terminate().success());
    restore_forced(&target, &file);
    target.restart();

    runtime.block_on(async {
        let mut c = Client::connect(&target.socket).await.unwrap();
        for chunk in pop.live.chunks(1000) {
            let ops = chunk
                .iter()
                .map(|(t, _)| keyward_client::Op::Verify {
                    token: t.clone(),
                    require: Requirements::new(),
                })
                .collect();
            for (r, (_, expires_at)) in c.pipeline(ops).await.unwrap().into_iter().zip(chunk) {
                match r.unwrap() {
                    keyward_client::Reply::Verified(v) => {
                        // Unchanged, or slid forward by this very verify.
                        assert!(v.expires_at.unwrap() >= *expires_at);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        for t in &pop.revoked {
            assert_eq!(
                c.verify(t, Requirements::new()).await.unwrap_err().code(),
                Some(ErrorCode::CredentialInvalid)
            );
        }
        c.set_admin_key(key.clone());
        assert_eq!(
            c.session_issue(pop.seated_client).await.unwrap_err().code(),
            Some(ErrorCode::SessionLimit),
            "seats survive"
        );
    });
}

/// A backup with one byte changed is refused before anything is written.
#[test]
fn damaged_backup_is_refused() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    admin.client_create(None, None, Scopes::new()).unwrap();
    let file = daemon.dir().join("b.kwbk");
    let out = daemon.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(binary("keywardd"))
        .arg("--data-dir")
        .arg(empty.path().join("data"))
        .arg("restore")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("corrupt") || stderr.contains("checksum"),
        "{stderr}"
    );
    assert!(
        !empty.path().join("data/db").exists(),
        "wrote into the data dir"
    );
}

/// Restore refuses a data dir in use by a running daemon.
#[test]
fn restore_refuses_a_running_daemon() {
    let daemon = Daemon::start();
    let file = daemon.dir().join("b.kwbk");
    assert_eq!(
        daemon
            .cli(&["backup", file.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let out = daemon
        .command()
        .arg("restore")
        .arg(&file)
        .arg("--force")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already using data dir"));
    daemon.client().ping().unwrap();
}

/// A forced restore replaces everything the data dir held: a session issued after the backup
/// (kept in the session journal, not in sled) stops verifying, and the audit log is the
/// backup's.
#[test]
fn forced_restore_replaces_sessions_and_audit() {
    let mut daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let before = admin.client_create(None, None, Scopes::new()).unwrap();
    let file = daemon.dir().join("b.kwbk");
    let out = daemon.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let after = admin.session_issue(before.client_id).unwrap();
    drop(admin);
    assert!(daemon.terminate().success());
    restore_forced(&daemon, &file);
    daemon.restart();
    let mut client = daemon.client();
    client
        .verify(&before.session.token, Requirements::new())
        .unwrap();
    assert_eq!(
        client
            .verify(&after.token, Requirements::new())
            .unwrap_err()
            .code(),
        Some(ErrorCode::CredentialInvalid)
    );
    let audit = json(&daemon.cli(&["audit", "--json", "--limit", "300"]));
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"client_create"), "{actions:?}");
    assert!(!actions.contains(&"session_issue"), "{actions:?}");
}
