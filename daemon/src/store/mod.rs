//! The store: the only code that touches sled or the session journal.
//!
//! Sessions live in memory and in an append-only journal ([`sessions`]); the audit log lives in
//! its own append-only files ([`audit_log`]); everything else lives in sled.
//! [`Store`] routes each operation to the one place that holds its data.
//! sled's trees and their keys ([`keys`]; [`TreeId`] numbers them in backups):
//! - `credentials`: token hash (32 bytes) → [`CredentialRecord`]. Verify is one lookup here.
//! - `credential_ids`: credential id (16) → token hash, for revoking and listing by id.
//! - `principals`: principal id (16) → [`PrincipalRecord`] (clients and API-token pseudo-users).
//! - `owner_index`: owner id (16) ‖ credential id (16) → empty, for a principal's credentials;
//!   admin keys are filed under the nil owner.
//! - `expiry_index`: expiry (u64 big-endian ms) ‖ credential id (16) → empty. An entry is a
//!   *lower bound*: a session that slid forward keeps its old entry, and the sweeper moves it on
//!   when it gets there. Verify therefore never touches the index.
//! - `disabled`: id (16) → when it was disabled ([`disabled`]).
//! - `api_tokens`: environment (1) ‖ principal id (16) → empty, for `api-token list`
//!   ([`api_tokens`]); derived from `principals`, and not in backups.
//! - `meta`: counters (`sweeps_run`, `credentials_swept`) and the commit generation.
//! - `audit`: empty. Data dirs from before the audit log held its entries here, keyed by time
//!   (u64 big-endian ms) ‖ entry id (16); opening one moves them into [`audit_log`].
//!
//! Sessions appear in `credentials`, `credential_ids`, `owner_index` and `expiry_index` only in
//! data dirs from before the journal (layout 1); opening one moves them into the journal
//! ([`migrate`]).
//!
//! Multi-tree changes are ordered so that the `credentials` entry is the commit point: inserts
//! write it last, removals delete it first. A crash in between leaves only index entries that
//! point nowhere, which every reader skips and the sweeper removes. Nothing here flushes except
//! [`Store::flush`]; callers flush before acknowledging a change.
//!
//! This file holds [`Store`] and the routing of credentials and principals; each other job has
//! its own file:
//! - [`durability`]: tickets, the group commit's sled side, checkpoints, the clean shutdown;
//! - [`failover`]: reopening sled after a write failure;
//! - [`audit_log`]: the audit log's files, and the store's audit calls and their recovery;
//! - [`backup`]: export and import, by [`TreeId`];
//! - [`migrate`]: moving what older layouts kept in sled;
//! - [`sweep`]: what the sweeper asks of the store;
//! - [`keys`], [`error`], [`record_frame`]: sled's keys, [`StoreError`], the records' framing.

mod api_tokens;
mod audit_log;
mod backup;
mod commit;
mod counts;
mod derived;
mod disabled;
mod durability;
mod engine;
mod error;
mod external_ids;
mod failover;
mod flusher;
mod generation;
mod keys;
mod last_used;
mod migrate;
#[cfg(feature = "etcd")]
pub(crate) mod mirror;
mod pending;
mod private_file;
mod record_frame;
mod records;
pub(crate) mod replica;
mod sessions;
mod side_file;
mod spare_buffer;
mod sweep;
mod update;
mod usage;

pub(crate) use update::Updated;

pub(crate) use audit_log::Priority as AuditPriority;
pub use backup::TreeId;
pub(crate) use commit::Ticket;
pub(crate) use counts::Tally;
pub use error::StoreError;
pub(crate) use keys::AuditKey;
pub(crate) use last_used::Place;
pub(crate) use pending::Pending;
pub(crate) use sessions::session_id;
use sessions::{OwnerScopes, Sessions};
pub(crate) use usage::{is_key as is_usage_key, Used};

use durability::SledCommits;
use engine::Engine;
use failover::{counted, open_retrying, Failover};
use keys::{expiry_key, hash_from, owner_key, uuid_from};

#[cfg(feature = "etcd")]
pub(crate) use records::encode_credential;
#[cfg(any(test, feature = "etcd"))]
pub(crate) use records::encode_principal;
pub(crate) use records::{
    decode_audit, decode_credential, decode_principal, AuditRecord, CredentialRecord, Identity,
    PrincipalKind, PrincipalRecord, StoredEnv, StoredKind, StoredOutcome,
};

