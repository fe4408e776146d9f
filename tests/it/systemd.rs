//! Life under systemd, with the real tools: sd_notify messages on a real `NOTIFY_SOCKET`, the
//! watchdog, socket activation through `systemd-socket-activate`, SIGHUP reloads, journald-style
//! logging and the Prometheus metrics file.

use crate::support::{binary, wait_for, Daemon};
use keyward_client::{Env, Scopes};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Sends SIGTERM to `child` and waits for it.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("the daemon to exit", || child.try_wait().unwrap())
}

/// `keywardd` under `sh`, which exports its own pid as `$WATCHDOG_PID` before exec'ing the
/// daemon (systemd does the same; the watchdog only arms for the pid it names).
fn spawn_with_watchdog_pid(dir: &Path, env: &[(&str, String)]) -> Child {
    Command::new("sh")
        .args([
            "-c",
            "WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$0\" \"$@\"",
        ])
        .arg(binary("keywardd"))
        .arg("--socket")
        .arg(dir.join("k.sock"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads notifications until one contains `wanted`, returning everything read.
fn await_message(sock: &UnixDatagram, wanted: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    wait_for(&format!("{wanted:?} on NOTIFY_SOCKET"), || {
        let n = sock.recv(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = text.lines().any(|l| l == wanted);
        seen.push(text);
        done.then_some(())
    });
    seen
}

/// READY=1 once serving, STATUS= with live counts, WATCHDOG=1 while the store answers, and
/// STOPPING=1 on SIGTERM, all on a real datagram socket.
#[test]
fn sd_notify_messages() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut child = spawn_with_watchdog_pid(
        dir.path(),
        &[
            ("NOTIFY_SOCKET", notify_path.display().to_string()),
            ("WATCHDOG_USEC", "300000".to_owned()),
        ],
    );
    let ready = await_message(&sock, "READY=1");
    // READY comes only once the socket accepts: a client connects at once.
    keyward_client::blocking::Client::connect(dir.path().join("k.sock"))
        .unwrap()
        .ping()
        .unwrap();
    assert!(
        ready.last().unwrap().contains("STATUS=serving"),
        "{ready:?}"
    );
    // Two watchdog pets in a row: the probe keeps completing.
    await_message(&sock, "WATCHDOG=1");
    await_message(&sock, "WATCHDOG=1");
    let status = await_message(
        &sock,
        "STATUS=serving: 0 connections open, 1 requests answered",
    );
    assert!(!status.is_empty());
    assert!(terminate(&mut child).success());
    await_message(&sock, "STOPPING=1");
}

/// Started by the real `systemd-socket-activate`, the daemon serves on the passed socket.
#[test]
fn socket_activation() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("activated.sock");
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg(binary("keywardd"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(dir.path().join("unused.sock"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package) must be installed");
    wait_for("the activation socket", || socket.exists().then_some(()));
    let mut client = keyward_client::blocking::Client::connect(&socket).unwrap();
    client.ping().unwrap();
    let key = client.admin_key_create("activated", Env::Live).unwrap();
    client.set_admin_key(key.secret);
    client.client_create(None, None, Scopes::new()).unwrap();
    assert!(
        !dir.path().join("unused.sock").exists(),
        "bound its own socket too"
    );
    drop(client);
    assert!(terminate(&mut child).success());
    assert!(
        socket.exists(),
        "the activated socket is systemd's to remove"
    );
}

/// SIGHUP applies a new idle timeout without dropping a connection; an invalid file is
/// rejected and the old settings stay.
#[test]
fn sighup_reloads_config() {
    let daemon = Daemon::start_with("idle_timeout = \"1h\"\n");
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let idle = |s: &keyward_client::SessionIssued, c: i64| s.expires_at - c;
    let c = admin.client_create(None, None, Scopes::new()).unwrap();
    let created = crate::support::now_ms();
    assert!((idle(&c.session, created) - 3_600_000).abs() < 5_000);

    let hup = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(daemon.pid() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap()
    };
    std::fs::write(
        daemon.dir().join("keywardd.toml"),
        "idle_timeout = \"2h\"\n",
    )
    .unwrap();
    hup();
    wait_for("the reload", || {
        daemon
            .log_text()
            .contains("configuration reloaded")
            .then_some(())
    });
    // The same connection, still open, now gets two-hour sessions.
    let s = admin.session_issue(c.client_id).unwrap();
    assert!((idle(&s, crate::support::now_ms()) - 7_200_000).abs() < 5_000);

    std::fs::write(
        daemon.dir().join("keywardd.toml"),
        "idle_timeout = 2h oops\n",
    )
    .unwrap();
    hup();
    wait_for("the rejection", || {
        daemon.log_text().contains("reload rejected").then_some(())
    });
    let s = admin.session_issue(c.client_id).unwrap();
    assert!((idle(&s, crate::support::now_ms()) - 7_200_000).abs() < 5_000);
    admin.ping().unwrap();
}

/// Under journald (stderr is the journal stream), lines carry no timestamp and no colour.
#[test]
fn journald_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("journal");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let mut child = Command::new(binary("keywardd"))
        .arg("--socket")
        .arg(dir.path().join("k.sock"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdin(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    wait_for("the ready line", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("keywardd ready")
            .then_some(())
    });
    assert!(terminate(&mut child).success());
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        assert!(
            line.starts_with(" INFO") || line.starts_with(" WARN") || line.starts_with("INFO"),
            "{line:?}"
        );
        assert!(!line.contains('\u{1b}'), "colour in {line:?}");
    }
}

/// The metrics file is Prometheus text, rewritten as counters move.
#[test]
fn metrics_file() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("keyward.prom");
    let daemon = Daemon::start_with(&format!(
        "metrics_file = \"{}\"\nmetrics_interval = \"100ms\"\n",
        prom.display()
    ));
    let mut c = daemon.client();
    for _ in 0..3 {
        c.ping().unwrap();
    }
    let text = wait_for("the metrics file to count the pings", || {
        let text = std::fs::read_to_string(&prom).ok()?;
        let pings = text
            .lines()
            .find_map(|l| l.strip_prefix("keyward_requests_total{op=\"ping\"} "))?
            .parse::<u64>()
            .ok()?;
        (pings >= 3).then_some(text)
    });
    assert!(text.contains("# TYPE keyward_requests_total counter"));
    assert!(text.contains("keyward_up 1"));
}
