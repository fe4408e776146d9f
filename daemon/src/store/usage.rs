//! Usage: each credential's successful verifies and last use, and each principal's totals.
//!
//! A verify pays one in-memory increment: a session's counter sits in its table entry (an
//! atomic under the shard's read lock the lookup already took), and a sled credential's in a
//! map entry made at its first use ([`Store::count_use`]).
//! The first use since the last fold also notes the id in a short list, so a fold visits only
//! what was used.
//! The checkpoint every [`FOLD_EVERY`], and a clean shutdown, fold those counts into sled's
//! `usage` tree in one batch ([`Store::fold_usage`]) and commit it with the rest of sled; a
//! fold with nothing counted writes nothing.
//! A fold rewrites a B-tree entry per credential and principal used: at half-second
//! checkpoints that was a quarter of a saturated verify load's CPU, hence the longer interval.
//! A fold takes at most [`FOLD_SLICE`] credentials' counts, so a load that uses more
//! credentials than that in one interval spreads them over several folds.
//! So a crash loses at most the uses not yet folded (the last fold interval's, or a few
//! intervals' for more than [`FOLD_SLICE`] credentials), and a count is never too high: a use
//! is added to the tree once, when it is taken from memory. A clean stop folds everything.
//!
//! Keys: `c` ‖ credential id and `p` ‖ principal id, each to [`Used`] (16 bytes).
//! A principal's total stays until the principal itself is removed, so it outlives its
//! credentials; uses not yet folded when a credential goes are added to its principal's only.
//! A gone credential's or principal's entry is collected by later folds, a bounded slice each
//! ([`GC_BATCH`]), so revokes and sweeps do no work for it.

use dashmap::DashMap;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keyward_protocol::UnixMillis;
use uuid::Uuid;

use super::engine::Engine;
use super::last_used;
use super::{Found, Raw, Store, StoreError};

/// How often a checkpoint folds the uses counted since the last fold: what a crash can take.
pub const FOLD_EVERY: Duration = Duration::from_secs(5);
/// Lists the first uses since the last fold are noted in, so that cores rarely meet.
const SHARDS: usize = 16;
/// `usage` entries a fold checks for a gone credential: a bounded cost per checkpoint.
const GC_BATCH: usize = 1024;
/// Credentials one fold takes the uses of; the rest wait for the next folds. A fold of a
/// hundred thousand sessions' counts at once made sled hold about 450 MB more and cost a
/// saturated verify load a sixth of its throughput.
const FOLD_SLICE: usize = 16_384;
/// The `usage` key prefix of a credential.
const CREDENTIAL: u8 = b'c';
/// The `usage` key prefix of a principal.
pub(super) const PRINCIPAL: u8 = b'p';

/// How often and how lately something was used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Used {
    /// Successful verifies.
    pub uses: u64,
    /// The latest of them, if any.
    pub last_used_at: Option<UnixMillis>,
}

impl Used {
    /// Adds `other`'s uses and keeps the later last use.
    fn add(&mut self, other: Used) {
        self.uses = self.uses.saturating_add(other.uses);
        self.last_used_at = self.last_used_at.max(other.last_used_at);
    }

    /// The 16-byte value: uses, then last use (0 for never), both big-endian.
    fn encode(self) -> [u8; 16] {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&self.uses.to_be_bytes());
        v[8..].copy_from_slice(&self.last_used_at.unwrap_or(0).to_be_bytes());
        v
    }

    /// Reads a value written by [`Used::encode`].
    pub(crate) fn decode(v: &[u8]) -> Result<Used, StoreError> {
        let v: [u8; 16] = v
            .try_into()
            .map_err(|_| StoreError::corrupt("usage", format!("a value of {} bytes", v.len())))?;
        let at = i64::from_be_bytes(v[8..].try_into().expect("8 bytes"));
        Ok(Used {
            uses: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
            last_used_at: (at != 0).then_some(at),
        })
    }
}

