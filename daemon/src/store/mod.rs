//! The store: the only code that touches sled or the session journal.
//!
//! Sessions live in memory and in an append-only journal ([`sessions`]); the audit log lives in
//! its own append-only files ([`audit_log`]); everything else lives in sled. sled's trees and their keys:
//! - `credentials`: token hash (32 bytes) → [`CredentialRecord`]. Verify is one lookup here.
//! - `credential_ids`: credential id (16) → token hash, for revoking and listing by id.
//! - `principals`: principal id (16) → [`PrincipalRecord`] (clients and API-token pseudo-users).
//! - `owner_index`: owner id (16) ‖ credential id (16) → empty, for a principal's credentials;
//!   admin keys are filed under the nil owner.
//! - `expiry_index`: expiry (u64 big-endian ms) ‖ credential id (16) → empty. An entry is a
//!   *lower bound*: a session that slid forward keeps its old entry, and the sweeper moves it on
//!   when it gets there. Verify therefore never touches the index.
//! - `meta`: counters (`sweeps_run`, `credentials_swept`) and the commit generation.
//! - `audit`: empty. Data dirs from before the audit log held its entries here, keyed by time
//!   (u64 big-endian ms) ‖ entry id (16); opening one moves them into [`audit_log`].
//!
//! Sessions appear in `credentials`, `credential_ids`, `owner_index` and `expiry_index` only in
//! data dirs from before the journal (layout 1); opening one moves them into the journal.
//!
//! Multi-tree changes are ordered so that the `credentials` entry is the commit point: inserts
//! write it last, removals delete it first. A crash in between leaves only index entries that
//! point nowhere, which every reader skips and the sweeper removes. Nothing here flushes except
//! [`Store::flush`]; callers flush before acknowledging a change.

mod audit_log;
mod commit;
mod counts;
mod engine;
mod flusher;
mod generation;
mod private_file;
mod records;
mod sessions;
mod side_file;
mod spare_buffer;

pub(crate) use audit_log::Priority as AuditPriority;
pub(crate) use commit::Ticket;
pub(crate) use counts::Tally;
pub(crate) use sessions::session_id;
use sessions::{OwnerScopes, Position, Sessions};

use engine::Engine;

pub(crate) use records::{
    decode as decode_record, decode_audit, decode_credential, AuditRecord, CredentialRecord,
    PrincipalKind, PrincipalRecord, StoredEnv, StoredKind, StoredOutcome,
};

use arc_swap::ArcSwapOption;
use keyward_protocol::token::TokenHash;
use keyward_protocol::UnixMillis;
use sled::IVec;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
    /// A write failed earlier and the store has not yet been reopened; retry shortly.
    #[error("writes are failing ({0}); keywardd retries every second and reads still work")]
    Reopening(String),
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
    /// An equal error, for every waiter of a commit that failed.
    fn shared(&self) -> StoreError {
        match self {
            StoreError::Sled(e) => StoreError::Sled(e.clone()),
            StoreError::Io(e) => StoreError::Io(std::io::Error::new(e.kind(), e.to_string())),
            StoreError::Damaged { dir, detail } => StoreError::Damaged {
                dir: dir.clone(),
                detail: detail.clone(),
            },
            StoreError::Reopening(why) => StoreError::Reopening(why.clone()),
            StoreError::Corrupt { tree, detail } => StoreError::Corrupt {
                tree,
                detail: detail.clone(),
            },
        }
    }

    pub(crate) fn corrupt(tree: &'static str, detail: String) -> Self {
        StoreError::Corrupt { tree, detail }
    }

    /// Whether this is an I/O failure, after which sled refuses writes until reopened.
    fn is_io(&self) -> bool {
        matches!(
            self,
            StoreError::Io(_) | StoreError::Sled(sled::Error::Io(_))
        )
    }
}

/// Counter names in the `meta` tree.
pub(crate) const SWEEPS_RUN: &[u8] = b"sweeps_run";
/// The commit generation (see [`generation`]).
pub(crate) const GENERATION: &[u8] = b"generation";
pub(crate) const CREDENTIALS_SWEPT: &[u8] = b"credentials_swept";
/// The data dir's layout: absent in layout 1 (sessions in sled), 2 once they are journaled.
const LAYOUT: &[u8] = b"layout";
const SESSIONS_JOURNALED: u64 = 2;

/// A credential found by hash, with what a compare-and-swap needs.
pub(crate) struct Found {
    pub hash: TokenHash,
    pub record: CredentialRecord,
    raw: Raw,
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
        }
    }
}

/// The id backups store audit entries under: a sled tree once, the audit log now.
const AUDIT_TREE: u8 = 7;

/// The trees a backup carries, by the id it stores them under.
pub const TREES: [(u8, &str); 7] = [
    (1, "credentials"),
    (2, "credential_ids"),
    (3, "principals"),
    (4, "owner_index"),
    (5, "expiry_index"),
    (6, "meta"),
    (AUDIT_TREE, "audit"),
];

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

/// The key of one audit entry.
pub(crate) type AuditKey = [u8; 24];

/// How often a failed store may try to reopen itself.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// Free space a reopen needs: sled writes whole segments (512 KiB by default).
const REOPEN_MIN_FREE: u64 = 2 << 20;
/// How long a reopen waits for in-flight operations to let go of the failed engine.
const REOPEN_DRAIN: Duration = Duration::from_secs(2);

