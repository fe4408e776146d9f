//! When changes become durable: tickets for the group commit, sled's commits, checkpoints and
//! the clean shutdown.
//!
//! The flusher ([`super::flusher`]) syncs the session journal and, through [`Store::commit_sled`],
//! commits sled in parallel, but only if sled was written since its last commit: [`SledCommits`]
//! holds the flags that say so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::{Store, StoreError, Ticket};

/// Whether sled has changes its last commit did not cover, and the lock that orders commits.
#[derive(Debug, Default)]
pub(super) struct SledCommits {
    /// Set after a write to sled; cleared by the commit that makes it durable.
    dirty: AtomicBool,
    /// Set after a commit without a sync (`fsync = false`); cleared by a checkpoint's.
    unsynced: AtomicBool,
    /// Held by a sled commit: the flusher's helper and checkpoints both commit.
    commit: Mutex<()>,
}

impl SledCommits {
    /// Notes a write to sled. Called after the write, so a commit that sees the flag covers it.
    pub(super) fn written(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Whether sled was written since its last commit.
    pub(super) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }
}

impl Store {
    /// A ticket for every change the calling thread has made so far; it becomes durable with
    /// the next group commit (the journal synced and, if anything was written to it, sled
    /// flushed and `fdatasync`ed, the two in parallel).
    pub fn ticket(&self) -> Ticket {
        self.inner.committer.ticket()
    }

    /// Blocks until `ticket` is durable.
    ///
    /// # Errors
    /// If the commit that covered it failed to write to disk.
    pub fn wait(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.inner.committer.wait(ticket)
    }

    /// Resolves once `ticket` is durable, without blocking the thread.
    ///
    /// # Errors
    /// As [`Store::wait`].
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.inner.committer.durable(ticket).await
    }

    /// Wakes the futures of [`Store::durable`] after each flush, from the thread polling this:
    /// the daemon runs it as a task on its event loop for as long as it serves (see
    /// [`super::commit::Committer::relay`]). It holds the commit queue, not the store, so
    /// it keeps nothing on disk open.
    pub fn relay_commits(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let committer = std::sync::Arc::clone(&self.inner.committer);
        async move { committer.relay().await }
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
    pub(super) fn commit_sled(&self) -> Result<(), StoreError> {
        if !self.inner.sled.is_dirty() {
            return Ok(());
        }
        self.commit_sled_now(self.inner.failover.options().fsync)
    }

    /// Commits sled; with `sync`, makes it durable.
    fn commit_sled_now(&self, sync: bool) -> Result<(), StoreError> {
        let sled = &self.inner.sled;
        let _one_at_a_time = sled.commit.lock().unwrap_or_else(|p| p.into_inner());
        // Cleared first: a write after this point sets them again for the next commit.
        let dirty = sled.dirty.swap(false, Ordering::AcqRel);
        let unsynced = sync && sled.unsynced.swap(false, Ordering::AcqRel);
        let result = self
            .inner
            .failover
            .write(&self.inner.counts, |engine| engine.commit(sync));
        if result.is_err() {
            sled.dirty.fetch_or(dirty, Ordering::AcqRel);
            sled.unsynced.fetch_or(unsynced, Ordering::AcqRel);
        } else if !sync {
            sled.unsynced.store(true, Ordering::Release);
        }
        result
    }

    /// Writes and syncs the journal and the audit log, and commits sled if it was written:
    /// the background writer's call every half second, and the last act of a clean shutdown.
    /// A checkpoint with nothing new writes and syncs nothing, so an idle daemon leaves the
    /// disk alone: the journal syncs only past its synced length, the audit log only when its
    /// state would change, sled only when dirty or unsynced.
    /// It bounds what a crash or a power loss can take of changes nobody waits on (slides,
    /// sweeps, audit outcomes), and with `fsync = false` of acknowledged ones, to the interval
    /// between calls; and it keeps short the tail of audit entries that only the journal
    /// carries.
    ///
    /// # Errors
    /// If a write or a sync fails; unwritten changes stay queued.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.fold_usage_if_due()?;
        self.inner.sessions.write_and_sync()?;
        self.sync_audit()?;
        if self.inner.sled.is_dirty() || self.inner.sled.unsynced.load(Ordering::Acquire) {
            self.commit_sled_now(true)?;
        }
        Ok(())
    }

    /// A clean shutdown's last act: the sweeps counted only in memory saved, every use counted
    /// folded, a checkpoint, and
    /// a compaction of the session journal if it holds twice what its live sessions need (audit
    /// entries the log has synced, ended sessions), so the next start reads less.
    ///
    /// # Errors
    /// As [`Store::checkpoint`], or if the compaction fails (the old journal then stays).
    pub fn close(&self) -> Result<(), StoreError> {
        self.save_idle_sweeps()?;
        self.fold_all_usage()?;
        self.checkpoint()?;
        if self.inner.sessions.compaction_due(true) {
            self.compact_sessions()?;
        }
        Ok(())
    }
}
