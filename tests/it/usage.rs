//! Usage (issue 15 §5): each credential's `uses` and `last_used_at`, and its client's or API
//! token's totals, are counted in memory and folded into the store every 5 s.
//! A clean stop loses no use; a crash loses at most the last fold interval's, and never
//! makes a count too high.

use crate::support::{json, now_ms, wait_for, Daemon};
use keyward_client::blocking::Client;
use keyward_client::{Env, ErrorCode, ListOrder, Requirements, Scopes, Secret};
use uuid::Uuid;

/// `n` successful verifies of `token`.
fn verify(c: &mut Client, token: &Secret, n: u64) {
    for _ in 0..n {
        c.verify(token, Requirements::new()).expect("verify");
    }
}

/// A credential's `uses` and the client's total, from `client show`.
fn uses(a: &mut Client, client: Uuid, credential: Uuid) -> (u64, u64) {
    let shown = a.client_show(client).expect("client show");
    let one = shown
        .credentials
        .iter()
        .find(|c| c.id == credential)
        .map_or(0, |c| c.uses);
    (one, shown.uses)
}

/// A second daemon restored (forced) from a backup of `d` written to `name` in its dir, and
/// an admin client of it with `key`.
fn restored_copy(d: &Daemon, name: &str, key: &Secret) -> (Daemon, Client) {
    let file = d.dir().join(name);
    let out = d.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut restored = Daemon::start();
    assert!(restored.terminate().success());
    restored.restore_forced(&file);
    restored.restart();
    let mut r = restored.client();
    r.set_admin_key(key.clone());
    (restored, r)
}

/// After a kill -9, a count is at least what a fold had made durable before the kill (here,
/// the one at a clean stop), and never more than the verifies that were answered.
#[test]
fn a_crash_loses_at_most_the_last_interval_and_never_adds() {
    let mut d = Daemon::start();
    let (mut a, key) = d.admin_client(Env::Live);
    let created = a.client_create(None, None, Scopes::new()).unwrap();
    let (client, session) = (created.client_id, created.session);
    let test_key = a.test_key_create(client).unwrap();
    let mut c = d.client();
    verify(&mut c, &session.token, 20);
    verify(&mut c, &test_key.token, 4);
    // Shown at once, before any fold: `show` adds what memory holds.
    assert_eq!(uses(&mut a, client, session.id), (20, 24));
    assert_eq!(d.terminate().code(), Some(0));
    d.restart();
    let mut c = d.client();
    verify(&mut c, &session.token, 25);
    verify(&mut c, &test_key.token, 6);
    let killed_at = now_ms();
    d.kill9();
    d.restart();
    let mut a = d.client();
    a.set_admin_key(key);
    let (session_uses, total) = uses(&mut a, client, session.id);
    let (test_key_uses, _) = uses(&mut a, client, test_key.id);
    assert!((20..=45).contains(&session_uses), "{session_uses}");
    assert!((4..=10).contains(&test_key_uses), "{test_key_uses}");
    assert!((24..=55).contains(&total), "{total}");
    let shown = a.client_show(client).unwrap();
    let last = shown.last_used_at.expect("used");
    assert!(last <= killed_at, "{last} after the kill at {killed_at}");
}

