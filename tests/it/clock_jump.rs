//! Wall-clock jumps under libfaketime, against the real daemon: a backward jump revives
//! nothing and deletes nothing valid; a forward jump expires exactly what the rules say.

use crate::support::{wait_for, Daemon};
use keyward_client::{Env, ErrorCode, Scopes, Secret};

/// libfaketime's preload library, installed by `scripts/test` from Debian's `faketime`.
fn libfaketime() -> String {
    let found = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path().join("faketime/libfaketime.so.1");
            p.exists().then_some(p)
        })
        .next();
    found
        .expect("libfaketime is missing: run the suite with scripts/test, which installs it")
        .display()
        .to_string()
}

/// A daemon whose wall clock is offset by what `offset` says ("+0", "-1h", "+3d"...).
struct FakedClock {
    daemon: Daemon,
    offset: std::path::PathBuf,
}

impl FakedClock {
    fn start(config: &str) -> FakedClock {
        let dir = tempfile::tempdir().unwrap().keep();
        let offset = dir.join("faketime");
        std::fs::write(&offset, "+0").unwrap();
        let env = vec![
            ("LD_PRELOAD".to_owned(), libfaketime()),
            (
                "FAKETIME_TIMESTAMP_FILE".to_owned(),
                offset.display().to_string(),
            ),
            // Re-read the file on every call, so a jump takes effect at once.
            ("FAKETIME_NO_CACHE".to_owned(), "1".to_owned()),
            // Only the wall clock jumps; timers and deadlines run on the monotonic clock.
            ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
        ];
        FakedClock {
            daemon: Daemon::start_with_env(config, env),
            offset,
        }
    }

    fn jump_to(&self, offset: &str) {
        std::fs::write(&self.offset, offset).unwrap();
    }

    /// Waits until the daemon has run `n` more sweeps, so a sweep has seen the new time.
    fn sweeps(&self, n: u64) {
        let mut c = self.daemon.client();
        let start = c.stats().unwrap().sweeps_run;
        wait_for("sweeps to run", || {
            (c.stats().unwrap().sweeps_run >= start + n).then_some(())
        });
    }
}

fn valid(c: &mut keyward_client::blocking::Client, t: &Secret) -> bool {
    match c.verify(t, keyward_client::Requirements::new()) {
        Ok(_) => true,
        Err(e) if e.code() == Some(ErrorCode::CredentialInvalid) => false,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Back an hour, then forward in steps to days: each credential lives exactly as long as its
/// rules say, and a backward jump neither revives nor sweeps anything.
#[test]
fn clock_jumps_follow_the_rules() {
    let faked = FakedClock::start(
        "idle_timeout = \"1h\"\nmax_lifetime = \"2d\"\nsweep_interval = \"50ms\"\n",
    );
    let daemon = &faked.daemon;
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let c = admin.client_create(None, None, Scopes::new()).unwrap();
    let used = c.session.token;
    let idle = admin.session_issue(c.client_id).unwrap().token;
    let test_key = admin.test_key_create(c.client_id).unwrap().token;
    let api_day = admin
        .api_token_create("day", Scopes::new(), Some(86_400))
        .unwrap()
        .token;
    let mut app = daemon.client();

    // Back one hour: everything stays valid, nothing is swept, no expiry moves backwards.
    faked.jump_to("-1h");
    faked.sweeps(3);
    let before = c.session.expires_at;
    let v = app
        .verify(&used, keyward_client::Requirements::new())
        .unwrap();
    assert!(v.expires_at.unwrap() >= before, "expiry moved backwards");
    for t in [&used, &idle, &test_key, &api_day] {
        assert!(valid(&mut app, t));
    }
    assert_eq!(app.stats().unwrap().credentials_swept, 0);

    // Forward 30 min: both sessions alive; using one slides it to 30 min + 1 h.
    faked.jump_to("+30m");
    assert!(valid(&mut app, &used));
    // Forward to 1 h 10 min: the used one has been idle 40 min, the other 70 min.
    faked.jump_to("+70m");
    assert!(valid(&mut app, &used), "used 40 min ago, idle timeout 1 h");
    assert!(!valid(&mut app, &idle), "idle 70 min, idle timeout 1 h");
    // Forward three days: past every session's cap and the API token's day.
    faked.jump_to("+3d");
    assert!(!valid(&mut app, &used));
    assert!(!valid(&mut app, &api_day));
    assert!(valid(&mut app, &test_key), "test keys never expire");
    faked.sweeps(2);
    let stats = app.stats().unwrap();
    assert_eq!((stats.live_sessions, stats.api_tokens), (0, 0));
    assert_eq!(stats.credentials_swept, 3);

    // And back to the real time: nothing comes back.
    faked.jump_to("+0");
    for t in [&used, &idle, &api_day] {
        assert!(!valid(&mut app, t), "a swept credential came back");
    }
    assert!(valid(&mut app, &test_key));
    let _ = std::fs::remove_dir_all(faked.offset.parent().unwrap());
}
