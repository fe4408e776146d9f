//! Fuzz target: an arbitrary [`Request`] survives the wire.
//!
//! The request is built from the input by `keyward_fuzz::request`. Encoded with `codec::encode`
//! it must decode to an equal value; framed with `frame::write_message` it must read back equal
//! with `frame::read_message`, leaving nothing behind. A request whose body exceeds
//! [`MAX_FRAME_LEN`] must be refused by `write_message` without writing anything.

#![no_main]

use arbitrary::Unstructured;
use bytes::BytesMut;
use keyward_protocol::{codec, frame, Request, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = keyward_fuzz::request::request(&mut Unstructured::new(data)) else {
        return;
    };
    let body = codec::encode(&request).expect("every request encodes");
    let mut framing = frame::codec();
    let mut buf = BytesMut::new();
    let written = frame::write_message(&request, &mut buf);
    if body.len() > MAX_FRAME_LEN {
        assert!(written.is_err(), "a {}-byte body was framed", body.len());
        assert!(buf.is_empty());
        return;
    }
    // Only the error is printed: a bulk request's `Debug` runs to tens of kilobytes.
    let decoded = codec::decode::<Request>(&body);
    assert!(
        decoded.as_ref() == Ok(&request),
        "a {}-byte body did not decode back: {:?}",
        body.len(),
        decoded.err()
    );
    written.expect("a body within the limit is framed");
    let read: Option<Request> = frame::read_message(&mut framing, &mut buf).expect("frame reads");
    assert_eq!(read.as_ref(), Some(&request));
    assert!(buf.is_empty(), "bytes left after the frame");
});