/// The store: typed operations over the current [`Engine`], and recovery from write failures.
///
/// sled latches the first I/O error of a write (for example ENOSPC) and fails every later write
/// until it is reopened. So after a write fails, the next write attempt (at most once per
/// second) drops the engine and reopens it from disk: what was acknowledged is there, what
/// failed was never acknowledged, and writes resume once the cause (a full disk) is gone.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    options: StoreOptions,
    engine: ArcSwapOption<Engine>,
    sessions: Sessions,
    committer: Arc<commit::Committer>,
    /// Set after a write to sled; cleared by the commit that makes it durable.
    sled_dirty: AtomicBool,
    /// Set after a commit without a sync (`fsync = false`); cleared by a checkpoint's.
    sled_unsynced: AtomicBool,
    /// The audit log.
    audit: audit_log::AuditLog,
    /// What sled holds, by kind, for `stats`.
    counts: counts::Counts,
    /// Held by a sled commit: the flusher's helper and checkpoints both commit.
    sled_commit: Mutex<()>,
    /// Set when a write failed; cleared by a successful reopen.
    failed: AtomicBool,
    /// Why the last write failed, for the errors returned until the reopen.
    failure: Mutex<String>,
    /// When the last reopen was tried.
    last_reopen: Mutex<Option<Instant>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.committer.stop();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
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

/// A fresh key for an audit entry made at `at`. Entry ids are names, not secrets, so they are
/// unique without a system call each: a random half drawn once per process, then a counter.
fn audit_key(at: UnixMillis) -> AuditKey {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| Uuid::new_v4().as_u64_pair().0);
    expiry_key(
        at,
        Uuid::from_u64_pair(process, NEXT.fetch_add(1, Ordering::Relaxed)),
    )
}

pub(crate) fn hash_from(tree: &'static str, bytes: &[u8]) -> Result<TokenHash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::corrupt(tree, format!("hash of {} bytes", bytes.len())))
}

