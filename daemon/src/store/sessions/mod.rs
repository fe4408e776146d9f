//! Sessions: held in memory, persisted in an append-only journal beside sled.
//!
//! Sessions are most of what keyward stores and nearly all of its churn: each one is issued,
//! verified many times, and then logged out or swept. sled costs tens of microseconds of CPU
//! per key deleted and amplifies space several times, so a million sessions took minutes to
//! sweep and seconds to open. Here a verify is one lookup in a sharded in-memory map, a sweep
//! is a scan of that map plus one journal record per session, and start-up replays a file read
//! in one go. Everything long-lived (admin keys, principals, test keys, API tokens, the audit
//! log) stays in sled.
//!
//! Durability matches sled's side of the store: changes queue in the journal and
//! [`Sessions::write_queued`] with `sync` makes them durable; [`crate::store::Store::flush`] does
//! both stores at once before anything is acknowledged. The journal also carries audit
//! entries until the audit log has synced them in its own files (see
//! [`Sessions::append_audit`]).

mod change;
mod journal;
mod table;

pub(crate) use table::session_id;

use change::{Change, Issued};
use dashmap::DashMap;
use journal::Journal;
pub(crate) use journal::{CarriedAudit, JOURNAL, STATE as JOURNAL_STATE};
use keyward_protocol::token::TokenHash;
use keyward_protocol::UnixMillis;
use std::path::Path;
use std::sync::Arc;
pub(crate) use table::OwnerScopes;

use table::{Session, Table};
use uuid::Uuid;

use super::record_frame::{Position, AUDIT_KEY};
use super::records::{CredentialRecord, Identity, StoredKind, StoredLevel};
use super::StoreError;

/// A journal shorter than this is never compacted.
const COMPACT_MIN_BYTES: u64 = 64 << 20;
/// A journal is compacted once it is this many times what its live sessions need...
const COMPACT_RATIO: u64 = 4;
/// ...or, at a clean shutdown, this many times: the next start then reads less.
const COMPACT_RATIO_AT_CLOSE: u64 = 2;
/// Sessions removed per journal lock during a sweep, so verifies and issues interleave.
const SWEEP_BATCH: usize = 16;
/// Bytes a live session takes in a compacted journal (an issue record and a slide).
const LIVE_BYTES: u64 = 100 + 41;

/// An owner's scopes, shared by all of its sessions.
pub(crate) type Scopes = Vec<(String, StoredLevel)>;

/// What a verify reports of a credential's owner: its scopes, and its external id and metadata
/// behind one `Arc` that only owners with either pay for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Owner {
    pub scopes: Scopes,
    pub identity: Option<Arc<Identity>>,
}

/// The sessions of one data dir.
#[derive(Debug)]
pub(crate) struct Sessions {
    table: Arc<Table>,
    journal: Journal,
    /// Owners' scopes, external ids and metadata, read from sled on first need and replaced by
    /// an update ([`Sessions::set_owner_scopes`]); leaving them out of the journal keeps replay
    /// free of sled lookups. Scopes are held in the map itself rather than behind an `Arc`: a
    /// verify copies them out anyway, and most owners have none, which the map's own entry
    /// then answers without touching another cache line (the `Arc`'s count was a cache miss
    /// per verify, 2% of its time). The identity is behind an `Arc`, absent for most owners.
    scopes: DashMap<Uuid, Owner, foldhash::fast::RandomState>,
}

fn record_of(id: Uuid, s: &Session) -> CredentialRecord {
    CredentialRecord {
        id,
        kind: StoredKind::Session,
        env: s.env,
        owner: s.owner,
        label: None,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        expires_at: Some(s.expires_at),
        max_expires_at: Some(s.max_expires_at),
        // Filled in by the store from the owner, where a caller needs them.
        scopes: Vec::new(),
    }
}

