//! Issue 15 §1: every list is paged. A walk through all the pages sees every item that existed
//! for the whole walk exactly once while others are created and deleted, and no page outgrows
//! the frame limit, whatever the labels' sizes.

use crate::support::{json, Daemon};
use keyward_client::blocking::Client;
use keyward_client::{Env, ListOrder, Op, Reply, Scopes, Secret};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// Requests per pipelined batch.
const BATCH: usize = 500;

fn admin(d: &Daemon, key: &Secret) -> Client {
    let mut c = d.client();
    c.set_admin_key(key.clone());
    c
}

/// Sends `ops` in pipelined batches; returns every reply, each of which must be a success.
fn pipelined(c: &mut Client, ops: Vec<Op>) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(ops.len());
    for batch in ops.chunks(BATCH) {
        for reply in c.pipeline(batch.to_vec()).expect("pipeline") {
            replies.push(reply.expect("every pipelined request succeeds"));
        }
    }
    replies
}

fn create_clients(c: &mut Client, n: usize, label: &str) -> Vec<Uuid> {
    let op = Op::ClientCreate {
        label: Some(label.to_owned()),
        max_sessions: None,
        scopes: Scopes::new(),
        identity: Box::default(),
    };
    pipelined(c, vec![op; n])
        .into_iter()
        .map(|r| match r {
            Reply::ClientCreated(c) => c.client_id,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// `(principal id, credential id)` of `n` new API tokens.
fn create_tokens(c: &mut Client, n: usize) -> Vec<(Uuid, Uuid)> {
    let op = Op::ApiTokenCreate {
        name: "t".into(),
        scopes: Scopes::new(),
        expires_in_secs: None,
        identity: Box::default(),
    };
    pipelined(c, vec![op; n])
        .into_iter()
        .map(|r| match r {
            Reply::ApiTokenCreated(t) => (t.principal_id, t.id),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Every item of one walk by pages of 100, asserting none is seen twice.
fn walk(c: &mut Client, list: impl Fn(Option<String>) -> Op) -> HashSet<Uuid> {
    let mut seen = HashSet::new();
    let mut after = None;
    loop {
        let (ids, next): (Vec<Uuid>, _) = match c.call(list(after)).expect("a page") {
            Reply::Clients(p) => (p.clients.iter().map(|c| c.client_id).collect(), p.next),
            Reply::ApiTokens(p) => (
                p.api_tokens.iter().map(|t| t.principal_id).collect(),
                p.next,
            ),
            other => panic!("{other:?}"),
        };
        assert!(ids.len() <= 100);
        for id in ids {
            assert!(seen.insert(id), "{id} seen twice in one walk");
        }
        match next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

/// 20 000 clients (and 4 000 API tokens) are walked page by page while another connection
/// creates 2 000 clients and deletes 2 000 others (`client delete`), and creates 2 000 API
/// tokens and revokes 2 000 others (which deletes their principals from the same tree): every
/// walk sees each item that existed throughout exactly once, and nothing that never existed.
#[test]
fn a_walk_sees_every_item_once_under_concurrent_creates_and_deletes() {
    // Paging is under test, not durability: without fsync the set-up takes seconds.
    let d = Daemon::start_with("fsync = false\n");
    let started = std::time::Instant::now();
    let (_, key) = d.admin_client(Env::Live);
    let mut c = admin(&d, &key);
    let made = create_clients(&mut c, 20_000, "c");
    // Every tenth client is deleted, so the deletes land all along the walk's key range.
    let doomed_clients: Vec<Uuid> = made.iter().step_by(10).copied().collect();
    let clients: HashSet<Uuid> = made
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 != 0)
        .map(|(_, id)| *id)
        .collect();
    let tokens = create_tokens(&mut c, 4_000);
    let (doomed, kept) = tokens.split_at(2_000);
    let kept: HashSet<Uuid> = kept.iter().map(|(p, _)| *p).collect();
    let doomed_principals: HashSet<Uuid> = doomed.iter().map(|(p, _)| *p).collect();

    eprintln!("created in {:?}", started.elapsed());
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (writing, mut w) = (Arc::clone(&writing), admin(&d, &key));
        let doomed: Vec<Uuid> = doomed.iter().map(|(_, id)| *id).collect();
        let doomed_clients = doomed_clients.clone();
        std::thread::spawn(move || {
            let mut made = (Vec::new(), Vec::new());
            for (i, (chunk, clients)) in doomed
                .chunks(100)
                .zip(doomed_clients.chunks(100))
                .enumerate()
            {
                made.0.extend(create_clients(&mut w, 100, "new"));
                made.1
                    .extend(create_tokens(&mut w, 100).into_iter().map(|(p, _)| p));
                let deletes = clients
                    .iter()
                    .map(|id| Op::ClientDelete { client_id: *id })
                    .collect();
                pipelined(&mut w, deletes);
                let revokes = chunk
                    .iter()
                    .map(|id| Op::Revoke { credential_id: *id })
                    .collect();
                pipelined(&mut w, revokes);
                assert!(i < 20);
            }
            writing.store(false, Ordering::SeqCst);
            made
        })
    };

    let (mut walks, mut during) = (0, 0);
    loop {
        let started_during = writing.load(Ordering::SeqCst);
        let seen_clients = walk(&mut c, |after| Op::ClientList {
            limit: 100,
            after,
            order: ListOrder::Id,
        });
        let seen_tokens = walk(&mut c, |after| Op::ApiTokenList {
            limit: 100,
            after,
            order: ListOrder::Id,
        });
        // Least lately used first: nothing is verified here, so nothing moves, and the same
        // exactly-once walk holds in this order too.
        let seen_by_use = walk(&mut c, |after| Op::ClientList {
            limit: 100,
            after,
            order: ListOrder::LastUsed,
        });
        let ended_during = writing.load(Ordering::SeqCst);
        walks += 1;
        assert!(
            clients.is_subset(&seen_clients),
            "walk {walks} missed a client"
        );
        assert!(
            kept.is_subset(&seen_tokens),
            "walk {walks} missed an API token"
        );
        assert!(
            clients.is_subset(&seen_by_use),
            "walk {walks} by last use missed a client"
        );
        assert!(seen_by_use.len() <= 22_000);
        if started_during && ended_during {
            during += 1;
        }
        if !started_during {
            break;
        }
        // What a walk saw beyond the items that lasted must be what the writer touched.
        let extra_tokens = seen_tokens.difference(&kept).count();
        assert!(
            extra_tokens <= 4_000,
            "{extra_tokens} tokens beyond what existed"
        );
        assert!(seen_clients.len() <= 22_000);
    }
    let (new_clients, new_tokens) = writer.join().expect("writer");
    eprintln!(
        "{walks} walks ({during} during the writes) by {:?}",
        started.elapsed()
    );
    assert!(
        during >= 1,
        "no walk ran wholly during the writes ({walks} walks)"
    );

    // Settled: exactly what exists, through the CLI's --all.
    let all = d.cli_with(&["client", "list", "--all", "--json"], Some(&key), None);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let all = json(&all);
    assert_eq!(all["next"], serde_json::Value::Null);
    let listed: HashSet<Uuid> = all["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let expected: HashSet<Uuid> = clients.iter().copied().chain(new_clients.clone()).collect();
    assert_eq!(listed.len(), 20_000);
    assert_eq!(listed, expected);
    assert!(doomed_clients.iter().all(|id| !listed.contains(id)));
    let settled = walk(&mut c, |after| Op::ApiTokenList {
        limit: 100,
        after,
        order: ListOrder::Id,
    });
    let expected: HashSet<Uuid> = kept.iter().copied().chain(new_tokens).collect();
    assert_eq!(settled, expected);
    assert!(settled.is_disjoint(&doomed_principals));
    assert_eq!(new_clients.len(), 2_000);
}

/// Pages of long labels stop short of `--limit` rather than exceed the 64 KiB frame, and
/// `--all` still gathers every one; a client's credentials page the same way.
#[test]
fn pages_adapt_to_the_size_of_their_items() {
    let d = Daemon::start();
    let (_, key) = d.admin_client(Env::Live);
    let mut c = admin(&d, &key);
    let long = "l".repeat(256);
    create_clients(&mut c, 600, &long);
    let page = match c
        .call(Op::ClientList {
            limit: 1000,
            after: None,
            order: ListOrder::Id,
        })
        .unwrap()
    {
        Reply::Clients(p) => p,
        other => panic!("{other:?}"),
    };
    assert!(
        page.clients.len() < 600,
        "{} in one page",
        page.clients.len()
    );
    assert!(page.next.is_some());
    let out = d.cli_with(
        &["client", "list", "--limit", "1000", "--all", "--json"],
        Some(&key),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["clients"].as_array().unwrap().len(), 600);

    // A client with more sessions than a page: shown a page at a time, each session once.
    let client = c
        .client_create(None, Some(500), Scopes::new())
        .unwrap()
        .client_id;
    pipelined(&mut c, vec![Op::SessionIssue { client_id: client }; 299]);
    let first = d.cli_with(
        &["client", "show", &client.to_string(), "--json"],
        Some(&key),
        None,
    );
    let first = json(&first);
    assert_eq!(first["credentials"].as_array().unwrap().len(), 100);
    let next = first["next"].as_str().expect("a cursor").to_owned();
    let second = d.cli_with(
        &[
            "client",
            "show",
            &client.to_string(),
            "--after",
            &next,
            "--json",
        ],
        Some(&key),
        None,
    );
    let second = json(&second);
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(ids(&second).iter().all(|id| !ids(&first).contains(id)));
    let all = d.cli_with(
        &["client", "show", &client.to_string(), "--all", "--json"],
        Some(&key),
        None,
    );
    let all = json(&all);
    let mut every = ids(&all);
    assert_eq!(every.len(), 300);
    every.dedup();
    assert_eq!(every.len(), 300);
    assert_eq!(c.client_show(client).unwrap().credentials.len(), 300);
}
