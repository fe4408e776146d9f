//! Where keyward's records live in etcd, under the configured prefix, and how they are
//! encoded. Only token hashes are written, never tokens.
//!
//! | key | value |
//! |---|---|
//! | `c/<owner>/<id>` | a credential: its token hash (32 bytes), then its record |
//! | `e/<id>` | a session's idle expiry, 16 hex digits (so a byte compare orders it), `/`, its owner |
//! | `p/<id>` | a principal's record |
//! | `x/<t or l>/<external id>` | the claim of an external id: the principal's id |
//! | `d/<id>` | a disabled id: when, 8 bytes big-endian |
//! | `h` | nothing: a mark in the watch's stream, leased |
//!
//! Ids are 32 hex digits. Credentials are filed under their owner so that one range compare
//! covers a client's credentials (its seats).

use keyward_protocol::token::TokenHash;
use uuid::Uuid;

use crate::store::{self, CredentialRecord, PrincipalRecord, StoreError, StoredEnv};

/// A parsed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Credential { id: Uuid },
    Expiry { id: Uuid },
    Principal { id: Uuid },
    Claim,
    Disabled { id: Uuid },
}

/// The key layout under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn credential(&self, owner: Uuid, id: Uuid) -> Vec<u8> {
        format!("{}c/{}/{}", self.prefix, hex(owner), hex(id)).into_bytes()
    }

    /// The prefix of every credential `owner` holds.
    pub fn owned_by(&self, owner: Uuid) -> Vec<u8> {
        format!("{}c/{}/", self.prefix, hex(owner)).into_bytes()
    }

    pub fn expiry(&self, id: Uuid) -> Vec<u8> {
        format!("{}e/{}", self.prefix, hex(id)).into_bytes()
    }

    pub fn principal(&self, id: Uuid) -> Vec<u8> {
        format!("{}p/{}", self.prefix, hex(id)).into_bytes()
    }

    pub fn claim(&self, env: StoredEnv, external_id: &str) -> Vec<u8> {
        let env = match env {
            StoredEnv::Test => 't',
            StoredEnv::Live => 'l',
        };
        format!("{}x/{env}/{external_id}", self.prefix).into_bytes()
    }

    pub fn disabled(&self, id: Uuid) -> Vec<u8> {
        format!("{}d/{}", self.prefix, hex(id)).into_bytes()
    }

    /// The key hosts write to put a mark in the watch's stream ([`super::mark`]).
    pub fn mark(&self) -> Vec<u8> {
        format!("{}h", self.prefix).into_bytes()
    }

    /// The prefix of one kind of record: `c/`, `e/`, `p/` or `d/`.
    pub fn section(&self, section: &str) -> Vec<u8> {
        format!("{}{section}", self.prefix).into_bytes()
    }

    /// What `key` is, or `None` for a key keyward does not write.
    pub fn parse(&self, key: &[u8]) -> Option<Key> {
        let rest = std::str::from_utf8(key).ok()?.strip_prefix(&self.prefix)?;
        let id = |s: &str| Uuid::try_parse(s).ok();
        match rest.split_once('/')? {
            ("c", tail) => Some(Key::Credential {
                id: id(tail.split_once('/')?.1)?,
            }),
            ("e", tail) => Some(Key::Expiry { id: id(tail)? }),
            ("p", tail) => Some(Key::Principal { id: id(tail)? }),
            ("x", _) => Some(Key::Claim),
            ("d", tail) => Some(Key::Disabled { id: id(tail)? }),
            _ => None,
        }
    }
}

/// The value of `c/…`.
pub fn encode_credential(
    hash: &TokenHash,
    record: &CredentialRecord,
) -> Result<Vec<u8>, StoreError> {
    let mut out = hash.to_vec();
    out.extend_from_slice(&store::encode_credential(record)?);
    Ok(out)
}

pub fn decode_credential(value: &[u8]) -> Result<(TokenHash, CredentialRecord), StoreError> {
    if value.len() < 32 {
        return Err(StoreError::corrupt(
            "etcd credentials",
            "value shorter than a hash".into(),
        ));
    }
    let (hash, record) = value.split_at(32);
    let hash: TokenHash = hash.try_into().expect("32 bytes");
    Ok((hash, store::decode_credential(record)?.0))
}

pub fn encode_principal(record: &PrincipalRecord) -> Result<Vec<u8>, StoreError> {
    store::encode_principal(record)
}

pub fn decode_principal(value: &[u8]) -> Result<PrincipalRecord, StoreError> {
    store::decode_principal(value)
}

/// The value of `e/…`: the expiry in 16 hex digits, so that etcd's byte compare orders
/// expiries, then the owner, so that a sweep finds the session's credential key.
pub fn encode_expiry(at: i64, owner: Uuid) -> Vec<u8> {
    format!("{:016x}/{}", at.max(0), hex(owner)).into_bytes()
}

/// The expiry and owner of an `e/…` value.
pub fn decode_expiry(value: &[u8]) -> Option<(i64, Uuid)> {
    let (at, owner) = std::str::from_utf8(value).ok()?.split_once('/')?;
    Some((
        i64::from_str_radix(at, 16).ok()?,
        Uuid::try_parse(owner).ok()?,
    ))
}

pub fn encode_disabled(at: i64) -> Vec<u8> {
    at.to_be_bytes().to_vec()
}

pub fn decode_disabled(value: &[u8]) -> i64 {
    value.try_into().map(i64::from_be_bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_and_expiries_order_as_bytes() {
        let keys = Keys::new("/kw/");
        let (owner, id) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            keys.parse(&keys.credential(owner, id)),
            Some(Key::Credential { id })
        );
        assert!(keys
            .credential(owner, id)
            .starts_with(&keys.owned_by(owner)));
        assert_eq!(keys.parse(&keys.expiry(id)), Some(Key::Expiry { id }));
        assert_eq!(keys.parse(&keys.principal(id)), Some(Key::Principal { id }));
        assert_eq!(keys.parse(&keys.disabled(id)), Some(Key::Disabled { id }));
        assert_eq!(
            keys.parse(&keys.claim(StoredEnv::Live, "a/b")),
            Some(Key::Claim)
        );
        assert_eq!(keys.parse(b"/other/p/x"), None);
        assert!(encode_expiry(1_000, owner) < encode_expiry(65_536, owner));
        assert_eq!(
            decode_expiry(&encode_expiry(1_733_000_000_000, owner)),
            Some((1_733_000_000_000, owner))
        );
    }
}