use keyward_protocol::token::TokenHash;
use sled::{IVec, Transactional};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// A credential found by hash, with what a compare-and-swap needs.
pub(crate) struct Found {
    pub hash: TokenHash,
    pub record: CredentialRecord,
    raw: Raw,
    /// Its owner's external id and metadata, filled in by [`Store::credential`] for verify.
    pub identity: Option<Arc<Identity>>,
}

/// Where a found credential lives.
enum Raw {
    /// In sled, with the exact bytes read.
    Sled(IVec),
    /// In the session table; the record itself is what a change is compared against.
    Session,
}

impl Found {
    fn session(hash: TokenHash, record: CredentialRecord) -> Found {
        Found {
            hash,
            record,
            raw: Raw::Session,
            identity: None,
        }
    }
}

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Whether a commit `fdatasync`s sled's log (power-loss safe) or stops at sled's flush
    /// (safe against a process crash only).
    pub fsync: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: crate::config::DEFAULT_CACHE_MIB << 20,
            fsync: true,
        }
    }
}

/// The store: typed operations over the session table, the audit log and sled, each routed to
/// the one that holds its data. Cheap to clone: every clone is the same store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

/// What every clone of a [`Store`] shares. The flusher holds it weakly ([`flusher`]).
struct StoreInner {
    /// sled's engine, reopened after a write failure.
    failover: Failover,
    sessions: Sessions,
    committer: Arc<commit::Committer>,
    /// Whether sled needs a commit.
    sled: SledCommits,
    /// The audit log.
    audit: audit_log::AuditLog,
    /// Disabled ids, mirrored from sled's `disabled` tree.
    disabled: disabled::Disabled,
    /// What sled holds, by kind, for `stats`.
    counts: counts::Counts,
    /// Sweeps that removed nothing since the last one that did: counted in memory and
    /// persisted with the next sweep's write, so an idle daemon's sweeps write nothing.
    idle_sweeps: std::sync::atomic::AtomicU64,
    /// Uses counted since the last checkpoint.
    usage: usage::Usage,
    /// The shared truth this store copies, in a replicated backend (etcd); unset with the
    /// local one.
    replica: std::sync::OnceLock<Arc<dyn replica::Replica>>,
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        self.committer.stop();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.failover.dir())
            .finish_non_exhaustive()
    }
}

