//! Moving into etcd and back out, on a real three-member etcd cluster: `keywardd migrate
//! --to-etcd` moves a stopped single-host data dir into an empty prefix, after which two
//! hosts on empty data dirs verify every credential, refuse the disabled and the revoked, and
//! find a client by external id; migrate refuses a data dir a daemon holds and a prefix that
//! holds keys; a backup taken from a host with `backend = "etcd"` is etcd at one revision, and
//! restores into an empty prefix and into a single-host data dir with the same counts.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use keyward_client::{Env, ErrorCode, Meta, Requirements, Scopes, Secret, Stats};
use uuid::Uuid;

use crate::etcd_support::EtcdCluster;
use crate::support::{binary, json, wait_for, Daemon};

/// The config of a host on `cluster` under `prefix`.
fn etcd_config(cluster: &EtcdCluster, prefix: &str) -> String {
    format!(
        "backend = \"etcd\"\netcd_endpoints = {}\netcd_prefix = \"{prefix}\"\n\
         max_staleness = \"1s\"\netcd_timeout = \"2s\"\n",
        cluster.endpoints_toml()
    )
}

/// A keywardd host on `cluster` under `prefix`, with a new, empty data dir.
fn host(cluster: &EtcdCluster, prefix: &str) -> Daemon {
    Daemon::start_with(&etcd_config(cluster, prefix))
}

/// Runs `keywardd ARGS` offline with `config` as its file and `data_dir` as its data dir.
fn keywardd(config: &str, data_dir: &Path, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keywardd.toml");
    std::fs::write(&file, config).unwrap();
    Command::new(binary("keywardd"))
        .args(args)
        .arg("--config")
        .arg(&file)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How many keys start with `prefix`, at `revision` if given, counted with etcdctl.
fn count(cluster: &EtcdCluster, prefix: &str, revision: Option<i64>) -> usize {
    let rev = revision.map(|r| format!("--rev={r}"));
    let mut args = vec!["get", "--prefix", prefix, "--keys-only"];
    if let Some(rev) = &rev {
        args.push(rev);
    }
    let out = cluster.etcdctl(&args);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

/// The sections of the key layout.
const SECTIONS: [&str; 5] = ["p/", "x/", "c/", "e/", "d/"];

/// The count of each section under `prefix`.
fn sections(cluster: &EtcdCluster, prefix: &str, revision: Option<i64>) -> Vec<usize> {
    SECTIONS
        .iter()
        .map(|s| count(cluster, &format!("{prefix}{s}"), revision))
        .collect()
}

/// Credentials made on a daemon, and what must hold of them wherever they are moved.
struct Population {
    live_admin: Secret,
    /// Sessions, a test key and an API token of enabled principals.
    verifying: Vec<Secret>,
    /// A session of a disabled client.
    disabled: Secret,
    /// A revoked session.
    revoked: Secret,
    /// The client with external id `user-ext`.
    external: Uuid,
}

/// A few clients and sessions (one at its seat limit), a test key, an API token, an
/// external id, a disabled client and a revoked session.
fn populate(d: &Daemon) -> Population {
    let (mut live, live_admin) = d.admin_client(Env::Live);
    let (mut test, _) = d.admin_client(Env::Test);
    let meta: Meta = [("plan".to_owned(), "pro".to_owned())]
        .into_iter()
        .collect();
    let a = live
        .client_create_with(
            Some("a".into()),
            None,
            Scopes::new(),
            Some("user-ext".into()),
            meta,
        )
        .unwrap();
    let b = live.client_create(None, Some(3), Scopes::new()).unwrap();
    let b2 = live.session_issue(b.client_id).unwrap();
    let b3 = live.session_issue(b.client_id).unwrap();
    let revoked = live.session_issue(a.client_id).unwrap();
    live.revoke(revoked.id).unwrap();
    let c = live.client_create(None, None, Scopes::new()).unwrap();
    live.disable(c.client_id).unwrap();
    let t = test.client_create(None, None, Scopes::new()).unwrap();
    let test_key = test.test_key_create(t.client_id).unwrap();
    let api = live
        .api_token_create("deploy", Scopes::new(), None)
        .unwrap();
    Population {
        live_admin,
        verifying: vec![
            a.session.token,
            b.session.token,
            b2.token,
            b3.token,
            t.session.token,
            test_key.token,
            api.token,
        ],
        disabled: c.session.token,
        revoked: revoked.token,
        external: a.client_id,
    }
}

/// The counts `stats` reports of what a store holds.
fn held(stats: &Stats) -> [u64; 5] {
    [
        stats.clients,
        stats.live_sessions,
        stats.test_keys,
        stats.api_tokens,
        stats.admin_keys,
    ]
}

/// Everything in `pop` holds on `d`, whose store holds `expected` (as [`held`] counts).
fn holds_on(d: &Daemon, pop: &Population, expected: [u64; 5]) {
    let mut c = d.client();
    for token in &pop.verifying {
        wait_for("a moved credential to verify", || {
            c.verify(token, Requirements::new()).ok()
        });
    }
    let e = c.verify(&pop.disabled, Requirements::new()).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialDisabled), "{e}");
    let e = c.verify(&pop.revoked, Requirements::new()).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CredentialInvalid), "{e}");
    let shown = d.cli_with(
        &["client", "show", "--external-id", "user-ext", "--json"],
        Some(&pop.live_admin),
        None,
    );
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown));
    assert_eq!(
        json(&shown)["client_id"].as_str(),
        Some(pop.external.to_string().as_str())
    );
    let mut admin = d.client();
    admin.set_admin_key(pop.live_admin.clone());
    assert_eq!(held(&admin.stats().unwrap()), expected);
}

