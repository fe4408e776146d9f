//! The connection limit: slots anyone may use, and slots that only host admins may use.
//!
//! A slot is taken before `accept()`, so at the limit newcomers wait in the kernel's backlog
//! instead of costing the daemon memory. Who a peer is becomes known only after `accept()`:
//! a peer accepted on a reserved slot keeps it only if it is a host admin, and anyone else is
//! refused at once. So two uids holding every unreserved slot still leave root a way in.

use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// Both pools of slots.
#[derive(Debug)]
pub(crate) struct ConnectionSlots {
    general: Pool,
    reserved: Pool,
}

/// One held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Held for its drop.
    _permit: OwnedSemaphorePermit,
    /// Whether only a host admin may hold it.
    reserved: bool,
}

impl Slot {
    fn general(permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            _permit: permit,
            reserved: false,
        }
    }

    fn reserved(permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            _permit: permit,
            reserved: true,
        }
    }
}

/// A semaphore and the permits it is meant to hold (it lags while shrinking).
#[derive(Debug)]
struct Pool {
    permits: Arc<Semaphore>,
    size: Mutex<usize>,
}

impl Pool {
    fn new(size: usize) -> Pool {
        Pool {
            permits: Arc::new(Semaphore::new(size)),
            size: Mutex::new(size),
        }
    }

    /// Grows or shrinks the pool. Shrinking takes permits as connections close.
    fn resize(&self, to: usize) {
        let mut size = self.size.lock().unwrap_or_else(|p| p.into_inner());
        if to > *size {
            self.permits.add_permits(to - *size);
        } else if to < *size {
            let excess = u32::try_from(*size - to).unwrap_or(u32::MAX);
            let permits = Arc::clone(&self.permits);
            tokio::spawn(async move {
                if let Ok(taken) = permits.acquire_many_owned(excess).await {
                    taken.forget();
                }
            });
        }
        *size = to;
    }
}

impl ConnectionSlots {
    /// Slots for `limits`: `admin_reserved_connections` of `max_connections` reserved.
    pub fn new(limits: &Limits) -> ConnectionSlots {
        ConnectionSlots {
            general: Pool::new(limits.general_connections()),
            reserved: Pool::new(limits.admin_reserved_connections),
        }
    }

    /// Waits for a free slot, an unreserved one if there is one.
    pub async fn take(&self) -> Slot {
        // The semaphores are never closed.
        tokio::select! {
            biased;
            Ok(p) = Arc::clone(&self.general.permits).acquire_owned() => Slot::general(p),
            Ok(p) = Arc::clone(&self.reserved.permits).acquire_owned() => Slot::reserved(p),
        }
    }

    /// The slot a peer may keep: a reserved one only if it is a host admin. Anyone else swaps
    /// it for an unreserved one freed meanwhile, if any; `None` means refuse the peer.
    pub fn keep(&self, slot: Slot, host_admin: bool) -> Option<Slot> {
        if !slot.reserved || host_admin {
            return Some(slot);
        }
        Arc::clone(&self.general.permits)
            .try_acquire_owned()
            .ok()
            .map(Slot::general)
    }

    /// Puts reloaded limits into force; open connections keep their slots.
    pub fn resize(&self, limits: &Limits) {
        self.general.resize(limits.general_connections());
        self.reserved.resize(limits.admin_reserved_connections);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, reserved: usize) -> Limits {
        Limits {
            max_connections: max,
            admin_reserved_connections: reserved,
            ..Limits::default()
        }
    }

    /// Unreserved slots go first; once they are taken, a reserved slot is kept by a host admin
    /// only, and a slot freed meanwhile is swapped in for anyone else.
    #[tokio::test]
    async fn reserved_slots_are_for_host_admins() {
        let slots = ConnectionSlots::new(&limits(3, 1));
        let a = slots.take().await;
        let _b = slots.take().await;
        assert!(!a.reserved && !_b.reserved);
        let c = slots.take().await;
        assert!(c.reserved);
        assert!(slots.keep(c, false).is_none(), "not for a non-admin");
        let c = slots.keep(slots.take().await, true).expect("for an admin");
        assert!(c.reserved);
        drop(c);
        let d = slots.take().await;
        drop(a);
        assert!(!slots.keep(d, false).expect("swapped").reserved);
    }
}
