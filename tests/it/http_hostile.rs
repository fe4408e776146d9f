//! Hostile and broken peers on `http.sock`, against the real daemon: each is cut off or refused
//! within its limit, and another client is answered meanwhile.
//!
//! Slow heads, idle connections and bodies announced too large are in `http.rs`; these add the
//! rest of issue 14 §7.

use crate::http::{call, closed_by_daemon, http_sock, read_reply, request_text, trickle_head};
use crate::support::{require_root, wait_for, Daemon, DEADLINE, NOBODY};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// Whether a fresh connection's ping is answered 200.
fn served(d: &Daemon) -> bool {
    call(d, "GET", "/v1/ping", None, None).status == 200
}

/// A peer that keeps sending requests without reading a reply is closed after
/// `write_timeout`: its writes fail, the daemon's memory stays bounded, and others are served
/// meanwhile.
#[test]
fn a_peer_that_never_reads_is_closed() {
    let d = Daemon::start_with("write_timeout = \"1s\"\nconnection_idle_timeout = \"60s\"\n");
    let rss_before = d.rss_kib();
    let mut deaf = UnixStream::connect(http_sock(&d)).unwrap();
    // A large reply each, so the socket's buffers fill after a few.
    let request = request_text("GET", "/v1/openapi.json", None, None).repeat(100);
    deaf.set_write_timeout(Some(DEADLINE)).unwrap();
    let writer = std::thread::spawn(move || {
        let mut sent = 0usize;
        // 64 MiB of requests is far beyond any socket buffer.
        while sent < 64 << 20 {
            match deaf.write_all(request.as_bytes()) {
                Ok(()) => {}
                // Blocked for the whole deadline: the daemon neither reads nor closes.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    panic!("the daemon kept a peer that never reads, open and unread")
                }
                Err(_) => return sent,
            }
            sent += request.len();
        }
        panic!("the daemon kept a peer that never reads");
    });
    assert!(served(&d), "another client was not served");
    let started = Instant::now();
    let sent = writer.join().unwrap();
    let grew = d.rss_kib().saturating_sub(rss_before);
    assert!(
        grew < 32 * 1024,
        "RSS grew by {grew} KiB after {sent} bytes ({:?})",
        started.elapsed()
    );
    assert!(served(&d), "another client was not served");
}

/// Several heads trickled a byte at a time are each cut off, while another client's requests
/// keep being answered.
#[test]
fn slowloris_heads_are_closed_while_others_are_served() {
    let d = Daemon::start_with("frame_timeout = \"1s\"\nconnection_idle_timeout = \"60s\"\n");
    let slow: Vec<UnixStream> = (0..8)
        .map(|_| UnixStream::connect(http_sock(&d)).unwrap())
        .collect();
    let tricklers: Vec<_> = slow
        .iter()
        .map(|s| trickle_head(s, b"POST /v1/verify HTTP/1.1\r\nX-Slow: ", 50))
        .collect();
    // Answered while every trickle is under way.
    let mut kept = UnixStream::connect(http_sock(&d)).unwrap();
    for _ in 0..5 {
        kept.write_all(request_text("GET", "/v1/ping", None, None).as_bytes())
            .unwrap();
        assert_eq!(read_reply(&mut kept).status, 200);
    }
    for mut s in slow {
        assert!(
            closed_by_daemon(&mut s),
            "a trickled head was never cut off"
        );
    }
    for t in tricklers {
        t.join().unwrap();
    }
    assert!(served(&d));
}

/// A chunked body that runs past 64 KiB is refused with 413 as soon as it does, before its
/// last chunk: it is never buffered whole.
#[test]
fn chunked_body_over_the_limit_is_refused_before_its_end() {
    let d = Daemon::start_with("frame_timeout = \"30s\"\n");
    let mut stream = UnixStream::connect(http_sock(&d)).unwrap();
    let head = "POST /v1/verify HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 8192, "k".repeat(8192));
    // 72 KiB, and no last chunk: the body never ends.
    for _ in 0..9 {
        stream.write_all(chunk.as_bytes()).unwrap();
    }
    let reply = read_reply(&mut stream);
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (413, "BAD_REQUEST"),
        "{}",
        reply.body
    );
    assert!(served(&d));
}

/// Bytes that are not HTTP get a 400 or a close, whether they end like a head or never do;
/// the daemon serves others meanwhile.
#[test]
fn pipelined_garbage_is_refused() {
    let d = Daemon::start_with("frame_timeout = \"1s\"\nconnection_idle_timeout = \"60s\"\n");
    let garbage: [&[u8]; 5] = [
        // Parses as the start of a head, and never ends: only the head deadline closes it.
        b"GARBAGE /&&&not-http-at-all",
        b"\x00\x01\x02\xff\xfe garbage \r\n\r\nGET /v1/ping HTTP/1.1\r\n\r\n",
        b"GET /v1/ping HTTP/1.1\r\nHost: k\r\n\r\nNOT HTTP AT ALL \x00\x00\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET /v1/ping HTTP/9.9\r\nHost: k\r\n\r\n",
    ];
    for bytes in garbage {
        let mut stream = UnixStream::connect(http_sock(&d)).unwrap();
        stream.write_all(bytes).unwrap();
        assert!(
            closed_by_daemon(&mut stream),
            "kept a connection after {:?}",
            String::from_utf8_lossy(bytes)
        );
        assert!(served(&d), "another client was not served");
    }
}

/// A flood of connections from one uid holds to its share: those over it are refused with 503
/// and `Retry-After`, and root is still served through the admin reserve.
#[test]
fn a_connection_flood_from_one_uid_keeps_to_its_share() {
    require_root();
    let d = Daemon::start_with(
        // Six unreserved slots: the flood's four fit even while the daemon has yet to notice
        // that root's start-up probes (pings until one is answered) hung up.
        "max_connections = 10\nmax_connections_per_uid = 4\nadmin_reserved_connections = 4\n",
    );
    d.open_socket_to_all();
    let sock = http_sock(&d);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut flood = crate::slots::connect_as(NOBODY, &sock, 12);
    assert_eq!(pings(&mut flood), (4, 8));
    // Another uid takes what unreserved slots are left (two, or fewer while root's probes
    // still hold some), and is refused the rest.
    let mut other = crate::slots::connect_as(NOBODY - 1, &sock, 4);
    let (ok, refused) = pings(&mut other);
    assert!(ok <= 2 && ok + refused == 4, "{ok} {refused}");
    // Root, with every unreserved slot held.
    for _ in 0..3 {
        assert!(served(&d), "root was not served");
    }
    drop((flood, other));
    wait_for("nobody's slots to come back", || {
        let mut s = crate::slots::connect_as(NOBODY, &sock, 1).remove(0);
        s.write_all(request_text("GET", "/v1/ping", None, None).as_bytes())
            .ok()?;
        (read_reply(&mut s).status == 200).then_some(())
    });
}

/// Pings on each of `streams`: how many were answered, and how many refused with 503 and
/// `Retry-After`.
fn pings(streams: &mut [UnixStream]) -> (usize, usize) {
    let (mut ok, mut refused) = (0, 0);
    for stream in streams {
        // A refused peer's 503 is already waiting, and its socket may be closed.
        let _ = stream.write_all(request_text("GET", "/v1/ping", None, None).as_bytes());
        let reply = read_reply(stream);
        match reply.status {
            200 => ok += 1,
            503 => {
                assert_eq!(reply.code(), "UNAVAILABLE");
                assert_eq!(reply.header("retry-after"), Some("1"));
                refused += 1;
            }
            other => panic!("{other}: {}", reply.body),
        }
    }
    (ok, refused)
}
