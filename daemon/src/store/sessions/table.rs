//! The in-memory session table: every session the journal holds, by id, with each owner's
//! session ids.
//!
//! A session's id is derived from its token hash ([`session_id`]), so one map serves both a
//! verify (which knows the hash) and a revoke (which knows the id). Sessions that came from an
//! older layout, whose ids were random, are found through the small `legacy` map instead.
//!
//! The maps are sharded ([`DashMap`]): a verify locks one shard for reading, so verifies never
//! wait for each other, and a write holds one shard for a few hundred nanoseconds. A slide
//! (the one write on the verify path) needs only the read lock: the expiry and last use are
//! atomics. So a slide does not wait for a scan of its shard (the sweep's, a backup's), which
//! holds the read lock for about a millisecond per shard at a million sessions; a write that
//! does (an issue or a removal) waits at most that long.
//!
//! The owner index is built after replay, on its own thread, while the daemon already serves
//! verifies: it is a third of the start-up work and only management calls read it. They wait
//! for it ([`Table::of_owner`]). Changes made meanwhile update it as usual; the builder pushes
//! each session while holding its shard's read lock, so a concurrent removal either comes
//! after the push (and undoes it) or before the builder sees the session at all.

use dashmap::DashMap;
use keyward_protocol::token::TokenHash;
use keyward_protocol::UnixMillis;
use sha2::{Digest, Sha256};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex};
use uuid::Uuid;

use super::change::Issued;
use crate::store::records::StoredEnv;

type Hasher = foldhash::fast::RandomState;
type Map<K, V> = DashMap<K, V, Hasher>;

/// One owner's session ids. Most owners hold one or two sessions, which stay inline: no
/// allocation when they are issued and none to free when they end, and less memory than a
/// `Vec` and its heap block.
type OwnerIds = SmallVec<[Uuid; 2]>;

/// The stored last use of a session never used.
const NEVER_USED: UnixMillis = UnixMillis::MIN;

/// Shards of the session map. A scan (the sweep's, a backup's) holds one shard's read lock at a
/// time, which stalls writes to that shard: at a million sessions a shard of 64 takes about a
/// millisecond to scan, where dashmap's default of four per core took ten.
const SHARDS: usize = 64;

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

/// What is known of a session's owner's scopes, so that a verify of a session whose owner has
/// none need not look them up. Learnt from the first lookup, and reset by a scope change under
/// the owner's guard (see `Sessions::set_owner_scopes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum OwnerScopes {
    Unknown = 0,
    None = 1,
    Some = 2,
}

impl OwnerScopes {
    /// What `owner` is known to hold: `None` means neither scopes nor an identity, so a verify
    /// has nothing to look up.
    pub(crate) fn of(owner: &super::Owner) -> OwnerScopes {
        if owner.scopes.is_empty() && owner.identity.is_none() {
            OwnerScopes::None
        } else {
            OwnerScopes::Some
        }
    }

    fn from_u8(v: u8) -> OwnerScopes {
        match v {
            1 => OwnerScopes::None,
            2 => OwnerScopes::Some,
            _ => OwnerScopes::Unknown,
        }
    }
}

/// One session in memory.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub hash: TokenHash,
    pub owner: Uuid,
    pub env: StoredEnv,
    /// Whether the id is not derived from the hash (see [`session_id`]).
    pub legacy_id: bool,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
    pub expires_at: UnixMillis,
    pub max_expires_at: UnixMillis,
    /// Not persisted: a loaded or new session starts at [`OwnerScopes::Unknown`].
    pub owner_scopes: OwnerScopes,
}

/// A session as the map holds it. The fields a slide changes are atomics, so a slide takes
/// only its shard's read lock.
#[derive(Debug)]
struct Stored {
    hash: TokenHash,
    owner: Uuid,
    env: StoredEnv,
    legacy_id: bool,
    created_at: UnixMillis,
    max_expires_at: UnixMillis,
    /// Only ever moves forward while the session is in the map (a slide moves it by at least
    /// one millisecond), so a compare-and-swap on it alone tells a slide whether another one
    /// came first.
    expires_at: AtomicI64,
    /// The last use, or [`NEVER_USED`]. A slide writes it just after `expires_at`, so a reader
    /// without the write lock may see a new expiry with the previous last use, or the reverse;
    /// every counted use moves it forward too.
    last_used_at: AtomicI64,
    /// An [`OwnerScopes`], learnt under the read lock (it fits in the struct's padding).
    owner_scopes: AtomicU8,
    /// Successful verifies since the last usage fold took them (see `store::usage`): a verify
    /// adds one under the read lock, a fold swaps in zero. Also in the padding.
    pending_uses: AtomicU32,
}

