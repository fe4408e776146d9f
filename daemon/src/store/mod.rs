//! The store: the only code that touches sled.
//!
//! Trees and their keys:
//! - `credentials`: token hash (32 bytes) → [`CredentialRecord`]. Verify is one lookup here.
//! - `credential_ids`: credential id (16) → token hash, for revoking and listing by id.
//! - `principals`: principal id (16) → [`PrincipalRecord`] (clients and API-token pseudo-users).
//! - `owner_index`: owner id (16) ‖ credential id (16) → empty, for a principal's credentials;
//!   admin keys are filed under the nil owner.
//! - `expiry_index`: expiry (u64 big-endian ms) ‖ credential id (16) → empty. An entry is a
//!   *lower bound*: a session that slid forward keeps its old entry, and the sweeper moves it on
//!   when it gets there. Verify therefore never touches the index.
//! - `meta`: counters (`sweeps_run`, `credentials_swept`).
//!
//! Multi-tree changes are ordered so that the `credentials` entry is the commit point: inserts
//! write it last, removals delete it first. A crash in between leaves only index entries that
//! point nowhere, which every reader skips and the sweeper removes. Nothing here flushes except
//! [`Store::flush`]; callers flush before acknowledging a change.

mod commit;
mod generation;
mod records;

pub(crate) use records::{CredentialRecord, PrincipalKind, PrincipalRecord, StoredKind};

use keyward_protocol::token::TokenHash;
use keyward_protocol::UnixMillis;
use sled::IVec;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// A storage failure: the operation could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O, or its own corruption check).
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A file of the store could not be read or written.
    #[error("storage error: {0}")]
    Io(std::io::Error),
    /// The data dir lost acknowledged changes or is garbled; the daemon must not serve from it.
    #[error(
        "data dir {} is damaged: {detail}. keywardd will not serve from it; restore it from a \
         backup (see README, \"Recovering a damaged data dir\")",
        dir.display()
    )]
    Damaged {
        /// The data dir.
        dir: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A record could not be decoded.
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl StoreError {
    pub(crate) fn corrupt(tree: &'static str, detail: String) -> Self {
        StoreError::Corrupt { tree, detail }
    }
}

/// Counter names in the `meta` tree.
const SWEEPS_RUN: &[u8] = b"sweeps_run";
/// The commit generation (see [`generation`]).
const GENERATION: &[u8] = b"generation";
const CREDENTIALS_SWEPT: &[u8] = b"credentials_swept";

/// What a commit does besides sled's flush: sync the log for power loss, and count generations.
struct Durability {
    /// sled's log file, opened separately so a commit can `fdatasync` it: sled's own flush
    /// uses `sync_file_range`, which neither flushes the disk cache nor the file's size.
    log: File,
    /// The last generation made durable.
    generation: AtomicU64,
    /// The side file recording it.
    side: generation::GenerationFile,
}

/// A credential found by hash, with the exact bytes read, for compare-and-swap.
pub(crate) struct Found {
    pub hash: TokenHash,
    pub record: CredentialRecord,
    raw: IVec,
}

/// The sled database and its trees.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    commits: Arc<commit::GroupCommit>,
    durability: Arc<Durability>,
    credentials: sled::Tree,
    credential_ids: sled::Tree,
    principals: sled::Tree,
    owner_index: sled::Tree,
    expiry_index: sled::Tree,
    meta: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn owner_key(owner: Uuid, id: Uuid) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(owner.as_bytes());
    k[16..].copy_from_slice(id.as_bytes());
    k
}

