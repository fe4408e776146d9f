//! Framing: each frame is a big-endian `u32` body length followed by that many bytes of bincode.
//!
//! Framing is tokio-util's `LengthDelimitedCodec`, configured here once so the daemon, the client
//! and the fuzz targets share exactly the same limits. The codec compares the announced length
//! with [`MAX_FRAME_LEN`] before it reserves any memory, so a hostile prefix costs nothing.

use bytes::{BufMut, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

use crate::codec::{self, DecodeError, EncodeError};

/// The largest frame body, in bytes, either side accepts or sends.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Bytes in the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// A codec with keyward's framing: `u32` big-endian length, at most [`MAX_FRAME_LEN`].
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .big_endian()
        .max_frame_length(MAX_FRAME_LEN)
        .new_codec()
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix exceeds [`MAX_FRAME_LEN`], or the stream failed.
    #[error("bad frame: {0}")]
    Framing(#[from] std::io::Error),
    /// The body is not a valid message.
    #[error(transparent)]
    Body(#[from] DecodeError),
}

/// Appends one framed message to `dst`: the big-endian `u32` length prefix that [`codec()`]
/// reads, then the body, encoded in place (no intermediate buffer: this runs once per reply).
///
/// # Errors
/// If the message cannot be encoded, or its body exceeds [`MAX_FRAME_LEN`]; `dst` is then as
/// it was.
pub fn write_message<T: Serialize>(message: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
    let start = dst.len();
    dst.put_u32(0);
    if let Err(e) = codec::encode_into(message, dst) {
        dst.truncate(start);
        return Err(e);
    }
    let len = dst.len() - start - LENGTH_PREFIX_LEN;
    if len > MAX_FRAME_LEN {
        dst.truncate(start);
        return Err(EncodeError::too_large(len));
    }
    let prefix = u32::try_from(len).expect("MAX_FRAME_LEN fits in u32");
    dst[start..start + LENGTH_PREFIX_LEN].copy_from_slice(&prefix.to_be_bytes());
    Ok(())
}

/// Takes one whole frame off the front of `src` and decodes its body, if a whole frame is there.
///
/// Returns `Ok(None)` when more bytes are needed.
///
/// # Errors
/// [`FrameError::Framing`] for an oversized length prefix (the stream cannot be resynchronised
/// and should be closed); [`FrameError::Body`] for a complete frame whose body is invalid (the
/// frame has been consumed, so the stream may continue).
pub fn read_message<T: DeserializeOwned>(
    framing: &mut LengthDelimitedCodec,
    src: &mut BytesMut,
) -> Result<Option<T>, FrameError> {
    match framing.decode(src)? {
        Some(body) => Ok(Some(codec::decode(&body)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, Request, Secret};
    use bytes::Bytes;
    use tokio_util::codec::Encoder;

    /// The prefix written in place is the one the length-delimited codec writes and reads.
    #[test]
    fn in_place_frames_match_the_codec() {
        let req = Request {
            id: 300,
            admin_key: Some(Secret::new("kw_adm_live_x")),
            op: Op::Stats,
        };
        let mut ours = BytesMut::from(&b"before"[..]);
        write_message(&req, &mut ours).unwrap();
        let mut theirs = BytesMut::from(&b"before"[..]);
        codec()
            .encode(Bytes::from(codec::encode(&req).unwrap()), &mut theirs)
            .unwrap();
        assert_eq!(ours, theirs);
    }

    /// A body over the limit is refused and leaves the buffer as it was.
    #[test]
    fn oversized_body_leaves_the_buffer_alone() {
        let big = Request {
            id: 1,
            admin_key: Some(Secret::new("x".repeat(MAX_FRAME_LEN))),
            op: Op::Ping,
        };
        let mut buf = BytesMut::from(&b"kept"[..]);
        assert!(write_message(&big, &mut buf).is_err());
        assert_eq!(&buf[..], b"kept");
    }

    /// Frames written back to back are read back one by one; a partial frame waits for more.
    #[test]
    fn frames_round_trip_and_wait_for_more() {
        let mut framing = codec();
        let mut buf = BytesMut::new();
        for id in 0..3 {
            let req = Request {
                id,
                admin_key: None,
                op: Op::Ping,
            };
            write_message(&req, &mut buf).unwrap();
        }
        let last = buf.split_off(buf.len() - 2);
        for id in 0..2 {
            let req: Request = read_message(&mut framing, &mut buf).unwrap().unwrap();
            assert_eq!(req.id, id);
        }
        assert!(read_message::<Request>(&mut framing, &mut buf)
            .unwrap()
            .is_none());
        buf.extend_from_slice(&last);
        let req: Request = read_message(&mut framing, &mut buf).unwrap().unwrap();
        assert_eq!(req.id, 2);
    }

    /// A prefix over the limit is refused from the four length bytes alone, with nothing reserved.
    #[test]
    fn oversized_prefix_is_refused_before_allocation() {
        let mut framing = codec();
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        let cap = buf.capacity();
        assert!(matches!(
            read_message::<Request>(&mut framing, &mut buf),
            Err(FrameError::Framing(_))
        ));
        assert_eq!(buf.capacity(), cap);
    }

    /// A whole frame with a bad body is consumed and reported, so the next frame still reads.
    #[test]
    fn bad_body_is_consumed() {
        let mut framing = codec();
        let mut buf = BytesMut::new();
        framing
            .encode(Bytes::from_static(&[0xff; 5]), &mut buf)
            .unwrap();
        let ok = Request {
            id: 9,
            admin_key: None,
            op: Op::Stats,
        };
        write_message(&ok, &mut buf).unwrap();
        assert!(matches!(
            read_message::<Request>(&mut framing, &mut buf),
            Err(FrameError::Body(_))
        ));
        let next: Request = read_message(&mut framing, &mut buf).unwrap().unwrap();
        assert_eq!(next, ok);
    }
}
