//! What the sweeper asks of the store: expired sessions, due expiry-index entries, the sweep
//! counters, and compaction of the session journal.

use keyward_protocol::UnixMillis;
use std::sync::atomic::Ordering;
use uuid::Uuid;

use super::keys::{add_counter, expiry_key, read_u64, uuid_from, CREDENTIALS_SWEPT, SWEEPS_RUN};
use super::{Store, StoreError};

impl Store {
    /// Rewrites the session journal to hold exactly the sessions in memory, whatever its size.
    /// The sweeper does this when the journal is mostly garbage; tests call it to check that
    /// replaying a compacted journal gives back the same sessions.
    ///
    /// # Errors
    /// If writing the new journal fails; the old one stays.
    pub fn compact_sessions(&self) -> Result<(), StoreError> {
        // The audit entries the log has synced need not be carried into the new journal.
        let carried_to = self.sync_audit()?;
        self.inner.sessions.compact(carried_to)
    }

    /// The ids of the sessions expired at `now`, for [`Store::sweep_sessions`].
    pub(crate) fn expired_sessions(&self, now: UnixMillis) -> Vec<Uuid> {
        self.inner.sessions.expired(now)
    }

    /// Ends those of `ids` still expired at `now`; returns how many. Cheap per id and never
    /// blocks on I/O, so an event-loop thread may call it with a few ids at a time.
    pub(crate) fn sweep_sessions(&self, ids: &[Uuid], now: UnixMillis) -> u64 {
        let mut retired = Vec::new();
        let swept = self.inner.sessions.sweep(ids, now, |owner, uses, last| {
            retired.push((owner, uses, last))
        });
        // Uses counted before they expired still reach their owners' totals.
        self.retire_swept_usage(retired);
        swept
    }

    /// Compacts the session journal if it has grown well past what its sessions need.
    ///
    /// # Errors
    /// If the compaction fails; the old journal stays.
    pub(crate) fn compact_sessions_if_due(&self) -> Result<(), StoreError> {
        if self.inner.sessions.compaction_due(false) {
            self.compact_sessions()?;
        }
        Ok(())
    }

    /// Up to `limit` expiry-index entries due at or before `now`, oldest first.
    pub(crate) fn expiry_entries_due(
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
        self.write_sled(|e| {
            if let Some(to) = to {
                e.expiry_index.insert(expiry_key(to, id), &[])?;
            }
            e.expiry_index.remove(expiry_key(from, id))?;
            Ok(())
        })
    }

    /// Removes an index entry whose credential is gone, and any leftovers of it.
    pub(crate) fn remove_dangling(&self, at: UnixMillis, id: Uuid) -> Result<(), StoreError> {
        self.write_sled(|e| {
            e.credential_ids.remove(id.as_bytes())?;
            e.expiry_index.remove(expiry_key(at, id))?;
            Ok(())
        })
    }

    /// Counts a sweep. One that removed nothing is only counted in memory, and persisted with
    /// the next one that did (or lost in a crash: it is a statistic), so that an idle daemon's
    /// sweeps give the checkpoint nothing to write.
    pub(crate) fn count_sweep(&self, swept: u64) -> Result<(), StoreError> {
        let idle = &self.inner.idle_sweeps;
        if swept == 0 {
            idle.fetch_add(1, Ordering::AcqRel);
            return Ok(());
        }
        let runs = 1 + idle.swap(0, Ordering::AcqRel);
        let written = self.write_sled(|e| {
            add_counter(&e.meta, SWEEPS_RUN, runs)?;
            add_counter(&e.meta, CREDENTIALS_SWEPT, swept)
        });
        if written.is_err() {
            idle.fetch_add(runs - 1, Ordering::AcqRel);
        }
        written
    }

    /// Persists the sweeps counted only in memory: a clean shutdown's, so `stats` carries them
    /// over a restart.
    pub(super) fn save_idle_sweeps(&self) -> Result<(), StoreError> {
        let runs = self.inner.idle_sweeps.swap(0, Ordering::AcqRel);
        if runs == 0 {
            return Ok(());
        }
        self.write_sled(|e| add_counter(&e.meta, SWEEPS_RUN, runs))
    }

    /// `(sweeps_run, credentials_swept)`.
    pub(crate) fn sweep_counters(&self) -> Result<(u64, u64), StoreError> {
        let e = self.engine()?;
        let idle = self.inner.idle_sweeps.load(Ordering::Acquire);
        Ok((
            read_u64(&e.meta, SWEEPS_RUN)? + idle,
            read_u64(&e.meta, CREDENTIALS_SWEPT)?,
        ))
    }
}