/// Deletes everything the store keeps in `dir` (sled's database, the session journal, the
/// audit log and their side files), leaving other files alone: what a forced restore clears
/// before it writes.
///
/// # Errors
/// If a file exists but cannot be deleted.
pub fn remove_all(dir: &Path) -> std::io::Result<()> {
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    gone(std::fs::remove_dir_all(dir.join("db")))?;
    gone(std::fs::remove_dir_all(dir.join(audit_log::DIR)))?;
    for file in [generation::FILE, sessions::JOURNAL, sessions::JOURNAL_STATE] {
        gone(std::fs::remove_file(dir.join(file)))?;
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// # Errors
    /// If sled cannot open the directory, or the store is damaged ([`StoreError::Damaged`]).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens (or creates) the store in `dir` with `options`.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        // The two are independent; opening them side by side takes the longer of the two.
        let (engine, sessions) = std::thread::scope(|scope| {
            let sessions = scope.spawn(|| timed(|| Sessions::open(dir, options.fsync)));
            let engine = timed(|| counted(open_retrying(dir, options)?));
            let sessions = sessions.join().expect("opening the journal does not panic");
            (engine, sessions)
        });
        let (((engine, tally), sled_ms), (sessions, journal_ms)) = (engine?, sessions?);
        let (audit, audit_synced) = audit_log::AuditLog::open(dir, true)?;
        let disabled = disabled::Disabled::load(&engine)?;
        tracing::info!(
            sled_ms,
            journal_ms,
            sessions = sessions.len(),
            "store opened"
        );
        let store = Store {
            inner: Arc::new(StoreInner {
                failover: Failover::new(dir, options, engine),
                sessions,
                committer: Arc::default(),
                sled: SledCommits::default(),
                audit,
                disabled,
                counts: counts::Counts::default(),
                idle_sweeps: std::sync::atomic::AtomicU64::new(0),
                usage: usage::Usage::default(),
                replica: std::sync::OnceLock::new(),
            }),
        };
        store.inner.counts.set(tally);
        flusher::spawn(
            Arc::clone(&store.inner.committer),
            Arc::downgrade(&store.inner),
        )
        .map_err(StoreError::Io)?;
        store.journal_sled_sessions()?;
        store.index_api_tokens()?;
        store.index_last_used()?;
        store.recover_audit(audit_synced.map(|s| s.carried_to))?;
        Ok(store)
    }

    /// The engine for a read.
    fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        self.inner.failover.engine()
    }

    /// Runs a write against sled (reopening it first if an earlier write failed) and notes
    /// that sled has something to commit.
    fn write_sled<T>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = self.inner.failover.write(&self.inner.counts, f);
        self.inner.sled.written();
        result
    }

    /// The credential of kind `kind` whose token hashes to `hash`, with its owner's scopes.
    ///
    /// The kind (which the token's prefix states) picks the one place to look: sessions are
    /// only in the session table, everything else only in sled.
    pub(crate) fn credential(
        &self,
        hash: &TokenHash,
        kind: StoredKind,
    ) -> Result<Option<Found>, StoreError> {
        let sessions = &self.inner.sessions;
        if kind != StoredKind::Session {
            let e = self.engine()?;
            let Some(mut found) = e.credential(hash)? else {
                return Ok(None);
            };
            // Only the hash its id maps back to counts: a record under any other hash (left by
            // a forged backup restored before restores were checked) never verifies, so
            // revoking the id stops every token that claims it.
            return Ok(match e.credential_ids.get(found.record.id.as_bytes())? {
                Some(mapped) if mapped.as_ref() == hash.as_slice() => {
                    // The record carries the scopes; the owner cache adds the identity.
                    if !found.record.owner.is_nil() {
                        let owner = found.record.owner;
                        found.identity = sessions.owner_identity(owner, || e.owner(owner))?;
                    }
                    Some(found)
                }
                _ => None,
            });
        }
        let Some((mut record, known)) = sessions.find_with_owner_scopes(hash) else {
            return Ok(None);
        };
        let mut identity = None;
        if known != OwnerScopes::None {
            let owner = sessions.owner_scopes(
                record.id,
                record.owner,
                known == OwnerScopes::Unknown,
                || self.engine()?.owner(record.owner),
            )?;
            record.scopes = owner.scopes;
            identity = owner.identity;
        }
        let mut found = Found::session(*hash, record);
        found.identity = identity;
        Ok(Some(found))
    }

    /// The credential with public id `id`.
    pub(crate) fn credential_by_id(&self, id: Uuid) -> Result<Option<Found>, StoreError> {
        if let Some((hash, record)) = self.inner.sessions.by_id(id) {
            return Ok(Some(Found::session(hash, record)));
        }
        self.engine()?.credential_by_id(id)
    }

    /// Stores a new credential and its indexes; the record itself is written last.
    pub(crate) fn insert_credential(
        &self,
        hash: &TokenHash,
        record: &CredentialRecord,
    ) -> Result<(), StoreError> {
        replica::record(|| replica::Op::PutCredential {
            hash: *hash,
            record: record.clone(),
            existing: false,
        });
        if record.kind == StoredKind::Session {
            self.inner.sessions.insert(hash, record);
            return Ok(());
        }
        let bytes = records::encode_credential(record)?;
        let new = self.write_sled(|e| {
            if let Some(at) = record.expires_at {
                e.expiry_index.insert(expiry_key(at, record.id), &[])?;
            }
            e.owner_index
                .insert(owner_key(record.owner, record.id), &[])?;
            e.credential_ids.insert(record.id.as_bytes(), hash)?;
            Ok(e.credentials.insert(hash, bytes)?.is_none())
        })?;
        if new {
            self.inner.counts.credential(record.kind, true);
        }
        Ok(())
    }

    /// Replaces `found` with `updated` only if it is unchanged since it was read.
    ///
    /// Returns `false` if it changed or vanished meanwhile (for example, it was revoked), in
    /// which case nothing is written: a slide can never resurrect a revoked credential.
    pub(crate) fn replace_credential(
        &self,
        found: &Found,
        updated: &CredentialRecord,
    ) -> Result<bool, StoreError> {
        let replaced = self.replace_unreplicated(found, updated)?;
        if replaced {
            self.replicate_replace(found, updated);
        }
        Ok(replaced)
    }

    /// As [`Store::replace_credential`], without passing the rewrite on to a replica: for
    /// applying the replica's own changes.
    pub(crate) fn replace_unreplicated(
        &self,
        found: &Found,
        updated: &CredentialRecord,
    ) -> Result<bool, StoreError> {
        Ok(match &found.raw {
            Raw::Session => self.inner.sessions.replace(&found.record, updated),
            Raw::Sled(raw) => {
                let bytes = records::encode_credential(updated)?;
                self.write_sled(|e| {
                    Ok(e.credentials
                        .compare_and_swap(found.hash, Some(raw), Some(bytes))?
                        .is_ok())
                })?
            }
        })
    }

    /// Passes a rewrite on to the replica: inside a change as part of it, outside one (a
    /// verify's slide) as a coalesced slide.
    fn replicate_replace(&self, found: &Found, updated: &CredentialRecord) {
        let Some(replica) = self.inner.replica.get() else {
            return;
        };
        if replica::capturing() {
            replica::record(|| replica::Op::PutCredential {
                hash: found.hash,
                record: updated.clone(),
                existing: true,
            });
        } else if updated.kind == StoredKind::Session
            && updated.expires_at != found.record.expires_at
        {
            replica.slide(&found.hash, updated);
        }
    }

    /// Makes this store the copy of `replica`'s truth: changes made in a change are captured
    /// for it ([`replica`]), and [`Store::replica`] returns it.
    ///
    /// # Panics
    /// If a replica was set already.
    #[cfg(feature = "etcd")]
    pub(crate) fn set_replica(&self, replica: Arc<dyn replica::Replica>) {
        assert!(
            self.inner.replica.set(replica).is_ok(),
            "a store copies one replica"
        );
    }

    /// The replica this store copies, in a replicated backend.
    pub(crate) fn replica(&self) -> Option<&Arc<dyn replica::Replica>> {
        self.inner.replica.get()
    }

    /// Deletes a credential: the record first, so it stops verifying at once, then its indexes.
    ///
    /// Returns `false` if it had already gone or changed since it was read.
    pub(crate) fn remove_credential(&self, found: &Found) -> Result<bool, StoreError> {
        let removed = if let Raw::Session = found.raw {
            // Taken first: the table entry that holds them goes with the session.
            self.retire_usage(found);
            self.inner.sessions.remove(&found.record)
        } else {
            let removed = self.write_sled(|e| sled_remove(e, found))?;
            if removed {
                self.inner.counts.credential(found.record.kind, false);
                self.retire_usage(found);
            }
            removed
        };
        if removed {
            replica::record(|| replica::Op::DeleteCredential {
                id: found.record.id,
                owner: found.record.owner,
            });
        }
        Ok(removed)
    }

    /// Deletes every sled record that claims id `id`, whatever hash it is under; returns how
    /// many. A scan of sled's credentials (admin keys, test keys, API tokens, never sessions),
    /// for the rare revoke of an admin key: a consistent store has none left after
    /// [`Store::remove_credential`], but one restored from a forged backup before restores were
    /// checked may.
    pub(crate) fn remove_claims_of(&self, id: Uuid) -> Result<u64, StoreError> {
        let e = self.engine()?;
        let mut claims = Vec::new();
        for entry in e.credentials.iter() {
            let (hash, raw) = entry?;
            let (record, _) = records::decode_credential(&raw)?;
            if record.id == id {
                claims.push(Found {
                    hash: hash_from("credentials", &hash)?,
                    record,
                    raw: Raw::Sled(raw),
                    identity: None,
                });
            }
        }
        let mut removed = 0;
        for found in claims {
            if self.write_sled(|e| sled_remove(e, &found))? {
                removed += 1;
                replica::record(|| replica::Op::DeleteCredential {
                    id: found.record.id,
                    owner: found.record.owner,
                });
            }
        }
        Ok(removed)
    }

    /// Whether [`Store::credentials_of`] answers without waiting: the session owner index is
    /// built in the background after open.
    pub(crate) fn owner_index_ready(&self) -> bool {
        self.inner.sessions.owners_ready()
    }

    /// Every live-or-not credential filed under `owner`. Dangling index entries are skipped.
    pub(crate) fn credentials_of(&self, owner: Uuid) -> Result<Vec<Found>, StoreError> {
        let e = self.engine()?;
        let mut out: Vec<Found> = self
            .inner
            .sessions
            .of_owner(owner)
            .into_iter()
            .map(|(hash, record)| Found::session(hash, record))
            .collect();
        for entry in e.owner_index.scan_prefix(owner.as_bytes()) {
            let (key, _) = entry?;
            let id = uuid_from("owner_index", &key[16..])?;
            if let Some(found) = e.credential_by_id(id)? {
                out.push(found);
            }
        }
        Ok(out)
    }

    /// The sled credentials filed under `owner` (not sessions), in credential-id order, after
    /// `after`: a page's walk, which costs what it reads. Dangling index entries are skipped.
    pub(crate) fn sled_credentials_of(
        &self,
        owner: Uuid,
        after: Option<Uuid>,
    ) -> Result<impl Iterator<Item = Result<Found, StoreError>>, StoreError> {
        use std::ops::Bound;
        let e = self.engine()?;
        let from = match after {
            Some(id) => Bound::Excluded(owner_key(owner, id).to_vec()),
            None => Bound::Included(owner.as_bytes().to_vec()),
        };
        let end = match owner.as_u128().checked_add(1) {
            Some(next) => Bound::Excluded(Uuid::from_u128(next).as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let range = e.owner_index.range::<Vec<u8>, _>((from, end));
        Ok(range.filter_map(move |entry| {
            let found = entry
                .map_err(StoreError::from)
                .and_then(|(key, _)| uuid_from("owner_index", &key[16..]))
                .and_then(|id| e.credential_by_id(id));
            found.transpose()
        }))
    }

    /// The principal with id `id`.
    pub(crate) fn principal(&self, id: Uuid) -> Result<Option<PrincipalRecord>, StoreError> {
        match self.engine()?.principals.get(id.as_bytes())? {
            Some(raw) => Ok(Some(records::decode_principal(&raw)?)),
            None => Ok(None),
        }
    }

    /// Stores a principal, claiming its external id in the same transaction. Returns `false`,
    /// writing nothing, if another principal of its environment holds that id.
    pub(crate) fn insert_principal(&self, record: &PrincipalRecord) -> Result<bool, StoreError> {
        let bytes = records::encode_principal(record)?;
        let written = self.write_sled(|e| {
            api_tokens::file(e, record)?;
            last_used::file(e, record)?;
            let written = (&e.principals, &e.external_ids)
                .transaction(|(principals, index)| {
                    if !external_ids::claim(index, record)? {
                        return Ok(None);
                    }
                    Ok(Some(
                        principals
                            .insert(record.id.as_bytes(), bytes.clone())?
                            .is_none(),
                    ))
                })
                .map_err(transaction_error)?;
            // Refused: the index entry written for it goes again, unless the id was already
            // a principal's (then its entry stands).
            if written.is_none() && !e.principals.contains_key(record.id.as_bytes())? {
                api_tokens::unfile(e, record.id)?;
                last_used::unfile(e, None, record.id)?;
            }
            Ok(written)
        })?;
        match written {
            None => Ok(false),
            Some(new) => {
                if new {
                    self.inner.counts.principal(record.kind, true);
                }
                replica::record(|| replica::Op::PutPrincipal {
                    record: record.clone(),
                    existing: false,
                    released: None,
                    claims: record.external_id.is_some(),
                });
                Ok(true)
            }
        }
    }

    /// Deletes a principal, freeing its external id in the same transaction.
    pub(crate) fn remove_principal(&self, id: Uuid) -> Result<(), StoreError> {
        let old = self.write_sled(|e| {
            Store::remove_principal_usage(e, id)?;
            let old = (&e.principals, &e.external_ids)
                .transaction(|(principals, index)| {
                    let old = external_ids::decoded(principals.remove(id.as_bytes())?);
                    // One that does not decode holds no id we could know of; remove it anyway.
                    if let Ok(Some(old)) = &old {
                        external_ids::release(index, old)?;
                    }
                    Ok(old.ok().flatten())
                })
                .map_err(transaction_error)?;
            api_tokens::unfile(e, id)?;
            Ok(old)
        })?;
        // One that does not decode was not counted either (see `counts`).
        if let Some(old) = &old {
            self.inner.counts.principal(old.kind, false);
        }
        replica::record(|| replica::Op::DeletePrincipal {
            id,
            released: old.and_then(|old| Some((old.env, old.external_id?))),
        });
        Ok(())
    }

    /// The principals after id `after` (all of them without it), in id order: a page's walk,
    /// which costs what it reads.
    pub(crate) fn principals_after(
        &self,
        after: Option<Uuid>,
    ) -> Result<impl Iterator<Item = Result<PrincipalRecord, StoreError>>, StoreError> {
        use std::ops::Bound;
        let from = match after {
            Some(id) => Bound::Excluded(id.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        Ok(self
            .engine()?
            .principals
            .range::<Vec<u8>, _>((from, Bound::Unbounded))
            .map(|entry| records::decode_principal(&entry?.1)))
    }

    /// What the store holds, by kind, until swept: kept as it changes, so this reads four
    /// counters and the session table's length.
    pub(crate) fn counts(&self) -> (Tally, u64) {
        (self.inner.counts.get(), self.inner.sessions.len() as u64)
    }
}

/// A sled transaction's failure as the store reports it.
fn transaction_error(e: sled::transaction::TransactionError<StoreError>) -> StoreError {
    match e {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => StoreError::from(e),
    }
}

/// Runs `open`, adding how many milliseconds it took.
fn timed<T>(open: impl FnOnce() -> Result<T, StoreError>) -> Result<(T, u64), StoreError> {
    let started = Instant::now();
    let opened = open()?;
    Ok((opened, started.elapsed().as_millis() as u64))
}

/// Deletes a sled credential: the record first, so it stops verifying at once, then its
/// indexes. Returns `false` if it had already gone or changed since it was read.
fn sled_remove(e: &Engine, found: &Found) -> Result<bool, StoreError> {
    let Raw::Sled(raw) = &found.raw else {
        return Ok(false);
    };
    let removed = e
        .credentials
        .compare_and_swap(found.hash, Some(raw), None::<&[u8]>)?
        .is_ok();
    if removed {
        let record = &found.record;
        e.credential_ids.remove(record.id.as_bytes())?;
        e.owner_index.remove(owner_key(record.owner, record.id))?;
        if let Some(at) = record.expires_at {
            e.expiry_index.remove(expiry_key(at, record.id))?;
        }
    }
    Ok(removed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A session record that never expires in a test, as a backup or an old layout holds it:
    /// without scopes.
    pub(crate) fn live_session(id: Uuid, owner: Uuid) -> CredentialRecord {
        CredentialRecord {
            id,
            kind: StoredKind::Session,
            env: StoredEnv::Live,
            owner,
            label: None,
            created_at: 1,
            last_used_at: None,
            expires_at: Some(i64::MAX - 1),
            max_expires_at: Some(i64::MAX),
            scopes: Vec::new(),
        }
    }

    /// A record claiming another credential's id under a second hash (what a forged backup
    /// restored before restores were checked left behind) never verifies, and removing the
    /// id's claims deletes it with the real one.
    #[test]
    fn claims_under_a_second_hash_never_verify_and_go_with_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = CredentialRecord {
            kind: StoredKind::AdminKey,
            owner: Uuid::nil(),
            expires_at: None,
            max_expires_at: None,
            ..live_session(Uuid::new_v4(), Uuid::nil())
        };
        let (real, forged) = ([1u8; 32], [2u8; 32]);
        store.insert_credential(&real, &key).unwrap();
        let bytes = records::encode_credential(&key).unwrap();
        store
            .write_sled(|e| {
                e.credentials.insert(forged, bytes)?;
                Ok(())
            })
            .unwrap();
        let found = |hash| store.credential(hash, StoredKind::AdminKey).unwrap();
        assert!(found(&real).is_some());
        assert!(found(&forged).is_none(), "a second hash verified");
        let real_found = found(&real).unwrap();
        assert!(store.remove_credential(&real_found).unwrap());
        assert_eq!(store.remove_claims_of(key.id).unwrap(), 1);
        assert!(store.engine().unwrap().credentials.is_empty());
    }
}