/// A `usage` key: `prefix` ‖ id.
pub(super) fn key(prefix: u8, id: Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = prefix;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

/// Whether `key` is a well-formed `usage` key (backups check this).
pub(crate) fn is_key(key: &[u8]) -> bool {
    key.len() == 17 && (key[0] == CREDENTIAL || key[0] == PRINCIPAL)
}

/// A sled credential's uses since the last fold. Made at its first use and kept, so later
/// uses only add to it.
#[derive(Debug)]
struct Counter {
    /// Its principal; nil for an admin key, whose uses count for itself only.
    owner: Uuid,
    pending: AtomicU64,
    last: AtomicI64,
}

/// Uses taken from memory, on their way to the tree.
#[derive(Debug, Clone, Copy)]
struct Delta {
    /// The credential, or `None` once it is gone (its principal's total still counts them).
    credential: Option<Uuid>,
    /// Its principal; nil for none.
    owner: Uuid,
    used: Used,
}

/// What was counted since the last fold.
#[derive(Debug)]
pub(super) struct Usage {
    /// Credentials used since the last fold.
    used: Box<[Mutex<Vec<Uuid>>]>,
    /// Sled credentials' counters (sessions count in their table entries).
    counters: DashMap<Uuid, Counter>,
    /// Uses taken but not yet in the tree: a gone credential's, or a failed fold's.
    carried: Mutex<Vec<Delta>>,
    /// Where the next collection of gone credentials' entries starts.
    gc_from: Mutex<Vec<u8>>,
    /// When the last fold began.
    folded_at: Mutex<Instant>,
}

impl Default for Usage {
    fn default() -> Usage {
        Usage {
            used: (0..SHARDS).map(|_| Mutex::default()).collect(),
            counters: DashMap::new(),
            carried: Mutex::default(),
            gc_from: Mutex::default(),
            folded_at: Mutex::new(Instant::now()),
        }
    }
}

/// Locks `m`, whose data stays valid even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Usage {
    /// Notes that `id` was used for the first time since the last fold.
    fn note(&self, id: Uuid) {
        // Ids are random (v4) or hashes (sessions): their last byte spreads them evenly.
        lock(&self.used[usize::from(id.as_bytes()[15]) % SHARDS]).push(id);
    }

    /// Whether no id is noted.
    fn nothing_noted(&self) -> bool {
        self.used.iter().all(|shard| lock(shard).is_empty())
    }

    /// Takes up to `max` of the noted ids; the rest stay noted.
    fn take_noted(&self, max: usize) -> Vec<Uuid> {
        let mut out = Vec::new();
        for shard in self.used.iter() {
            let room = max - out.len();
            if room == 0 {
                break;
            }
            let mut shard = lock(shard);
            let from = shard.len().saturating_sub(room);
            out.extend(shard.drain(from..));
        }
        out
    }
}

impl Store {
    /// Counts a successful verify of `found` at `at`: an in-memory increment, folded into
    /// sled at the next checkpoint.
    pub(crate) fn count_use(&self, found: &Found, at: UnixMillis) {
        let id = found.record.id;
        let usage = &self.inner.usage;
        let first = match found.raw {
            Raw::Session => self.inner.sessions.count_use(id, at),
            Raw::Sled(_) => {
                let add = |c: &Counter| {
                    c.last.fetch_max(at, Ordering::Relaxed);
                    c.pending.fetch_add(1, Ordering::Relaxed) == 0
                };
                match usage.counters.get(&id) {
                    Some(c) => add(&c),
                    None => add(&usage.counters.entry(id).or_insert_with(|| Counter {
                        owner: found.record.usage_owner(),
                        pending: AtomicU64::new(0),
                        last: AtomicI64::new(at),
                    })),
                }
            }
        };
        if first {
            usage.note(id);
        }
    }

