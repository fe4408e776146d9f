//! The sweep: delete expired credentials.
//!
//! Sessions are swept in memory (one pass over the session table to list the expired, then
//! their removal, one journal record each). Other expiring credentials (API tokens) are found
//! through sled's expiry index, whose entries due by now are all a sweep reads. Deletions are
//! not flushed: an expired credential never verifies anyway, and one whose deletion a crash
//! undoes is simply swept again.
//!
//! The three steps are separate calls so that the sweeper can run each where it costs least:
//! the listing and the index on the blocking pool, the session removals on the event loop in
//! small slices between requests (see `sweeper.rs`). [`Change::sweep`] runs them all at once.

use keyward_protocol::UnixMillis;
use uuid::Uuid;

use super::{Authority, Change, Fault};
use crate::store::StoredKind;

/// Index entries handled per batch; the sweep yields the store between batches.
const BATCH: usize = 4096;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired credentials deleted.
    pub swept: u64,
    /// Index entries of slid sessions moved to their new expiry.
    pub moved: u64,
}

/// The sessions a sweep will end: those expired at `now` when the table was scanned.
#[derive(Debug, Default)]
pub struct Expired {
    /// The time the sweep sweeps to; every step of one sweep uses it.
    pub now: UnixMillis,
    /// Their ids, in table order (which keeps the removals' memory accesses in order too).
    pub ids: Vec<Uuid>,
}

impl Authority {
    /// A sweep's first step: lists the sessions expired by now. Reads only, one shard of the
    /// table at a time, so it needs no [`Change`] and holds up no request.
    pub fn expired_sessions(&self) -> Expired {
        // With a replica, a session is ended here only once past its expiry by the grace
        // another host's slide may take to arrive; verify refuses it from its expiry on.
        let now = self.now() - self.store.sweep_grace_ms();
        Expired {
            now,
            ids: self.store.expired_sessions(now),
        }
    }
}

impl Change<'_> {
    /// Deletes every credential expired by now: all three steps of a sweep at once.
    ///
    /// # Errors
    /// If the store fails; work already done stays done.
    pub fn sweep(&self) -> Result<SweepReport, Fault> {
        let expired = self.expired_sessions();
        let swept = self.sweep_sessions(&expired.ids, expired.now);
        self.sweep_rest(expired.now, swept)
    }

    /// A sweep's second step: ends those of `ids` still expired at `now` (a session that a
    /// backward clock jump let slide since it was listed stays); returns how many ended.
    /// Never blocks on I/O and costs well under a microsecond per id.
    pub fn sweep_sessions(&self, ids: &[Uuid], now: UnixMillis) -> u64 {
        self.store.sweep_sessions(ids, now)
    }

    /// A sweep's last step, after its `sessions_swept` session removals: compacts the
    /// session journal if it is due, deletes the other credentials expired at `now`, and
    /// counts the sweep.
    ///
    /// # Errors
    /// If the store fails; work already done stays done.
    pub fn sweep_rest(&self, now: UnixMillis, sessions_swept: u64) -> Result<SweepReport, Fault> {
        self.store.compact_sessions_if_due()?;
        let mut report = SweepReport {
            swept: sessions_swept,
            moved: 0,
        };
        loop {
            let due = self.store.expiry_entries_due(now, BATCH)?;
            let full = due.len() == BATCH;
            for (at, id) in due {
                self.sweep_entry(at, id, now, &mut report)?;
            }
            if !full {
                break;
            }
        }
        self.store.count_sweep(report.swept)?;
        Ok(report)
    }

    fn sweep_entry(
        &self,
        at: UnixMillis,
        id: uuid::Uuid,
        now: UnixMillis,
        report: &mut SweepReport,
    ) -> Result<(), Fault> {
        let Some(found) = self.store.credential_by_id(id)? else {
            self.store.remove_dangling(at, id)?;
            return Ok(());
        };
        if found.record.is_live(now) {
            self.store.move_expiry(id, at, found.record.expires_at)?;
            report.moved += 1;
            return Ok(());
        }
        let kind = found.record.kind;
        let expires_at = found.record.expires_at;
        if self.remove(found)? {
            report.swept += 1;
        }
        // The entry may be older than the record's final expiry, which `remove` cleared.
        if expires_at != Some(at) {
            self.store.move_expiry(id, at, None)?;
        }
        debug_assert!(kind != StoredKind::AdminKey, "admin keys are never indexed");
        Ok(())
    }
}

impl Authority {
    /// Deletes audit entries older than `retention`, and the oldest while the log holds more
    /// than `max_bytes`; returns how many.
    ///
    /// # Errors
    /// If the store fails.
    pub fn prune_audit(
        &self,
        retention: std::time::Duration,
        max_bytes: u64,
    ) -> Result<u64, Fault> {
        let before = self.now().saturating_sub(crate::clock::millis(retention));
        Ok(self.store.prune_audit(before, max_bytes)?)
    }
}
