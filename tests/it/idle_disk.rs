//! An idle daemon leaves the disk alone (issue 15 §7): with no clients and no changes, its
//! checkpoints, sweeps and timers call no `fdatasync`, `fsync` or `pwrite64`, counted by
//! `strace` over an idle interval; and a change followed by idleness is still checkpointed.

use crate::support::{wait_for, Daemon};
use keyward_client::{Env, Requirements, Scopes};
use std::process::Command;
use std::time::Duration;

/// The calls that write to or sync a file; a plain `write` is also the runtime's eventfd.
const DISK_CALLS: &str = "trace=fdatasync,fsync,pwrite64,pwritev,pwritev2,sync_file_range";
/// Sweeps every 200 ms, so an idle interval holds many of them; a verify always slides.
const CONFIG: &str = "sweep_interval = \"200ms\"\nslide_granularity = \"0s\"\n";
/// Two checkpoints (every 500 ms): a quiet stretch this long means start-up's writes are done.
const QUIET: Duration = Duration::from_secs(1);
/// How many stretches [`settle`] tries before it gives up.
const SETTLE_TRIES: usize = 15;
/// Six checkpoints and fifteen sweeps.
const IDLE: Duration = Duration::from_secs(3);

/// The disk calls `pid`'s threads make during `interval`, one line each.
fn disk_calls(pid: u32, interval: Duration) -> Vec<String> {
    disk_calls_after(pid, interval, || ())
}

/// Whether every thread of `pid` is traced.
fn traced(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("status")).is_ok_and(|status| {
            status
                .lines()
                .any(|l| l.starts_with("TracerPid:") && l.trim_end() != "TracerPid:\t0")
        })
    })
}

/// The disk calls `pid`'s threads make during `interval`, one line each, with `act` run once
/// strace has attached to all of them, so that nothing `act` causes can slip in before.
fn disk_calls_after(pid: u32, interval: Duration, act: impl FnOnce()) -> Vec<String> {
    let out = tempfile::NamedTempFile::new().unwrap();
    // `timeout` ends the trace with SIGINT, on which strace detaches and exits.
    let mut strace = Command::new("timeout")
        .args(["-s", "INT", &format!("{:.3}", interval.as_secs_f64())])
        .args(["strace", "-f", "-qq", "-e", DISK_CALLS, "-o"])
        .arg(out.path())
        .args(["-p", &pid.to_string()])
        .spawn()
        .expect("run strace (scripts/test installs it)");
    wait_for("strace to attach to every thread", || {
        traced(pid).then_some(())
    });
    act();
    let status = strace.wait().expect("strace ran");
    // 124 is timeout's own status when it had to stop strace, the expected end.
    assert!(
        status.success() || status.code() == Some(124),
        "strace failed: {status}"
    );
    std::fs::read_to_string(out.path())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until a [`QUIET`] stretch passes with no disk call: whatever was done before has
/// been checkpointed. A daemon that never goes quiet fails here, with its calls.
fn settle(pid: u32) {
    let mut calls = Vec::new();
    for _ in 0..SETTLE_TRIES {
        calls = disk_calls(pid, QUIET);
        if calls.is_empty() {
            return;
        }
    }
    panic!("the daemon never went quiet:\n{}", calls.join("\n"));
}

/// With no clients and no changes, a daemon makes no `fdatasync`, `fsync` or `pwrite64` in
/// three seconds; it used to sync the audit log and sled and rewrite the audit state file at
/// every checkpoint, twice a second.
#[test]
fn idle_daemon_neither_writes_nor_syncs() {
    let daemon = Daemon::start_with(CONFIG);
    settle(daemon.pid());
    let calls = disk_calls(daemon.pid(), IDLE);
    assert!(
        calls.is_empty(),
        "an idle daemon touched the disk:\n{}",
        calls.join("\n")
    );
}

/// A slide nobody waits on, made after an idle spell, is still written and synced by the next
/// checkpoint and survives a SIGKILL; one made just before a clean shutdown survives it.
#[test]
fn change_after_idleness_is_checkpointed() {
    let mut daemon = Daemon::start_with(CONFIG);
    let (mut admin, _key) = daemon.admin_client(Env::Live);
    let c = admin.client_create(None, None, Scopes::new()).unwrap();
    let token = c.session.token;
    settle(daemon.pid());

    let calls = disk_calls_after(daemon.pid(), IDLE, || {
        daemon.client().verify(&token, Requirements::new()).unwrap();
    });
    let called = |name: &str| calls.iter().any(|l| l.contains(&format!(" {name}(")));
    assert!(
        called("pwrite64") && called("fdatasync"),
        "the slide was not written and synced:\n{}",
        calls.join("\n")
    );
    let last_used = |daemon: &Daemon| {
        let (mut admin, _) = daemon.admin_client(Env::Live);
        let details = admin.client_show(c.client_id).unwrap();
        details.credentials[0].last_used_at
    };
    drop(admin);
    daemon.kill9();
    daemon.restart();
    let slid = last_used(&daemon).expect("the checkpointed slide survived the SIGKILL");

    // Sleep past the millisecond so the next slide is distinguishable.
    std::thread::sleep(Duration::from_millis(5));
    daemon.client().verify(&token, Requirements::new()).unwrap();
    assert!(daemon.terminate().success());
    daemon.restart();
    let again = last_used(&daemon).expect("a use before shutdown");
    assert!(again > slid, "the clean shutdown lost the last slide");
}
