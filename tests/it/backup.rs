//! Backup while serving, offline restore: a round trip of 100 000 credentials keeps every
//! live token, every revocation, every seat and every expiry; a damaged or forged backup is
//! refused; the file is written safely in a shared directory; a failed backup is not `ok`.

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
    target.restore_forced(&file);
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
    daemon.restore_forced(&file);
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

/// One backup entry: tree id, key, value.
type Entry = (u8, Vec<u8>, Vec<u8>);

/// A backup file's entries and its creation time.
fn read_entries(bytes: &[u8]) -> (i64, Vec<Entry>) {
    let mut at = 18;
    let created_at = i64::from_be_bytes(bytes[10..18].try_into().unwrap());
    let mut entries = Vec::new();
    let field = |at: &mut usize| {
        let len = u32::from_be_bytes(bytes[*at..*at + 4].try_into().unwrap()) as usize;
        let value = bytes[*at + 4..*at + 4 + len].to_vec();
        *at += 4 + len;
        value
    };
    while bytes[at] == 1 {
        let tree = bytes[at + 1];
        at += 2;
        let key = field(&mut at);
        let value = field(&mut at);
        entries.push((tree, key, value));
    }
    (created_at, entries)
}

/// A well-formed backup of `entries`, with a correct SHA-256 trailer: what anyone can write.
fn write_entries(created_at: i64, entries: &[Entry]) -> Vec<u8> {
    use sha2::Digest;
    let mut out = b"KWBACKUP".to_vec();
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&created_at.to_be_bytes());
    for (tree, key, value) in entries {
        out.push(1);
        out.push(*tree);
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out.push(0);
    out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    let digest = sha2::Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Restores `file` into a fresh data dir; returns the dir, whether it worked, and stderr.
fn restore_fresh(file: &std::path::Path) -> (tempfile::TempDir, bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary("keywardd"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("restore")
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (dir, out.status.success(), stderr)
}

/// A forged backup (its checksum recomputed, as an attacker can) in which a made-up token's
/// hash points at an existing admin key's record is refused at restore, naming the problem,
/// and nothing is written; the untouched backup restores.
#[test]
fn forged_duplicate_hash_is_refused() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let victim = admin.admin_key_create("backend", Env::Live).unwrap();
    admin.client_create(None, None, Scopes::new()).unwrap();
    let file = daemon.dir().join("b.kwbk");
    let out = daemon.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let (created_at, mut entries) = read_entries(&std::fs::read(&file).unwrap());
    let victim_hash = keyward_protocol::token::hash(victim.secret.expose());
    let record = entries
        .iter()
        .find(|(tree, key, _)| *tree == 1 && key.as_slice() == victim_hash.as_slice())
        .expect("the admin key's record")
        .2
        .clone();
    let forged = keyward_protocol::token::assemble(
        keyward_client::CredentialKind::AdminKey,
        Env::Live,
        &[0x5a; keyward_protocol::token::RANDOM_LEN],
    );
    let forged_hash = keyward_protocol::token::hash(forged.expose());
    entries.insert(0, (1, forged_hash.to_vec(), record));
    let forged_file = daemon.dir().join("forged.kwbk");
    std::fs::write(&forged_file, write_entries(created_at, &entries)).unwrap();

    let (dir, restored, stderr) = restore_fresh(&forged_file);
    assert!(!restored, "a forged backup was restored");
    assert!(stderr.contains("inconsistent"), "{stderr}");
    assert!(
        stderr.contains(&victim.id.to_string()) && stderr.contains("two token hashes"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data/db").exists(),
        "wrote into the data dir"
    );

    let (_dir, restored, stderr) = restore_fresh(&file);
    assert!(restored, "{stderr}");
}

/// In a shared directory, a symlink planted at `FILE.partial` (where backups used to be
/// written) or at names a temporary file might take is neither followed nor replaced, a
/// pre-created world-readable `FILE.partial` is not reused, and the backup is owner-only.
#[test]
fn backup_never_follows_a_planted_symlink() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    admin.client_create(None, None, Scopes::new()).unwrap();
    let shared = daemon.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = daemon.dir().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let target = shared.join("b.kwbk");
    let planted = [
        "b.kwbk.partial",
        ".b.kwbk.partial",
        "b.kwbk.tmp",
        ".b.kwbk.tmp",
        ".keyward-backup-",
    ];
    for name in planted {
        symlink(&victim, shared.join(name)).unwrap();
    }

    let out = daemon.cli(&["backup", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    for name in planted {
        assert_eq!(
            std::fs::read_link(shared.join(name)).unwrap(),
            victim,
            "{name} was replaced"
        );
    }
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // A world-readable file planted where the partial file used to go is not reused.
    let open = shared.join("c.kwbk.partial");
    std::fs::write(&open, "").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    let second = shared.join("c.kwbk");
    let out = daemon.cli(&["backup", second.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let meta = std::fs::metadata(&second).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&open).unwrap().len(), 0);
}

/// A backup into a directory that does not exist is an I/O error (exit 1, code `IO`), not a
/// usage error, and the daemon takes no snapshot for it.
#[test]
fn backup_to_a_missing_directory_exits_1() {
    let daemon = Daemon::start();
    let file = daemon.dir().join("missing/b.kwbk");
    let out = daemon.cli(&["backup", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json(&out)["error"]["code"], "IO");
    let out = daemon.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

/// A backup that failed on the CLI's side (here, `FILE` is a directory, so the final rename
/// fails) exits 1 and is audited as `ABANDONED`, never as `ok`; a good one is `ok`.
#[test]
fn failed_backup_is_not_audited_ok() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    admin.client_create(None, None, Scopes::new()).unwrap();
    let blocked = daemon.dir().join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), "x").unwrap();
    let out = daemon.cli(&["backup", blocked.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let ends = |daemon: &Daemon| -> Vec<String> {
        let audit = json(&daemon.cli(&["audit", "--json", "--limit", "300"]));
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "backup_end")
            .map(|e| e["outcome"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ends(&daemon), ["ABANDONED"]);
    let good = daemon.dir().join("good.kwbk");
    let out = daemon.cli(&["backup", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(ends(&daemon), ["ABANDONED", "ok"]);
}
