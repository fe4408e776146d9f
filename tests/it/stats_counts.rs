//! `stats` counts kept as the store changes: after creates, revokes, sweeps, a restart, a
//! crash and a restore, `keyward stats --json` agrees with what the test knows it holds, and
//! so do `client list`, `client show` and `admin-key list`.

use crate::support::{json, wait_for, Daemon};
use keyward_client::blocking::Client;
use keyward_client::{Env, Scopes, Secret};
use std::process::Output;

/// Sweeps often, so expired credentials go within the test's deadlines.
const CONFIG: &str = "sweep_interval = \"100ms\"\n";

fn ok(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

/// The counts `stats` reports, in the order they are compared.
fn reported(d: &Daemon) -> [u64; 5] {
    let s = ok(d.cli(&["stats", "--json"]));
    [
        "clients",
        "live_sessions",
        "test_keys",
        "api_tokens",
        "admin_keys",
    ]
    .map(|k| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}")))
}

/// The same counts from the listings (clients all live); API tokens are listed nowhere, so
/// that one is taken as known.
fn listed(d: &Daemon, key: &Secret, api_tokens: u64) -> [u64; 5] {
    let clients = ok(d.cli_with(&["client", "list", "--json"], Some(key), None));
    let clients = clients["clients"].as_array().unwrap().clone();
    let (mut sessions, mut test_keys) = (0, 0);
    for c in &clients {
        let id = c["client_id"].as_str().unwrap();
        let shown = ok(d.cli_with(&["client", "show", id, "--json"], Some(key), None));
        for cred in shown["credentials"].as_array().unwrap() {
            match cred["kind"].as_str().unwrap() {
                "session" => sessions += 1,
                "test_key" => test_keys += 1,
                other => panic!("{other} under a client"),
            }
        }
    }
    let admin_keys = ok(d.cli(&["admin-key", "list", "--json"]))["admin_keys"]
        .as_array()
        .unwrap()
        .len();
    [
        clients.len() as u64,
        sessions,
        test_keys,
        api_tokens,
        admin_keys as u64,
    ]
}

/// What the test holds: clients, sessions, test keys, API tokens, admin keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known([u64; 5]);

const CLIENTS: usize = 0;
const SESSIONS: usize = 1;
const TEST_KEYS: usize = 2;
const API_TOKENS: usize = 3;
const ADMIN_KEYS: usize = 4;

impl Known {
    fn add(&mut self, what: usize, n: i64) {
        self.0[what] = self.0[what].checked_add_signed(n).unwrap();
    }
}

fn check(d: &Daemon, key: &Secret, known: Known, when: &str) {
    let what = "(clients, sessions, test keys, API tokens, admin keys)";
    assert_eq!(reported(d), known.0, "stats {when} {what}");
    assert_eq!(
        listed(d, key, known.0[API_TOKENS]),
        known.0,
        "listings {when} {what}"
    );
}

fn admin(d: &Daemon, key: &Secret) -> Client {
    let mut c = d.client();
    c.set_admin_key(key.clone());
    c
}

/// Counts stay exact through creates, revokes, sweeps (of API tokens in sled and of sessions
/// in memory), a clean restart, a SIGKILL and a restore from backup.
#[test]
fn stats_counts_survive_every_change() {
    let mut d = Daemon::start_with(CONFIG);
    let mut known = Known([0; 5]);
    let (mut a, key) = d.admin_client(Env::Live);
    d.client().admin_key_create("other env", Env::Test).unwrap();
    let gone_key = d.client().admin_key_create("revoked", Env::Live).unwrap();
    known.add(ADMIN_KEYS, 3);
    let mut clients = Vec::new();
    for i in 0..5 {
        clients.push(
            a.client_create(Some(format!("c{i}")), None, Scopes::new())
                .unwrap(),
        );
    }
    known.add(CLIENTS, 5);
    known.add(SESSIONS, 5);
    let extra = a.session_issue(clients[0].client_id).unwrap();
    a.session_issue(clients[0].client_id).unwrap();
    a.session_issue(clients[3].client_id).unwrap();
    known.add(SESSIONS, 3);
    let tk = a.test_key_create(clients[1].client_id).unwrap();
    a.test_key_create(clients[2].client_id).unwrap();
    known.add(TEST_KEYS, 2);
    let kept = a.api_token_create("kept", Scopes::new(), None).unwrap();
    a.api_token_create("kept too", Scopes::new(), None).unwrap();
    known.add(API_TOKENS, 2);
    check(&d, &key, known, "after creates");

    for name in ["short 1", "short 2"] {
        a.api_token_create(name, Scopes::new(), Some(1)).unwrap();
    }
    a.revoke(extra.id).unwrap();
    a.revoke(tk.id).unwrap();
    a.revoke(kept.id).unwrap();
    assert_eq!(a.client_revoke_sessions(clients[3].client_id).unwrap(), 2);
    d.client().admin_key_revoke(gone_key.id).unwrap();
    known.add(SESSIONS, -3);
    known.add(TEST_KEYS, -1);
    known.add(API_TOKENS, -1);
    known.add(ADMIN_KEYS, -1);
    wait_for("the short-lived API tokens to be swept", || {
        (reported(&d)[API_TOKENS] == known.0[API_TOKENS]).then_some(())
    });
    check(&d, &key, known, "after revokes and a sweep");

    assert!(d.terminate().success());
    d.restart();
    check(&d, &key, known, "after a restart");

    let mut a = admin(&d, &key);
    let late = a.client_create(None, None, Scopes::new()).unwrap();
    a.test_key_create(late.client_id).unwrap();
    a.api_token_create("late", Scopes::new(), None).unwrap();
    a.revoke(clients[4].session.id).unwrap();
    // The late client's session and the revoked one cancel out.
    known.add(CLIENTS, 1);
    known.add(TEST_KEYS, 1);
    known.add(API_TOKENS, 1);
    drop(a);
    d.kill9();
    d.restart();
    check(&d, &key, known, "after a crash");

    let file = d.dir().join("counts.backup");
    let out = d.cli(&["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut a = admin(&d, &key);
    a.client_create(None, None, Scopes::new()).unwrap();
    a.api_token_create("after the backup", Scopes::new(), None)
        .unwrap();
    drop(a);
    assert!(d.terminate().success());
    d.restore_forced(&file);
    d.restart();
    check(&d, &key, known, "after a restore");

    // Sessions that expire in a second, swept from memory.
    assert!(d.terminate().success());
    std::fs::write(
        d.dir().join("keywardd.toml"),
        format!("{CONFIG}idle_timeout = \"1s\"\nmax_lifetime = \"1s\"\n"),
    )
    .unwrap();
    d.restart();
    let mut a = admin(&d, &key);
    for c in &clients[..3] {
        a.session_issue(c.client_id).unwrap();
    }
    assert_eq!(
        reported(&d)[SESSIONS],
        known.0[SESSIONS] + 3,
        "issued sessions counted"
    );
    wait_for("the short sessions to be swept", || {
        (reported(&d)[SESSIONS] == known.0[SESSIONS]).then_some(())
    });
    check(&d, &key, known, "after a sweep of sessions");
}
