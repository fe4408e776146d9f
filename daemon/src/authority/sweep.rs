//! The sweep: delete expired credentials.
//!
//! Sessions are swept in memory (one pass over the session table, one journal record per
//! expired session). Other expiring credentials (API tokens) are found through sled's expiry
//! index, whose entries due by now are all a sweep reads. Deletions are not flushed: an
//! expired credential never verifies anyway, and one whose deletion a crash undoes is simply
//! swept again.

use keyward_protocol::UnixMillis;

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

impl Change<'_> {
    /// Deletes every credential expired by now.
    ///
    /// # Errors
    /// If the store fails; work already done stays done.
    pub fn sweep(&self) -> Result<SweepReport, Fault> {
        let now = self.now();
        let mut report = SweepReport {
            swept: self.store.sweep_sessions(now)?,
            moved: 0,
        };
        loop {
            let due = self.store.due(now, BATCH)?;
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
    /// Deletes audit entries older than `retention`; returns how many.
    ///
    /// # Errors
    /// If the store fails.
    pub fn prune_audit(&self, retention: std::time::Duration) -> Result<u64, Fault> {
        let before = self.now().saturating_sub(crate::clock::millis(retention));
        Ok(self.store.prune_audit(before)?)
    }
}
