//! Volume abuse against the real daemon: connection floods, slow writers, peers that never
//! read, and floods of bad tokens. The daemon must hold its limits, keep serving others, and not
//! leak descriptors or memory.

use crate::support::{require_root, wait_for, Daemon, NOBODY};
use bytes::BytesMut;
use keyward_protocol::frame::{self, read_message};
use keyward_protocol::{ErrorCode, Hello, HelloReply, Op, Request, Requirements, Response, Secret};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use tokio_util::codec::LengthDelimitedCodec;

fn framed<T: serde::Serialize>(msg: &T) -> BytesMut {
    let mut out = BytesMut::new();
    frame::write_message(msg, &mut out).unwrap();
    out
}

/// Frames of requests `ids`, each asking `op`, back to back.
fn requests(ids: std::ops::Range<u64>, op: &Op) -> BytesMut {
    let mut out = BytesMut::new();
    for id in ids {
        frame::write_message(
            &Request {
                id,
                admin_key: None,
                op: op.clone(),
            },
            &mut out,
        )
        .unwrap();
    }
    out
}

/// Reads the next message, keeping what follows it in `buf`; `None` if the daemon closed
/// first.
fn next_message<T: serde::de::DeserializeOwned>(
    stream: &mut UnixStream,
    codec: &mut LengthDelimitedCodec,
    buf: &mut BytesMut,
) -> Option<T> {
    loop {
        if let Some(m) = read_message(codec, buf).unwrap() {
            return Some(m);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads one handshake reply, or `None` if the daemon closed without one.
fn hello_reply(stream: &mut UnixStream) -> Option<HelloReply> {
    next_message(stream, &mut frame::codec(), &mut BytesMut::new())
}

/// A connection that has said hello and been accepted.
fn accepted(daemon: &Daemon, name: &str) -> UnixStream {
    let mut s = UnixStream::connect(&daemon.socket).unwrap();
    s.write_all(&framed(&Hello::current(name))).unwrap();
    assert!(matches!(
        hello_reply(&mut s),
        Some(HelloReply::Accepted { .. })
    ));
    s
}

/// A thousand connections from one uid: it gets its share, the rest are refused at once with
/// UNAVAILABLE, another uid is still served, and no descriptor leaks once they close.
#[test]
fn connection_flood() {
    require_root();
    let daemon = Daemon::start_with("max_connections = 64\nmax_connections_per_uid = 32\n");
    daemon.open_socket_to_all();
    let baseline = daemon.open_fds();
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..1000 {
        let mut s = UnixStream::connect(&daemon.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // A refused peer may find the socket closed before its hello goes out; the refusal
        // is already waiting to be read.
        let _ = s.write_all(&framed(&Hello::current("flood")));
        match hello_reply(&mut s) {
            Some(HelloReply::Accepted { .. }) => held.push(s),
            Some(HelloReply::Refused(e)) => {
                assert_eq!(e.code, ErrorCode::Unavailable);
                assert!(e.message.unwrap().contains("too many connections"));
                refused += 1;
            }
            None => panic!("closed without a reply"),
        }
    }
    assert_eq!(held.len(), 32, "one uid's share");
    assert_eq!(refused, 968);
    assert!(
        daemon.open_fds() <= baseline + 64 + 4,
        "connection limit exceeded"
    );
    // Another uid is still served while the flood holds its share.
    let out = daemon.cli_as(NOBODY, &["ping", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    drop(held);
    wait_for("descriptors to return to the baseline", || {
        (daemon.open_fds() <= baseline).then_some(())
    });
    daemon.client().ping().unwrap();
}

/// Peers that trickle a frame byte by byte are closed at the frame deadline, and meanwhile
/// another client's requests are answered while every one of them is mid-frame.
///
/// No wall-clock upper bound: a ping counts as served meanwhile when all slow peers are open
/// both before it is sent (each having just sent another byte) and after its answer.
/// A daemon that waits out a slow peer's frame before serving others cannot do that, however
/// fast the machine; a correct one only needs one ping in two seconds to be answered in time.
/// The lower bound cannot be broken by a busy machine: `started` is taken before the first slow
/// peer connects, so every frame deadline runs after it.
#[test]
fn slowloris() {
    let daemon = Daemon::start_with("frame_timeout = \"2s\"\n");
    let started = Instant::now();
    // Frames as long as a frame may be, so no trickle completes one before `wait_for` gives up.
    let mut slow: Vec<UnixStream> = (0..20)
        .map(|_| {
            let mut s = accepted(&daemon, "slow");
            s.write_all(&[0, 0, 0xff, 0xff]).unwrap();
            s
        })
        .collect();
    // One more byte from each slow peer; how many were still open (a broken pipe means the
    // daemon has closed that peer).
    let trickle = |slow: &mut [UnixStream]| {
        slow.iter_mut()
            .filter_map(|s| s.write_all(&[7]).ok())
            .count()
    };
    let mut client = daemon.client();
    let mut served_meanwhile = 0;
    wait_for("the slow peers to be cut off", || {
        let before = trickle(&mut slow);
        client.ping().unwrap();
        let after = trickle(&mut slow);
        if before == slow.len() && after == slow.len() {
            served_meanwhile += 1;
        }
        (after == 0).then_some(())
    });
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "closed before the deadline"
    );
    assert!(
        served_meanwhile > 0,
        "no ping was answered while the slow peers were open"
    );
}

/// A peer that pipelines requests without ever reading replies is closed at the write
/// deadline; the daemon's memory stays bounded and others are served meanwhile.
#[test]
fn peer_that_never_reads() {
    let daemon = Daemon::start_with("write_timeout = \"1s\"\n");
    let rss_before = daemon.rss_kib();
    let mut s = UnixStream::connect(&daemon.socket).unwrap();
    s.write_all(&framed(&Hello::current("deaf"))).unwrap();
    let batch = requests(0..1000, &Op::Stats);
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sent = 0usize;
    let writer = std::thread::spawn(move || {
        // Write until the daemon gives up on us; 64 MiB is far beyond any socket buffer.
        while sent < 64 << 20 {
            if s.write_all(&batch).is_err() {
                return sent;
            }
            sent += batch.len();
        }
        panic!("the daemon kept reading from a peer that never reads");
    });
    daemon.client().ping().unwrap();
    let sent = writer.join().unwrap();
    let grew = daemon.rss_kib().saturating_sub(rss_before);
    assert!(
        grew < 32 * 1024,
        "RSS grew by {grew} KiB after {sent} bytes"
    );
    daemon.client().ping().unwrap();
}

/// Twenty thousand bad tokens: every one refused, the daemon stays responsive, and the log
/// gets a bounded number of lines about them rather than one each.
#[test]
fn bad_token_flood() {
    let daemon = Daemon::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut c = keyward_client::Client::connect(&daemon.socket)
            .await
            .unwrap();
        let bogus = "kw_ses_live_0000000000000000000000000000000000000000000000000000000000";
        for _ in 0..20 {
            let ops = (0..1000)
                .map(|i| Op::Verify {
                    token: Secret::new(if i % 2 == 0 { bogus } else { "TOKEN-x" }),
                    require: Requirements::new(),
                })
                .collect();
            for r in c.pipeline(ops).await.unwrap() {
                assert_eq!(r.unwrap_err().code, ErrorCode::CredentialMalformed);
            }
        }
        c.ping().await.unwrap();
    });
    let lines = daemon
        .log_text()
        .lines()
        .filter(|l| l.contains("verify failed"))
        .count();
    assert!(
        (1..=3).contains(&lines),
        "{lines} log lines for 20000 bad tokens"
    );
}

/// A peer that sends requests without a pause, so that its connection always has another one
/// ready, neither keeps the (single) event loop from other peers nor holds up a graceful
/// shutdown: the daemon stops it after its current batch.
#[test]
fn a_peer_that_never_pauses_starves_no_one_and_does_not_hold_up_shutdown() {
    let mut daemon = Daemon::start();
    let s = accepted(&daemon, "busy");
    let batch = requests(0..256, &Op::Ping);
    let mut writer = s.try_clone().unwrap();
    let sending = std::thread::spawn(move || while writer.write_all(&batch).is_ok() {});
    // Drain replies until the daemon closes; count them to know the load was running.
    let mut reader = s.try_clone().unwrap();
    let draining = std::thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        while let Ok(n @ 1..) = reader.read(&mut chunk) {
            total += n;
        }
        total
    });
    // Another peer is served meanwhile; it sees the busy peer's pings being answered.
    wait_for("the busy peer's requests to be answered", || {
        let stats = daemon.client().stats().unwrap();
        (stats.requests.get("ping").copied().unwrap_or(0) > 10_000).then_some(())
    });
    let status = daemon.terminate();
    assert!(
        status.success(),
        "exit status {status}: {}",
        daemon.log_text()
    );
    assert!(draining.join().unwrap() > 0);
    s.shutdown(std::net::Shutdown::Both).ok();
    sending.join().unwrap();
}

/// The frame deadline is per frame: a peer that streams requests for longer than
/// `frame_timeout`, each of its writes ending part-way into the next frame, is served in full
/// and not cut off, though the daemon's buffer never empties.
#[test]
fn a_stream_of_frames_split_across_writes_is_not_a_slow_frame() {
    let daemon = Daemon::start_with("frame_timeout = \"300ms\"\n");
    let mut s = accepted(&daemon, "streaming");
    let frames: u64 = 600;
    // Ids from 1000 on all take three bytes, so every frame has the same length and no write
    // ends on a frame boundary.
    const FIRST: u64 = 1000;
    let stream = requests(FIRST..FIRST + frames, &Op::Ping);
    let frame_len = stream.len() / frames as usize;
    assert_eq!(
        stream.len(),
        frame_len * frames as usize,
        "frames of one length"
    );
    // Each write carries one frame's worth of bytes, ending two bytes short of a frame's end,
    // so between writes the daemon holds part of a frame's body (not just its length prefix,
    // which the codec takes out of the buffer); at one write per 2 ms the stream lasts over a
    // second.
    let split = frame_len - 2;
    assert!(
        split > 4,
        "a {frame_len}-byte frame is too short to split inside its body"
    );
    let mut writer = s.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        writer.write_all(&stream[..split]).unwrap();
        let mut at = split;
        while at < stream.len() {
            let end = (at + frame_len).min(stream.len());
            writer.write_all(&stream[at..end]).unwrap();
            at = end;
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let started = Instant::now();
    let mut codec = frame::codec();
    let mut buf = BytesMut::new();
    let mut answered = 0;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while answered < frames {
        let Some(reply) = next_message::<Response>(&mut s, &mut codec, &mut buf) else {
            panic!(
                "connection closed after {answered} of {frames} replies: {}",
                daemon.log_text()
            );
        };
        assert_eq!(reply.id, FIRST + answered);
        assert!(reply.result.is_ok(), "{:?}", reply.result);
        answered += 1;
    }
    sending.join().unwrap();
    assert!(
        started.elapsed() > Duration::from_millis(600),
        "the stream must outlast the deadline"
    );
}