    /// Credential `id`'s usage: what was folded, plus what was counted since.
    pub(crate) fn credential_usage(&self, id: Uuid) -> Result<Used, StoreError> {
        let mut used = self.read_usage(key(CREDENTIAL, id))?;
        used.add(self.pending_usage(id));
        Ok(used)
    }

    /// What credential `id` was used since the last fold.
    fn pending_usage(&self, id: Uuid) -> Used {
        if let Some((n, last_used_at)) = self.inner.sessions.pending_uses(id) {
            return match n {
                0 => Used::default(),
                n => Used {
                    uses: u64::from(n),
                    last_used_at,
                },
            };
        }
        match self.inner.usage.counters.get(&id) {
            Some(c) if c.pending.load(Ordering::Relaxed) > 0 => Used {
                uses: c.pending.load(Ordering::Relaxed),
                last_used_at: Some(c.last.load(Ordering::Relaxed)),
            },
            _ => Used::default(),
        }
    }

    /// Principal `id`'s totals as of the last fold: every use of every credential it has had,
    /// revoked ones' included. A page of principals reads only this.
    pub(crate) fn principal_usage(&self, id: Uuid) -> Result<Used, StoreError> {
        self.read_usage(key(PRINCIPAL, id))
    }

    /// Principal `id`'s totals up to now: what was folded, plus what its `credentials` (all
    /// of them) and its gone ones were used since.
    pub(crate) fn principal_usage_now(
        &self,
        id: Uuid,
        credentials: impl IntoIterator<Item = Uuid>,
    ) -> Result<Used, StoreError> {
        let mut used = self.principal_usage(id)?;
        for c in credentials {
            used.add(self.pending_usage(c));
        }
        for d in lock(&self.inner.usage.carried).iter() {
            if d.owner == id {
                used.add(d.used);
            }
        }
        Ok(used)
    }

    /// What the `usage` tree holds under `key`.
    fn read_usage(&self, key: [u8; 17]) -> Result<Used, StoreError> {
        match self.engine()?.usage.get(key)? {
            Some(v) => Used::decode(&v),
            None => Ok(Used::default()),
        }
    }

    /// Takes credential `found`'s unfolded uses as it goes, so that they still reach its
    /// principal's total.
    pub(super) fn retire_usage(&self, found: &Found) {
        let id = found.record.id;
        let taken = match found.raw {
            Raw::Session => self
                .inner
                .sessions
                .take_uses(id)
                .map(|(n, owner, last)| (u64::from(n), owner, last)),
            Raw::Sled(_) => self.inner.usage.counters.remove(&id).map(|(_, c)| {
                let n = c.pending.load(Ordering::Relaxed);
                (n, c.owner, Some(c.last.load(Ordering::Relaxed)))
            }),
        };
        if let Some((uses, owner, last_used_at)) = taken {
            if uses > 0 && !owner.is_nil() {
                lock(&self.inner.usage.carried).push(Delta {
                    credential: None,
                    owner,
                    used: Used {
                        uses,
                        last_used_at: last_used_at.or(found.record.last_used_at),
                    },
                });
            }
        }
    }

    /// Carries swept sessions' unfolded uses (owner, uses, last use) to their owners' totals.
    pub(super) fn retire_swept_usage(&self, swept: Vec<(Uuid, u32, Option<UnixMillis>)>) {
        if swept.is_empty() {
            return;
        }
        let mut carried = lock(&self.inner.usage.carried);
        for (owner, uses, last_used_at) in swept {
            carried.push(Delta {
                credential: None,
                owner,
                used: Used {
                    uses: u64::from(uses),
                    last_used_at,
                },
            });
        }
    }

    /// Deletes principal `id`'s totals and its place in the last-use order (it is being
    /// removed), in the caller's write.
    pub(super) fn remove_principal_usage(e: &Engine, id: Uuid) -> Result<(), StoreError> {
        let at = match e.usage.remove(key(PRINCIPAL, id))? {
            Some(v) => Used::decode(&v)?.last_used_at,
            None => None,
        };
        last_used::unfile(e, at, id)
    }