fn uuid_from(tree: &'static str, bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::corrupt(tree, "bad id".to_owned()))
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
            let engine = timed(|| counted(Engine::open(dir, options)?));
            let sessions = sessions.join().expect("opening the journal does not panic");
            (engine, sessions)
        });
        let (((engine, tally), sled_ms), (sessions, journal_ms)) = (engine?, sessions?);
        let (audit, audit_synced) = audit_log::AuditLog::open(dir, true)?;
        tracing::info!(
            sled_ms,
            journal_ms,
            sessions = sessions.len(),
            "store opened"
        );
        let store = Store {
            shared: Arc::new(Shared {
                dir: dir.to_owned(),
                options,
                engine: ArcSwapOption::from_pointee(engine),
                sessions,
                committer: Arc::default(),
                sled_dirty: AtomicBool::new(false),
                sled_unsynced: AtomicBool::new(false),
                audit,
                counts: counts::Counts::default(),
                sled_commit: Mutex::new(()),
                failed: AtomicBool::new(false),
                failure: Mutex::new(String::new()),
                last_reopen: Mutex::new(None),
            }),
        };
        store.shared.counts.set(tally);
        flusher::spawn(
            Arc::clone(&store.shared.committer),
            Arc::downgrade(&store.shared),
        )
        .map_err(StoreError::Io)?;
        store.journal_sled_sessions()?;
        store.restore_carried_audit(audit_synced.map(|s| s.carried_to))?;
        Ok(store)
    }

    /// Moves sessions that an older layout kept in sled into the journal, once per data dir.
    ///
    /// The journal is synced before sled lets go of them, so a crash in between leaves them in
    /// both places, and the next start moves them again (replaying a session twice is
    /// harmless).
    fn journal_sled_sessions(&self) -> Result<(), StoreError> {
        let engine = self.engine()?;
        if read_u64(&engine.meta, LAYOUT)? >= SESSIONS_JOURNALED {
            return Ok(());
        }
        let mut moved = Vec::new();
        for entry in engine.credentials.iter() {
            let (hash, raw) = entry?;
            let (record, _) = records::decode_credential(&raw)?;
            if record.kind == StoredKind::Session {
                let hash = hash_from("credentials", &hash)?;
                self.shared.sessions.insert(&hash, &record);
                moved.push(Found {
                    hash,
                    record,
                    raw: Raw::Sled(raw),
                });
            }
        }
        self.shared.sessions.write(true)?;
        self.write(|e| {
            for found in &moved {
                sled_remove(e, found)?;
            }
            e.meta.insert(LAYOUT, &SESSIONS_JOURNALED.to_be_bytes())?;
            Ok(())
        })?;
        self.flush()?;
        if !moved.is_empty() {
            tracing::info!(
                sessions = moved.len(),
                "moved sessions from sled to the journal"
            );
        }
        Ok(())
    }

    /// Brings the audit log up to date at open: moves entries an older layout kept in sled
    /// into it, and copies back the entries the journal carries past `carried_to` (what the log
    /// had synced when the daemon stopped) that the log lacks, since a crash took them. Then
    /// syncs the log, recording the journal's end.
    fn restore_carried_audit(&self, carried_to: Option<Position>) -> Result<(), StoreError> {
        let engine = self.engine()?;
        let mut moved = 0u64;
        for entry in engine.audit.iter() {
            let (key, value) = entry?;
            let key: AuditKey = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::corrupt("audit", "a key of the wrong length".into()))?;
            self.shared.audit.restore(&key, &value)?;
            moved += 1;
        }
        // With no record of its own, the log has synced nothing the journal carries: all of it
        // is copied (none, in a data dir older than the journal's audit entries).
        let from = carried_to.unwrap_or((0, 0));
        let carried = self.shared.sessions.audits_from(from)?;
        let mut restored = 0u64;
        if !carried.is_empty() {
            let present = self.shared.audit.recent_keys()?;
            for (key, entry) in carried {
                if !present.contains(&key) {
                    self.shared.audit.restore(&key, &entry)?;
                    restored += 1;
                }
            }
        }
        self.sync_audit()?;
        if moved > 0 {
            self.write(|e| {
                e.audit.clear()?;
                Ok(())
            })?;
            self.flush()?;
            tracing::info!(entries = moved, "moved the audit log out of sled");
        }
        if restored > 0 {
            tracing::info!(
                restored,
                "copied audit entries from the journal into the audit log"
            );
        }
        Ok(())
    }

    /// Writes and syncs the audit log, recording that every entry the journal carried so far
    /// is safe in it. Returns the journal position recorded.
    fn sync_audit(&self) -> Result<Position, StoreError> {
        // Read first: an entry goes into the log's queue before the journal's, so every
        // carried entry before this position is queued in the log by now.
        let carried_to = self.shared.sessions.position();
        self.shared.audit.sync(carried_to)?;
        Ok(carried_to)
    }

    /// The engine for a read.
    fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        self.shared
            .engine
            .load_full()
            .ok_or_else(|| self.reopening())
    }

    fn reopening(&self) -> StoreError {
        let why = self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        StoreError::Reopening(why.clone())
    }

    /// Runs a write against the engine (see [`Store::write_engine`]) and notes that sled has
    /// something to commit.
    fn write<T>(&self, f: impl FnOnce(&Engine) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let result = self.write_engine(f);
        // After the write, so a commit that sees the flag covers the write.
        self.shared.sled_dirty.store(true, Ordering::Release);
        result
    }

    /// Runs a write against the engine, reopening it first if an earlier write failed, and
    /// noting a failure of this one.
    fn write_engine<T>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.shared.failed.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let engine = self.engine()?;
        let result = f(&engine);
        if let Err(e) = &result {
            if e.is_io() {
                *self
                    .shared
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = e.to_string();
                self.shared.failed.store(true, Ordering::Release);
            }
        }
        result
    }

    /// Drops the failed engine and opens a fresh one from disk, at most once per
    /// [`REOPEN_EVERY`].
    fn reopen(&self) -> Result<(), StoreError> {
        let mut last = self
            .shared
            .last_reopen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !self.shared.failed.load(Ordering::Acquire) {
            return Ok(()); // Another thread reopened it while this one waited.
        }
        if last.is_some_and(|at| at.elapsed() < REOPEN_EVERY) {
            return Err(self.reopening());
        }
        *last = Some(Instant::now());
        // Reads keep using the failed engine; give it up only once a reopen can succeed.
        let free = free_bytes(&self.shared.dir)?;
        if free < REOPEN_MIN_FREE {
            return Err(StoreError::Reopening(format!(
                "{free} bytes free in {}; writes resume once {REOPEN_MIN_FREE} are",
                self.shared.dir.display()
            )));
        }
        if let Some(old) = self.shared.engine.swap(None) {
            // sled holds a file lock until every handle to the old engine is gone.
            let deadline = Instant::now() + REOPEN_DRAIN;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        // Counted before it is shared: what the failed engine had counted may not be on disk.
        match open_retrying(&self.shared.dir, self.shared.options).and_then(counted) {
            Ok((engine, tally)) => {
                self.shared.counts.set(tally);
                self.shared.engine.store(Some(Arc::new(engine)));
                self.shared.failed.store(false, Ordering::Release);
                tracing::warn!(dir = %self.shared.dir.display(), "store reopened after a write failure");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "reopening the store failed; will retry");
                Err(e)
            }
        }
    }

    /// A ticket for every change the calling thread has made so far; it becomes durable with
    /// the next group commit (the journal synced and, if anything was written to it, sled
    /// flushed and `fdatasync`ed, the two in parallel).
    pub fn ticket(&self) -> Ticket {
        self.shared.committer.ticket()
    }

    /// Blocks until `ticket` is durable.
    ///
    /// # Errors
    /// If the commit that covered it failed to write to disk.
    pub fn wait(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.shared.committer.wait(ticket)
    }

    /// Resolves once `ticket` is durable, without blocking the thread.
    ///
    /// # Errors
    /// As [`Store::wait`].
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.shared.committer.durable(ticket).await
    }

    /// Makes every change the calling thread has made durable.
    ///
    /// # Errors
    /// As [`Store::wait`].
    pub fn flush(&self) -> Result<(), StoreError> {
        self.wait(self.ticket())
    }

    /// Commits sled if it was written since its last commit (the flusher's helper's call),
    /// syncing its log unless `fsync` is off.
    fn commit_sled(&self) -> Result<(), StoreError> {
        if !self.shared.sled_dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        self.commit_sled_now(self.shared.options.fsync)
    }

    /// Commits sled; with `sync`, makes it durable.
    fn commit_sled_now(&self, sync: bool) -> Result<(), StoreError> {
        let _one_at_a_time = self
            .shared
            .sled_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Cleared first: a write after this point sets them again for the next commit.
        let dirty = self.shared.sled_dirty.swap(false, Ordering::AcqRel);
        let unsynced = sync && self.shared.sled_unsynced.swap(false, Ordering::AcqRel);
        let result = self.write_engine(|engine| engine.commit(sync));
        if result.is_err() {
            self.shared.sled_dirty.fetch_or(dirty, Ordering::AcqRel);
            self.shared
                .sled_unsynced
                .fetch_or(unsynced, Ordering::AcqRel);
        } else if !sync {
            self.shared.sled_unsynced.store(true, Ordering::Release);
        }
        result
    }

    /// Writes and syncs the journal and the audit log, and commits sled if it was written:
    /// the background writer's call every half second, and the last act of a clean shutdown.
    /// It bounds what a crash or a power loss can take of changes nobody waits on (slides,
    /// sweeps, audit outcomes), and with `fsync = false` of acknowledged ones, to the interval
    /// between calls; and it keeps short the tail of audit entries that only the journal
    /// carries.
    ///
    /// # Errors
    /// If a write or a sync fails; unwritten changes stay queued.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.shared.sessions.write_and_sync()?;
        self.sync_audit()?;
        if self.shared.sled_dirty.load(Ordering::Acquire)
            || self.shared.sled_unsynced.load(Ordering::Acquire)
        {
            self.commit_sled_now(true)?;
        }
        Ok(())
    }

    /// A clean shutdown's last act: a checkpoint, and a compaction of the session journal if
    /// it holds twice what its live sessions need (audit entries the log has synced, ended
    /// sessions), so the next start reads less.
    ///
    /// # Errors
    /// As [`Store::checkpoint`], or if the compaction fails (the old journal then stays).
    pub fn close(&self) -> Result<(), StoreError> {
        self.checkpoint()?;
        if self.shared.sessions.compaction_due(true) {
            self.compact_sessions()?;
        }
        Ok(())
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
        if kind != StoredKind::Session {
            let e = self.engine()?;
            let Some(found) = e.credential(hash)? else {
                return Ok(None);
            };
            // Only the hash its id maps back to counts: a record under any other hash (left by
            // a forged backup restored before restores were checked) never verifies, so
            // revoking the id stops every token that claims it.
            return Ok(match e.credential_ids.get(found.record.id.as_bytes())? {
                Some(mapped) if mapped.as_ref() == hash.as_slice() => Some(found),
                _ => None,
            });
        }
        let sessions = &self.shared.sessions;
        let Some((mut record, known)) = sessions.find_with_owner_scopes(hash) else {
            return Ok(None);
        };
        if known != OwnerScopes::None {
            record.scopes = self.owner_scopes(record.owner)?;
            if known == OwnerScopes::Unknown {
                sessions.learn_owner_scopes(record.id, OwnerScopes::of(&record.scopes));
            }
        }
        Ok(Some(Found::session(*hash, record)))
    }

    /// A session owner's scopes: from memory, or read once from sled.
    fn owner_scopes(&self, owner: Uuid) -> Result<sessions::Scopes, StoreError> {
        let sessions = &self.shared.sessions;
        if let Some(scopes) = sessions.scopes_of(owner) {
            return Ok(scopes);
        }
        let scopes = self.engine()?.owner_scopes(owner)?;
        sessions.remember_scopes(owner, scopes.clone());
        Ok(scopes)
    }

    /// The credential with public id `id`.
    pub(crate) fn credential_by_id(&self, id: Uuid) -> Result<Option<Found>, StoreError> {
        if let Some((hash, record)) = self.shared.sessions.by_id(id) {
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
        if record.kind == StoredKind::Session {
            self.shared.sessions.insert(hash, record);
            return Ok(());
        }
        let bytes = records::encode_credential(record)?;
        let new = self.write(|e| {
            if let Some(at) = record.expires_at {
                e.expiry_index.insert(expiry_key(at, record.id), &[])?;
            }
            e.owner_index
                .insert(owner_key(record.owner, record.id), &[])?;
            e.credential_ids.insert(record.id.as_bytes(), hash)?;
            Ok(e.credentials.insert(hash, bytes)?.is_none())
        })?;
        if new {
            self.shared.counts.credential(record.kind, true);
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
        let Raw::Sled(raw) = &found.raw else {
            return Ok(self.shared.sessions.replace(&found.record, updated));
        };
        let bytes = records::encode_credential(updated)?;
        self.write(|e| {
            Ok(e.credentials
                .compare_and_swap(found.hash, Some(raw), Some(bytes))?
                .is_ok())
        })
    }

    /// Deletes a credential: the record first, so it stops verifying at once, then its indexes.
    ///
    /// Returns `false` if it had already gone or changed since it was read.
    pub(crate) fn remove_credential(&self, found: &Found) -> Result<bool, StoreError> {
        if let Raw::Session = found.raw {
            return Ok(self.shared.sessions.remove(&found.record));
        }
        let removed = self.write(|e| sled_remove(e, found))?;
        if removed {
            self.shared.counts.credential(found.record.kind, false);
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
                });
            }
        }
        let mut removed = 0;
        for found in claims {
            if self.write(|e| sled_remove(e, &found))? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Whether [`Store::credentials_of`] answers without waiting: the session owner index is
    /// built in the background after open.
    pub(crate) fn owner_index_ready(&self) -> bool {
        self.shared.sessions.owners_ready()
    }

    /// Every live-or-not credential filed under `owner`. Dangling index entries are skipped.
    pub(crate) fn credentials_of(&self, owner: Uuid) -> Result<Vec<Found>, StoreError> {
        let e = self.engine()?;
        let mut out: Vec<Found> = self
            .shared
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

    /// The principal with id `id`.
    pub(crate) fn principal(&self, id: Uuid) -> Result<Option<PrincipalRecord>, StoreError> {
        match self.engine()?.principals.get(id.as_bytes())? {
            Some(raw) => Ok(Some(records::decode("principals", &raw)?)),
            None => Ok(None),
        }
    }

    /// Stores a principal.
    pub(crate) fn insert_principal(&self, record: &PrincipalRecord) -> Result<(), StoreError> {
        let bytes = records::encode(record)?;
        let new =
            self.write(|e| Ok(e.principals.insert(record.id.as_bytes(), bytes)?.is_none()))?;
        if new {
            self.shared.counts.principal(record.kind, true);
        }
        Ok(())
    }

    /// Deletes a principal.
    pub(crate) fn remove_principal(&self, id: Uuid) -> Result<(), StoreError> {
        let old = self.write(|e| Ok(e.principals.remove(id.as_bytes())?))?;
        // One that does not decode was not counted either (see `counts`).
        if let Some(Ok(old)) = old.map(|raw| records::decode::<PrincipalRecord>("principals", &raw))
        {
            self.shared.counts.principal(old.kind, false);
        }
        Ok(())
    }

    /// Every principal, in id order.
    pub(crate) fn principals(
        &self,
    ) -> Result<impl Iterator<Item = Result<PrincipalRecord, StoreError>>, StoreError> {
        Ok(self
            .engine()?
            .principals
            .iter()
            .map(|entry| records::decode("principals", &entry?.1)))
    }

    /// What the store holds, by kind, until swept: kept as it changes, so this reads four
    /// counters and the session table's length.
    pub(crate) fn counts(&self) -> (Tally, u64) {
        (self.shared.counts.get(), self.shared.sessions.len() as u64)
    }

    /// Rewrites the session journal to hold exactly the sessions in memory, whatever its size.
    /// The sweeper does this when the journal is mostly garbage; tests call it to check that
    /// replaying a compacted journal gives back the same sessions.
    ///
    /// # Errors
    /// If writing the new journal fails; the old one stays.
    pub fn compact_sessions(&self) -> Result<(), StoreError> {
        // The audit entries the log has synced need not be carried into the new journal.
        let carried_to = self.sync_audit()?;
        self.shared.sessions.compact(carried_to)
    }

    /// The ids of the sessions expired at `now`, for [`Store::sweep_sessions`].
    pub(crate) fn expired_sessions(&self, now: UnixMillis) -> Vec<Uuid> {
        self.shared.sessions.expired(now)
    }

    /// Ends those of `ids` still expired at `now`; returns how many. Cheap per id and never
    /// blocks on I/O, so an event-loop thread may call it with a few ids at a time.
    pub(crate) fn sweep_sessions(&self, ids: &[Uuid], now: UnixMillis) -> u64 {
        self.shared.sessions.sweep(ids, now)
    }

    /// Compacts the session journal if it has grown well past what its sessions need.
    ///
    /// # Errors
    /// If the compaction fails; the old journal stays.
    pub(crate) fn compact_sessions_if_due(&self) -> Result<(), StoreError> {
        if self.shared.sessions.compaction_due(false) {
            self.compact_sessions()?;
        }
        Ok(())
    }

    /// Up to `limit` expiry-index entries due at or before `now`, oldest first.
    pub(crate) fn due(
        &self,
        now: UnixMillis,
        limit: usize,
    ) -> Result<Vec<(UnixMillis, Uuid)>, StoreError> {
        let end = expiry_key(now, Uuid::max());
        let mut out = Vec::new();
        for entry in self
            .engine()?
            .expiry_index
            .range(..=end.as_slice())
            .take(limit)
        {
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
        self.write(|e| {
            if let Some(to) = to {
                e.expiry_index.insert(expiry_key(to, id), &[])?;
            }
            e.expiry_index.remove(expiry_key(from, id))?;
            Ok(())
        })
    }

    /// Removes an index entry whose credential is gone, and any leftovers of it.
    pub(crate) fn remove_dangling(&self, at: UnixMillis, id: Uuid) -> Result<(), StoreError> {
        self.write(|e| {
            e.credential_ids.remove(id.as_bytes())?;
            e.expiry_index.remove(expiry_key(at, id))?;
            Ok(())
        })
    }

    /// Adds to the persistent sweep counters.
    pub(crate) fn count_sweep(&self, swept: u64) -> Result<(), StoreError> {
        self.write(|e| {
            add_counter(&e.meta, SWEEPS_RUN, 1)?;
            add_counter(&e.meta, CREDENTIALS_SWEPT, swept)
        })
    }

    /// `(sweeps_run, credentials_swept)`.
    pub(crate) fn sweep_counters(&self) -> Result<(u64, u64), StoreError> {
        let e = self.engine()?;
        Ok((
            read_u64(&e.meta, SWEEPS_RUN)?,
            read_u64(&e.meta, CREDENTIALS_SWEPT)?,
        ))
    }
}

/// An opened engine with the counts of what it holds.
fn counted(engine: Engine) -> Result<(Engine, Tally), StoreError> {
    let tally = Tally::of(&engine)?;
    Ok((engine, tally))
}

/// Runs `open`, adding how many milliseconds it took.
fn timed<T>(open: impl FnOnce() -> Result<T, StoreError>) -> Result<(T, u64), StoreError> {
    let started = Instant::now();
    let opened = open()?;
    Ok((opened, started.elapsed().as_millis() as u64))
}

/// Opens an engine, retrying for a while on sled's directory lock: sled releases it from a
/// background thread after the last handle drops (spacejam/sled#1234), so a reopen right after
/// a drop can briefly find it held.
fn open_retrying(dir: &Path, options: StoreOptions) -> Result<Engine, StoreError> {
    let deadline = Instant::now() + REOPEN_DRAIN;
    loop {
        match Engine::open(dir, options) {
            Err(StoreError::Sled(sled::Error::Io(e)))
                if Instant::now() < deadline && e.to_string().contains("lock") =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Free bytes for unprivileged writers on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Result<u64, StoreError> {
    let stat = nix::sys::statvfs::statvfs(dir).map_err(|e| StoreError::Io(e.into()))?;
    Ok(stat.blocks_available().saturating_mul(stat.fragment_size()))
}

impl Store {
    /// Appends an audit entry; returns its key, for [`Store::update_audit`].
    ///
    /// The entry is queued in the audit log and then in the session journal, which carries it:
    /// the next group commit makes it durable with whatever change it describes, without a
    /// sled commit. Checkpoints write and sync the log in the background; at open, the
    /// entries the journal carries past the log's last sync are copied back. A refused attempt
    /// the log's full queue drops is not carried either (see [`audit_log`]).
    ///
    /// # Errors
    /// If the entry cannot be encoded.
    pub(crate) fn append_audit(
        &self,
        record: &AuditRecord,
        priority: AuditPriority,
    ) -> Result<AuditKey, StoreError> {
        let key = audit_key(record.at);
        let bytes = records::encode_audit(record)?;
        let queued = self.shared.audit.append(&key, &bytes, priority)?;
        if queued || priority == AuditPriority::Action {
            self.shared.sessions.append_audit(&key, &bytes);
        }
        Ok(key)
    }

    /// Replaces an audit entry (with its outcome, once known, or a larger count). Lazily
    /// durable: the next checkpoint syncs it.
    ///
    /// # Errors
    /// If the entry cannot be encoded.
    pub(crate) fn update_audit(
        &self,
        key: &AuditKey,
        record: &AuditRecord,
        priority: AuditPriority,
    ) -> Result<(), StoreError> {
        self.shared
            .audit
            .append(key, &records::encode_audit(record)?, priority)
            .map(drop)
    }

    /// Audit entries dropped since the store opened because the log's queue was full.
    pub(crate) fn audit_dropped(&self) -> u64 {
        self.shared.audit.dropped()
    }

    /// The most recent `limit` audit entries at or after `since` and before the key `before`
    /// that `select` keeps, oldest first, with their keys; and whether an older one is kept
    /// too. `select` sees every version of an entry; see [`audit_log::AuditLog::page`].
    ///
    /// # Errors
    /// If the log cannot be read or holds a garbled entry.
    pub(crate) fn audit_page(
        &self,
        since: UnixMillis,
        before: Option<&AuditKey>,
        limit: usize,
        mut select: impl FnMut(&AuditRecord) -> bool,
    ) -> Result<(Vec<(AuditKey, AuditRecord)>, bool), StoreError> {
        self.shared.audit.page(
            &expiry_key(since, Uuid::nil()),
            before.unwrap_or(&[u8::MAX; 24]),
            limit,
            |bytes| {
                let record = records::decode_audit(bytes)?;
                Ok(select(&record).then_some(record))
            },
        )
    }

    /// Deletes audit entries older than `before`, and the oldest while the log holds more than
    /// `max_bytes`, a segment at a time (see [`audit_log`]); returns how many.
    ///
    /// # Errors
    /// If a segment cannot be read or deleted.
    pub(crate) fn prune_audit(
        &self,
        before: UnixMillis,
        max_bytes: u64,
    ) -> Result<u64, StoreError> {
        self.shared
            .audit
            .prune(&expiry_key(before, Uuid::nil()), max_bytes)
    }

    /// Hands every entry of every tree in [`TREES`] to `sink`, tree by tree in key order. The
    /// commit generation is left out: it belongs to the data dir, not to the data.
    ///
    /// The caller must keep writers out for the duration if it needs a consistent snapshot.
    pub(crate) fn export(
        &self,
        mut sink: impl FnMut(u8, &[u8], &[u8]) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let e = self.engine()?;
        let mut n = 0;
        for (id, _) in TREES {
            if id == 1 {
                n += self.export_sessions(&mut sink)?;
            }
            if id == AUDIT_TREE {
                n += self
                    .shared
                    .audit
                    .for_each(|key, entry| sink(id, key, entry))?;
                continue;
            }
            let tree = e.tree(id).expect("TREES lists only known trees");
            for entry in tree.iter() {
                let (key, value) = entry?;
                if id == 6 && key.as_ref() == GENERATION {
                    continue;
                }
                if self.dangling(&e, id, &key, &value)? {
                    continue;
                }
                sink(id, &key, &value).map_err(StoreError::Io)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Whether an index entry points at no record: a crash between a record's write and its
    /// indexes' leaves such entries, which readers skip. A backup leaves them out, so that a
    /// restore can refuse every index entry without a record as forged.
    fn dangling(&self, e: &Engine, tree: u8, key: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let id = match tree {
            2 => return Ok(!e.credentials.contains_key(value)?),
            4 | 5 => key.get(key.len().saturating_sub(16)..),
            _ => return Ok(false),
        };
        match id.and_then(|b| Uuid::from_slice(b).ok()) {
            Some(id) => Ok(self.credential_by_id(id)?.is_none()),
            None => Ok(false),
        }
    }

    /// Hands every session to `sink` as a `credentials` entry: backups look the same whether
    /// sessions live in sled or in the journal.
    fn export_sessions(
        &self,
        sink: &mut impl FnMut(u8, &[u8], &[u8]) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        let mut result = Ok(());
        self.shared.sessions.for_each(|hash, record| {
            if result.is_ok() {
                result = records::encode_credential(&record)
                    .and_then(|bytes| sink(1, hash, &bytes).map_err(StoreError::Io));
                n += 1;
            }
        });
        result.map(|()| n)
    }

    /// Inserts one backed-up entry (restore). Unknown tree ids are corruption.
    ///
    /// A session's `credentials` entry goes to the journal, and the index entries that an
    /// older layout kept for it in sled are dropped.
    pub(crate) fn import(&self, tree: u8, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if tree == AUDIT_TREE {
            let key: AuditKey = key.try_into().map_err(|_| {
                StoreError::corrupt("backup", "an audit key of the wrong length".into())
            })?;
            return self.shared.audit.restore(&key, value);
        }
        if tree == 1 {
            let (record, _) = records::decode_credential(value)?;
            if record.kind == StoredKind::Session {
                let hash = hash_from("credentials", key)?;
                self.shared.sessions.insert(&hash, &record);
                return Ok(());
            }
        }
        let indexed_id = match tree {
            2 => key.get(..16),
            4 | 5 => key.get(key.len().saturating_sub(16)..),
            _ => None,
        };
        if let Some(id) = indexed_id.and_then(|b| Uuid::from_slice(b).ok()) {
            if self.shared.sessions.by_id(id).is_some() {
                return Ok(());
            }
        }
        self.write(|e| {
            let tree = e
                .tree(tree)
                .ok_or_else(|| StoreError::corrupt("backup", format!("unknown tree {tree}")))?;
            tree.insert(key, value)?;
            Ok(())
        })
    }

    /// Whether the store holds no credential and no principal.
    pub(crate) fn is_empty(&self) -> Result<bool, StoreError> {
        let e = self.engine()?;
        Ok(e.credentials.is_empty() && e.principals.is_empty() && self.shared.sessions.len() == 0)
    }
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

fn add_counter(meta: &sled::Tree, name: &[u8], by: u64) -> Result<(), StoreError> {
    meta.fetch_and_update(name, |old| {
        let n = old
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        Some(n.saturating_add(by).to_be_bytes().to_vec())
    })?;
    Ok(())
}

/// A big-endian counter from the `meta` tree; absent is zero.
pub(crate) fn read_u64(meta: &sled::Tree, name: &[u8]) -> Result<u64, StoreError> {
    Ok(meta
        .get(name)?
        .and_then(|b| b.as_ref().try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use records::{StoredEnv, StoredLevel};

    /// A session record that never expires in a test, as a backup or an old layout holds it:
    /// without scopes.
    fn live_session(id: Uuid, owner: Uuid) -> CredentialRecord {
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

    fn audit_entry(at: UnixMillis) -> AuditRecord {
        AuditRecord {
            at,
            uid: 0,
            gid: 0,
            pid: 1,
            admin_key: None,
            action: "session_issue".into(),
            target: None,
            outcome: StoredOutcome::Pending,
            count: 1,
        }
    }

    fn outcome_of(store: &Store) -> Vec<(UnixMillis, StoredOutcome)> {
        store
            .audit_page(0, None, 100, |_| true)
            .unwrap()
            .0
            .into_iter()
            .map(|(_, r)| (r.at, r.outcome))
            .collect()
    }

    /// Audit entries through crashes (simulated by dropping the store without a checkpoint:
    /// the log's queue is lost, the journal is synced): an entry the journal made durable comes
    /// back, once; an outcome synced by a checkpoint stays; one that was not reads `pending`;
    /// a compaction carries what the log had not synced; and entries an older layout kept in
    /// sled move into the log.
    #[test]
    fn audit_entries_through_crashes() {
        use StoredOutcome::{Ok as Done, Pending};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .append_audit(&audit_entry(10), AuditPriority::Action)
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(outcome_of(&store), vec![(10, Pending)]);

        let synced = store
            .append_audit(&audit_entry(20), AuditPriority::Action)
            .unwrap();
        store.checkpoint().unwrap();
        let mut done = audit_entry(20);
        done.outcome = Done;
        store
            .update_audit(&synced, &done, AuditPriority::Action)
            .unwrap();
        store.checkpoint().unwrap();
        let unsynced = store
            .append_audit(&audit_entry(30), AuditPriority::Action)
            .unwrap();
        store.flush().unwrap();
        let mut done = audit_entry(30);
        done.outcome = Done;
        store
            .update_audit(&unsynced, &done, AuditPriority::Action)
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            outcome_of(&store),
            vec![(10, Pending), (20, Done), (30, Pending)]
        );

        store
            .append_audit(&audit_entry(40), AuditPriority::Action)
            .unwrap();
        store.compact_sessions().unwrap();
        store
            .append_audit(&audit_entry(50), AuditPriority::Action)
            .unwrap();
        store.flush().unwrap();
        let mut legacy = audit_entry(5);
        legacy.outcome = Done;
        let legacy_key = expiry_key(5, Uuid::new_v4());
        store
            .write(|e| {
                e.audit
                    .insert(legacy_key, records::encode_audit(&legacy)?)?;
                Ok(())
            })
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            outcome_of(&store),
            vec![
                (5, Done),
                (10, Pending),
                (20, Done),
                (30, Pending),
                (40, Pending),
                (50, Pending)
            ]
        );
        assert!(store.engine().unwrap().audit.is_empty());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(outcome_of(&store).len(), 6, "nothing is copied twice");
    }

    /// A session restored from a backup (exported without scopes) verifies with its client's
    /// scopes, read from sled, not with the empty list the backup carried.
    #[test]
    fn imported_sessions_take_their_owners_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let scopes = vec![("billing".to_owned(), StoredLevel::Write)];
        let client = PrincipalRecord {
            id: Uuid::new_v4(),
            kind: PrincipalKind::Client,
            env: StoredEnv::Live,
            label: None,
            scopes: scopes.clone(),
            max_sessions: None,
            created_at: 0,
        };
        store.insert_principal(&client).unwrap();
        let hash = [3u8; 32];
        let record = live_session(session_id(&hash), client.id);
        let bytes = records::encode_credential(&record).unwrap();
        store.import(1, &hash, &bytes).unwrap();
        let found = store
            .credential(&hash, StoredKind::Session)
            .unwrap()
            .expect("imported");
        assert_eq!(found.record.scopes, scopes);
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
            .write(|e| {
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

    /// Index entries a crash left without a record are not exported, so that a restore may
    /// refuse every such entry as forged.
    #[test]
    fn dangling_index_entries_stay_out_of_backups() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let gone = Uuid::new_v4();
        store
            .write(|e| {
                e.owner_index.insert(owner_key(Uuid::new_v4(), gone), &[])?;
                e.expiry_index.insert(expiry_key(5, gone), &[])?;
                e.credential_ids.insert(gone.as_bytes(), &[4u8; 32])?;
                Ok(())
            })
            .unwrap();
        let mut trees = Vec::new();
        store
            .export(|tree, _, _| {
                trees.push(tree);
                Ok(())
            })
            .unwrap();
        assert!(!trees.iter().any(|t| [2, 4, 5].contains(t)), "{trees:?}");
    }

    /// A data dir of the older layout, with a session in sled's trees under a random id: opening
    /// it moves the session into the journal, where it is found by hash and by its old id, and
    /// sled keeps nothing of it; the move happens once.
    #[test]
    fn sessions_in_sled_move_to_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let hash = [9u8; 32];
        let record = CredentialRecord {
            last_used_at: Some(2),
            ..live_session(Uuid::new_v4(), Uuid::new_v4())
        };
        {
            let store = Store::open(dir.path()).unwrap();
            let bytes = records::encode_credential(&record).unwrap();
            store
                .write(|e| {
                    e.owner_index
                        .insert(owner_key(record.owner, record.id), &[])?;
                    e.credential_ids.insert(record.id.as_bytes(), &hash)?;
                    e.credentials.insert(hash, bytes)?;
                    e.meta.remove(LAYOUT)?;
                    Ok(())
                })
                .unwrap();
            store.flush().unwrap();
        }
        for _ in 0..2 {
            let store = Store::open(dir.path()).unwrap();
            let found = store
                .credential(&hash, StoredKind::Session)
                .unwrap()
                .expect("found by hash");
            assert_eq!(found.record.id, record.id);
            assert_eq!(found.record.last_used_at, Some(2));
            assert!(store.credential_by_id(record.id).unwrap().is_some());
            assert_eq!(store.credentials_of(record.owner).unwrap().len(), 1);
            let e = store.engine().unwrap();
            assert!(e.credentials.is_empty() && e.credential_ids.is_empty());
            assert!(e.owner_index.is_empty());
        }
    }
}
