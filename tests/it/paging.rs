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

/// Every id of a walk through `route` by HTTP pages of two: `list` is the JSON array's name
/// and `field` each item's id. The query goes on after `?` or `&` as `route` needs.
fn http_walk(
    d: &Daemon,
    key: Option<&Secret>,
    route: &str,
    list: &str,
    field: &str,
) -> Vec<String> {
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    let join = if route.contains('?') { '&' } else { '?' };
    loop {
        let path = match &after {
            Some(cursor) => format!("{route}{join}limit=2&after={cursor}"),
            None => format!("{route}{join}limit=2"),
        };
        let reply = crate::http::call(d, "GET", &path, key, None);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let page: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let items = page[list].as_array().unwrap();
        assert!(items.len() <= 2, "{path}: {}", reply.body);
        seen.extend(items.iter().map(|i| i[field].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return seen,
        }
    }
}

/// The ids of a list's `--all --json` output through the CLI.
fn cli_all(
    d: &Daemon,
    key: Option<&Secret>,
    args: &[&str],
    list: &str,
    field: &str,
) -> Vec<String> {
    let args: Vec<&str> = args.iter().copied().chain(["--all", "--json"]).collect();
    let out = d.cli_with(&args, key, None);
    assert!(out.status.success(), "{args:?}: {out:?}");
    json(&out)[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect()
}

/// HTTP lists follow their cursors (`?limit=&after=`) to the same items, in the same order,
/// as the CLI's `--all`: clients in both orders, API tokens, a client's credentials and the
/// admin keys (host admin); a cursor from another list or order is a 400 that says what to do.
#[test]
fn http_pages_follow_their_cursors() {
    let d = Daemon::start();
    let (_, key) = d.admin_client(Env::Live);
    let mut c = admin(&d, &key);
    let clients = create_clients(&mut c, 5, "h");
    create_tokens(&mut c, 3);
    let issues = vec![
        Op::SessionIssue {
            client_id: clients[0]
        };
        4
    ];
    pipelined(&mut c, issues);
    d.admin_client(Env::Test);
    let k = Some(&key);
    let by_id = http_walk(&d, k, "/v1/clients", "clients", "client_id");
    assert_eq!(by_id.len(), 5);
    assert_eq!(
        by_id,
        cli_all(&d, k, &["client", "list"], "clients", "client_id")
    );
    let by_use = http_walk(&d, k, "/v1/clients?sort=last-used", "clients", "client_id");
    let cli = cli_all(
        &d,
        k,
        &["client", "list", "--sort", "last-used"],
        "clients",
        "client_id",
    );
    assert_eq!(by_use, cli);
    let tokens = http_walk(&d, k, "/v1/api-tokens", "api_tokens", "principal_id");
    assert_eq!(tokens.len(), 3);
    assert_eq!(
        tokens,
        cli_all(&d, k, &["api-token", "list"], "api_tokens", "principal_id")
    );
    let route = format!("/v1/clients/{}", clients[0]);
    let creds = http_walk(&d, k, &route, "credentials", "id");
    assert_eq!(creds.len(), 5, "the first session and four more");
    let id = clients[0].to_string();
    assert_eq!(
        creds,
        cli_all(&d, k, &["client", "show", &id], "credentials", "id")
    );
    let keys = http_walk(&d, None, "/v1/admin-keys", "admin_keys", "id");
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys,
        cli_all(&d, None, &["admin-key", "list"], "admin_keys", "id")
    );
    // The CLI's --after takes an HTTP page's cursor, and the other way round.
    let first = crate::http::call(&d, "GET", "/v1/admin-keys?limit=1", None, None);
    let first: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    let cursor = first["next"].as_str().unwrap();
    let rest = json(&d.cli(&["admin-key", "list", "--after", cursor, "--json"]));
    assert_eq!(rest["admin_keys"][0]["id"].as_str().unwrap(), keys[1]);

    let page = crate::http::call(&d, "GET", "/v1/clients?limit=1", k, None);
    let page: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let cursor = page["next"].as_str().unwrap();
    let wrong = format!("/v1/clients?sort=last-used&after={cursor}");
    let reply = crate::http::call(&d, "GET", &wrong, k, None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("without --after"), "{}", reply.body);
}

/// `audit` pages like the other lists: `--limit` up to 1000 (1001 is refused, by the CLI and
/// HTTP alike), a page that would outgrow a frame stops early with a cursor, and `--all` and
/// `--after` walk every entry once.
#[test]
fn audit_pages_up_to_a_thousand_and_within_a_frame() {
    let d = Daemon::start();
    let (_, key) = d.admin_client(Env::Live);
    let mut c = admin(&d, &key);
    // Each create is one entry, about 100 bytes as a reply: 1 200 of them pass 64 KiB.
    create_clients(&mut c, 1200, "a");
    let out = d.cli(&["audit", "--limit", "1000", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let page = json(&out);
    let n = page["entries"].as_array().unwrap().len();
    assert!((100..1000).contains(&n), "{n} entries in one frame");
    let cursor = page["next"]
        .as_str()
        .expect("a cursor after a cut page")
        .to_owned();
    let rest = json(&d.cli(&["audit", "--limit", "1000", "--after", &cursor, "--json"]));
    assert!(!rest["entries"].as_array().unwrap().is_empty());
    let all = json(&d.cli(&["audit", "--all", "--json"]));
    let all = all["entries"].as_array().unwrap();
    assert!(all.len() >= 1201, "{} entries", all.len());
    let creates = all
        .iter()
        .filter(|e| e["action"] == "client_create")
        .count();
    assert_eq!(creates, 1200);
    let out = d.cli(&["audit", "--limit", "1001"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let reply = crate::http::call(&d, "GET", "/v1/audit?limit=1001", None, None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = crate::http::call(&d, "GET", "/v1/audit?limit=1000", None, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The client crate walks the same entries, newest page first, each page oldest first.
    let mut host = d.client();
    let (mut walked, mut before) = (0, None);
    loop {
        let page = host.audit_page(1000, before).unwrap();
        assert!(page.entries.len() < 1000, "a page within one frame");
        walked += page.entries.len();
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert!(walked >= all.len(), "{walked} of {}", all.len());
}
