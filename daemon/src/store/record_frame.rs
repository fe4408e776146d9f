//! The framing shared by the session journal and the audit log: length, CRC, tag.
//!
//! Every record is `length: u32 LE ‖ crc32(body): u32 LE ‖ body`, and every body starts with a
//! tag byte.
//! A length of zero ends the written part of a file.
//! Tags 1 to 3 are session changes ([`super::sessions`]).
//! Tag 4 is an audit entry: key (24) ‖ the entry as sled stores it (at most 4 KiB).

/// Bytes in front of every body: its length and CRC.
pub(crate) const FRAME: usize = 8;
/// Bytes of an audit entry's key.
pub(crate) const AUDIT_KEY: usize = 24;
/// The longest audit entry a record holds.
pub(crate) const MAX_AUDIT_ENTRY: usize = 4096;
/// The longest body this build writes; anything longer is damage, not a record.
pub(crate) const MAX_BODY: usize = 1 + AUDIT_KEY + MAX_AUDIT_ENTRY;
/// The tag of an audit entry.
const AUDIT: u8 = 4;

/// A place in the session journal: an epoch and a byte offset in that epoch's file.
/// The audit log records the one up to which it has synced the entries the journal carries.
pub(crate) type Position = (u64, u64);

/// What [`decode`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole, intact audit entry, in `len` bytes with its frame.
    Audit {
        key: &'a [u8; AUDIT_KEY],
        entry: &'a [u8],
        len: usize,
    },
    /// A whole, intact record of another kind: its body (tag first), in `len` bytes with its
    /// frame.
    Other { body: &'a [u8], len: usize },
    /// The end of the written part: a zero length, or no bytes at all.
    End,
    /// A record cut short or failing its CRC: a torn write, or damage.
    Bad(&'static str),
}

/// Starts a record in `out` by reserving its frame; returns where it starts, for [`seal`].
pub(crate) fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME]);
    start
}

/// Fills in the frame of the record begun at `start`, whose body is the rest of `out`.
pub(crate) fn seal(out: &mut [u8], start: usize) {
    let body_len = u32::try_from(out.len() - start - FRAME).expect("bodies are bounded");
    let crc = crc32fast::hash(&out[start + FRAME..]);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + FRAME].copy_from_slice(&crc.to_le_bytes());
}

/// Appends the framed audit entry `entry` under `key` to `out`.
///
/// # Panics
/// If `entry` is longer than [`MAX_AUDIT_ENTRY`]; callers check.
pub(crate) fn encode_audit(key: &[u8; AUDIT_KEY], entry: &[u8], out: &mut Vec<u8>) {
    assert!(entry.len() <= MAX_AUDIT_ENTRY, "audit entry too long");
    let start = begin(out);
    out.push(AUDIT);
    out.extend_from_slice(key);
    out.extend_from_slice(entry);
    seal(out, start);
}

/// Decodes the frame at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Frame<'_> {
    if buf.len() < 4 {
        return if buf.iter().all(|&b| b == 0) {
            Frame::End
        } else {
            Frame::Bad("a record header is cut short")
        };
    }
    let len = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    if len == 0 {
        return Frame::End;
    }
    if len > MAX_BODY {
        return Frame::Bad("a record length is out of range");
    }
    let Some(framed) = buf.get(..FRAME + len) else {
        return Frame::Bad("a record is cut short");
    };
    let crc = u32::from_le_bytes(framed[4..FRAME].try_into().expect("4 bytes"));
    let body = &framed[FRAME..];
    if crc32fast::hash(body) != crc {
        return Frame::Bad("a record fails its checksum");
    }
    if body[0] == AUDIT && body.len() > AUDIT_KEY {
        let (key, entry) = body[1..].split_at(AUDIT_KEY);
        return Frame::Audit {
            key: key.try_into().expect("split at the key's length"),
            entry,
            len: FRAME + len,
        };
    }
    Frame::Other {
        body,
        len: FRAME + len,
    }
}
