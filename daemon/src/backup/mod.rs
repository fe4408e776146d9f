//! Backup and restore.
//!
//! A backup is a consistent snapshot taken while the daemon keeps serving: changes are held off
//! (not verifies) while the store's trees are written to a file in the data dir, which
//! `keyward backup` then reads in chunks over the socket. Restore is offline: `keywardd restore
//! FILE` checks the whole file's checksum, and that its trees agree with one another
//! ([`check`]), before it writes anything into the data dir. With `backend = "etcd"` the
//! shared records come from etcd at one revision instead of this host's copy ([`shared`]).

mod check;
pub mod format;
mod restore;
mod shared;

pub use restore::{check_file, open_file, restore_file, RestoreError, RestoreReport};
pub(crate) use shared::SharedTruth;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::authority::Authority;
use crate::store::StoreError;

/// Bytes per [`Snapshots::read`]: well under the frame limit with room for framing.
pub const CHUNK: usize = 48 * 1024;
/// A snapshot not ended within this is deleted.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The snapshot file could not be written or read.
    #[error("snapshot file: {0}")]
    Io(#[from] std::io::Error),
    /// No such snapshot (never begun, ended, or expired).
    #[error("no such backup in progress")]
    Unknown,
}

struct Snapshot {
    path: PathBuf,
    bytes: u64,
    begun: Instant,
}

/// Snapshots taken for backups and not yet fully read.
#[derive(Default)]
pub(crate) struct Snapshots {
    dir: PathBuf,
    open: Mutex<HashMap<Uuid, Snapshot>>,
    /// Set with a replicated backend: where the shared records are read from.
    truth: OnceLock<Arc<dyn SharedTruth>>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Snapshots {
    /// Snapshots kept under `<data dir>/backups`; leftovers of an earlier run are deleted.
    pub fn new(data_dir: &std::path::Path) -> Self {
        let dir = data_dir.join("backups");
        let _ = std::fs::remove_dir_all(&dir);
        Snapshots {
            dir,
            open: Mutex::default(),
            truth: OnceLock::new(),
        }
    }

    /// Takes the shared records of every later snapshot from `truth`, at one moment, rather
    /// than from this host's copy.
    pub fn read_from(&self, truth: Arc<dyn SharedTruth>) {
        let _ = self.truth.set(truth);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Snapshot>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a consistent snapshot; returns its id and size.
    pub fn begin(&self, authority: &Authority) -> Result<(Uuid, u64), BackupError> {
        self.expire_stale();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let id = Uuid::new_v4();
        let path = self.dir.join(format!("{id}.kwbk"));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)?;
        let now = authority.now_ms();
        let write = |store: &crate::store::Store| -> Result<u64, BackupError> {
            let mut writer = format::Writer::new(BufWriter::new(file), now)?;
            let sink = |tree, key: &[u8], value: &[u8]| writer.entry(tree, key, value);
            match self.truth.get() {
                Some(truth) => {
                    shared::export(&**truth, &self.dir.join(format!("{id}.load")), store, sink)?;
                }
                None => {
                    store.export(sink)?;
                }
            }
            let (out, _) = writer.finish()?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(std::fs::metadata(&path)?.len())
        };
        let written = match self.truth.get() {
            // One etcd revision is the snapshot: this host's changes need not wait.
            Some(_) => write(authority.store()),
            None => authority.frozen(write),
        };
        let bytes = match written {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        self.lock().insert(
            id,
            Snapshot {
                path,
                bytes,
                begun: Instant::now(),
            },
        );
        Ok((id, bytes))
    }

    /// Up to [`CHUNK`] bytes of snapshot `id` from `offset`; empty at the end.
    pub fn read(&self, id: Uuid, offset: u64) -> Result<Vec<u8>, BackupError> {
        let path = match self.lock().get(&id) {
            Some(s) if offset >= s.bytes => return Ok(Vec::new()),
            Some(s) => s.path.clone(),
            None => return Err(BackupError::Unknown),
        };
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(CHUNK);
        file.take(CHUNK as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Deletes snapshot `id`.
    pub fn end(&self, id: Uuid) -> Result<(), BackupError> {
        let snapshot = self.lock().remove(&id).ok_or(BackupError::Unknown)?;
        std::fs::remove_file(snapshot.path)?;
        Ok(())
    }

    /// Deletes snapshots abandoned mid-read.
    fn expire_stale(&self) {
        self.lock().retain(|_, s| {
            let keep = s.begun.elapsed() < STALE_AFTER;
            if !keep {
                let _ = std::fs::remove_file(&s.path);
            }
            keep
        });
    }
}
