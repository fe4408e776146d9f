//! Connection slots against the real daemon: two non-admin uids holding every connection their
//! share allows leave root a way in, through the slots reserved for host admins.

use crate::support::{require_root, wait_for, Daemon, NOBODY};
use bytes::BytesMut;
use keyward_protocol::frame::{self, read_message};
use keyward_protocol::{ErrorCode, Hello, HelloReply};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The `daemon` system user, a second non-admin uid on Debian.
const DAEMON_USER: u32 = 1;
/// The `bin` system user, a third.
const BIN_USER: u32 = 2;

/// Opens `n` connections to `socket` as `uid`.
///
/// `SO_PEERCRED` records the connecting thread's credentials, so a fresh thread changes only
/// its own effective uid (the raw system call: glibc's wrapper would change every thread of
/// the test process) and ends with it.
#[allow(unsafe_code)]
pub(crate) fn connect_as(uid: u32, socket: &Path, n: usize) -> Vec<UnixStream> {
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        // -1: leave the real and saved uids as they are.
        let keep = libc::uid_t::MAX;
        // SAFETY: a plain system call on this thread's credentials; no memory is involved.
        let rc = unsafe { libc::syscall(libc::SYS_setresuid, keep, uid, keep) };
        assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
        (0..n)
            .map(|_| UnixStream::connect(&socket).expect("connect"))
            .collect()
    })
    .join()
    .unwrap()
}

/// What the daemon answered a hello with.
#[derive(Debug)]
enum Answer {
    Accepted,
    Refused(ErrorCode, String),
    /// Nothing within a few seconds: the peer waits in the backlog.
    Nothing,
}

fn hello(stream: &mut UnixStream) -> Answer {
    let mut out = BytesMut::new();
    frame::write_message(&Hello::current("slots"), &mut out).unwrap();
    // A refused peer may find the socket closed before its hello goes out; the refusal is
    // already waiting to be read.
    let _ = stream.write_all(&out);
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let (mut codec, mut buf) = (frame::codec(), BytesMut::new());
    loop {
        match read_message::<HelloReply>(&mut codec, &mut buf).unwrap() {
            Some(HelloReply::Accepted { .. }) => return Answer::Accepted,
            Some(HelloReply::Refused(e)) => {
                return Answer::Refused(e.code, e.message.unwrap_or_default())
            }
            None => {}
        }
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return Answer::Nothing,
        }
    }
}

/// Connects as `uid` until the daemon refuses, up to `tries`; returns the accepted connections.
fn fill_as(daemon: &Daemon, uid: u32, tries: usize) -> Vec<UnixStream> {
    let mut held = Vec::new();
    for mut s in connect_as(uid, &daemon.socket, tries) {
        match hello(&mut s) {
            Answer::Accepted => held.push(s),
            Answer::Refused(ErrorCode::Unavailable, m) if m.contains("too many connections") => {}
            other => panic!("uid {uid}, connection {}: {other:?}", held.len() + 1),
        }
    }
    held
}

/// Root's CLI ping answers, and within a generous bound (it used to hang).
fn root_pings(daemon: &Daemon) {
    let started = Instant::now();
    let out = daemon.cli(&["ping"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ping took {:?}",
        started.elapsed()
    );
}

/// With the default shares, two non-admin uids each get a quarter of the unreserved slots and
/// no more, and root is still served.
#[test]
fn two_uids_get_a_share_each_by_default() {
    require_root();
    let daemon = Daemon::start_with("max_connections = 40\n");
    daemon.open_socket_to_all();
    // 16 of the 40 are reserved, and each uid may hold a quarter of the other 24.
    let a = fill_as(&daemon, NOBODY, 12);
    let b = fill_as(&daemon, DAEMON_USER, 12);
    assert_eq!((a.len(), b.len()), (6, 6));
    root_pings(&daemon);
}

/// Two non-admin uids whose shares add up to every unreserved slot take them all; root's
/// `keyward ping` still answers through a reserved slot, and a third non-admin uid is refused
/// at once rather than left waiting.
#[test]
fn two_uids_cannot_take_every_slot() {
    require_root();
    let daemon = Daemon::start_with(
        "max_connections = 40\nadmin_reserved_connections = 4\nmax_connections_per_uid = 18\n",
    );
    daemon.open_socket_to_all();
    let a = fill_as(&daemon, NOBODY, 20);
    let b = fill_as(&daemon, DAEMON_USER, 20);
    assert_eq!(
        (a.len(), b.len()),
        (18, 18),
        "every unreserved slot is held"
    );
    root_pings(&daemon);
    let mut third = connect_as(BIN_USER, &daemon.socket, 1).remove(0);
    match hello(&mut third) {
        Answer::Refused(ErrorCode::Unavailable, m) => assert!(m.contains("reserved"), "{m}"),
        other => panic!("a third uid got {other:?}"),
    }
    // Once the two let go, the others are served again.
    drop((a, b));
    wait_for("an unreserved slot for the third uid", || {
        let mut s = connect_as(BIN_USER, &daemon.socket, 1).remove(0);
        matches!(hello(&mut s), Answer::Accepted).then_some(())
    });
}
