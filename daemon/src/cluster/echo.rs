//! This host's own writes and re-reads of etcd keys, so that what the watch brings back does
//! not undo them, and none of them undoes a newer change.
//!
//! A change is applied to the local copy before etcd commits it. Until then, and until the
//! watch has passed the revision it committed at, an event or a loaded record for one of its
//! keys may be older than the copy: applying it would, for example, bring back for a moment
//! a credential this host has just revoked. So each key written is tracked here: while a
//! write or a re-read is in flight, events for it are passed over and the key is marked to be
//! read again once they end; after a write commits (or a re-read reads) at revision `r`, and
//! after an event at `r` is applied, events and re-reads at or before `r` are passed over.
//! An entry goes once the watch has applied past its revision.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Entry {
    /// Writes in flight.
    writes: u32,
    /// Writes ever begun: a re-read that sees this change does not apply what it read.
    begun: u64,
    /// Re-reads in flight.
    reads: u32,
    /// The latest revision of the key the copy reflects, by a write, an event or a re-read.
    committed: i64,
    /// An event was passed over while a write or re-read was in flight: read the key again.
    stale: bool,
    /// The newest revision passed over: a write that committed after it covers it.
    stale_at: i64,
}

impl Entry {
    fn busy(&self) -> bool {
        self.writes > 0 || self.reads > 0
    }

    /// Whether the key must be read again now that nothing is in flight.
    fn settle(&mut self) -> bool {
        let again = !self.busy() && self.stale;
        if again {
            self.stale = false;
        }
        again
    }
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
            let entry = map.entry(key.clone()).or_default();
            entry.writes += 1;
            entry.begun += 1;
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
            entry.writes = entry.writes.saturating_sub(1);
            match revision {
                Some(r) => {
                    entry.committed = entry.committed.max(r);
                    // Its own echo, or anything older, needs no second look.
                    if entry.stale_at <= entry.committed {
                        entry.stale = false;
                    }
                }
                None => entry.stale = true,
            }
            if entry.settle() {
                again.push(key.clone());
            }
        }
        again
    }

    /// Whether an event for `key` at `revision` may be applied. One that may not is older
    /// than what the copy reflects, or arrives during a write or re-read (then the key is
    /// read again after). One that may is recorded as reflected.
    pub fn admits(&self, key: &[u8], revision: i64) -> bool {
        let mut map = self.lock();
        match map.get_mut(key) {
            None => true,
            Some(entry) if entry.busy() => {
                entry.stale = true;
                entry.stale_at = entry.stale_at.max(revision);
                false
            }
            Some(entry) if revision > entry.committed => {
                entry.committed = revision;
                true
            }
            Some(_) => false,
        }
    }

    /// A re-read of `key` begins; returns what it must find unchanged to apply its value.
    pub fn reread_begins(&self, key: &[u8]) -> u64 {
        let mut map = self.lock();
        let entry = map.entry(key.to_vec()).or_default();
        entry.reads += 1;
        entry.begun
    }

    /// Whether a re-read that began at `begun` and read `key` at `revision` may apply what
    /// it read: no write began since, and nothing newer was applied.
    pub fn reread_applies(&self, key: &[u8], begun: u64, revision: i64) -> bool {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(key) else {
            return true;
        };
        if entry.begun != begun || entry.writes > 0 {
            entry.stale = true;
            entry.stale_at = i64::MAX;
            return false;
        }
        revision > entry.committed
    }

    /// A re-read of `key` at `revision` ended; returns whether to read it again.
    pub fn reread_ends(&self, key: &[u8], revision: i64) -> bool {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(key) else {
            return false;
        };
        entry.reads = entry.reads.saturating_sub(1);
        entry.committed = entry.committed.max(revision);
        entry.settle()
    }

    /// The watch has applied everything up to `revision`: forgets what it has passed.
    pub fn passed(&self, revision: i64) {
        self.lock()
            .retain(|_, e| e.busy() || e.stale || e.committed > revision);
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
        assert!(
            !echo.admits(&k, 12),
            "a later write by another host, while in flight"
        );
        assert_eq!(
            echo.end(std::slice::from_ref(&k), Some(10)),
            vec![k.clone()]
        );
        assert!(!echo.admits(&k, 10), "its own echo");
        assert!(echo.admits(&k, 11), "a later write by another host");
        echo.passed(10);
        assert_eq!(echo.len(), 1);
        echo.passed(11);
        assert_eq!(echo.len(), 0);
        assert!(echo.admits(&k, 3));
        // A failed write: read again.
        echo.begin(std::slice::from_ref(&k));
        assert_eq!(echo.end(std::slice::from_ref(&k), None), vec![k.clone()]);
    }

    /// A re-read never applies over a newer event, nor over a write that began meanwhile.
    #[test]
    fn rereads_never_undo_newer_changes() {
        let echo = Echo::default();
        let k = b"k".to_vec();
        echo.begin(std::slice::from_ref(&k));
        assert_eq!(echo.end(std::slice::from_ref(&k), None), vec![k.clone()]);
        // The re-read reads at 19; meanwhile another host's delete at 20 was applied.
        let begun = echo.reread_begins(&k);
        assert!(!echo.admits(&k, 20), "held while the re-read is in flight");
        assert!(!echo.reread_applies(&k, begun, 19) || echo.reread_ends(&k, 19));
        // Passed over, so it is read again, and that read (at 21) applies.
        let begun = echo.reread_begins(&k);
        assert!(echo.reread_applies(&k, begun, 21));
        assert!(!echo.reread_ends(&k, 21));
        assert!(!echo.admits(&k, 20), "older than the re-read");
        // A write that begins during a re-read wins.
        let begun = echo.reread_begins(&k);
        echo.begin(std::slice::from_ref(&k));
        assert!(!echo.reread_applies(&k, begun, 30));
        assert!(!echo.reread_ends(&k, 30), "the write is still in flight");
        assert_eq!(
            echo.end(std::slice::from_ref(&k), Some(31)),
            vec![k.clone()]
        );
    }
}
