//! The one place that calls bincode.
//!
//! Every frame body on the wire, and every record the daemon's store persists, is encoded and
//! decoded here, so that replacing bincode with a compatible crate touches one file.
//!
//! # Configuration
//! `bincode::config::standard()` with a decode limit of [`MAX_FRAME_LEN`] bytes:
//! - little-endian;
//! - variable-length integers (bincode's "varint": values below 251 take one byte);
//! - collection and string lengths as varints, followed by their elements;
//! - enums as a varint variant index followed by the variant's fields;
//! - `Option` as one byte (0 none, 1 some), then the value;
//! - `Uuid` as a byte string: the length 16 as a varint, then its 16 bytes (uuid's serde form
//!   for non-human-readable formats is `serialize_bytes`);
//! - no trailing bytes: [`decode`] refuses input with bytes left over.
//!
//! PROTOCOL.md spells this out byte by byte; `tests/spec.rs` checks its vectors against this
//! configuration, so a change here fails until the document follows.
//!
//! [`decode`] refuses a body longer than [`MAX_FRAME_LEN`] before bincode sees it, and bincode's
//! own limit (eight times that, since it counts decoded sizes, not bytes) makes a decode fail,
//! rather than allocate, when a length inside the body claims more than a body could hold.

use crate::MAX_FRAME_LEN;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// bincode's decode limit. It counts the in-memory size of what it decodes (8 bytes for a
/// one-byte varint length, 24 for a 17-byte `Uuid`), not input bytes, so a limit of
/// `MAX_FRAME_LEN` would refuse legitimate bodies well under the frame limit (a 43 KB client
/// list). Eight times the frame limit is the most a body of at most `MAX_FRAME_LEN` bytes can
/// claim; it still stops a hostile length before it is allocated.
const DECODE_LIMIT: usize = 8 * MAX_FRAME_LEN;

/// The exact bincode configuration of the wire and the store.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Why a body could not be decoded. The text describes the structure, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not form a valid value of the expected type.
    #[error("undecodable body: {0}")]
    Invalid(String),
    /// A value decoded but bytes were left over.
    #[error("undecodable body: {0} trailing bytes")]
    Trailing(usize),
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode: {0}")]
pub struct EncodeError(String);

impl EncodeError {
    /// A body of `len` bytes exceeds the frame limit.
    pub(crate) fn too_large(len: usize) -> Self {
        EncodeError(format!(
            "body of {len} bytes exceeds the {MAX_FRAME_LEN}-byte frame limit"
        ))
    }
}

/// Encodes `value` with the wire configuration.
///
/// # Errors
/// Only if the value's `Serialize` implementation fails, which the protocol's own types never do.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| EncodeError(e.to_string()))
}

/// Appends `value`, encoded with the wire configuration, to `dst`.
///
/// # Errors
/// Only if the value's `Serialize` implementation fails, which the protocol's own types never do.
/// Part of the value may then have been appended.
pub fn encode_into<T: Serialize>(value: &T, dst: &mut bytes::BytesMut) -> Result<(), EncodeError> {
    /// bincode's writer over a growable buffer.
    struct Append<'a>(&'a mut bytes::BytesMut);
    impl bincode::enc::write::Writer for Append<'_> {
        fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
            self.0.extend_from_slice(bytes);
            Ok(())
        }
    }
    bincode::serde::encode_into_writer(value, Append(dst), config())
        .map_err(|e| EncodeError(e.to_string()))
}

/// Decodes exactly one `T` from all of `bytes`.
///
/// # Errors
/// [`DecodeError::Invalid`] if the bytes are not a `T` (or claim more than [`MAX_FRAME_LEN`]),
/// [`DecodeError::Trailing`] if bytes remain after it.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_FRAME_LEN {
        return Err(DecodeError::Invalid(
            "the body exceeds the frame limit".to_owned(),
        ));
    }
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| DecodeError::Invalid(describe(&e)))?;
    if used != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - used));
    }
    Ok(value)
}

/// A description of a decode failure that cannot echo input bytes (which may hold a secret).
fn describe(err: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match err {
        E::UnexpectedEnd { .. } => "truncated".to_owned(),
        E::LimitExceeded => "a length exceeds the frame limit".to_owned(),
        E::UnexpectedVariant { .. } => "unknown variant".to_owned(),
        E::Utf8 { .. } => "invalid UTF-8 in a string".to_owned(),
        E::InvalidIntegerType { .. } => "invalid integer encoding".to_owned(),
        E::InvalidBooleanValue(_) => "invalid boolean".to_owned(),
        E::InvalidCharEncoding(_) => "invalid char".to_owned(),
        _ => "malformed body".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, Request, Secret};

    /// A request round-trips, and extra bytes after it are refused.
    #[test]
    fn round_trip_and_trailing() {
        let req = Request {
            id: 7,
            admin_key: Some(Secret::new("kw_adm_live_x")),
            op: Op::Ping,
        };
        let mut bytes = encode(&req).unwrap();
        assert_eq!(decode::<Request>(&bytes).unwrap(), req);
        bytes.push(0);
        assert_eq!(decode::<Request>(&bytes), Err(DecodeError::Trailing(1)));
    }

    /// Regression (found by the `request_roundtrip` fuzzer): a legitimate body of nearly
    /// `MAX_FRAME_LEN` bytes whose decoded size exceeds it must still decode.
    #[test]
    fn large_legitimate_body_decodes() {
        let scopes = (0..2_000)
            .map(|i| (format!("s{i:05}"), crate::Level::Read))
            .collect();
        let req = Request {
            id: 1,
            admin_key: None,
            op: Op::ApiTokenCreate {
                name: "x".repeat(40_000),
                scopes,
                expires_in_secs: None,
                identity: Box::default(),
            },
        };
        let bytes = encode(&req).unwrap();
        assert!(bytes.len() <= MAX_FRAME_LEN, "{}", bytes.len());
        assert_eq!(decode::<Request>(&bytes).unwrap(), req);
        let reproducer = [
            0xff, 0x31, 0xff, 0xff, 0xac, 0xff, 0x00, 0x00, 0x0a, 0xc2, 0x76, 0x66, 0x32, 0x03,
            0xff, 0xff, 0xea,
        ];
        // Whatever it decodes to, it must not panic.
        let _ = decode::<Request>(&reproducer);
    }

    /// A body longer than a frame is refused before decoding.
    #[test]
    fn oversized_body_is_refused() {
        let bytes = vec![0u8; MAX_FRAME_LEN + 1];
        assert!(matches!(
            decode::<Request>(&bytes),
            Err(DecodeError::Invalid(_))
        ));
    }

    /// A string length claiming more than a frame can hold fails without allocating it.
    #[test]
    fn huge_inner_length_is_refused() {
        // id=0, admin_key=Some, then a string length varint of u64::MAX (251 marker + 8 bytes).
        let mut bytes = vec![0u8, 1, 253];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode::<Request>(&bytes),
            Err(DecodeError::Invalid(_))
        ));
    }
}