impl Sessions {
    /// Opens the journal in `dir` and loads every session it holds.
    ///
    /// # Errors
    /// If the journal cannot be read, or is damaged.
    pub fn open(dir: &Path, fsync: bool) -> Result<Sessions, StoreError> {
        let mut table = None;
        let journal = Journal::open(dir, fsync, |records| {
            let t = table.insert(Table::with_capacity(records.max_sessions()));
            // Two threads, each applying the changes of the sessions in its half of the map's
            // shards: a session's changes stay in order, and the halves never share a lock.
            let apply_half = |half: usize| {
                let mut changes = records.changes();
                for change in &mut changes {
                    if t.part_of(id_of(&change), 2) == half {
                        apply(t, change);
                    }
                }
                changes.ended()
            };
            std::thread::scope(|scope| {
                let other = scope.spawn(|| apply_half(1));
                let scan = apply_half(0);
                other.join().expect("replay does not panic");
                scan
            })
        })?;
        let table = Arc::new(table.unwrap_or_default());
        table.recount();
        if table.len() == 0 {
            table.owners_indexed();
        } else {
            let table = Arc::clone(&table);
            std::thread::Builder::new()
                .name("keyward-owners".into())
                .spawn(move || table.index_owners())
                .map_err(StoreError::Io)?;
        }
        Ok(Sessions {
            table,
            journal,
            scopes: DashMap::default(),
        })
    }

    /// `owner`'s scopes, read with `read` on first need. With `learn`, also records in
    /// session `id` whether the owner holds any (its [`OwnerScopes`] hint).
    ///
    /// The hint is learnt under the same map guard that [`Sessions::set_owner_scopes`] holds
    /// while it changes the scopes and resets the hints, and a value read from sled only fills
    /// an empty entry: so neither a stale hint nor a stale copy outlives a scope change.
    ///
    /// # Errors
    /// What `read` returns.
    pub fn owner_scopes(
        &self,
        id: Uuid,
        owner: Uuid,
        learn: bool,
        read: impl FnOnce() -> Result<Owner, StoreError>,
    ) -> Result<Owner, StoreError> {
        self.owner_with(owner, read, |known| {
            if learn {
                self.table.learn_owner_scopes(id, OwnerScopes::of(known));
            }
            known.clone()
        })
    }

    /// `owner`'s external id and metadata, read with `read` on first need: what a sled
    /// credential (whose record carries the scopes) adds from the cache.
    ///
    /// # Errors
    /// What `read` returns.
    pub fn owner_identity(
        &self,
        owner: Uuid,
        read: impl FnOnce() -> Result<Owner, StoreError>,
    ) -> Result<Option<Arc<Identity>>, StoreError> {
        self.owner_with(owner, read, |known| known.identity.clone())
    }

    /// `f` of what is cached of `owner`, filling an empty entry with `read` first.
    fn owner_with<T>(
        &self,
        owner: Uuid,
        read: impl FnOnce() -> Result<Owner, StoreError>,
        f: impl FnOnce(&Owner) -> T,
    ) -> Result<T, StoreError> {
        if let Some(known) = self.scopes.get(&owner) {
            return Ok(f(&known));
        }
        let read = read()?;
        let known = self.scopes.entry(owner).or_insert(read);
        Ok(f(&known))
    }

    /// Replaces what is cached of `owner` (already written to sled) and the hint of each of
    /// its sessions, so the next verify of any of them sees the change.
    pub fn set_owner_scopes(&self, owner: Uuid, scopes: Owner) {
        // Listed before the guard: waiting for the owner index must not hold verifies of
        // other owners up. A session issued meanwhile starts with an unknown hint.
        let ids: Vec<Uuid> = self
            .table
            .of_owner(owner)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let hint = OwnerScopes::of(&scopes);
        let mut entry = self.scopes.entry(owner).or_default();
        *entry = scopes;
        for id in ids {
            self.table.learn_owner_scopes(id, hint);
        }
        drop(entry);
    }

    /// The session whose token hashes to `hash`.
    #[cfg(test)]
    pub fn find(&self, hash: &TokenHash) -> Option<CredentialRecord> {
        self.find_with_owner_scopes(hash).map(|(record, _)| record)
    }

    /// The session whose token hashes to `hash` (its record without scopes), and what is known
    /// of its owner's scopes.
    pub fn find_with_owner_scopes(
        &self,
        hash: &TokenHash,
    ) -> Option<(CredentialRecord, OwnerScopes)> {
        self.table
            .find(hash)
            .map(|(id, s)| (record_of(id, &s), s.owner_scopes))
    }