    /// Takes every use counted since the last fold.
    fn take_usage(&self) -> Vec<Delta> {
        let usage = &self.inner.usage;
        let mut deltas = std::mem::take(&mut *lock(&usage.carried));
        for id in usage.take_noted(FOLD_SLICE) {
            let taken = match self.inner.sessions.take_uses(id) {
                Some((n, owner, last)) => Some((u64::from(n), owner, last)),
                None => usage.counters.get(&id).map(|c| {
                    let n = c.pending.swap(0, Ordering::Relaxed);
                    (n, c.owner, Some(c.last.load(Ordering::Relaxed)))
                }),
            };
            // A credential gone meanwhile left its uses in `carried`.
            if let Some((uses, owner, last_used_at)) = taken.filter(|t| t.0 > 0) {
                deltas.push(Delta {
                    credential: Some(id),
                    owner,
                    used: Used { uses, last_used_at },
                });
            }
        }
        deltas
    }

    /// Folds until every use counted so far is in the tree: a clean shutdown's call.
    ///
    /// # Errors
    /// As [`Store::fold_usage`].
    pub fn fold_all_usage(&self) -> Result<(), StoreError> {
        loop {
            self.fold_usage()?;
            if self.inner.usage.nothing_noted() {
                return Ok(());
            }
        }
    }

    /// [`Store::fold_usage`], if the last fold was [`FOLD_EVERY`] ago: a checkpoint's call.
    ///
    /// # Errors
    /// As [`Store::fold_usage`].
    pub(super) fn fold_usage_if_due(&self) -> Result<(), StoreError> {
        if lock(&self.inner.usage.folded_at).elapsed() < FOLD_EVERY {
            return Ok(());
        }
        self.fold_usage()
    }

    /// Adds the uses counted since the last fold to the `usage` tree, in one batch, for up to
    /// [`FOLD_SLICE`] credentials (the rest wait for the next fold). Writes nothing if none
    /// were counted. Then collects a slice of gone credentials' entries.
    /// A clean shutdown calls it, and tests that want every use folded now.
    ///
    /// # Errors
    /// If sled fails; what was taken is carried to the next fold.
    pub fn fold_usage(&self) -> Result<(), StoreError> {
        *lock(&self.inner.usage.folded_at) = Instant::now();
        let deltas = self.take_usage();
        if !deltas.is_empty() {
            let mut principals: HashMap<Uuid, Used> = HashMap::new();
            for d in deltas.iter().filter(|d| !d.owner.is_nil()) {
                principals.entry(d.owner).or_default().add(d.used);
            }
            let written = self.write_sled(|e| {
                let mut batch = sled::Batch::default();
                for d in &deltas {
                    if let Some(id) = d.credential {
                        add(&e.usage, &mut batch, key(CREDENTIAL, id), d.used)?;
                    }
                }
                // A principal removed meanwhile gets an entry back, which a later fold collects.
                // Each principal's new place in the last-use order is filed before its total
                // is written, and its old one removed after (see `last_used`).
                let mut moved = Vec::new();
                for (owner, used) in &principals {
                    let (old, new) = add(&e.usage, &mut batch, key(PRINCIPAL, *owner), *used)?;
                    last_used::file_moved(e, *owner, old.last_used_at, new.last_used_at)?;
                    moved.push((*owner, old.last_used_at, new.last_used_at));
                }
                e.usage.apply_batch(batch)?;
                for (owner, old, new) in moved {
                    last_used::unfile_old(e, owner, old, new)?;
                }
                Ok(())
            });
            if written.is_err() {
                lock(&self.inner.usage.carried).extend(deltas);
                return written;
            }
        }
        self.collect_gone_usage()
    }

