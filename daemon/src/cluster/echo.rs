//! This host's own writes to etcd, so that what the watch brings back does not undo them.
//!
//! A change is applied to the local copy before etcd commits it. Until then, and until the
//! watch has passed the revision it committed at, an event or a loaded record for one of its
//! keys may be older than the copy: applying it would, for example, bring back for a moment
//! a credential this host has just revoked. So each key written is tracked here: while a
//! write is in flight, events for it are passed over and the key is marked to be read again
//! once the write ends; after it commits at revision `r`, events at or before `r` are passed
//! over. An entry goes once the watch has applied past its revision.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Entry {
    /// Writes in flight.
    pending: u32,
    /// The latest revision a write of this host committed the key at.
    committed: i64,
    /// An event was passed over while a write was in flight: read the key again after.
    stale: bool,
}

/// The keys this host is writing or has just written.
#[derive(Debug, Default)]
pub struct Echo {
    keys: Mutex<HashMap<Vec<u8>, Entry>>,
}

impl Echo {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A write of `keys` begins.
    pub fn begin(&self, keys: &[Vec<u8>]) {
        let mut map = self.lock();
        for key in keys {
            map.entry(key.clone()).or_default().pending += 1;
        }
    }

    /// A write of `keys` ended, committed at `revision` or not at all (`None`). Returns the
    /// keys to read again from etcd: all of them if it failed (what etcd holds is unknown),
    /// else those whose events were passed over meanwhile.
    pub fn end(&self, keys: &[Vec<u8>], revision: Option<i64>) -> Vec<Vec<u8>> {
        let mut map = self.lock();
        let mut again = Vec::new();
        for key in keys {
            let Some(entry) = map.get_mut(key) else {
                continue;
            };
            entry.pending = entry.pending.saturating_sub(1);
            match revision {
                Some(r) => entry.committed = entry.committed.max(r),
                None => entry.stale = true,
            }
            if entry.pending == 0 && entry.stale {
                entry.stale = false;
                again.push(key.clone());
            }
        }
        again
    }

    /// Whether an event for `key` at `revision` may be applied. One that may not is older
    /// than this host's write, or arrives during one (then the key is read again after it).
    pub fn admits(&self, key: &[u8], revision: i64) -> bool {
        let mut map = self.lock();
        match map.get_mut(key) {
            None => true,
            Some(entry) if entry.pending > 0 => {
                entry.stale = true;
                false
            }
            Some(entry) => revision > entry.committed,
        }
    }

    /// A re-read of `key` at `revision` was applied.
    pub fn reread(&self, key: &[u8], revision: i64) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.committed = entry.committed.max(revision);
        }
    }

    /// The watch has applied everything up to `revision`: forgets what it has passed.
    pub fn passed(&self, revision: i64) {
        self.lock()
            .retain(|_, e| e.pending > 0 || e.stale || e.committed > revision);
    }

    /// Keys tracked.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_writes_are_not_undone_by_older_events() {
        let echo = Echo::default();
        let k = b"k".to_vec();
        echo.begin(std::slice::from_ref(&k));
        // In flight: nothing applies, and the key is read again after.
        assert!(!echo.admits(&k, 5));
        assert_eq!(
            echo.end(std::slice::from_ref(&k), Some(10)),
            vec![k.clone()]
        );
        assert!(!echo.admits(&k, 10), "its own echo");
        assert!(echo.admits(&k, 11), "a later write by another host");
        echo.passed(9);
        assert_eq!(echo.len(), 1);
        echo.passed(10);
        assert_eq!(echo.len(), 0);
        assert!(echo.admits(&k, 3));
        // A failed write: read again.
        echo.begin(std::slice::from_ref(&k));
        assert_eq!(echo.end(std::slice::from_ref(&k), None), vec![k.clone()]);
    }
}
