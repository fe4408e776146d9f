//! `client delete` against the real daemon: nothing of a deleted client comes back after a
//! SIGKILL, and no session issued while the delete runs outlives it.

use crate::support::Daemon;
use keyward_client::blocking::Client;
use keyward_client::{Env, ErrorCode, Requirements, Scopes, Secret};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// A client and the tokens it holds.
struct Held {
    id: Uuid,
    tokens: Vec<Secret>,
}

fn make(a: &mut Client, i: usize) -> Held {
    let created = a
        .client_create(Some(format!("c{i}")), None, Scopes::new())
        .unwrap();
    let id = created.client_id;
    let second = a.session_issue(id).unwrap().token;
    let test_key = a.test_key_create(id).unwrap().token;
    Held {
        id,
        tokens: vec![created.session.token, second, test_key],
    }
}

fn admin(d: &Daemon, key: &Secret) -> Client {
    let mut c = d.client();
    c.set_admin_key(key.clone());
    c
}

/// Asserts every token of a deleted client fails and the client is gone, and every kept
/// client's tokens verify.
fn check(d: &Daemon, key: &Secret, deleted: &[Held], kept: &[Held], when: &str) {
    let mut a = admin(d, key);
    let mut c = d.client();
    for h in deleted {
        let e = a.client_show(h.id).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::NotFound), "{when}: {e}");
        for t in &h.tokens {
            let e = c.verify(t, Requirements::new()).unwrap_err();
            assert_eq!(e.code(), Some(ErrorCode::CredentialInvalid), "{when}: {e}");
        }
    }
    for h in kept {
        assert_eq!(a.client_show(h.id).unwrap().credentials.len(), 3, "{when}");
        for t in &h.tokens {
            c.verify(t, Requirements::new()).unwrap();
        }
    }
    assert_eq!(a.stats().unwrap().clients, kept.len() as u64, "{when}");
}

/// Every acknowledged delete holds after a SIGKILL taken right after its answer: the client,
/// its sessions and its test key stay gone, and the other clients are untouched.
#[test]
fn deleted_clients_stay_deleted_after_sigkill() {
    let mut d = Daemon::start();
    let (mut a, key) = d.admin_client(Env::Live);
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    for i in 0..20 {
        let held = make(&mut a, i);
        if i % 2 == 0 {
            deleted.push(held);
        } else {
            kept.push(held);
        }
    }
    for h in &deleted {
        assert_eq!(
            a.client_delete(h.id).unwrap(),
            3,
            "two sessions and a test key"
        );
    }
    check(&d, &key, &deleted, &kept, "before the crash");
    drop(a);
    d.kill9();
    d.restart();
    check(&d, &key, &deleted, &kept, "after SIGKILL");
}

/// Sessions issued on other connections while a client is deleted: each was either issued
/// before the delete (and is revoked with it) or refused with `NOT_FOUND`; none verifies once
/// the delete is acknowledged, nor after a SIGKILL.
#[test]
fn sessions_issued_during_a_delete_die_with_it() {
    let mut d = Daemon::start_with("max_sessions_per_client = 0\n");
    let (mut a, key) = d.admin_client(Env::Live);
    let mut issued = Vec::new();
    for round in 0..5 {
        let held = make(&mut a, round);
        let stop = Arc::new(AtomicBool::new(false));
        let issuers: Vec<_> = (0..3)
            .map(|_| {
                let mut c = admin(&d, &key);
                let stop = Arc::clone(&stop);
                let id = held.id;
                std::thread::spawn(move || {
                    let mut tokens = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        match c.session_issue(id) {
                            Ok(s) => tokens.push(s.token),
                            Err(e) if e.code() == Some(ErrorCode::NotFound) => break,
                            Err(e) => panic!("issue: {e}"),
                        }
                    }
                    tokens
                })
            })
            .collect();
        // Let the issuers get going before the delete.
        crate::support::wait_for("sessions to be issued", || {
            (a.client_show(held.id).unwrap().credentials.len() > 10).then_some(())
        });
        a.client_delete(held.id).unwrap();
        stop.store(true, Ordering::Relaxed);
        for issuer in issuers {
            issued.extend(issuer.join().unwrap());
        }
        issued.extend(held.tokens);
    }
    let dead = |d: &Daemon, when: &str| {
        let mut c = d.client();
        for t in &issued {
            let e = c.verify(t, Requirements::new()).unwrap_err();
            assert_eq!(e.code(), Some(ErrorCode::CredentialInvalid), "{when}: {e}");
        }
    };
    assert!(issued.len() > 50, "{} tokens", issued.len());
    dead(&d, "after the deletes");
    drop(a);
    d.kill9();
    d.restart();
    dead(&d, "after SIGKILL");
}