// A session's memory is target 6 of issue #3: the owner-scopes hint and the pending uses must
// stay in padding.
const _: () = assert!(std::mem::size_of::<Stored>() == 88);

impl Stored {
    fn new(s: Session) -> Stored {
        Stored {
            hash: s.hash,
            owner: s.owner,
            env: s.env,
            legacy_id: s.legacy_id,
            created_at: s.created_at,
            max_expires_at: s.max_expires_at,
            expires_at: AtomicI64::new(s.expires_at),
            last_used_at: AtomicI64::new(s.last_used_at.unwrap_or(NEVER_USED)),
            owner_scopes: AtomicU8::new(s.owner_scopes as u8),
            pending_uses: AtomicU32::new(0),
        }
    }

    fn expires_at(&self) -> UnixMillis {
        self.expires_at.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> Session {
        let expires_at = self.expires_at();
        let last_used_at = self.last_used_at.load(Ordering::Acquire);
        Session {
            hash: self.hash,
            owner: self.owner,
            env: self.env,
            legacy_id: self.legacy_id,
            created_at: self.created_at,
            last_used_at: (last_used_at != NEVER_USED).then_some(last_used_at),
            expires_at,
            max_expires_at: self.max_expires_at,
            owner_scopes: OwnerScopes::from_u8(self.owner_scopes.load(Ordering::Relaxed)),
        }
    }
}

impl Session {
    /// The journal record that recreates it (the last use is carried by a slide).
    pub fn issued(&self, id: Uuid) -> Issued {
        Issued {
            hash: self.hash,
            id,
            owner: self.owner,
            env: self.env,
            legacy_id: self.legacy_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            max_expires_at: self.max_expires_at,
        }
    }
}

/// Every session, with indexes by owner and (for old ids) by hash.
#[derive(Debug)]
pub(super) struct Table {
    sessions: Map<Uuid, Stored>,
    /// Each owner's session ids, unordered. A list, not a set: owners hold a handful of
    /// sessions, and a million small sets cost a third of start-up. A replayed duplicate may
    /// appear twice; readers de-duplicate and skip ids that are gone.
    owners: Map<Uuid, OwnerIds>,
    legacy: Map<TokenHash, Uuid>,
    /// How many sessions `sessions` holds, kept by each insert and removal so that `stats`
    /// reads one counter (dashmap's `len` takes every shard's lock). Replay leaves it alone
    /// and [`Table::recount`] sets it once replay is done, so replay's two threads do not
    /// share its cache line.
    held: AtomicU64,
    /// Whether `legacy` has ever held an entry. Asking `legacy` itself takes the read lock of
    /// each of its shards, which was a fifth of the cost of a sweep's removals.
    any_legacy: AtomicBool,
    /// Whether `owners` covers every session yet.
    owners_built: Mutex<bool>,
    owners_ready: Condvar,
}

impl Default for Table {
    fn default() -> Table {
        Table::with_capacity(0)
    }
}

impl Table {
    /// A table with room for about `sessions` sessions, so loading them never rehashes.
    pub fn with_capacity(sessions: usize) -> Table {
        Table {
            sessions: Map::with_capacity_and_hasher_and_shard_amount(
                sessions,
                Hasher::default(),
                SHARDS,
            ),
            owners: Map::with_hasher_and_shard_amount(Hasher::default(), SHARDS),
            legacy: Map::default(),
            held: AtomicU64::new(0),
            any_legacy: AtomicBool::new(false),
            owners_built: Mutex::new(false),
            owners_ready: Condvar::new(),
        }
    }

    /// Adds a session without indexing its owner or counting it: replay, before
    /// [`Table::index_owners`] and [`Table::recount`]. Returns whether it is new.
    pub fn insert_unindexed(&self, id: Uuid, session: Session) -> bool {
        if session.legacy_id {
            self.any_legacy.store(true, Ordering::Relaxed);
            self.legacy.insert(session.hash, id);
        }
        self.sessions.insert(id, Stored::new(session)).is_none()
    }

    /// Sets the count of sessions from the map itself: once, after replay.
    pub fn recount(&self) {
        self.held
            .store(self.sessions.len() as u64, Ordering::Relaxed);
    }

