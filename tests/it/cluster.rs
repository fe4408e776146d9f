//! Several keywardd hosts on one real three-member etcd cluster (`backend = "etcd"`): what
//! one host issues verifies on the others, over frames and HTTP; what one revokes, the
//! others refuse within a deadline; seat limits and external ids hold across hosts; and
//! losing etcd's quorum makes writes fail with `UNAVAILABLE` and, after `max_staleness`,
//! verifies too, until the members return.

use std::time::{Duration, Instant};

use keyward_client::blocking::Client;
use keyward_client::{CredentialKind, Env, ErrorCode, Requirements, Scopes, Secret};
use serde_json::json;

use crate::etcd_support::EtcdCluster;
use crate::http::call;
use crate::support::{wait_for, Daemon};

/// A keywardd host on `cluster`, under `prefix`.
fn host(cluster: &EtcdCluster, prefix: &str, extra: &str) -> Daemon {
    Daemon::start_with(&format!(
        "backend = \"etcd\"\netcd_endpoints = {}\netcd_prefix = \"{prefix}\"\n\
         max_staleness = \"1s\"\netcd_timeout = \"2s\"\n{extra}",
        cluster.endpoints_toml()
    ))
}

/// `verify` of a session on `c`.
fn verify(c: &mut Client, token: &Secret) -> Result<(), keyward_client::Error> {
    c.verify(token, Requirements::new().kind(CredentialKind::Session))
        .map(drop)
}

/// Waits until `token` is refused on `c` with `code`; returns how long that took.
fn refused_within(c: &mut Client, token: &Secret, code: ErrorCode, what: &str) -> Duration {
    let started = Instant::now();
    wait_for(what, || match verify(c, token) {
        Err(e) if e.code() == Some(code) => Some(started.elapsed()),
        _ => None,
    })
}

/// Waits until `token` verifies on `c`.
fn verifies_soon(c: &mut Client, token: &Secret, what: &str) {
    wait_for(what, || verify(c, token).ok());
}

/// An admin key made on one host works on the other; a client and session issued on A
/// verify on B over frames and over HTTP; a logout on B and a revoke on B are refused on A;
/// a disable on A is refused on B; a restart of B (SIGKILL) rebuilds its copy from etcd with
/// nothing lost or brought back.
#[test]
fn issue_on_one_host_verify_and_revoke_on_another() {
    let cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-a/", "");
    let mut b = host(&cluster, "/kw-a/", "");
    let (mut admin_a, key) = a.admin_client(Env::Live);
    let mut admin_b = b.client();
    admin_b.set_admin_key(key.clone());
    let mut verify_a = a.client();
    let mut verify_b = b.client();

    // Issued on A, verified on B (an admin key, then a session).
    let created = wait_for("the admin key on B", || {
        admin_b.client_create(None, None, Scopes::new()).ok()
    });
    // A sees B's client once its watch has brought it: no host reads its own writes on another.
    let session = wait_for("B's client on A", || {
        admin_a.session_issue(created.client_id).ok()
    });
    verifies_soon(&mut verify_b, &session.token, "A's session on B");
    verifies_soon(&mut verify_a, &created.session.token, "B's session on A");
    let body = json!({"token": session.token.expose(), "kinds": ["session"]}).to_string();
    let over_http = call(&b, "POST", "/v1/verify", None, Some(&body));
    assert_eq!(over_http.status, 200, "{}", over_http.body);

    // Logout on B, refused on A; revoke on B, refused on A; disable on A, refused on B.
    admin_b.logout(&session.token).unwrap();
    refused_within(
        &mut verify_a,
        &session.token,
        ErrorCode::CredentialInvalid,
        "a logout on B refused on A",
    );
    let over_http = call(&a, "POST", "/v1/verify", None, Some(&body));
    assert_eq!(over_http.status, 401, "{}", over_http.body);
    let third = admin_a.session_issue(created.client_id).unwrap();
    verifies_soon(&mut verify_b, &third.token, "the third session on B");
    admin_b.revoke(third.id).unwrap();
    refused_within(
        &mut verify_a,
        &third.token,
        ErrorCode::CredentialInvalid,
        "a revoke on B refused on A",
    );
    admin_a.disable(created.client_id).unwrap();
    refused_within(
        &mut verify_b,
        &created.session.token,
        ErrorCode::CredentialDisabled,
        "a disable on A refused on B",
    );
    admin_a.enable(created.client_id).unwrap();
    verifies_soon(&mut verify_b, &created.session.token, "enabled again on B");

    // B dies; meanwhile A revokes one session and issues another. B comes back with both
    // changes and without the revoked one.
    let kept = admin_a.session_issue(created.client_id).unwrap();
    verifies_soon(&mut verify_b, &kept.token, "the kept session on B");
    b.kill9();
    admin_a.revoke(kept.id).unwrap();
    let later = admin_a.session_issue(created.client_id).unwrap();
    b.restart();
    let mut verify_b = b.client();
    verify(&mut verify_b, &later.token).expect("issued while B was down");
    let e = verify(&mut verify_b, &kept.token).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialInvalid), "{e}");
    verify(&mut verify_b, &created.session.token).expect("untouched");
    drop(a);
}

