//! A short crash loop in the test suite: the real `keyward-crashtest` against the real
//! `keywardd` of the same build.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding this build's binaries (`target/<profile>`).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_keyward-crashtest"))
        .parent()
        .expect("binaries live in target/<profile>")
        .to_owned()
}

/// `keywardd`, up to date with the sources.
///
/// Cargo builds a package's binaries only for that package's own integration tests, so this
/// builds the daemon with the cargo that runs the suite. Cargo releases its build lock before
/// tests run, so this does not deadlock, and it is a no-op when the daemon is fresh.
fn keywardd() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "keywardd", "--bins"]);
    let dir = bin_dir();
    if dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    if let Some(target_dir) = dir.parent() {
        cmd.arg("--target-dir").arg(target_dir);
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building keywardd failed");
    let path = dir.join("keywardd");
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Runs `keyward-crashtest` for `cycles` cycles with `extra` arguments and checks its summary:
/// no violation, every cycle run, something checked.
fn crash_loop(cycles: u32, extra: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward-crashtest"))
        .args([
            "--cycles",
            &cycles.to_string(),
            "--seed",
            "20261122",
            "--json",
        ])
        .args(extra)
        .arg("--keywardd")
        .arg(keywardd())
        .output()
        .expect("run keyward-crashtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!("the last line of stdout is not the JSON summary ({e}):\n{stdout}\n{stderr}")
    });
    assert_eq!(summary["violations"], 0, "{stdout}\n{stderr}");
    assert_eq!(summary["cycles"], cycles, "{stdout}\n{stderr}");
    assert!(
        summary["acked_checked"].as_u64().is_some_and(|n| n > 0),
        "nothing was checked:\n{stdout}\n{stderr}"
    );
    assert!(out.status.success(), "exit status {}", out.status);
}

/// Twenty SIGKILLs under load, each followed by a restart and a full check, lose nothing
/// acknowledged, resurrect nothing revoked and keep seat counts right.
#[test]
fn twenty_crashes_lose_nothing_acknowledged() {
    crash_loop(20, &[]);
}

/// The same with the load on the HTTP/JSON API: what `http.sock` acknowledged survives a
/// SIGKILL, and what it revoked stays revoked.
#[test]
fn twenty_crashes_with_http_load_lose_nothing_acknowledged() {
    crash_loop(20, &["--transport", "http"]);
}