/// The number a summary line starting with `label` reports.
fn reported(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {summary}"))
}

/// A stopped single-host data dir migrated into an empty prefix serves from two etcd hosts
/// with empty data dirs: every credential verifies on both, the disabled and the revoked are
/// refused, `client show --external-id` finds the client, and the counts are the same.
#[test]
fn migrate_moves_a_data_dir_into_etcd() {
    let cluster = EtcdCluster::new();
    let mut single = Daemon::start();
    let pop = populate(&single);
    let mut admin = single.client();
    admin.set_admin_key(pop.live_admin.clone());
    let before = held(&admin.stats().unwrap());
    drop(admin);
    single.terminate();

    let config = etcd_config(&cluster, "/kw-m/");
    let out = keywardd(&config, &single.data_dir, &["migrate", "--to-etcd"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    // 3 live clients, 1 test client and 1 API token; 1 external id; 2 admin keys, 6 live
    // sessions, 1 test key and 1 API token; 1 disabled client.
    assert_eq!(reported(&said, "principals"), 5, "{said}");
    assert_eq!(reported(&said, "credentials"), 10, "{said}");
    assert_eq!(reported(&said, "disabled ids"), 1, "{said}");
    assert!(said.contains("EMPTY data dir"), "{said}");
    assert_eq!(sections(&cluster, "/kw-m/", None), [5, 1, 10, 6, 1]);
    // Every session's expiry key carries the lease that ends it at its cap.
    let out = cluster.etcdctl(&["get", "/kw-m/e/", "--prefix", "-w", "json"]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kvs = got["kvs"].as_array().expect("expiry keys");
    assert_eq!(kvs.len(), 6);
    assert!(
        kvs.iter().all(|kv| kv["lease"].as_i64().unwrap_or(0) != 0),
        "a migrated session without a lease: {got}"
    );

    let a = host(&cluster, "/kw-m/");
    let b = host(&cluster, "/kw-m/");
    holds_on(&a, &pop, before);
    holds_on(&b, &pop, before);

    // The daemon refuses the migrated data dir itself on etcd: it still holds the
    // single-host store.
    let out = Command::new(binary("keywardd"))
        .arg("--config")
        .arg(a.dir().join("keywardd.toml"))
        .arg("--data-dir")
        .arg(&single.data_dir)
        .arg("--socket")
        .arg(single.dir().join("again.sock"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("single-host store"), "{}", text(&out));
}

/// Migrate refuses a data dir that a running daemon holds, a config without etcd, and a
/// prefix that already holds a key, and writes nothing into etcd when it refuses.
#[test]
fn migrate_refuses_a_busy_data_dir_and_a_prefix_in_use() {
    let cluster = EtcdCluster::new();
    let mut single = Daemon::start();
    populate(&single);
    let config = etcd_config(&cluster, "/kw-n/");

    let out = keywardd(&config, &single.data_dir, &["migrate", "--to-etcd"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("already using data dir"),
        "{}",
        text(&out)
    );
    single.terminate();

    let out = keywardd("", &single.data_dir, &["migrate", "--to-etcd"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("set backend = \"etcd\""),
        "{}",
        text(&out)
    );

    let put = cluster.etcdctl(&["put", "/kw-n/p/someone-elses", "x"]);
    assert!(put.status.success(), "{}", text(&put));
    let out = keywardd(&config, &single.data_dir, &["migrate", "--to-etcd"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("already holds 1 keys") && said.contains("etcdctl del --prefix /kw-n/"),
        "{said}"
    );
    assert_eq!(count(&cluster, "/kw-n/", None), 1, "migrate wrote into it");

    // Once emptied, the same migrate goes through.
    let del = cluster.etcdctl(&["del", "--prefix", "/kw-n/"]);
    assert!(del.status.success(), "{}", text(&del));
    let out = keywardd(&config, &single.data_dir, &["migrate", "--to-etcd"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The etcd revision a host's last backup read, from its log.
fn backup_revision(d: &Daemon) -> i64 {
    let log = d.log_text();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("a backup read etcd at one revision"))
        .unwrap_or_else(|| panic!("no backup revision in the log: {log}"));
    let digits: String = line
        .split("revision=")
        .nth(1)
        .expect("revision=")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// A backup taken from a host with `backend = "etcd"` while another host keeps issuing holds
/// exactly what etcd held at one revision; it restores into an empty prefix (and is refused
/// by one that holds keys) and into a single-host data dir, with the same counts, and
/// everything in it holds there.
#[test]
fn an_etcd_backup_is_one_revision_and_restores_anywhere() {
    let cluster = EtcdCluster::new();
    let a = host(&cluster, "/kw-src/");
    let b = host(&cluster, "/kw-src/");
    let pop = populate(&a);
    let mut admin = a.client();
    admin.set_admin_key(pop.live_admin.clone());
    let quiet = held(&admin.stats().unwrap());

    // B issues sessions for a client of its own throughout the backup.
    let busy = Arc::new(AtomicBool::new(true));
    let issuing = {
        let mut c = b.client();
        c.set_admin_key(pop.live_admin.clone());
        let client = wait_for("the admin key on B", || {
            c.client_create(None, None, Scopes::new()).ok()
        });
        let busy = Arc::clone(&busy);
        std::thread::spawn(move || {
            let mut n = 0;
            while busy.load(Ordering::Relaxed) && n < 2_000 {
                c.session_issue(client.client_id).unwrap();
                n += 1;
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let file = a.dir().join("etcd.kwbk");
    let out = a.cli(&["backup", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nA's log: {}",
        text(&out),
        a.log_text()
    );
    busy.store(false, Ordering::Relaxed);
    issuing.join().unwrap();
    let revision = backup_revision(&a);
    let at_backup = sections(&cluster, "/kw-src/", Some(revision));
    assert!(
        sections(&cluster, "/kw-src/", None)[2] > at_backup[2],
        "B issued nothing after the backup's revision: the test proves nothing"
    );

    // Into an empty prefix: exactly what etcd held at that revision.
    let config = etcd_config(&cluster, "/kw-dst/");
    let nowhere = tempfile::tempdir().unwrap();
    let out = keywardd(
        &config,
        nowhere.path(),
        &["restore", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sections(&cluster, "/kw-dst/", None), at_backup);
    let again = keywardd(
        &config,
        nowhere.path(),
        &["restore", file.to_str().unwrap(), "--force"],
    );
    assert_ne!(again.status.code(), Some(0), "{}", text(&again));
    assert!(text(&again).contains("already holds"), "{}", text(&again));

    // Both restores hold what the backup held: the population, and B's client and sessions
    // up to the revision.
    let sessions_at_backup = at_backup[3] as u64;
    let expected = [
        quiet[0] + 1,
        sessions_at_backup,
        quiet[2],
        quiet[3],
        quiet[4],
    ];
    let dst = host(&cluster, "/kw-dst/");
    holds_on(&dst, &pop, expected);

    let mut single = Daemon::start();
    single.terminate();
    single.restore_forced(&file);
    single.restart();
    holds_on(&single, &pop, expected);
}