    /// Files every session under its owner, then lets readers of the owner index go on.
    pub fn index_owners(&self) {
        for s in self.sessions.iter() {
            self.owners.entry(s.owner).or_default().push(*s.key());
        }
        self.owners_indexed();
    }

    /// Marks the owner index complete and wakes its readers.
    pub fn owners_indexed(&self) {
        *self.owners_built.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.owners_ready.notify_all();
    }

    /// Adds (or replaces) a session.
    pub fn insert(&self, id: Uuid, session: Session) {
        self.owners.entry(session.owner).or_default().push(id);
        if self.insert_unindexed(id, session) {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Which of `parts` disjoint parts of the table holds `id`: threads that each take one
    /// part never contend for a lock of the session map.
    pub fn part_of(&self, id: Uuid, parts: usize) -> usize {
        self.sessions.determine_map(&id) % parts
    }

    /// The session with this id.
    pub fn get(&self, id: Uuid) -> Option<Session> {
        self.sessions.get(&id).map(|s| s.snapshot())
    }

    /// The session whose token hashes to `hash`, with its id.
    pub fn find(&self, hash: &TokenHash) -> Option<(Uuid, Session)> {
        let id = session_id(hash);
        if let Some(s) = self.sessions.get(&id) {
            if s.hash == *hash {
                return Some((id, s.snapshot()));
            }
        }
        if !self.any_legacy.load(Ordering::Relaxed) {
            return None;
        }
        let id = *self.legacy.get(hash)?;
        self.get(id).map(|s| (id, s))
    }

    /// Counts a successful verify of session `id` at `at`, and makes `at` its last use in
    /// memory (a slide's journal record, or a compaction, persists it). Returns whether it is
    /// the first use since the last [`Table::take_uses`], so the caller notes the id for the
    /// next fold. Saturates rather than wraps: a count may fall short, never come out too high.
    pub fn count_use(&self, id: Uuid, at: UnixMillis) -> bool {
        let Some(s) = self.sessions.get(&id) else {
            return false;
        };
        // A load first: most verifies of a busy session land in a millisecond already stored.
        if s.last_used_at.load(Ordering::Relaxed) < at {
            s.last_used_at.fetch_max(at, Ordering::Release);
        }
        let before = s
            .pending_uses
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .unwrap_or(u32::MAX);
        before == 0
    }

    /// The uses of session `id` since the last [`Table::take_uses`], and its last use.
    pub fn pending_uses(&self, id: Uuid) -> Option<(u32, Option<UnixMillis>)> {
        let s = self.sessions.get(&id)?;
        let last = s.last_used_at.load(Ordering::Acquire);
        Some((
            s.pending_uses.load(Ordering::Relaxed),
            (last != NEVER_USED).then_some(last),
        ))
    }

    /// Takes session `id`'s uses since the last take, with its owner and its last use.
    pub fn take_uses(&self, id: Uuid) -> Option<(u32, Uuid, Option<UnixMillis>)> {
        let s = self.sessions.get(&id)?;
        let n = s.pending_uses.swap(0, Ordering::Relaxed);
        let last = s.last_used_at.load(Ordering::Acquire);
        Some((n, s.owner, (last != NEVER_USED).then_some(last)))
    }

    /// Records what the owner's scopes of session `id` turned out to be.
    pub fn learn_owner_scopes(&self, id: Uuid, scopes: OwnerScopes) {
        if let Some(s) = self.sessions.get(&id) {
            s.owner_scopes.store(scopes as u8, Ordering::Relaxed);
        }
    }

    /// Moves a session's expiry from `expected` to `expires_at` and records the use, unless
    /// another slide or a removal came first; returns whether it did. Takes the shard's read
    /// lock only. An expiry that would not move forward is refused: the compare-and-swap is
    /// sound only because expiries never go back.
    pub fn slide(
        &self,
        id: Uuid,
        expected: UnixMillis,
        expires_at: UnixMillis,
        last_used_at: UnixMillis,
    ) -> bool {
        if expires_at <= expected {
            return false;
        }
        let Some(s) = self.sessions.get(&id) else {
            return false;
        };
        let moved = s
            .expires_at
            .compare_exchange(expected, expires_at, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if moved {
            s.last_used_at.fetch_max(last_used_at, Ordering::Release);
        }
        moved
    }

    /// Sets a session's expiry and last use unconditionally (replay).
    pub fn set(&self, id: Uuid, expires_at: UnixMillis, last_used_at: UnixMillis) {
        if let Some(s) = self.sessions.get(&id) {
            s.expires_at.store(expires_at, Ordering::Release);
            s.last_used_at.store(last_used_at, Ordering::Release);
        }
    }

    /// Removes a session; returns it if it was there.
    #[cfg(test)]
    pub fn remove(&self, id: Uuid) -> Option<Session> {
        self.remove_if(id, |_| true)
    }

    /// Removes a session without counting it: replay, before [`Table::recount`].
    pub fn remove_uncounted(&self, id: Uuid) {
        self.take_if(id, |_| true);
    }

    /// Removes a session if `keep_going` says so, deciding under the shard's lock.
    pub fn remove_if(
        &self,
        id: Uuid,
        keep_going: impl FnOnce(&Session) -> bool,
    ) -> Option<Session> {
        self.remove_if_with_uses(id, keep_going).map(|(s, _)| s)
    }

    /// [`Table::remove_if`], also giving the uses not yet taken (see [`Table::take_uses`]).
    pub fn remove_if_with_uses(
        &self,
        id: Uuid,
        keep_going: impl FnOnce(&Session) -> bool,
    ) -> Option<(Session, u32)> {
        let taken = self.take_if(id, keep_going)?;
        self.held.fetch_sub(1, Ordering::Relaxed);
        Some(taken)
    }

    fn take_if(
        &self,
        id: Uuid,
        keep_going: impl FnOnce(&Session) -> bool,
    ) -> Option<(Session, u32)> {
        // Under the write lock no slide is half done, so the snapshot is consistent.
        let (_, stored) = self
            .sessions
            .remove_if(&id, |_, s| keep_going(&s.snapshot()))?;
        let session = stored.snapshot();
        let uses = stored.pending_uses.load(Ordering::Relaxed);
        self.owners.remove_if_mut(&session.owner, |_, ids| {
            if let Some(at) = ids.iter().position(|&i| i == id) {
                ids.swap_remove(at);
            }
            shrink(ids);
            ids.is_empty()
        });
        if self.any_legacy.load(Ordering::Relaxed) {
            self.legacy.remove(&session.hash);
        }
        Some((session, uses))
    }

    /// Whether the owner index is complete, so [`Table::of_owner`] will not wait.
    pub fn owners_ready(&self) -> bool {
        *self.owners_built.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sessions of `owner`. Waits for the owner index if it is still being built.
    pub fn of_owner(&self, owner: Uuid) -> Vec<(Uuid, Session)> {
        let built = self.owners_built.lock().unwrap_or_else(|p| p.into_inner());
        drop(
            self.owners_ready
                .wait_while(built, |built| !*built)
                .unwrap_or_else(|p| p.into_inner()),
        );
        let mut ids: Vec<Uuid> = match self.owners.get(&owner) {
            Some(ids) => ids.to_vec(),
            None => return Vec::new(),
        };
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| self.get(id).map(|s| (id, s)))
            .filter(|(_, s)| s.owner == owner)
            .collect()
    }

    /// The ids of sessions expired at `now`.
    pub fn expired(&self, now: UnixMillis) -> Vec<Uuid> {
        let mut ids = Vec::new();
        self.scan(|id, s| {
            if s.expires_at() <= now {
                ids.push(*id);
            }
        });
        ids
    }

    /// Calls `f` with every session. Holds one shard's read lock at a time.
    pub fn for_each(&self, mut f: impl FnMut(Uuid, &Session)) {
        self.scan(|id, s| f(*id, &s.snapshot()));
    }

    /// Calls `f` with every stored session, one shard at a time under that shard's read lock.
    ///
    /// dashmap's own iterator clones and drops an `Arc` of the shard's guard for every entry;
    /// at a million sessions that was most of a sweep's listing (50 ms of CPU on a thread that
    /// competes with the event loop). Walking each locked shard's table directly costs none
    /// of it.
    fn scan(&self, mut f: impl FnMut(&Uuid, &Stored)) {
        for shard in self.sessions.shards() {
            let table = shard.read();
            // SAFETY: the read guard `table` keeps the table alive and unchanged for as long
            // as the iterator and its buckets are used, which is this loop.
            for bucket in unsafe { table.iter() } {
                // SAFETY: the bucket comes from the iterator above, under the same read guard,
                // so it points at a live entry nobody changes meanwhile. `f` borrows the
                // references only for one call (its signature lets none of them escape).
                let (id, stored) = unsafe { bucket.as_ref() };
                f(id, stored.get());
            }
        }
    }

    /// How many sessions it holds (expired or not). One counter read.
    pub fn len(&self) -> usize {
        // A removal that raced an insert's count may wrap it below zero for a moment.
        let held = self.held.load(Ordering::Relaxed);
        usize::try_from(i64::try_from(held).unwrap_or(0)).unwrap_or(usize::MAX)
    }
}

/// Gives back most of an owner's list once it holds a quarter of its capacity (moving it
/// inline when it fits), so a list's memory follows the owner's current sessions, not the
/// most it ever had. Without this, a 30-minute soak's owner lists grew by 4.5 MB as each
/// owner's session count wandered to new highs (RELIABILITY.md). Shrinking only at a quarter
/// keeps a push and a pop at the boundary from reallocating each time.
fn shrink(ids: &mut OwnerIds) {
    if ids.spilled() && ids.len() <= ids.capacity() / 4 {
        ids.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn session(expires_at: UnixMillis) -> (Uuid, Session) {
        let hash = [7; 32];
        let session = Session {
            hash,
            owner: Uuid::from_u128(1),
            env: StoredEnv::Live,
            legacy_id: false,
            created_at: 0,
            last_used_at: None,
            expires_at,
            max_expires_at: expires_at * 10,
            owner_scopes: OwnerScopes::Unknown,
        };
        (session_id(&hash), session)
    }

    /// A slide succeeds only from the expiry it expects, and then records the use.
    #[test]
    fn slide_is_a_compare_and_swap_on_the_expiry() {
        let table = Table::default();
        let (id, s) = session(100);
        table.insert(id, s);
        assert!(!table.slide(id, 99, 200, 50), "stale expectation");
        assert!(table.slide(id, 100, 200, 50));
        assert!(
            !table.slide(id, 100, 300, 60),
            "a second slide from the same read loses"
        );
        let now = table.get(id).unwrap();
        assert_eq!((now.expires_at, now.last_used_at), (200, Some(50)));
        assert!(table.remove(id).is_some());
        assert!(
            !table.slide(id, 200, 300, 60),
            "nothing to slide once removed"
        );
    }

    /// An owner's list shrinks as its sessions end, rather than keep its largest size.
    #[test]
    fn owner_lists_shrink_with_their_sessions() {
        let table = Table::default();
        table.owners_indexed();
        let owner = Uuid::from_u128(1);
        let ids: Vec<Uuid> = (0..256u32)
            .map(|n| {
                let hash = [
                    n.to_le_bytes(),
                    [0; 4],
                    [0; 4],
                    [0; 4],
                    [0; 4],
                    [0; 4],
                    [0; 4],
                    [9; 4],
                ]
                .concat()
                .try_into()
                .unwrap();
                let (_, mut s) = session(100);
                s.hash = hash;
                let id = session_id(&hash);
                table.insert(id, s);
                id
            })
            .collect();
        let capacity = || table.owners.get(&owner).map(|ids| ids.capacity());
        assert!(capacity().unwrap() >= 256);
        for id in &ids[..250] {
            table.remove(*id).unwrap();
        }
        assert!(
            capacity().unwrap() <= 4 * 6,
            "capacity {:?} for 6 ids",
            capacity()
        );
        assert_eq!(table.of_owner(owner).len(), 6);
        for id in &ids[250..] {
            table.remove(*id).unwrap();
        }
        assert_eq!(capacity(), None, "an owner with no sessions has no list");
    }

    /// A slide does not wait for a scan that holds its shard's read lock (a sweep's, a
    /// backup's), which at a million sessions takes about a millisecond per shard.
    #[test]
    fn slide_does_not_wait_for_a_scan() {
        let table = Table::default();
        let (id, s) = session(100);
        table.insert(id, s);
        let (scanning, scan_started) = mpsc::channel();
        let (slid, slide_done) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let table = &table;
            let scanner = scope.spawn(move || {
                let mut waited = None;
                table.for_each(|_, _| {
                    scanning.send(()).unwrap();
                    // Holds the shard's read lock until the slide is done (or gives up).
                    waited = Some(slide_done.recv_timeout(Duration::from_secs(10)));
                });
                waited
            });
            scan_started.recv().unwrap();
            assert!(table.slide(id, 100, 200, 50));
            slid.send(()).unwrap();
            let waited = scanner.join().unwrap();
            assert_eq!(waited, Some(Ok(())), "the slide waited for the scan to end");
        });
    }
}
