//! Config bounds against the real daemon: a duration past its bound is refused at start, with
//! the key named, and rejected at reload, leaving the running configuration in force.

use crate::support::{binary, wait_for, Daemon, DEADLINE};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The review's value: it parses, and once overflowed every connection's idle deadline.
const OVERFLOWING: &str = "connection_idle_timeout = \"500000000000y\"\n";

/// A file with an out-of-bounds duration stops the daemon at start with a non-zero status and
/// a message naming the key.
#[test]
fn out_of_bounds_config_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keywardd.toml");
    std::fs::write(&config, OVERFLOWING).unwrap();
    let mut child = std::process::Command::new(binary("keywardd"))
        .arg("--socket")
        .arg(dir.path().join("keyward.sock"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A daemon that accepted the file would serve until stopped: give it a deadline.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    assert!(stderr.contains("connection_idle_timeout"), "{stderr}");
    assert!(!dir.path().join("keyward.sock").exists());
}

/// The same file at reload is rejected ("reload rejected", naming the key): connections made
/// after it are served under the old deadlines.
#[test]
fn out_of_bounds_config_is_rejected_at_reload() {
    let daemon = Daemon::start();
    std::fs::write(daemon.dir().join("keywardd.toml"), OVERFLOWING).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let line = wait_for("the rejection", || {
        let log = daemon.log_text();
        log.lines()
            .find(|l| l.contains("reload rejected"))
            .map(str::to_owned)
    });
    assert!(line.contains("connection_idle_timeout"), "{line}");
    for _ in 0..3 {
        daemon.client().ping().unwrap();
    }
    assert!(
        !daemon.log_text().contains("panicked"),
        "{}",
        daemon.log_text()
    );
}