/// Concurrent issues from A and B for one client never fill more seats than its limit;
/// concurrent claims of one external id from A and B leave exactly one holder.
#[test]
fn seat_limits_and_external_ids_hold_across_hosts() {
    let cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-b/", "");
    let b = host(&cluster, "/kw-b/", "");
    let (mut admin_a, key) = a.admin_client(Env::Live);
    let created = admin_a.client_create(None, Some(4), Scopes::new()).unwrap();
    let client_id = created.client_id;
    wait_for("the client on B", || {
        let mut c = b.client();
        c.set_admin_key(key.clone());
        c.client_show(client_id).ok()
    });
    let issue_from = |d: &Daemon| {
        let mut c = d.client();
        c.set_admin_key(key.clone());
        let mut ok = 0;
        for _ in 0..10 {
            match c.session_issue(client_id) {
                Ok(_) => ok += 1,
                Err(e) => assert!(
                    matches!(
                        e.code(),
                        Some(ErrorCode::SessionLimit | ErrorCode::Unavailable)
                    ),
                    "{e}"
                ),
            }
        }
        ok
    };
    let (from_a, from_b) = std::thread::scope(|s| {
        let from_a = s.spawn(|| issue_from(&a));
        let from_b = s.spawn(|| issue_from(&b));
        (from_a.join().unwrap(), from_b.join().unwrap())
    });
    // The first session took one seat; the limit is four.
    assert!(
        from_a + from_b <= 3,
        "{from_a} + {from_b} issued past the limit"
    );
    let live = cluster.etcdctl(&["get", "/kw-b/e/", "--prefix", "--keys-only"]);
    let held = String::from_utf8_lossy(&live.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count();
    assert!(
        held <= 4,
        "etcd holds {held} sessions for a four-seat client"
    );
    assert_eq!(from_a + from_b, 3, "every free seat is taken by someone");

    let claim_from = |d: &Daemon, label: &str| {
        let mut c = d.client();
        c.set_admin_key(key.clone());
        c.client_create_with(
            Some(label.to_owned()),
            None,
            Scopes::new(),
            Some("user-42".into()),
            keyward_client::Meta::new(),
        )
    };
    let (on_a, on_b) = std::thread::scope(|s| {
        let on_a = s.spawn(|| claim_from(&a, "a"));
        let on_b = s.spawn(|| claim_from(&b, "b"));
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    assert_eq!(
        [on_a.is_ok(), on_b.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1,
        "exactly one claim of user-42 holds: {on_a:?} {on_b:?}"
    );
    let loser = on_a.err().or(on_b.err()).unwrap();
    assert_eq!(loser.code(), Some(ErrorCode::Conflict), "{loser}");
}

/// Two of three members stopped: writes fail with `UNAVAILABLE` within `etcd_timeout` and
/// none is acknowledged; verifies are refused once `max_staleness` has passed; and all is
/// served again once the members return.
#[test]
fn losing_the_quorum_refuses_writes_then_verifies_until_it_returns() {
    let mut cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-c/", "");
    let (mut admin, _) = a.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let mut c = a.client();
    verify(&mut c, &created.session.token).unwrap();
    let leader = cluster.leader();
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    cluster.stop(others[0]);
    cluster.stop(leader);

    let started = Instant::now();
    let e = admin.session_issue(created.client_id).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unavailable), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "a write hung");
    let refused = refused_within(
        &mut c,
        &created.session.token,
        ErrorCode::Unavailable,
        "verifies refused after max_staleness",
    );
    assert!(refused < Duration::from_secs(10), "{refused:?}");

    cluster.start(others[0]);
    cluster.start(leader);
    cluster.wait_healthy();
    verifies_soon(&mut c, &created.session.token, "verifies served again");
    let issued = wait_for("writes again", || {
        admin.session_issue(created.client_id).ok()
    });
    verify(&mut c, &issued.token).unwrap();
    // Both acknowledged sessions are there. The one refused with UNAVAILABLE may have been
    // committed once the quorum returned (the README says so): then it is a third, which
    // nobody holds a token for and which ends at its idle expiry.
    let shown = admin.client_show(created.client_id).unwrap();
    let ids: Vec<_> = shown.credentials.iter().map(|c| c.id).collect();
    assert!(
        ids.contains(&created.session.id) && ids.contains(&issued.id),
        "{shown:?}"
    );
    assert!((2..=3).contains(&ids.len()), "{shown:?}");
}

/// A host whose watch revision was compacted away while it was cut off reloads everything,
/// and misses nothing that happened in the gap.
#[test]
fn a_compacted_watch_reloads_without_a_gap() {
    let mut cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-d/", "");
    let mut b = host(&cluster, "/kw-d/", "");
    let (mut admin, _) = a.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let mut vb = b.client();
    verifies_soon(&mut vb, &created.session.token, "on B");
    // B stops (SIGSTOP) and every member restarts, so B's watch is gone; meanwhile A logs
    // the session out and issues another, and etcd compacts past B's revision.
    let pid = nix::unistd::Pid::from_raw(b.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    for i in 0..3 {
        cluster.stop(i);
        cluster.start(i);
        cluster.wait_healthy();
    }
    // A retried logout that etcd committed the first time finds the session gone.
    wait_for("A logs out again", || {
        match admin.logout(&created.session.token) {
            Ok(_) => Some(()),
            Err(e) if e.code() == Some(ErrorCode::CredentialInvalid) => Some(()),
            Err(_) => None,
        }
    });
    let fresh = wait_for("A issues again", || {
        admin.session_issue(created.client_id).ok()
    });
    cluster.compact_to_latest();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    verifies_soon(&mut vb, &fresh.token, "issued in the gap");
    let e = verify(&mut vb, &created.session.token).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialInvalid), "{e}");
    assert!(
        wait_for("the reload in B's log", || b
            .log_text()
            .contains("reloading everything")
            .then_some(true)),
        "{}",
        b.log_text()
    );
    let _ = &mut b;
}

/// The keys etcd holds under `prefix` + `section`.
fn etcd_keys(cluster: &EtcdCluster, prefix: &str, section: &str) -> Vec<String> {
    let out = cluster.etcdctl(&[
        "get",
        &format!("{prefix}{section}"),
        "--prefix",
        "--keys-only",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Idle-expired sessions leave etcd, swept by the one elected host, while a session kept
/// in use on the other host stays: its slides reach etcd and the sweep's compare spares it.
/// A session's keys carry a lease that ends at its cap.
#[test]
fn one_host_sweeps_etcd_and_spares_what_another_slid() {
    let cluster = EtcdCluster::new();
    let short = "idle_timeout = \"2s\"\nmax_lifetime = \"1h\"\nslide_granularity = \"0s\"\n\
                 sweep_interval = \"200ms\"\n";
    let a = host(&cluster, "/kw-e/", short);
    let b = host(&cluster, "/kw-e/", short);
    let (mut admin, _) = a.admin_client(Env::Live);
    let idle = admin.client_create(None, None, Scopes::new()).unwrap();
    let kept = admin.session_issue(idle.client_id).unwrap();
    let mut vb = b.client();
    verifies_soon(&mut vb, &kept.token, "on B");

    // The cap's lease: about an hour from now.
    let key = format!("/kw-e/e/{}", kept.id.simple());
    let got = cluster.etcdctl(&["get", &key, "-w", "json"]);
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    let lease = got["kvs"][0]["lease"]
        .as_i64()
        .expect("a lease on the session's key");
    let ttl = cluster.etcdctl(&["lease", "timetolive", &format!("{lease:x}"), "-w", "json"]);
    let ttl: serde_json::Value = serde_json::from_slice(&ttl.stdout).unwrap();
    let ttl = ttl["ttl"].as_i64().unwrap();
    assert!(
        (3_500..=3_720).contains(&ttl),
        "lease TTL {ttl} s for a 1 h cap"
    );

    // Used on B every 300 ms for 4 s: slid past its first expiry; the other one is not.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        verify(&mut vb, &kept.token).expect("kept alive by its use");
        std::thread::sleep(Duration::from_millis(300));
    }
    // A never saw it used, but saw B's slides through its watch.
    if let Err(e) = verify(&mut a.client(), &kept.token) {
        panic!(
            "B's slides did not reach A: {e}\nA: {}\nB: {}",
            a.log_text(),
            b.log_text()
        );
    }
    let gone = format!("/kw-e/e/{}", idle.session.id.simple());
    wait_for("the idle session swept from etcd", || {
        (!etcd_keys(&cluster, "/kw-e/", "e/").contains(&gone)).then_some(())
    });
    assert!(
        etcd_keys(&cluster, "/kw-e/", "e/").contains(&key),
        "the session in use was swept"
    );
    assert!(!etcd_keys(&cluster, "/kw-e/", "c/")
        .iter()
        .any(|k| k.ends_with(&idle.session.id.simple().to_string())));
    let logs = a.log_text() + &b.log_text();
    assert_eq!(
        logs.matches("this host sweeps etcd").count(),
        1,
        "one sweeper at a time: {logs}"
    );
}

/// With `strict_verify`, a verify on B right after A acknowledged a revoke is refused,
/// every time: it waits for a quorum read's revision.
#[test]
fn strict_verify_never_honours_an_acknowledged_revoke() {
    let cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-f/", "");
    let b = host(&cluster, "/kw-f/", "strict_verify = true\n");
    let (mut admin, key) = a.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    let mut vb = b.client();
    verify(&mut vb, &created.session.token).unwrap();
    for round in 0..30 {
        let s = admin.session_issue(created.client_id).unwrap();
        verify(&mut vb, &s.token).unwrap_or_else(|e| panic!("round {round}: issued: {e}"));
        admin.revoke(s.id).unwrap();
        let e = verify(&mut vb, &s.token).expect_err("a revoked session verified");
        assert_eq!(
            e.code(),
            Some(ErrorCode::CredentialInvalid),
            "round {round}: {e}"
        );
    }
    // A change on the strict host looks up its admin key, or the token it logs out, inside
    // the change: answered, not refused after waiting on a catch-up the change itself holds
    // up.
    let mut admin_b = b.client();
    admin_b.set_admin_key(key);
    for round in 0..5 {
        let s = admin_b
            .session_issue(created.client_id)
            .unwrap_or_else(|e| panic!("round {round}: issue on the strict host: {e}"));
        vb.logout(&s.token)
            .unwrap_or_else(|e| panic!("round {round}: logout on the strict host: {e}"));
    }
}

/// Killing the etcd leader while A issues sessions: every acknowledged session is there
/// after the election (it verifies on B), and issues resume.
#[test]
fn killing_the_etcd_leader_under_load_loses_no_acknowledged_write() {
    let mut cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-g/", "");
    let b = host(&cluster, "/kw-g/", "");
    let (mut admin, key) = a.admin_client(Env::Live);
    let client_id = admin
        .client_create(None, None, Scopes::new())
        .unwrap()
        .client_id;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (acked, after) = std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut c = a.client();
            c.set_admin_key(key.clone());
            let mut acked = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match c.session_issue(client_id) {
                    Ok(s) => acked.push((Instant::now(), s.token)),
                    Err(e) => assert_eq!(e.code(), Some(ErrorCode::Unavailable), "{e}"),
                }
            }
            acked
        });
        wait_for("some issues", || {
            (!etcd_keys(&cluster, "/kw-g/", "e/").is_empty()).then_some(())
        });
        std::thread::sleep(Duration::from_millis(300));
        let leader = cluster.leader();
        cluster.kill(leader);
        let killed = Instant::now();
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let acked = load.join().unwrap();
        let after = acked.iter().filter(|(at, _)| *at > killed).count();
        (acked, after)
    });
    assert!(after > 0, "issues did not resume after the leader died");
    let mut vb = b.client();
    for (_, token) in &acked {
        verifies_soon(&mut vb, token, "an acknowledged session on B");
    }
}