    /// Deletes the entries of credentials and principals that are gone, looking at up to
    /// [`GC_BATCH`] entries after where the last call stopped. Writes only if it found one.
    fn collect_gone_usage(&self) -> Result<(), StoreError> {
        let e = self.engine()?;
        let mut from = lock(&self.inner.usage.gc_from);
        let start = match from.is_empty() {
            true => Bound::Unbounded,
            false => Bound::Excluded(from.clone()),
        };
        let mut gone = Vec::new();
        let mut last = None;
        let mut seen = 0;
        for entry in e
            .usage
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take(GC_BATCH)
        {
            let (k, v) = entry?;
            seen += 1;
            let id = Uuid::from_slice(&k[1..])
                .map_err(|_| StoreError::corrupt("usage", "a key without an id".to_owned()))?;
            let held = match k[0] {
                PRINCIPAL => e.principals.contains_key(id.as_bytes())?,
                _ => {
                    self.inner.sessions.pending_uses(id).is_some()
                        || e.credential_ids.contains_key(id.as_bytes())?
                }
            };
            if !held {
                // A gone principal's place in the last-use order goes with its total.
                let place = (k[0] == PRINCIPAL)
                    .then(|| Used::decode(&v).map(|u| (u.last_used_at, id)))
                    .transpose()?;
                gone.push((k.clone(), place));
            }
            last = Some(k);
        }
        // After a short slice (the end), start again from the first entry next time.
        *from = match last {
            Some(k) if seen == GC_BATCH => k.to_vec(),
            _ => Vec::new(),
        };
        drop(from);
        if gone.is_empty() {
            return Ok(());
        }
        self.write_sled(|e| {
            let mut batch = sled::Batch::default();
            for (k, _) in &gone {
                batch.remove(k.clone());
            }
            e.usage.apply_batch(batch)?;
            for (at, id) in gone.iter().filter_map(|(_, place)| *place) {
                last_used::unfile(e, at, id)?;
            }
            Ok(())
        })
    }
}