/// A clean stop folds every use: after SIGTERM and a restart each count is exact, through the
/// client crate and the CLI's `--json`, and a revoked session's uses stay in its client's total.
#[test]
fn a_clean_stop_loses_nothing_and_totals_outlive_revocation() {
    let mut d = Daemon::start();
    let (mut a, key) = d.admin_client(Env::Live);
    let created = a.client_create(None, None, Scopes::new()).unwrap();
    let (client, session) = (created.client_id, created.session);
    let second = a.session_issue(client).unwrap();
    let test_key = a.test_key_create(client).unwrap();
    let mut c = d.client();
    verify(&mut c, &session.token, 25);
    verify(&mut c, &second.token, 7);
    verify(&mut c, &test_key.token, 5);
    // Revoked before any fold could fold its uses: they still reach the client's total.
    a.revoke(second.id).unwrap();
    assert_eq!(uses(&mut a, client, session.id), (25, 37));
    assert_eq!(d.terminate().code(), Some(0));
    d.restart();
    let mut a = d.client();
    a.set_admin_key(key.clone());
    assert_eq!(uses(&mut a, client, session.id), (25, 37));
    assert_eq!(uses(&mut a, client, test_key.id).0, 5);

    let out = d.cli_with(
        &["client", "show", &client.to_string(), "--json"],
        Some(&key),
        None,
    );
    let shown = json(&out);
    assert_eq!(shown["uses"], 37, "{shown}");
    assert!(shown["last_used_at"].is_string(), "{shown}");
    let creds = shown["credentials"].as_array().unwrap();
    let ours = creds
        .iter()
        .find(|c| c["id"] == session.id.to_string())
        .expect("the session is listed");
    assert_eq!(ours["uses"], 25, "{shown}");
    assert!(ours["last_used_at"].is_string(), "{shown}");

    // A list reads folded totals only: the stop folded them.
    let out = d.cli_with(&["client", "list", "--json"], Some(&key), None);
    let listed = json(&out);
    assert_eq!(listed["clients"][0]["uses"], 37, "{listed}");
    assert!(listed["clients"][0]["last_used_at"].is_string(), "{listed}");
    let http = crate::http::call(&d, "GET", "/v1/clients", Some(&key), None);
    assert_eq!(http.status, 200, "{}", http.body);
    let body: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(body, listed, "HTTP and the CLI print the same JSON");

    // The admin requests before the stop authenticated the admin key: each is a use.
    let keys = json(&d.cli(&["admin-key", "list", "--json"]));
    let used = keys["admin_keys"][0]["uses"].as_u64().expect("uses");
    assert!(used >= 4, "{keys}");

    // A backup carries the counts the stop folded, and a restore brings them back.
    let (_restored, mut r) = restored_copy(&d, "usage.kwbk", &key);
    assert_eq!(uses(&mut r, client, session.id), (25, 37));
}

/// An API token's uses show in `api-token show` and `list`, over the CLI and HTTP, at once
/// and after a restart.
#[test]
fn api_token_uses_are_shown() {
    let mut d = Daemon::start();
    let (mut a, key) = d.admin_client(Env::Live);
    let token = a.api_token_create("ci", Scopes::new(), None).unwrap();
    let mut c = d.client();
    verify(&mut c, &token.token, 3);
    let shown = a.api_token_show(token.id).unwrap();
    assert_eq!(shown.uses, 3);
    assert!(shown.last_used_at.is_some());
    assert_eq!(d.terminate().code(), Some(0));
    d.restart();
    let id = token.principal_id.to_string();
    let out = d.cli_with(&["api-token", "show", &id, "--json"], Some(&key), None);
    let cli = json(&out);
    assert_eq!(cli["uses"], 3, "{cli}");
    let http = crate::http::call(&d, "GET", &format!("/v1/api-tokens/{id}"), Some(&key), None);
    assert_eq!(http.status, 200, "{}", http.body);
    let body: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(body, cli, "HTTP and the CLI print the same JSON");
    let listed = json(&d.cli_with(&["api-token", "list", "--json"], Some(&key), None));
    assert_eq!(listed["api_tokens"][0]["uses"], 3, "{listed}");
}

