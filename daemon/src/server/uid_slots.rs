//! Per-uid connection slots: one local user cannot take every connection the daemon serves.
//!
//! The global limit protects the daemon; this one protects other users from a single uid that
//! floods the socket (by bug or by malice). A peer over its uid's share is refused at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counts open connections per uid.
#[derive(Debug)]
pub(crate) struct UidSlots {
    open: Mutex<HashMap<u32, usize>>,
    per_uid: AtomicUsize,
}

/// One held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct UidSlot {
    slots: Arc<UidSlots>,
    uid: u32,
}

impl UidSlots {
    /// Slots allowing `per_uid` connections for each uid.
    pub fn new(per_uid: usize) -> Arc<Self> {
        Arc::new(UidSlots {
            open: Mutex::new(HashMap::new()),
            per_uid: AtomicUsize::new(per_uid),
        })
    }

    /// Changes each uid's share; connections already over it stay open.
    pub fn set_share(&self, per_uid: usize) {
        self.per_uid.store(per_uid, Ordering::Relaxed);
    }

    /// Each uid's share.
    pub fn share(&self) -> usize {
        self.per_uid.load(Ordering::Relaxed)
    }

    /// Takes a slot for `uid`, or `None` if it already holds its share.
    pub fn take(self: &Arc<Self>, uid: u32) -> Option<UidSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(uid).or_insert(0);
        if *n >= self.share() {
            return None;
        }
        *n += 1;
        Some(UidSlot {
            slots: Arc::clone(self),
            uid,
        })
    }
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A uid gets its share and no more; other uids are unaffected; dropping frees a slot.
    #[test]
    fn share_per_uid() {
        let slots = UidSlots::new(2);
        let a1 = slots.take(1000).unwrap();
        let _a2 = slots.take(1000).unwrap();
        assert!(slots.take(1000).is_none());
        assert!(slots.take(1001).is_some());
        drop(a1);
        assert!(slots.take(1000).is_some());
    }
}
