//! Fuzz target: arbitrary bytes arriving on a connection, read with the daemon's own framing.
//!
//! The first input byte says how the rest arrives: its low seven bits are the chunk size (0 for
//! all at once, else 1 to 127 bytes per read, so frames split at every point), and its top bit
//! whether a [`Hello`] comes first, as on a real connection. The read loop is the daemon's:
//! `frame::codec()` and `frame::read_message` until a frame is incomplete, then more bytes.
//! Nothing may panic; an oversized length prefix must fail without reserving anything; any
//! decoded message must survive a re-encode unchanged.

#![no_main]

use bytes::BytesMut;
use keyward_protocol::frame::{self, FrameError, LENGTH_PREFIX_LEN};
use keyward_protocol::{codec, Hello, Request, MAGIC, MAX_FRAME_LEN, PROTOCOL_VERSION};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use tokio_util::codec::LengthDelimitedCodec;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    oversized_prefix_is_refused(stream);
    read_stream(mode, stream);
});

/// Where the connection is: the first frame is a hello, the rest are requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client's `Hello`.
    Handshake,
    /// Reading requests.
    Requests,
}

/// What one `read_message` call leaves the reader to do next.
enum Next {
    /// A frame was taken off the buffer: read again.
    Again,
    /// The buffer holds no whole frame: wait for more bytes.
    MoreBytes,
    /// The daemon would close the connection.
    Close,
}

/// The daemon's read loop over `stream`, delivered in chunks as `mode` says.
fn read_stream(mode: u8, stream: &[u8]) {
    let chunk = match usize::from(mode & 0x7f) {
        0 => stream.len().max(1),
        n => n,
    };
    let mut phase = if mode & 0x80 != 0 {
        Phase::Handshake
    } else {
        Phase::Requests
    };
    let mut framing = frame::codec();
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let next = match phase {
                Phase::Handshake => match read_one::<Hello>(&mut framing, &mut buf) {
                    // The daemon refuses a wrong magic or version and closes.
                    Ok(Some(h)) if h.magic == MAGIC && h.version == PROTOCOL_VERSION => {
                        phase = Phase::Requests;
                        Next::Again
                    }
                    Ok(Some(_)) => Next::Close,
                    Ok(None) => Next::MoreBytes,
                    // Any bad handshake frame closes the connection.
                    Err(_) => Next::Close,
                },
                Phase::Requests => match read_one::<Request>(&mut framing, &mut buf) {
                    Ok(Some(_)) => Next::Again,
                    Ok(None) => Next::MoreBytes,
                    // The daemon closes here; the protocol promises a bad body is consumed and
                    // the stream stays in step, so keep reading to check that promise too.
                    Err(Failure::Body) => Next::Again,
                    Err(Failure::Framing) => Next::Close,
                },
            };
            // The legitimate need is at most all bytes fed so far plus one maximal frame, and
            // `BytesMut` at most doubles an allocation to meet a need; four times the need is a
            // generous bound that a length prefix reserving its announced size would break.
            assert!(
                buf.capacity() <= 4 * (fed + MAX_FRAME_LEN + LENGTH_PREFIX_LEN),
                "buffer grew to {} after {fed} bytes",
                buf.capacity()
            );
            match next {
                Next::Again => {}
                Next::MoreBytes => break,
                Next::Close => return,
            }
        }
    }
}

/// Why a read failed, after the checks on the failure passed.
enum Failure {
    /// An oversized length prefix: the stream cannot continue.
    Framing,
    /// A whole frame whose body is not a message; it has been consumed.
    Body,
}

/// Whether the buffer starts with a length prefix the codec must refuse.
fn framing_failed(buf: &BytesMut) -> bool {
    announced(buf).is_some_and(|n| n > MAX_FRAME_LEN)
}

/// The length the first four bytes of `buf` announce, if there are four.
fn announced(buf: &BytesMut) -> Option<usize> {
    let head: [u8; LENGTH_PREFIX_LEN] = buf.get(..LENGTH_PREFIX_LEN)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(head)).ok()
}

/// One `read_message` call, with the checks that hold for every call.
fn read_one<T>(framing: &mut LengthDelimitedCodec, buf: &mut BytesMut) -> Result<Option<T>, Failure>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let before = (buf.len(), buf.capacity());
    let oversized = framing_failed(buf);
    match frame::read_message::<T>(framing, buf) {
        Ok(Some(message)) => {
            let body = codec::encode(&message).expect("a decoded message encodes");
            assert_eq!(codec::decode::<T>(&body).as_ref(), Ok(&message));
            Ok(Some(message))
        }
        Ok(None) => Ok(None),
        Err(FrameError::Framing(_)) => {
            // The codec reads a prefix only between frames, so the prefix is still in front.
            assert!(oversized, "framing error without an oversized prefix");
            assert_eq!(
                (buf.len(), buf.capacity()),
                before,
                "a refused prefix must not consume or reserve anything"
            );
            Err(Failure::Framing)
        }
        Err(FrameError::Body(_)) => {
            assert!(buf.len() < before.0, "a bad body must be consumed");
            Err(Failure::Body)
        }
    }
}

/// A buffer announcing more than [`MAX_FRAME_LEN`] (by an amount the input picks) is refused
/// from its prefix alone, with its capacity untouched.
fn oversized_prefix_is_refused(stream: &[u8]) {
    let Some((head, rest)) = stream.split_first_chunk::<LENGTH_PREFIX_LEN>() else {
        return;
    };
    let limit = u32::try_from(MAX_FRAME_LEN).expect("the frame limit fits a u32 prefix");
    let over = u32::from_be_bytes(*head) % (u32::MAX - limit);
    let announced = limit + 1 + over;
    let mut buf = BytesMut::with_capacity(LENGTH_PREFIX_LEN + rest.len());
    buf.extend_from_slice(&announced.to_be_bytes());
    buf.extend_from_slice(rest);
    let before = (buf.len(), buf.capacity());
    let result = frame::read_message::<Request>(&mut frame::codec(), &mut buf);
    assert!(
        matches!(result, Err(FrameError::Framing(_))),
        "a {announced}-byte prefix was not refused"
    );
    assert_eq!((buf.len(), buf.capacity()), before);
    if before.0 < announced as usize {
        assert!(buf.capacity() < announced as usize);
    }
}