    /// Counts a successful verify of session `id` at `at`; true if it is the first since the
    /// last [`Sessions::take_uses`].
    pub fn count_use(&self, id: Uuid, at: UnixMillis) -> bool {
        self.table.count_use(id, at)
    }

    /// Session `id`'s uses not yet taken, and its last use.
    pub fn pending_uses(&self, id: Uuid) -> Option<(u32, Option<UnixMillis>)> {
        self.table.pending_uses(id)
    }

    /// Takes session `id`'s uses since the last take: how many, its owner, its last slide.
    pub fn take_uses(&self, id: Uuid) -> Option<(u32, Uuid, Option<UnixMillis>)> {
        self.table.take_uses(id)
    }

    /// The session with id `id`, and its token hash.
    pub fn by_id(&self, id: Uuid) -> Option<(TokenHash, CredentialRecord)> {
        self.table.get(id).map(|s| (s.hash, record_of(id, &s)))
    }

    /// Adds a session (queued; see [`Sessions::write_queued`]).
    pub fn insert(&self, hash: &TokenHash, record: &CredentialRecord) {
        let (Some(expires_at), Some(max_expires_at)) = (record.expires_at, record.max_expires_at)
        else {
            unreachable!("sessions always expire");
        };
        let issued = Issued {
            hash: *hash,
            id: record.id,
            owner: record.owner,
            env: record.env,
            legacy_id: session_id(hash) != record.id,
            created_at: record.created_at,
            expires_at,
            max_expires_at,
        };
        let session = session_of(&issued, record.last_used_at);
        self.journal.append(&Change::Issue(issued), || {
            self.table.insert(record.id, session);
            true
        });
        if let Some(last_used_at) = record.last_used_at {
            self.journal.append(
                &Change::Slide {
                    id: record.id,
                    expires_at,
                    last_used_at,
                },
                || true,
            );
        }
    }

    /// Moves a session's expiry and last use from `old`'s to `new`'s, if `old` is still
    /// current. Returns whether it did.
    pub fn replace(&self, old: &CredentialRecord, new: &CredentialRecord) -> bool {
        let (Some(old_at), Some(expires_at), Some(last_used_at)) =
            (old.expires_at, new.expires_at, new.last_used_at)
        else {
            return false;
        };
        let change = Change::Slide {
            id: old.id,
            expires_at,
            last_used_at,
        };
        self.journal.append(&change, || {
            self.table.slide(old.id, old_at, expires_at, last_used_at)
        })
    }

    /// Ends a session. Returns whether it was there (and unchanged since `record` was read).
    pub fn remove(&self, record: &CredentialRecord) -> bool {
        self.journal.append(&Change::End { id: record.id }, || {
            self.table
                // Not the last use, which every counted verify moves (see `Table::count_use`).
                .remove_if(record.id, |s| Some(s.expires_at) == record.expires_at)
                .is_some()
        })
    }

    /// Whether the owner index is built: until then, a caller of [`Sessions::of_owner`] waits
    /// (for up to about a second after opening a million sessions).
    pub fn owners_ready(&self) -> bool {
        self.table.owners_ready()
    }

    /// The sessions of `owner`, with their token hashes.
    pub fn of_owner(&self, owner: Uuid) -> Vec<(TokenHash, CredentialRecord)> {
        self.table
            .of_owner(owner)
            .into_iter()
            .map(|(id, s)| (s.hash, record_of(id, &s)))
            .collect()
    }

    /// Calls `f` with every session. `f` must not call back into the sessions.
    pub fn for_each(&self, mut f: impl FnMut(&TokenHash, CredentialRecord)) {
        self.table.for_each(|id, s| f(&s.hash, record_of(id, s)));
    }

    /// Sessions held, live or not yet swept.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The ids of the sessions expired at `now`, in table order. Takes one shard's read lock
    /// at a time, so it never holds up a verify.
    pub fn expired(&self, now: UnixMillis) -> Vec<Uuid> {
        self.table.expired(now)
    }