/// Puts into `batch` the entry under `k` with `used` added; returns it before and after.
fn add(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    k: [u8; 17],
    used: Used,
) -> Result<(Used, Used), StoreError> {
    let old = match tree.get(k)? {
        Some(v) => Used::decode(&v)?,
        None => Used::default(),
    };
    let mut sum = old;
    sum.add(used);
    batch.insert(&k, &sum.encode());
    Ok((old, sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::tests::live_session;
    use crate::store::{CredentialRecord, PrincipalKind, PrincipalRecord, StoredEnv, StoredKind};
    use keyward_protocol::token::TokenHash;

    /// A store with one principal holding a session and an API-token credential.
    fn store_with_two(dir: &std::path::Path) -> (Store, Uuid, Found, Found) {
        let store = Store::open(dir).unwrap();
        let owner = PrincipalRecord {
            id: Uuid::new_v4(),
            kind: PrincipalKind::Client,
            env: StoredEnv::Live,
            label: None,
            scopes: Vec::new(),
            max_sessions: None,
            created_at: 0,
            external_id: None,
            meta: Vec::new(),
        };
        assert!(store.insert_principal(&owner).unwrap());
        let session_hash: TokenHash = [5u8; 32];
        let session = live_session(crate::store::session_id(&session_hash), owner.id);
        store.insert_credential(&session_hash, &session).unwrap();
        let token = CredentialRecord {
            kind: StoredKind::ApiToken,
            expires_at: None,
            max_expires_at: None,
            ..live_session(Uuid::new_v4(), owner.id)
        };
        store.insert_credential(&[7u8; 32], &token).unwrap();
        store.checkpoint().unwrap();
        let session = store.credential_by_id(session.id).unwrap().unwrap();
        let token = store.credential_by_id(token.id).unwrap().unwrap();
        (store, owner.id, session, token)
    }

    /// A fold takes at most [`FOLD_SLICE`] credentials' counts and leaves the rest noted for
    /// the next; folding them all (as a clean stop does) reaches every total exactly.
    #[test]
    fn a_fold_takes_a_bounded_slice() {
        let dir = tempfile::tempdir().unwrap();
        let (store, owner, _, _) = store_with_two(dir.path());
        let n = FOLD_SLICE + 500;
        for i in 0..n as u64 {
            let mut hash: TokenHash = [9u8; 32];
            hash[..8].copy_from_slice(&i.to_be_bytes());
            let session = live_session(crate::store::session_id(&hash), owner);
            store.insert_credential(&hash, &session).unwrap();
            let found = store.credential_by_id(session.id).unwrap().unwrap();
            store.count_use(&found, 100);
        }
        store.fold_usage().unwrap();
        assert_eq!(
            store.principal_usage(owner).unwrap().uses,
            FOLD_SLICE as u64
        );
        store.fold_all_usage().unwrap();
        assert_eq!(store.principal_usage(owner).unwrap().uses, n as u64);
    }

    /// Uses counted in memory reach the tree only at a fold, add up across folds and go to the
    /// principal's total too; a fold with nothing counted writes nothing.
    #[test]
    fn folds_add_up_and_idle_folds_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, owner, session, token) = store_with_two(dir.path());
        for (found, at) in [(&token, 10), (&token, 20), (&session, 12)] {
            store.count_use(found, at);
        }
        assert_eq!(
            store.read_usage(key(CREDENTIAL, token.record.id)).unwrap(),
            Used::default()
        );
        assert_eq!(
            store.credential_usage(token.record.id).unwrap().uses,
            2,
            "pending is shown"
        );
        assert_eq!(store.credential_usage(session.record.id).unwrap().uses, 1);
        assert_eq!(store.principal_usage(owner).unwrap(), Used::default());
        let ids = [token.record.id, session.record.id];
        assert_eq!(store.principal_usage_now(owner, ids).unwrap().uses, 3);
        store.fold_usage().unwrap();
        store.count_use(&token, 15);
        store.fold_usage().unwrap();
        let three = Used {
            uses: 3,
            last_used_at: Some(20),
        };
        assert_eq!(
            store.read_usage(key(CREDENTIAL, token.record.id)).unwrap(),
            three
        );
        assert_eq!(store.credential_usage(token.record.id).unwrap(), three);
        let session_used = Used {
            uses: 1,
            last_used_at: Some(12),
        };
        assert_eq!(
            store.credential_usage(session.record.id).unwrap(),
            session_used
        );
        let four = Used {
            uses: 4,
            last_used_at: Some(20),
        };
        assert_eq!(store.principal_usage(owner).unwrap(), four);
        assert_eq!(store.principal_usage_now(owner, ids).unwrap(), four);
        store.checkpoint().unwrap();
        store.fold_usage().unwrap();
        assert!(
            !store.inner.sled.is_dirty(),
            "a fold with nothing counted wrote"
        );
        assert_eq!(Used::decode(&three.encode()).unwrap(), three);
    }

    /// A credential revoked before its uses were folded still adds them to its principal's
    /// total, and its own entry is collected by a later fold.
    #[test]
    fn uses_outlive_their_credential_in_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let (store, owner, session, token) = store_with_two(dir.path());
        store.count_use(&session, 30);
        store.fold_usage().unwrap();
        store.count_use(&session, 40);
        store.count_use(&token, 35);
        assert!(store.remove_credential(&session).unwrap());
        assert!(store.remove_credential(&token).unwrap());
        assert_eq!(
            store.credential_usage(token.record.id).unwrap(),
            Used::default()
        );
        store.fold_usage().unwrap();
        let total = Used {
            uses: 3,
            last_used_at: Some(40),
        };
        assert_eq!(store.principal_usage(owner).unwrap(), total);
        assert_eq!(
            store.credential_usage(session.record.id).unwrap(),
            Used::default()
        );
        assert_eq!(
            store.engine().unwrap().usage.len(),
            1,
            "only the principal's entry stays"
        );
    }
}
