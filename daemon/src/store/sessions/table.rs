//! The in-memory session table: every session the journal holds, by id, with each owner's
//! session ids and scopes.
//!
//! A session's id is derived from its token hash ([`session_id`]), so one map serves both a
//! verify (which knows the hash) and a revoke (which knows the id). Sessions that came from an
//! older layout, whose ids were random, are found through the small `legacy` map instead.
//!
//! The maps are sharded ([`DashMap`]): a verify locks one shard for reading, so verifies never
//! wait for each other, and a write holds one shard for a few hundred nanoseconds.

use dashmap::DashMap;
use keyward_protocol::token::TokenHash;
use keyward_protocol::UnixMillis;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

use super::change::Issued;
use crate::store::records::{StoredEnv, StoredLevel};

type Hasher = foldhash::fast::RandomState;
type Map<K, V> = DashMap<K, V, Hasher>;

/// An owner's scopes, shared by all of its sessions.
pub(crate) type SharedScopes = Arc<Vec<(String, StoredLevel)>>;

/// The public id of the session whose token hashes to `hash`.
///
/// A second SHA-256 under its own domain, so the id (which is shown in listings and logs)
/// reveals nothing of the stored hash.
pub(crate) fn session_id(hash: &TokenHash) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"keyward session id\0")
        .chain_update(hash)
        .finalize();
    uuid::Builder::from_random_bytes(digest[..16].try_into().expect("16 bytes")).into_uuid()
}

/// One session in memory.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub hash: TokenHash,
    pub owner: Uuid,
    pub env: StoredEnv,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
    pub expires_at: UnixMillis,
    pub max_expires_at: UnixMillis,
    pub scopes: SharedScopes,
}

impl Session {
    /// The journal record that recreates it (the last use is carried by a slide).
    pub fn issued(&self, id: Uuid) -> Issued {
        Issued {
            hash: self.hash,
            id,
            owner: self.owner,
            env: self.env,
            created_at: self.created_at,
            expires_at: self.expires_at,
            max_expires_at: self.max_expires_at,
        }
    }
}

/// An owner's sessions.
#[derive(Debug, Default)]
struct Owner {
    scopes: SharedScopes,
    ids: HashSet<Uuid, Hasher>,
}

/// Every session, with indexes by owner and (for old ids) by hash.
#[derive(Debug, Default)]
pub(super) struct Table {
    sessions: Map<Uuid, Session>,
    owners: Map<Uuid, Owner>,
    legacy: Map<TokenHash, Uuid>,
}

impl Table {
    /// The scopes already known for `owner`, to share with a new session.
    pub fn owner_scopes(&self, owner: Uuid) -> Option<SharedScopes> {
        self.owners.get(&owner).map(|o| Arc::clone(&o.scopes))
    }

    /// Adds (or replaces) a session.
    pub fn insert(&self, id: Uuid, session: Session) {
        let mut owner = self.owners.entry(session.owner).or_insert_with(|| Owner {
            scopes: Arc::clone(&session.scopes),
            ids: HashSet::default(),
        });
        owner.ids.insert(id);
        drop(owner);
        if session_id(&session.hash) != id {
            self.legacy.insert(session.hash, id);
        }
        self.sessions.insert(id, session);
    }

    /// The session with this id.
    pub fn get(&self, id: Uuid) -> Option<Session> {
        self.sessions.get(&id).map(|s| s.clone())
    }

    /// The session whose token hashes to `hash`, with its id.
    pub fn find(&self, hash: &TokenHash) -> Option<(Uuid, Session)> {
        let id = session_id(hash);
        if let Some(s) = self.sessions.get(&id) {
            if s.hash == *hash {
                return Some((id, s.clone()));
            }
        }
        if self.legacy.is_empty() {
            return None;
        }
        let id = *self.legacy.get(hash)?;
        self.get(id).map(|s| (id, s))
    }

    /// Sets a session's expiry and last use, if they are still `expected`; returns whether.
    pub fn slide(
        &self,
        id: Uuid,
        expected: (UnixMillis, Option<UnixMillis>),
        expires_at: UnixMillis,
        last_used_at: UnixMillis,
    ) -> bool {
        match self.sessions.get_mut(&id) {
            Some(mut s) if (s.expires_at, s.last_used_at) == expected => {
                s.expires_at = expires_at;
                s.last_used_at = Some(last_used_at);
                true
            }
            _ => false,
        }
    }

    /// Sets a session's expiry and last use unconditionally (replay).
    pub fn set(&self, id: Uuid, expires_at: UnixMillis, last_used_at: UnixMillis) {
        if let Some(mut s) = self.sessions.get_mut(&id) {
            s.expires_at = expires_at;
            s.last_used_at = Some(last_used_at);
        }
    }

    /// Removes a session; returns it if it was there.
    pub fn remove(&self, id: Uuid) -> Option<Session> {
        self.remove_if(id, |_| true)
    }

    /// Removes a session if `keep_going` says so, deciding under the shard's lock.
    pub fn remove_if(
        &self,
        id: Uuid,
        keep_going: impl FnOnce(&Session) -> bool,
    ) -> Option<Session> {
        let (_, session) = self.sessions.remove_if(&id, |_, s| keep_going(s))?;
        self.owners.remove_if_mut(&session.owner, |_, owner| {
            owner.ids.remove(&id);
            owner.ids.is_empty()
        });
        if !self.legacy.is_empty() {
            self.legacy.remove(&session.hash);
        }
        Some(session)
    }

    /// The sessions of `owner`.
    pub fn of_owner(&self, owner: Uuid) -> Vec<(Uuid, Session)> {
        let ids: Vec<Uuid> = match self.owners.get(&owner) {
            Some(o) => o.ids.iter().copied().collect(),
            None => return Vec::new(),
        };
        ids.into_iter()
            .filter_map(|id| self.get(id).map(|s| (id, s)))
            .collect()
    }

    /// The ids of sessions expired at `now`.
    pub fn expired(&self, now: UnixMillis) -> Vec<Uuid> {
        self.sessions
            .iter()
            .filter(|s| s.expires_at <= now)
            .map(|s| *s.key())
            .collect()
    }

    /// Calls `f` with every session. Holds one shard's read lock at a time.
    pub fn for_each(&self, mut f: impl FnMut(Uuid, &Session)) {
        for s in self.sessions.iter() {
            f(*s.key(), s.value());
        }
    }

    /// How many sessions it holds (expired or not).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }
}