    /// Ends those of `ids` that are still expired at `now`; returns how many. The end records
    /// are queued, not synced: an expired session never verifies anyway.
    /// A swept session's uses not yet taken go to `retire`, with its owner and last use.
    pub fn sweep(
        &self,
        ids: &[Uuid],
        now: UnixMillis,
        mut retire: impl FnMut(Uuid, u32, Option<UnixMillis>),
    ) -> u64 {
        let mut swept = 0;
        for batch in ids.chunks(SWEEP_BATCH) {
            self.journal.append_all(batch.iter().map(|&id| {
                // Decided again under the lock: a backward clock jump may have let a verify
                // slide it since it was listed.
                let removed = match self.table.remove_if_with_uses(id, |s| s.expires_at <= now) {
                    Some((s, uses)) => {
                        if uses > 0 {
                            retire(s.owner, uses, s.last_used_at);
                        }
                        true
                    }
                    None => false,
                };
                swept += u64::from(removed);
                (Change::End { id }, removed)
            }));
        }
        swept
    }

    /// Writes queued changes to the journal; with `sync`, makes them durable.
    ///
    /// # Errors
    /// If the write fails; the changes stay queued.
    pub fn write_queued(&self, sync: bool) -> Result<(), StoreError> {
        self.journal.write_queued(sync)
    }

    /// Writes queued changes to the journal and syncs it (the background writer's call).
    ///
    /// # Errors
    /// If the write or the sync fails; unwritten changes stay queued.
    pub fn write_and_sync(&self) -> Result<(), StoreError> {
        self.journal.write_and_sync()
    }

    /// Queues an audit entry (at most [`super::record_frame::MAX_AUDIT_ENTRY`] bytes), to be
    /// durable with the next sync.
    pub fn append_audit(&self, key: &[u8; AUDIT_KEY], entry: &[u8]) {
        self.journal.append_audit(key, entry);
    }

    /// Where the next queued record will go.
    pub fn position(&self) -> Position {
        self.journal.position()
    }

    /// The audit entries in the journal at or after `from`.
    ///
    /// # Errors
    /// If the journal cannot be read.
    pub fn audits_from(&self, from: Position) -> Result<Vec<CarriedAudit>, StoreError> {
        self.journal.audits_from(from)
    }

    /// Whether the journal has grown well past what its live sessions need; `at_close`, a
    /// little past (see [`COMPACT_RATIO_AT_CLOSE`]).
    pub fn compaction_due(&self, at_close: bool) -> bool {
        let ratio = if at_close {
            COMPACT_RATIO_AT_CLOSE
        } else {
            COMPACT_RATIO
        };
        compaction_due(self.journal.position().1, self.table.len() as u64, ratio)
    }

    /// Rewrites the journal to hold exactly the sessions in memory, and the audit entries
    /// from `carry_from` on.
    ///
    /// # Errors
    /// If writing the new journal fails; the old one stays.
    pub fn compact(&self, carry_from: Position) -> Result<(), StoreError> {
        self.journal.compact(carry_from, |put| {
            let mut result = Ok(());
            // Copy out each session before writing, so no shard stays locked during I/O.
            let mut batch = Vec::with_capacity(SWEEP_BATCH);
            let mut flush = |batch: &mut Vec<Change>| -> std::io::Result<()> {
                batch.drain(..).try_for_each(|c| put(&c))
            };
            self.table.for_each(|id, s| {
                batch.push(Change::Issue(s.issued(id)));
                if let Some(last_used_at) = s.last_used_at {
                    batch.push(Change::Slide {
                        id,
                        expires_at: s.expires_at,
                        last_used_at,
                    });
                }
                if batch.len() >= SWEEP_BATCH && result.is_ok() {
                    result = flush(&mut batch);
                }
            });
            result?;
            flush(&mut batch)
        })
    }
}

/// The session a change is to.
fn id_of(change: &Change) -> Uuid {
    match change {
        Change::Issue(i) => i.id,
        Change::Slide { id, .. } | Change::End { id } => *id,
    }
}

/// Applies one replayed change to the table.
fn apply(table: &Table, change: Change) {
    match change {
        Change::Issue(i) => {
            table.insert_unindexed(i.id, session_of(&i, None));
        }
        Change::Slide {
            id,
            expires_at,
            last_used_at,
        } => table.set(id, expires_at, last_used_at),
        Change::End { id } => table.remove_uncounted(id),
    }
}