/// kill -9 of B while A issues and revokes: B rebuilds from etcd; every acknowledged live
/// session verifies on it and no acknowledged revoke comes back.
#[test]
fn a_killed_host_rebuilds_without_loss_or_resurrection() {
    let cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-h/", "");
    let mut b = host(&cluster, "/kw-h/", "");
    let (mut admin, key) = a.admin_client(Env::Live);
    let client_id = admin
        .client_create(None, None, Scopes::new())
        .unwrap()
        .client_id;
    let (live, revoked) = std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut c = a.client();
            c.set_admin_key(key.clone());
            let (mut live, mut revoked) = (Vec::new(), Vec::new());
            for i in 0..300 {
                let s = c.session_issue(client_id).unwrap();
                if i % 3 == 0 {
                    c.revoke(s.id).unwrap();
                    revoked.push(s.token);
                } else {
                    live.push(s.token);
                }
            }
            (live, revoked)
        });
        std::thread::sleep(Duration::from_millis(200));
        b.kill9();
        b.restart();
        load.join().unwrap()
    });
    let mut vb = b.client();
    for token in &live {
        verifies_soon(&mut vb, token, "an acknowledged session on the restarted B");
    }
    for token in &revoked {
        let e = verify(&mut vb, token).expect_err("a revoked session came back");
        assert_eq!(e.code(), Some(ErrorCode::CredentialInvalid), "{e}");
    }
}

