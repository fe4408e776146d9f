//! Reopening sled after a write failure: [`Failover`] owns the engine and the failure state.
//!
//! sled latches the first I/O error of a write (for example ENOSPC) and fails every later write
//! until it is reopened. So after a write fails, the next write attempt (at most once per
//! second) drops the engine and reopens it from disk: what was acknowledged is there, what
//! failed was never acknowledged, and writes resume once the cause (a full disk) is gone.

use arc_swap::ArcSwapOption;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::counts::{Counts, Tally};
use super::engine::Engine;
use super::{StoreError, StoreOptions};

/// How often a failed store may try to reopen itself.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// Free space a reopen needs: sled writes whole segments (512 KiB by default).
const REOPEN_MIN_FREE: u64 = 2 << 20;
/// How long a reopen waits for in-flight operations to let go of the failed engine.
const REOPEN_DRAIN: Duration = Duration::from_secs(2);

/// The current engine, and whether (and why) a write to it failed.
pub(super) struct Failover {
    dir: PathBuf,
    options: StoreOptions,
    /// Absent only while a reopen swaps it.
    engine: ArcSwapOption<Engine>,
    /// Set when a write failed; cleared by a successful reopen.
    failed: AtomicBool,
    /// Why the last write failed, for the errors returned until the reopen.
    failure: Mutex<String>,
    /// When the last reopen was tried.
    last_reopen: Mutex<Option<Instant>>,
}

impl Failover {
    /// Starts with `engine`, opened from `dir` with `options`.
    pub(super) fn new(dir: &Path, options: StoreOptions, engine: Engine) -> Failover {
        Failover {
            dir: dir.to_owned(),
            options,
            engine: ArcSwapOption::from_pointee(engine),
            failed: AtomicBool::new(false),
            failure: Mutex::new(String::new()),
            last_reopen: Mutex::new(None),
        }
    }

    /// The data dir.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// How the store was opened.
    pub(super) fn options(&self) -> StoreOptions {
        self.options
    }

    /// The engine for a read.
    pub(super) fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        self.engine.load_full().ok_or_else(|| self.reopening())
    }

    fn reopening(&self) -> StoreError {
        let why = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        StoreError::Reopening(why.clone())
    }

    /// Runs a write against the engine, reopening it first if an earlier write failed (and
    /// then recounting `counts`), and noting a failure of this one.
    pub(super) fn write<T>(
        &self,
        counts: &Counts,
        f: impl FnOnce(&Engine) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.failed.load(Ordering::Acquire) {
            self.reopen(counts)?;
        }
        let engine = self.engine()?;
        let result = f(&engine);
        if let Err(e) = &result {
            if e.is_io() {
                *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = e.to_string();
                self.failed.store(true, Ordering::Release);
            }
        }
        result
    }

    /// Drops the failed engine and opens a fresh one from disk, at most once per
    /// [`REOPEN_EVERY`].
    fn reopen(&self, counts: &Counts) -> Result<(), StoreError> {
        let mut last = self.last_reopen.lock().unwrap_or_else(|p| p.into_inner());
        if !self.failed.load(Ordering::Acquire) {
            return Ok(()); // Another thread reopened it while this one waited.
        }
        if last.is_some_and(|at| at.elapsed() < REOPEN_EVERY) {
            return Err(self.reopening());
        }
        *last = Some(Instant::now());
        // Reads keep using the failed engine; give it up only once a reopen can succeed.
        let free = free_bytes(&self.dir)?;
        if free < REOPEN_MIN_FREE {
            return Err(StoreError::Reopening(format!(
                "{free} bytes free in {}; writes resume once {REOPEN_MIN_FREE} are",
                self.dir.display()
            )));
        }
        if let Some(old) = self.engine.swap(None) {
            // sled holds a file lock until every handle to the old engine is gone.
            let deadline = Instant::now() + REOPEN_DRAIN;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        // Counted before it is shared: what the failed engine had counted may not be on disk.
        match open_retrying(&self.dir, self.options).and_then(counted) {
            Ok((engine, tally)) => {
                counts.set(tally);
                self.engine.store(Some(Arc::new(engine)));
                self.failed.store(false, Ordering::Release);
                tracing::warn!(dir = %self.dir.display(), "store reopened after a write failure");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "reopening the store failed; will retry");
                Err(e)
            }
        }
    }
}

/// An opened engine with the counts of what it holds.
pub(super) fn counted(engine: Engine) -> Result<(Engine, Tally), StoreError> {
    let tally = Tally::of(&engine)?;
    Ok((engine, tally))
}

/// Opens an engine, retrying for a while on sled's directory lock: sled releases it from a
/// background thread after the last handle drops (spacejam/sled#1234), so a reopen right after
/// a drop (a failover here, or a store reopened in the same process) can briefly find it held.
/// Another process holding the data dir still gets sled's lock error, two seconds later.
pub(super) fn open_retrying(dir: &Path, options: StoreOptions) -> Result<Engine, StoreError> {
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