fn session_of(i: &Issued, last_used_at: Option<UnixMillis>) -> Session {
    Session {
        hash: i.hash,
        owner: i.owner,
        env: i.env,
        legacy_id: i.legacy_id,
        created_at: i.created_at,
        last_used_at,
        expires_at: i.expires_at,
        max_expires_at: i.max_expires_at,
        owner_scopes: OwnerScopes::Unknown,
    }
}

/// Whether a journal of `len` bytes holding `live` sessions is `ratio` times what they need.
fn compaction_due(len: u64, live: u64, ratio: u64) -> bool {
    len >= COMPACT_MIN_BYTES && len > ratio.saturating_mul(live * LIVE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::StoredEnv;

    fn session(n: u8, expires_at: i64) -> (TokenHash, CredentialRecord) {
        let hash = [n; 32];
        let record = CredentialRecord {
            id: session_id(&hash),
            kind: StoredKind::Session,
            env: StoredEnv::Live,
            owner: Uuid::from_u128(u128::from(n % 2)),
            label: None,
            created_at: 0,
            last_used_at: None,
            expires_at: Some(expires_at),
            max_expires_at: Some(expires_at * 2),
            scopes: vec![("billing".into(), StoredLevel::Write)],
        };
        (hash, record)
    }

    fn open(dir: &Path) -> Sessions {
        Sessions::open(dir, true).unwrap()
    }

    /// What the store sees: scopes are filled from the owner.
    fn find(s: &Sessions, hash: &TokenHash) -> Option<CredentialRecord> {
        s.find(hash).map(|mut r| {
            r.scopes = vec![("billing".into(), StoredLevel::Write)];
            r
        })
    }

    /// Issue, slide, end and sweep survive a reopen exactly, through a compaction too.
    #[test]
    fn changes_survive_reopen_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let (h1, r1) = session(1, 100);
        let (h2, r2) = session(2, 100);
        let (h3, r3) = session(3, 10);
        for (h, r) in [(&h1, &r1), (&h2, &r2), (&h3, &r3)] {
            s.insert(h, r);
        }
        let mut slid = r1.clone();
        slid.expires_at = Some(150);
        slid.last_used_at = Some(50);
        assert!(s.replace(&r1, &slid));
        assert!(!s.replace(&r1, &slid), "a stale read does not slide");
        assert!(s.remove(&r2));
        assert!(!s.remove(&r2), "already gone");
        assert_eq!(s.sweep(&s.expired(20), 20, |_, _, _| {}), 1);
        s.write_queued(true).unwrap();
        drop(s);
        for round in 0..2 {
            let s = open(dir.path());
            assert_eq!(find(&s, &h1), Some(slid.clone()), "round {round}");
            assert_eq!(s.find(&h2), None);
            assert_eq!(s.find(&h3), None);
            assert_eq!(s.of_owner(Uuid::from_u128(1)).len(), 1);
            assert_eq!(s.by_id(r1.id).map(|(h, _)| h), Some(h1));
            s.compact(s.position()).unwrap();
        }
    }

    /// Sessions whose ids were not derived from their hash (older layouts) are still found.
    #[test]
    fn legacy_ids_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let (h, mut r) = session(4, 100);
        r.id = Uuid::from_u128(42);
        s.insert(&h, &r);
        assert_eq!(s.find(&h).map(|r| r.id), Some(r.id));
        assert!(s.remove(&r));
        assert_eq!(s.find(&h), None);
    }

    /// Compaction waits for real garbage, and for a journal worth the rewrite.
    #[test]
    fn compaction_threshold() {
        let r = COMPACT_RATIO;
        assert!(!compaction_due(COMPACT_MIN_BYTES - 1, 0, r));
        assert!(compaction_due(COMPACT_MIN_BYTES, 0, r));
        assert!(!compaction_due(COMPACT_MIN_BYTES, 1_000_000, r));
        assert!(compaction_due(10 * COMPACT_MIN_BYTES, 1_000, r));
        let live = COMPACT_MIN_BYTES / LIVE_BYTES;
        assert!(!compaction_due(3 * COMPACT_MIN_BYTES, live, r));
        assert!(compaction_due(
            3 * COMPACT_MIN_BYTES,
            live,
            COMPACT_RATIO_AT_CLOSE
        ));
    }
}
