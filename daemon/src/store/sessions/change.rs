//! The session journal's records: one change to one session, as it sits on disk.
//!
//! Records are framed by [`crate::store::record_frame`] (length, CRC, tag); the bodies here are:
//!
//! | tag | change | body after the tag |
//! |---|---|---|
//! | 1 | issue | token hash (32) ‖ id (16) ‖ owner (16) ‖ flags (1) ‖ created, expires, max expires (3 × i64 LE) |
//! | 2 | slide | id (16) ‖ expires (i64 LE) ‖ last use (i64 LE) |
//! | 3 | end | id (16) |
//!
//! Flags: bit 0 is the environment (1 live, 0 test); bit 1 marks an id that is *not* derived
//! from the hash (a session from an older layout), so replay never has to hash to find out.
//! The session records are fixed-width on purpose: replaying a million sessions at start-up
//! must cost little more than reading them.
//!
//! The journal also carries audit entries (tag 4), so that the commit which makes a change
//! durable makes its entry durable too, until the audit log has synced it (see
//! [`crate::store::Store::append_audit`]); session replay skips them.

use keyward_protocol::token::TokenHash;
use keyward_protocol::UnixMillis;
use uuid::Uuid;

use crate::store::record_frame::{self, Frame, AUDIT_KEY, FRAME, MAX_BODY};
use crate::store::records::StoredEnv;

const ISSUE_BODY: usize = 1 + 32 + 16 + 16 + 1 + 3 * 8;
const SLIDE_BODY: usize = 1 + 16 + 2 * 8;
const END_BODY: usize = 1 + 16;

const ISSUE: u8 = 1;
const SLIDE: u8 = 2;
const END: u8 = 3;

/// A session as the journal records it at issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Issued {
    pub hash: TokenHash,
    pub id: Uuid,
    pub owner: Uuid,
    pub env: StoredEnv,
    /// Whether `id` is not [`super::session_id`] of `hash`.
    pub legacy_id: bool,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub max_expires_at: UnixMillis,
}

/// One change to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// A new session.
    Issue(Issued),
    /// A session used at `last_used_at`, now expiring at `expires_at`.
    Slide {
        id: Uuid,
        expires_at: UnixMillis,
        last_used_at: UnixMillis,
    },
    /// A session logged out, revoked or swept.
    End { id: Uuid },
}

/// What [`decode`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A whole, intact record of this many bytes.
    Record(Change, usize),
    /// A whole, intact audit entry, in this many bytes.
    Audit {
        key: &'a [u8; AUDIT_KEY],
        entry: &'a [u8],
        len: usize,
    },
    /// The end of the written part: a zero length, or no bytes at all.
    End,
    /// A record cut short or failing its CRC: a torn write, or damage.
    Bad(&'static str),
}

impl Change {
    /// Appends the framed record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = record_frame::begin(out);
        match self {
            Change::Issue(s) => {
                out.push(ISSUE);
                out.extend_from_slice(&s.hash);
                out.extend_from_slice(s.id.as_bytes());
                out.extend_from_slice(s.owner.as_bytes());
                let env = match s.env {
                    StoredEnv::Test => 0,
                    StoredEnv::Live => 1,
                };
                out.push(env | u8::from(s.legacy_id) << 1);
                for t in [s.created_at, s.expires_at, s.max_expires_at] {
                    out.extend_from_slice(&t.to_le_bytes());
                }
            }
            Change::Slide {
                id,
                expires_at,
                last_used_at,
            } => {
                out.push(SLIDE);
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&expires_at.to_le_bytes());
                out.extend_from_slice(&last_used_at.to_le_bytes());
            }
            Change::End { id } => {
                out.push(END);
                out.extend_from_slice(id.as_bytes());
            }
        }
        record_frame::seal(out, start);
    }
}

