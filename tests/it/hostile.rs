//! Broken and hostile peers on the raw socket: each gets an error or a closed connection, and
//! the daemon keeps serving everyone else.

use crate::support::{wait_for, Daemon};
use bytes::BytesMut;
use keyward_protocol::frame::{self, read_message};
use keyward_protocol::{ErrorCode, Hello, HelloReply, Op, Request, Response};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A raw connection speaking frames by hand.
struct Raw {
    stream: UnixStream,
    buf: BytesMut,
}

impl Raw {
    fn connect(daemon: &Daemon) -> Raw {
        let stream = UnixStream::connect(&daemon.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    fn send<T: serde::Serialize>(&mut self, msg: &T) {
        let mut out = BytesMut::new();
        frame::write_message(msg, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    fn handshake(daemon: &Daemon) -> Raw {
        let mut raw = Raw::connect(daemon);
        raw.send(&Hello::current("raw"));
        assert!(matches!(
            raw.recv::<HelloReply>(),
            Some(HelloReply::Accepted { .. })
        ));
        raw
    }

    /// The next message, or `None` once the daemon closes the connection.
    fn recv<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        let mut codec = frame::codec();
        loop {
            if let Some(m) = read_message(&mut codec, &mut self.buf).unwrap() {
                return Some(m);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Reads until the daemon closes, asserting it does.
    fn expect_closed(&mut self) {
        let mut sink = Vec::new();
        match self.stream.read_to_end(&mut sink) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection was not closed: {e}"),
        }
    }
}

fn still_serving(daemon: &Daemon) {
    daemon.client().ping().expect("daemon still serves");
}

/// Random bytes in place of a handshake close the connection; the daemon serves on.
#[test]
fn garbage_bytes() {
    let daemon = Daemon::start();
    let mut raw = Raw::connect(&daemon);
    raw.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    raw.expect_closed();
    let mut raw = Raw::handshake(&daemon);
    raw.stream
        .write_all(&[0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0xff])
        .unwrap();
    let r: Response = raw.recv().expect("an error reply");
    assert_eq!(r.result.unwrap_err().code, ErrorCode::BadRequest);
    raw.expect_closed();
    still_serving(&daemon);
}

/// A 4 GiB length prefix is refused from its four bytes, with a clear error.
#[test]
fn oversized_length_prefix() {
    let daemon = Daemon::start();
    let mut raw = Raw::handshake(&daemon);
    raw.stream.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let r: Response = raw.recv().expect("an error reply");
    let e = r.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.unwrap().contains("limit"));
    raw.expect_closed();
    still_serving(&daemon);
}

/// A client speaking another protocol version is refused with an explanation.
#[test]
fn wrong_protocol_version() {
    let daemon = Daemon::start();
    let mut raw = Raw::connect(&daemon);
    raw.send(&Hello {
        version: 999,
        ..Hello::current("future")
    });
    match raw.recv::<HelloReply>() {
        Some(HelloReply::Refused(e)) => {
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert!(e.message.unwrap().contains("999"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    raw.expect_closed();
    still_serving(&daemon);
}

/// A peer holding half a frame is cut off after the frame deadline, while another peer is
/// served meanwhile.
#[test]
fn partial_frame_times_out() {
    let daemon = Daemon::start_with("frame_timeout = \"300ms\"");
    let mut slow = Raw::handshake(&daemon);
    slow.stream.write_all(&[0, 0, 0, 40, 1, 2]).unwrap();
    let mut other = daemon.client();
    other.ping().unwrap();
    // Trickling a byte now and then does not reset the deadline.
    let _ = slow.stream.write_all(&[3]);
    slow.expect_closed();
    other.ping().unwrap();
}

/// At the connection limit, a newcomer waits in the backlog until a slot frees.
#[test]
fn connection_limit_holds() {
    // One uid takes every slot: its share is raised from the default quarter to all of them.
    let daemon = Daemon::start_with("max_connections = 3\nmax_connections_per_uid = 3\n");
    // The daemon's own readiness probe connection may still be closing; wait until all three
    // slots can be held at once.
    let held: Vec<Raw> = wait_for("three slots", || {
        let conns: Vec<Raw> = (0..3).map(|_| Raw::connect(&daemon)).collect();
        let mut conns = conns;
        for c in &mut conns {
            c.stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            c.send(&Hello::current("holder"));
        }
        let all = conns.iter_mut().all(|c| {
            let mut codec = frame::codec();
            loop {
                if let Ok(Some(HelloReply::Accepted { .. })) = read_message(&mut codec, &mut c.buf)
                {
                    return true;
                }
                let mut chunk = [0u8; 256];
                match c.stream.read(&mut chunk) {
                    Ok(n) if n > 0 => c.buf.extend_from_slice(&chunk[..n]),
                    _ => return false,
                }
            }
        });
        all.then_some(conns)
    });
    let mut newcomer = Raw::connect(&daemon);
    newcomer.send(&Hello::current("newcomer"));
    newcomer
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = newcomer.stream.read(&mut byte);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "served beyond the limit: {early:?}"
    );
    drop(held);
    newcomer
        .stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    newcomer.buf.extend_from_slice(&byte[..0]);
    assert!(matches!(
        newcomer.recv::<HelloReply>(),
        Some(HelloReply::Accepted { .. })
    ));
    newcomer.send(&Request {
        id: 1,
        admin_key: None,
        op: Op::Ping,
    });
    let r: Response = newcomer.recv().unwrap();
    assert!(r.result.is_ok());
}