/// `--sort last-used` lists the least lately used first, never-used ones before all others:
/// through the CLI, the client crate by pages of one, and HTTP; the order survives a restart
/// and a restore, follows a use once it is folded, and a cursor of the other order or an
/// unknown order is refused with what to do instead.
#[test]
fn sort_last_used_finds_dead_credentials() {
    let mut d = Daemon::start();
    let (mut a, key) = d.admin_client(Env::Live);
    let mut clients: Vec<(Uuid, Secret)> = (0..4)
        .map(|_| {
            let c = a.client_create(None, None, Scopes::new()).unwrap();
            (c.client_id, c.session.token)
        })
        .collect();
    // Never-used ones come first in id order, so sort the fixture by id.
    clients.sort_by_key(|(id, _)| *id);
    let tokens: Vec<_> = (0..2)
        .map(|i| {
            a.api_token_create(&format!("t{i}"), Scopes::new(), None)
                .unwrap()
        })
        .collect();
    let mut c = d.client();
    // Used in this order, a few milliseconds apart: the third client, then the first.
    verify(&mut c, &clients[2].1, 2);
    std::thread::sleep(std::time::Duration::from_millis(5));
    verify(&mut c, &clients[0].1, 1);
    verify(&mut c, &tokens[1].token, 1);
    let expected = vec![clients[1].0, clients[3].0, clients[2].0, clients[0].0];
    let token_order = vec![tokens[0].principal_id, tokens[1].principal_id];
    // A clean stop folds every use.
    assert_eq!(d.terminate().code(), Some(0));
    d.restart();

    let ids = |v: &serde_json::Value, list: &str, field: &str| -> Vec<Uuid> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[field].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let sorted = &["client", "list", "--sort", "last-used", "--json"];
    let listed = json(&d.cli_with(sorted, Some(&key), None));
    assert_eq!(ids(&listed, "clients", "client_id"), expected, "{listed}");
    assert!(listed["clients"][0]["last_used_at"].is_null(), "{listed}");
    let http = crate::http::call(&d, "GET", "/v1/clients?sort=last-used", Some(&key), None);
    assert_eq!(http.status, 200, "{}", http.body);
    let body: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(body, listed, "HTTP and the CLI print the same JSON");
    let tokens_json = json(&d.cli_with(
        &["api-token", "list", "--sort", "last-used", "--json"],
        Some(&key),
        None,
    ));
    assert_eq!(
        ids(&tokens_json, "api_tokens", "principal_id"),
        token_order,
        "{tokens_json}"
    );

    // Pages of one, through the client crate, walk the same order.
    let mut a = d.client();
    a.set_admin_key(key.clone());
    let walk = |a: &mut Client| {
        let (mut seen, mut after) = (Vec::new(), None);
        loop {
            let page = a.client_list_page(1, after, ListOrder::LastUsed).unwrap();
            seen.extend(page.clients.iter().map(|c| c.client_id));
            match page.next {
                Some(next) => after = Some(next),
                None => return seen,
            }
        }
    };
    assert_eq!(walk(&mut a), expected);

    // A cursor belongs to its order, and an unknown order names the known ones.
    let by_id = a.client_list_page(1, None, ListOrder::Id).unwrap();
    let wrong = a
        .client_list_page(1, by_id.next, ListOrder::LastUsed)
        .unwrap_err();
    assert_eq!(wrong.code(), Some(ErrorCode::BadRequest), "{wrong}");
    assert!(wrong.to_string().contains("without --after"), "{wrong}");
    let http = crate::http::call(&d, "GET", "/v1/clients?sort=newest", Some(&key), None);
    assert_eq!(http.status, 400, "{}", http.body);
    assert!(http.body.contains("id, last-used"), "{}", http.body);
    let out = d.cli_with(&["client", "list", "--sort", "newest"], Some(&key), None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("last-used"),
        "{out:?}"
    );

    // Admin keys too: one never used comes before the key that made every request above, and
    // the times never go back; HTTP prints the same.
    d.admin_client(Env::Test);
    let keys = json(&d.cli(&["admin-key", "list", "--sort", "last-used", "--json"]));
    let keys_json = keys["admin_keys"].as_array().unwrap();
    assert_eq!(keys_json.len(), 2, "{keys}");
    assert!(keys_json[0]["last_used_at"].is_null(), "{keys}");
    assert!(keys_json[1]["last_used_at"].is_string(), "{keys}");
    let http = crate::http::call(&d, "GET", "/v1/admin-keys?sort=last-used", None, None);
    let body: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(body, keys, "HTTP and the CLI print the same JSON");

    // A backup restored elsewhere lists in the same order.
    let (_restored, mut r) = restored_copy(&d, "sorted.kwbk", &key);
    assert_eq!(walk(&mut r), expected, "after a restore");

    // A use moves a client to the end once a fold (every 5 s) has counted it.
    let mut c = d.client();
    verify(&mut c, &clients[1].1, 1);
    let moved = vec![clients[3].0, clients[2].0, clients[0].0, clients[1].0];
    wait_for("the fold to move the client used last", || {
        (walk(&mut a) == moved).then_some(())
    });
}
