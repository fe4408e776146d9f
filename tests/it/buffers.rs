//! Connection buffers give back what a burst made them grow: after many connections each
//! pipeline a read's worth of `Stats` requests, the daemon's RSS returns to near its baseline.

use crate::support::Daemon;
use bytes::BytesMut;
use keyward_protocol::frame::{self, read_message};
use keyward_protocol::{Hello, HelloReply, Op, Request, Response};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Connections held through the burst.
const CONNECTIONS: usize = 250;
/// Request bytes each connection sends at once: one read of the daemon's.
const BURST_BYTES: usize = 16 * 1024;
/// How far above its baseline the daemon's RSS may end. Without giving buffers back, each
/// connection kept about 0.9 MB (225 MB for 250 of them).
const MARGIN_KIB: u64 = 48 * 1024;

/// Reads messages until `n` have arrived.
fn read_n<T: serde::de::DeserializeOwned>(stream: &mut UnixStream, n: usize) -> Vec<T> {
    let (mut codec, mut buf, mut out) = (frame::codec(), BytesMut::new(), Vec::with_capacity(n));
    let mut chunk = vec![0u8; 64 * 1024];
    while out.len() < n {
        if let Some(m) = read_message(&mut codec, &mut buf).unwrap() {
            out.push(m);
            continue;
        }
        let got = stream.read(&mut chunk).unwrap();
        assert!(got > 0, "closed after {} of {n} messages", out.len());
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

/// As many framed `Stats` requests as fit in `bytes`.
fn stats_burst(bytes: usize) -> (BytesMut, usize) {
    let mut out = BytesMut::new();
    let mut n = 0;
    loop {
        let mut one = BytesMut::new();
        let request = Request {
            id: n as u64,
            admin_key: None,
            op: Op::Stats,
        };
        frame::write_message(&request, &mut one).unwrap();
        if out.len() + one.len() > bytes {
            return (out, n);
        }
        out.extend_from_slice(&one);
        n += 1;
    }
}

/// 250 idle connections, each having pipelined 16 KiB of `Stats` requests (about 0.9 MB of
/// replies each): afterwards the daemon's RSS is within 48 MiB of what it was before the burst.
#[test]
fn reply_buffers_do_not_keep_their_peak() {
    let daemon = Daemon::start_with("max_connections_per_uid = 1000\n");
    let (burst, n) = stats_burst(BURST_BYTES);
    assert!(n > 1000, "{n} requests in a burst");
    let mut conns: Vec<UnixStream> = (0..CONNECTIONS)
        .map(|_| {
            let mut s = UnixStream::connect(&daemon.socket).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut hello = BytesMut::new();
            frame::write_message(&Hello::current("buffers"), &mut hello).unwrap();
            s.write_all(&hello).unwrap();
            let reply: Vec<HelloReply> = read_n(&mut s, 1);
            assert!(matches!(reply[0], HelloReply::Accepted { .. }));
            s
        })
        .collect();
    // One small request each first, so the baseline holds every connection's usual buffers.
    let (one, _) = stats_burst(64);
    for s in &mut conns {
        s.write_all(&one).unwrap();
        let _: Vec<Response> = read_n(s, 1);
    }
    let baseline = daemon.rss_kib();
    for s in &mut conns {
        s.write_all(&burst).unwrap();
        let replies: Vec<Response> = read_n(s, n);
        assert!(replies.iter().all(|r| r.result.is_ok()));
    }
    let after = daemon.rss_kib();
    assert!(
        after < baseline + MARGIN_KIB,
        "RSS {baseline} KiB before the burst, {after} KiB after"
    );
    drop(conns);
}
