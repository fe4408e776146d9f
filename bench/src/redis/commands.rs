//! What each Redis connection sends, mirroring the keyward workloads: `PING`; `GETEX key EX
//! 86400` (a verify that slides the expiry); `SET key value EX 86400` (an issue).

use anyhow::Result;
use bytes::{Bytes, BytesMut};
use keyward_protocol::token;
use keyward_protocol::{CredentialKind, Env};
use redis_protocol::resp2::types::RangeFrame;
use std::sync::Arc;

use super::wire::{encode_command, reply_text, CommandSource};

/// The expiry every key gets and every `GETEX` slides to: keyward's default idle timeout.
const TTL_SECS: &[u8] = b"86400";

/// A session record of about 200 bytes, as a cache of verified sessions would hold.
const SESSION_VALUE: &str = concat!(
    r#"{"principal_id":"438b60d1-cf63-431e-8902-50de8fc302fb","kind":"session","env":"live","#,
    r#""scopes":{"catalog-a":"write"},"expires_at":1795519572000,"max_expires_at":1796037972000,"#,
    r#""credential_id":"c7c16b6d-8537-46b0-bb44-275069968000"}"#
);

/// The value stored under every key.
pub(crate) fn session_value() -> Bytes {
    Bytes::from_static(SESSION_VALUE.as_bytes())
}

/// `n` keys shaped like keyward session tokens, so both stores hold keys of the same length.
///
/// # Errors
/// If the OS random source fails.
pub(crate) fn session_keys(n: u64) -> Result<Vec<Bytes>> {
    (0..n)
        .map(|_| {
            let t = token::generate(CredentialKind::Session, Env::Live)?;
            Ok(Bytes::copy_from_slice(t.expose().as_bytes()))
        })
        .collect()
}

/// `PING`, forever.
#[derive(Debug, Default)]
pub(crate) struct Pings;

impl CommandSource for Pings {
    fn write_command(&mut self, out: &mut BytesMut) -> Result<bool> {
        encode_command(out, [b"PING".as_slice()])?;
        Ok(true)
    }

    fn judge(&mut self, reply: &RangeFrame, bytes: &[u8]) -> bool {
        reply_text(reply, bytes) == Some(b"PONG".as_slice())
    }
}

/// `GETEX key EX 86400` on a key picked at random, forever.
#[derive(Debug)]
pub(crate) struct GetExes {
    keys: Arc<Vec<Bytes>>,
    rng: fastrand::Rng,
}

impl GetExes {
    /// Reads drawn from `keys` with a generator seeded by `seed`.
    pub fn new(keys: Arc<Vec<Bytes>>, seed: u64) -> Self {
        assert!(!keys.is_empty(), "GETEX needs at least one key");
        GetExes {
            keys,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl CommandSource for GetExes {
    fn write_command(&mut self, out: &mut BytesMut) -> Result<bool> {
        let key = &self.keys[self.rng.usize(..self.keys.len())];
        encode_command(out, [b"GETEX".as_slice(), key, b"EX", TTL_SECS])?;
        Ok(true)
    }

    fn judge(&mut self, reply: &RangeFrame, _: &[u8]) -> bool {
        // A missing key comes back as a null, which would mean the preload lost it.
        matches!(reply, RangeFrame::BulkString(_))
    }
}

/// Characters of a random key after its prefix: a session token's body.
const KEY_BODY_LEN: usize = token::BODY_LEN;

/// `SET key value EX 86400` on a fresh random key, forever: Redis's durable issue.
#[derive(Debug)]
pub(crate) struct Sets {
    value: Bytes,
    key: Vec<u8>,
    rng: fastrand::Rng,
}

impl Sets {
    /// Writes of fresh keys chosen by a generator seeded by `seed`.
    pub fn new(seed: u64) -> Self {
        Sets {
            value: session_value(),
            key: Vec::with_capacity(token::TOKEN_LEN),
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl CommandSource for Sets {
    fn write_command(&mut self, out: &mut BytesMut) -> Result<bool> {
        self.key.clear();
        self.key.extend_from_slice(b"kw_ses_live_");
        let rng = &mut self.rng;
        self.key
            .extend(std::iter::repeat_with(|| rng.lowercase() as u8).take(KEY_BODY_LEN));
        encode_command(
            out,
            [b"SET".as_slice(), &self.key, &self.value, b"EX", TTL_SECS],
        )?;
        Ok(true)
    }

    fn judge(&mut self, reply: &RangeFrame, bytes: &[u8]) -> bool {
        reply_text(reply, bytes) == Some(b"OK".as_slice())
    }
}

/// `SET key value EX 86400` for each of a fixed list of keys: the preload.
#[derive(Debug)]
pub(crate) struct Preload {
    keys: std::vec::IntoIter<Bytes>,
    value: Bytes,
    /// The first error reply, if any.
    pub failure: Option<String>,
}

impl Preload {
    /// Writes every key in `keys`.
    pub fn new(keys: Vec<Bytes>) -> Self {
        Preload {
            keys: keys.into_iter(),
            value: session_value(),
            failure: None,
        }
    }
}

impl CommandSource for Preload {
    fn write_command(&mut self, out: &mut BytesMut) -> Result<bool> {
        let Some(key) = self.keys.next() else {
            return Ok(false);
        };
        encode_command(out, [b"SET".as_slice(), &key, &self.value, b"EX", TTL_SECS])?;
        Ok(true)
    }

    fn judge(&mut self, reply: &RangeFrame, bytes: &[u8]) -> bool {
        let text = reply_text(reply, bytes);
        if text == Some(b"OK".as_slice()) {
            return true;
        }
        self.failure.get_or_insert_with(|| {
            String::from_utf8_lossy(text.unwrap_or(b"an unexpected reply type")).into_owned()
        });
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored value is the size the workload promises, and fresh keys are token-sized.
    #[test]
    fn value_and_key_sizes() {
        let len = session_value().len();
        assert!((190..=230).contains(&len), "{len}");
        let mut sets = Sets::new(1);
        let mut out = BytesMut::new();
        sets.write_command(&mut out).unwrap();
        assert_eq!(sets.key.len(), token::TOKEN_LEN);
        assert_eq!(session_keys(1).unwrap()[0].len(), token::TOKEN_LEN);
    }
}