/// How many records in `buf` are issue records, judged by their lengths and tags alone (no
/// checksums): an upper bound of the sessions a replay of `buf` adds.
pub(super) fn count_issues(mut buf: &[u8]) -> usize {
    let mut n = 0;
    while let Some(len) = buf.get(..4) {
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let Some(tag) = buf.get(FRAME) else { break };
        if len == 0 || len > MAX_BODY {
            break;
        }
        n += usize::from(*tag == ISSUE);
        buf = buf.get(FRAME + len..).unwrap_or_default();
    }
    n
}

/// Decodes the record at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Decoded<'_> {
    match record_frame::decode(buf) {
        Frame::Audit { key, entry, len } => Decoded::Audit { key, entry, len },
        Frame::Other { body, len } => match parse(body) {
            Some(change) => Decoded::Record(change, len),
            None => Decoded::Bad("a record has an unknown shape"),
        },
        Frame::End => Decoded::End,
        Frame::Bad(why) => Decoded::Bad(why),
    }
}

fn uuid(bytes: &[u8]) -> Uuid {
    Uuid::from_bytes(bytes.try_into().expect("16 bytes"))
}

fn millis(bytes: &[u8]) -> UnixMillis {
    i64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

fn parse(body: &[u8]) -> Option<Change> {
    Some(match (body[0], body.len()) {
        (ISSUE, ISSUE_BODY) => Change::Issue(Issued {
            hash: body[1..33].try_into().expect("32 bytes"),
            id: uuid(&body[33..49]),
            owner: uuid(&body[49..65]),
            env: match body[65] & !2 {
                0 => StoredEnv::Test,
                1 => StoredEnv::Live,
                _ => return None,
            },
            legacy_id: body[65] & 2 != 0,
            created_at: millis(&body[66..74]),
            expires_at: millis(&body[74..82]),
            max_expires_at: millis(&body[82..90]),
        }),
        (SLIDE, SLIDE_BODY) => Change::Slide {
            id: uuid(&body[1..17]),
            expires_at: millis(&body[17..25]),
            last_used_at: millis(&body[25..33]),
        },
        (END, END_BODY) => Change::End {
            id: uuid(&body[1..17]),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record_frame::encode_audit;

    fn samples() -> Vec<Change> {
        vec![
            Change::Issue(Issued {
                hash: [7; 32],
                id: Uuid::from_u128(1),
                owner: Uuid::from_u128(2),
                env: StoredEnv::Live,
                legacy_id: true,
                created_at: -5,
                expires_at: 86_400_000,
                max_expires_at: i64::MAX,
            }),
            Change::Slide {
                id: Uuid::from_u128(3),
                expires_at: 4,
                last_used_at: 5,
            },
            Change::End {
                id: Uuid::from_u128(6),
            },
        ]
    }

    /// Every change decodes to itself, record after record, and so does an audit entry.
    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        for c in samples() {
            c.encode(&mut buf);
        }
        encode_audit(&[9; AUDIT_KEY], b"entry", &mut buf);
        buf.extend_from_slice(&[0; 16]);
        let mut at = 0;
        for c in samples() {
            match decode(&buf[at..]) {
                Decoded::Record(got, n) => {
                    assert_eq!(got, c);
                    at += n;
                }
                other => panic!("{other:?}"),
            }
        }
        match decode(&buf[at..]) {
            Decoded::Audit { key, entry, len } => {
                assert_eq!((key, entry), (&[9; AUDIT_KEY], &b"entry"[..]));
                at += len;
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(&buf[at..]), Decoded::End);
        assert_eq!(decode(&[]), Decoded::End);
        assert_eq!(count_issues(&buf), 1);
    }

    /// A cut-off record, a flipped bit and a wild length are all reported, never decoded.
    #[test]
    fn damage_is_reported() {
        let mut buf = Vec::new();
        samples()[0].encode(&mut buf);
        assert!(matches!(decode(&buf[..buf.len() - 1]), Decoded::Bad(_)));
        let mut flipped = buf.clone();
        flipped[20] ^= 1;
        assert!(matches!(decode(&flipped), Decoded::Bad(_)));
        let mut wild = buf.clone();
        wild[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&wild), Decoded::Bad(_)));
        assert!(matches!(decode(&[1, 0]), Decoded::Bad(_)));
    }
}
