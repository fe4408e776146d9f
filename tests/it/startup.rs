//! Starting `keywardd`: where it may listen, what a refused start leaves behind, what it says,
//! and what the process allows others to see of it.

use crate::support::{binary, require_root, Daemon, ForeignDaemon, DEADLINE, NOBODY};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

/// Runs `cmd`, a start that must fail, and returns its output; a daemon that serves instead is
/// killed at the deadline and the test fails.
fn refused(mut cmd: std::process::Command) -> Output {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            panic!("the start was not refused: {:?}", child.wait_with_output());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the start was not refused: {out:?}");
    out
}

/// Counts the lines of `text` that contain `needle`.
fn lines_with(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// A daemon running as a non-root uid refuses a socket directory another user made first, mode
/// 0777 (the /tmp/keyward-$UID squat), and one another user owns; the error names the directory
/// and its owner, prints once, and the data dir is never created.
#[test]
fn squatted_socket_dir_is_refused() {
    require_root();
    let base = ForeignDaemon::dir_for(NOBODY);
    // Made first by someone else (root here, as any other uid would do), open to all.
    let squat = base.path().join("keyward-65534");
    std::fs::create_dir(&squat).unwrap();
    std::fs::set_permissions(&squat, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Owned by another user (daemon, uid 1), closed to others.
    let foreign = base.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    nix::unistd::chown(&foreign, Some(nix::unistd::Uid::from_raw(1)), None).unwrap();

    for (dir, owner, problem) in [
        (&squat, "uid 0", "other users may write to it"),
        (&foreign, "uid 1", "is not yours or root's"),
    ] {
        let data_dir = base.path().join("data");
        let mut cmd = std::process::Command::new(crate::support::shared_binary("keywardd"));
        std::os::unix::process::CommandExt::uid(&mut cmd, NOBODY);
        std::os::unix::process::CommandExt::gid(&mut cmd, NOBODY);
        cmd.arg("--socket")
            .arg(dir.join("keyward.sock"))
            .arg("--data-dir")
            .arg(&data_dir);
        let out = refused(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let dir_text = dir.display().to_string();
        assert_eq!(lines_with(&stderr, &dir_text), 1, "{stderr}");
        assert!(stderr.contains(owner), "{stderr}");
        assert!(stderr.contains(problem), "{stderr}");
        assert!(!dir.join("keyward.sock").exists());
        assert!(!data_dir.exists(), "a refused start created its data dir");
    }
}

/// A daemon running as a non-root uid creates its own socket directory, mode 0700, and is not
/// dumpable: its /proc entries belong to root, so other processes of its uid cannot read its
/// memory, and no core dump is written.
#[test]
fn own_socket_dir_is_private_and_process_not_dumpable() {
    require_root();
    let daemon = ForeignDaemon::start(NOBODY);
    let run = std::fs::metadata(daemon.socket.parent().unwrap()).unwrap();
    assert_eq!(run.mode() & 0o7777, 0o700);
    assert_eq!(run.uid(), NOBODY);
    // The kernel gives the files in a non-dumpable process's /proc/PID to root.
    let proc_entry = std::fs::metadata(format!("/proc/{}/status", daemon.pid())).unwrap();
    assert_eq!(proc_entry.uid(), 0, "keywardd is dumpable");
}

/// A start refused because another daemon holds the socket creates nothing: the new data dir
/// does not appear. Its error prints once.
#[test]
fn refused_start_has_no_side_effects() {
    let daemon = Daemon::start();
    let new = daemon.dir().join("new-data");
    let mut cmd = std::process::Command::new(binary("keywardd"));
    cmd.arg("--socket")
        .arg(&daemon.socket)
        .arg("--data-dir")
        .arg(&new);
    let out = refused(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(lines_with(&stderr, "already listening"), 1, "{stderr}");
    assert!(!new.exists(), "the refused start created {}", new.display());
    daemon.client().ping().unwrap();
}

/// A non-root user whose home cannot be written (a service account) still gets a data dir: a
/// private /tmp/keyward-$UID-state.
#[test]
fn data_dir_falls_back_without_a_writable_home() {
    require_root();
    let fallback = Path::new("/tmp/keyward-65534-state");
    let base = ForeignDaemon::dir_for(NOBODY);
    let mut cmd = std::process::Command::new(crate::support::shared_binary("keywardd"));
    std::os::unix::process::CommandExt::uid(&mut cmd, NOBODY);
    std::os::unix::process::CommandExt::gid(&mut cmd, NOBODY);
    cmd.arg("--socket")
        .arg(base.path().join("run/keyward.sock"))
        .env("HOME", "/nonexistent")
        .env_remove("XDG_STATE_HOME")
        .env_remove("STATE_DIRECTORY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let existed = fallback.exists();
    let mut child = cmd.spawn().unwrap();
    let options = keyward_client::ConnectOptions::without_environment().trust_uid(NOBODY);
    let socket = base.path().join("run/keyward.sock");
    crate::support::wait_for("keywardd to serve with the fallback data dir", || {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("keywardd exited ({status}): {err}");
        }
        keyward_client::blocking::Client::connect_with(&socket, &options)
            .ok()?
            .ping()
            .ok()
    });
    let meta = std::fs::metadata(fallback).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    if !existed {
        let _ = std::fs::remove_dir_all(fallback);
    }
    assert_eq!(meta.uid(), NOBODY);
    assert_eq!(meta.mode() & 0o7777, 0o700);
}