/// A client deleted, or its sessions revoked, on B right after A issued it a session that
/// B's copy has not seen yet: the session goes too, everywhere.
#[test]
fn deletes_and_revokes_reach_sessions_another_host_just_issued() {
    let cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-i/", "");
    let b = host(&cluster, "/kw-i/", "");
    let (mut admin_a, key) = a.admin_client(Env::Live);
    let mut admin_b = b.client();
    admin_b.set_admin_key(key.clone());
    let mut va = a.client();
    for round in 0..10 {
        let created = admin_a.client_create(None, None, Scopes::new()).unwrap();
        wait_for("the client on B", || {
            admin_b.client_show(created.client_id).ok()
        });
        let fresh = admin_a.session_issue(created.client_id).unwrap();
        if round % 2 == 0 {
            wait_for("a delete on B", || {
                admin_b.client_delete(created.client_id).ok()
            });
        } else {
            wait_for("a revoke on B", || {
                admin_b.client_revoke_sessions(created.client_id).ok()
            });
        }
        refused_within(
            &mut va,
            &fresh.token,
            ErrorCode::CredentialInvalid,
            "the fresh session refused on A",
        );
        let left = etcd_keys(
            &cluster,
            "/kw-i/",
            &format!("c/{}/", created.client_id.simple()),
        );
        assert!(left.is_empty(), "round {round}: etcd still holds {left:?}");
    }
}
