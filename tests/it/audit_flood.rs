//! A flood of refused admin attempts from another uid: the audit log aggregates them, so its
//! disk use and the daemon's memory stay bounded, and an admin's own entries can still be
//! found by paging.

use crate::support::{json, require_root, Daemon, NOBODY};
use keyward_client::{Env, ErrorCode, Op, Scopes};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Refused attempts the flood sends.
const FLOOD: u64 = 200_000;
/// Connections it sends them over, pipelined.
const CONNECTIONS: u64 = 4;
/// Requests in flight per connection.
const BATCH: u64 = 1_000;
/// The child's environment: the socket to flood (its absence makes the child a no-op).
const SOCKET_VAR: &str = "KEYWARD_AUDIT_FLOOD_SOCKET";

/// Bytes of the audit log and the session journal: what refused attempts used to fill.
fn audit_and_journal_bytes(data_dir: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut total = len(&data_dir.join("sessions.journal"));
    if let Ok(entries) = std::fs::read_dir(data_dir.join("audit")) {
        for e in entries {
            total += len(&e.unwrap().path());
        }
    }
    total
}

/// The flood itself, run by [`refused_flood_is_aggregated_and_bounded`] in a copy of this test
/// binary that runs as `nobody`: [`FLOOD`] `admin_key_create` requests, each refused.
#[test]
#[ignore = "run as nobody by refused_flood_is_aggregated_and_bounded"]
fn flood_child() {
    let Some(socket) = std::env::var_os(SOCKET_VAR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let per_connection = FLOOD / CONNECTIONS;
        let floods = (0..CONNECTIONS).map(|_| {
            let socket = socket.clone();
            async move {
                let mut c = keyward_client::Client::connect(&socket).await.unwrap();
                for _ in 0..per_connection / BATCH {
                    let ops = (0..BATCH)
                        .map(|_| Op::AdminKeyCreate {
                            label: "flood".into(),
                            env: Env::Live,
                        })
                        .collect();
                    for r in c.pipeline(ops).await.unwrap() {
                        assert_eq!(r.unwrap_err().code, ErrorCode::Forbidden);
                    }
                }
            }
        });
        futures_join_all(floods).await;
    });
}

/// Runs futures to completion side by side on the current task.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let set: Vec<_> = futures.map(Box::pin).collect();
    let mut set: Vec<Option<_>> = set.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut set {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_pending() {
                    pending = true;
                } else {
                    *slot = None;
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

/// 200 000 refused `admin_key_create` attempts from `nobody`: the audit log and the session
/// journal together grow by less than 2 MiB, the daemon's RSS stays within 32 MiB of where it
/// started, the attempts are all counted in a few aggregated entries, and root's own
/// `client create` from before the flood is still found by paging back with
/// `keyward audit --before`.
#[test]
fn refused_flood_is_aggregated_and_bounded() {
    require_root();
    let daemon = Daemon::start();
    daemon.open_socket_to_all();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let bytes_before = audit_and_journal_bytes(&daemon.data_dir);
    let rss_before = daemon.rss_kib();

    let started = std::time::Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "audit_flood::flood_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SOCKET_VAR, &daemon.socket)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    assert!(out.status.success(), "the flood failed: {out:?}");
    let took = started.elapsed();
    let rss_after = daemon.rss_kib();

    // Reading the log writes what it queued; a commit writes what the journal queued.
    let refused = audit_pages(
        &daemon,
        &["--uid", "65534", "--outcome", "refused", "--limit", "300"],
    );
    admin.client_create(None, None, Scopes::new()).unwrap();
    let grown = audit_and_journal_bytes(&daemon.data_dir).saturating_sub(bytes_before);
    eprintln!(
        "{FLOOD} refused attempts in {took:?}: audit log + journal grew {grown} bytes, \
         RSS {rss_before} -> {rss_after} KiB, {} entries",
        refused.len()
    );
    assert!(
        grown < 2 << 20,
        "the audit log and journal grew {grown} bytes"
    );
    assert!(
        rss_after < rss_before + (32 << 10),
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    let counted: u64 = refused.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, FLOOD, "every attempt is counted");
    assert!(
        refused.iter().all(|e| e["action"] == "admin_key_create"
            && e["outcome"] == "FORBIDDEN"
            && e["uid"] == NOBODY),
        "{refused:?}"
    );
    // One entry per 10 s window: a flood this long spans a few.
    let windows = took.as_secs() / 10 + 2;
    assert!(refused.len() as u64 <= windows, "{} entries", refused.len());

    // Push root's entry out of the newest page, then page back to it.
    for _ in 0..350 {
        admin.session_issue(created.client_id).unwrap();
    }
    let client = created.client_id.to_string();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let found = loop {
        let mut args = vec!["audit", "--json", "--limit", "100"];
        if let Some(c) = &cursor {
            args.extend(["--before", c]);
        }
        let out = daemon.cli(&args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let page = json(&out);
        pages += 1;
        let hit = page["entries"].as_array().unwrap().iter().any(|e| {
            e["action"] == "client_create" && e["target"].as_str() == Some(client.as_str())
        });
        if hit {
            break true;
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break false,
        }
    };
    assert!(found, "root's client_create is not found by paging");
    assert!(pages >= 4, "found on page {pages}");

    // A cursor is checked.
    let out = daemon.cli(&["audit", "--json", "--before", "not-a-cursor"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["code"], "BAD_REQUEST");
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cursor"),
        "{out:?}"
    );
}

/// Every entry `keyward audit --json` gives for `filters`, following `next` back to the start.
fn audit_pages(daemon: &Daemon, filters: &[&str]) -> Vec<serde_json::Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["audit", "--json"];
        args.extend(filters);
        if let Some(c) = &cursor {
            args.extend(["--before", c]);
        }
        let out = daemon.cli(&args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let page = json(&out);
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}