fn expiry_key(at: UnixMillis, id: Uuid) -> [u8; 24] {
    let mut k = [0u8; 24];
    // Times before the epoch sort first; they are expired in any case.
    k[..8].copy_from_slice(&u64::try_from(at).unwrap_or(0).to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

fn hash_from(tree: &'static str, bytes: &[u8]) -> Result<TokenHash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::corrupt(tree, format!("hash of {} bytes", bytes.len())))
}

fn uuid_from(tree: &'static str, bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::corrupt(tree, "bad id".to_owned()))
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// # Errors
    /// If sled cannot open the directory.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            // Background flushes bound what a crash can lose of the lazily persisted slides.
            .flush_every_ms(Some(500))
            .open()?;
        let meta = db.open_tree("meta")?;
        let recovered = read_u64(&meta, GENERATION)?;
        let side = generation::GenerationFile::open_and_check(dir, recovered)?;
        let log = File::open(dir.join("db").join("db")).map_err(StoreError::Io)?;
        Ok(Store {
            durability: Arc::new(Durability {
                log,
                generation: AtomicU64::new(recovered),
                side,
            }),
            credentials: db.open_tree("credentials")?,
            credential_ids: db.open_tree("credential_ids")?,
            principals: db.open_tree("principals")?,
            owner_index: db.open_tree("owner_index")?,
            expiry_index: db.open_tree("expiry_index")?,
            meta,
            commits: Default::default(),
            db,
        })
    }

    /// Makes every change this thread has made durable, sharing one sled flush among all
    /// concurrent callers (group commit).
    ///
    /// # Errors
    /// If the write to disk fails.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.commits.commit(|| {
            let d = &self.durability;
            // Only one commit flushes at a time, so a plain load/store pair cannot race.
            let next = d.generation.load(Ordering::Acquire) + 1;
            self.meta.insert(GENERATION, &next.to_be_bytes())?;
            self.db.flush()?;
            d.log.sync_data().map_err(StoreError::Io)?;
            d.generation.store(next, Ordering::Release);
            d.side.record(next)
        })
    }

    /// The credential whose token hashes to `hash`.
    pub(crate) fn credential(&self, hash: &TokenHash) -> Result<Option<Found>, StoreError> {
        match self.credentials.get(hash)? {
            Some(raw) => Ok(Some(Found {
                hash: *hash,
                record: records::decode("credentials", &raw)?,
                raw,
            })),
            None => Ok(None),
        }
    }

    /// The credential with public id `id`.
    pub(crate) fn credential_by_id(&self, id: Uuid) -> Result<Option<Found>, StoreError> {
        match self.credential_ids.get(id.as_bytes())? {
            Some(h) => self.credential(&hash_from("credential_ids", &h)?),
            None => Ok(None),
        }
    }

    /// Stores a new credential and its indexes; the record itself is written last.
    pub(crate) fn insert_credential(
        &self,
        hash: &TokenHash,
        record: &CredentialRecord,
    ) -> Result<(), StoreError> {
        let bytes = records::encode(record)?;
        if let Some(at) = record.expires_at {
            self.expiry_index.insert(expiry_key(at, record.id), &[])?;
        }
        self.owner_index
            .insert(owner_key(record.owner, record.id), &[])?;
        self.credential_ids.insert(record.id.as_bytes(), hash)?;
        self.credentials.insert(hash, bytes)?;
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
        let bytes = records::encode(updated)?;
        Ok(self
            .credentials
            .compare_and_swap(found.hash, Some(&found.raw), Some(bytes))?
            .is_ok())
    }

    /// Deletes a credential: the record first, so it stops verifying at once, then its indexes.
    ///
    /// Returns `false` if it had already gone or changed since it was read.
    pub(crate) fn remove_credential(&self, found: &Found) -> Result<bool, StoreError> {
        let removed = self
            .credentials
            .compare_and_swap(found.hash, Some(&found.raw), None::<&[u8]>)?
            .is_ok();
        if removed {
            self.remove_indexes(&found.record)?;
        }
        Ok(removed)
    }

    fn remove_indexes(&self, record: &CredentialRecord) -> Result<(), StoreError> {
        self.credential_ids.remove(record.id.as_bytes())?;
        self.owner_index
            .remove(owner_key(record.owner, record.id))?;
        if let Some(at) = record.expires_at {
            self.expiry_index.remove(expiry_key(at, record.id))?;
        }
        Ok(())
    }

    /// Every live-or-not credential filed under `owner`. Dangling index entries are skipped.
    pub(crate) fn credentials_of(&self, owner: Uuid) -> Result<Vec<Found>, StoreError> {
        let mut out = Vec::new();
        for entry in self.owner_index.scan_prefix(owner.as_bytes()) {
            let (key, _) = entry?;
            let id = uuid_from("owner_index", &key[16..])?;
            if let Some(found) = self.credential_by_id(id)? {
                out.push(found);
            }
        }
        Ok(out)
    }

    /// The principal with id `id`.
    pub(crate) fn principal(&self, id: Uuid) -> Result<Option<PrincipalRecord>, StoreError> {
        match self.principals.get(id.as_bytes())? {
            Some(raw) => Ok(Some(records::decode("principals", &raw)?)),
            None => Ok(None),
        }
    }

    /// Stores a principal.
    pub(crate) fn insert_principal(&self, record: &PrincipalRecord) -> Result<(), StoreError> {
        self.principals
            .insert(record.id.as_bytes(), records::encode(record)?)?;
        Ok(())
    }

    /// Deletes a principal.
    pub(crate) fn remove_principal(&self, id: Uuid) -> Result<(), StoreError> {
        self.principals.remove(id.as_bytes())?;
        Ok(())
    }

    /// Every principal, in id order.
    pub(crate) fn principals(
        &self,
    ) -> impl Iterator<Item = Result<PrincipalRecord, StoreError>> + '_ {
        self.principals
            .iter()
            .map(|entry| records::decode("principals", &entry?.1))
    }

    /// Every credential, in hash order.
    pub(crate) fn credentials(
        &self,
    ) -> impl Iterator<Item = Result<CredentialRecord, StoreError>> + '_ {
        self.credentials
            .iter()
            .map(|entry| records::decode("credentials", &entry?.1))
    }

    /// Up to `limit` expiry-index entries due at or before `now`, oldest first.
    pub(crate) fn due(
        &self,
        now: UnixMillis,
        limit: usize,
    ) -> Result<Vec<(UnixMillis, Uuid)>, StoreError> {
        let end = expiry_key(now, Uuid::max());
        let mut out = Vec::new();
        for entry in self.expiry_index.range(..=end.as_slice()).take(limit) {
            let (key, _) = entry?;
            let at = u64::from_be_bytes(key[..8].try_into().expect("8-byte prefix"));
            out.push((
                i64::try_from(at).unwrap_or(i64::MAX),
                uuid_from("expiry_index", &key[8..])?,
            ));
        }
        Ok(out)
    }

    /// Moves an expiry-index entry from `from` to `to` (a slid credential's true expiry).
    pub(crate) fn move_expiry(
        &self,
        id: Uuid,
        from: UnixMillis,
        to: Option<UnixMillis>,
    ) -> Result<(), StoreError> {
        if let Some(to) = to {
            self.expiry_index.insert(expiry_key(to, id), &[])?;
        }
        self.expiry_index.remove(expiry_key(from, id))?;
        Ok(())
    }

    /// Removes an index entry whose credential is gone, and any leftovers of it.
    pub(crate) fn remove_dangling(&self, at: UnixMillis, id: Uuid) -> Result<(), StoreError> {
        self.credential_ids.remove(id.as_bytes())?;
        self.expiry_index.remove(expiry_key(at, id))?;
        Ok(())
    }

    /// Adds to the persistent sweep counters.
    pub(crate) fn count_sweep(&self, swept: u64) -> Result<(), StoreError> {
        self.add_counter(SWEEPS_RUN, 1)?;
        self.add_counter(CREDENTIALS_SWEPT, swept)
    }

    fn add_counter(&self, name: &[u8], by: u64) -> Result<(), StoreError> {
        self.meta.fetch_and_update(name, |old| {
            let n = old
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Some(n.saturating_add(by).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// `(sweeps_run, credentials_swept)`.
    pub(crate) fn sweep_counters(&self) -> Result<(u64, u64), StoreError> {
        Ok((
            read_u64(&self.meta, SWEEPS_RUN)?,
            read_u64(&self.meta, CREDENTIALS_SWEPT)?,
        ))
    }
}

/// A big-endian counter from the `meta` tree; absent is zero.
fn read_u64(meta: &sled::Tree, name: &[u8]) -> Result<u64, StoreError> {
    Ok(meta
        .get(name)?
        .and_then(|b| b.as_ref().try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}
