//! The leases that end sessions at their 7-day cap even when no keywardd runs.
//!
//! A session's keys are put with a lease that expires at its cap, so etcd deletes them then
//! whatever the hosts do, and every host sees the deletes through its watch. Sessions share
//! leases: one per minute of cap, which expires at the end of that minute (a session may
//! outlive its cap by under a minute in etcd; no host verifies it past the cap, which every
//! verify checks).

use std::collections::HashMap;
use std::sync::Mutex;

use super::Shared;

/// One lease per this many milliseconds of cap.
const BUCKET_MS: i64 = 60_000;

/// Leases granted, by the end of their minute.
#[derive(Debug, Default)]
pub struct Leases {
    by_end: Mutex<HashMap<i64, i64>>,
}

/// The lease that expires at the end of `until`'s minute, granting it if need be.
///
/// # Errors
/// If etcd does not grant it.
pub async fn until(shared: &Shared, until: i64) -> Result<i64, etcd_client::Error> {
    let end = bucket_end(until);
    if let Some(&id) = shared.leases.lock().get(&end) {
        return Ok(id);
    }
    let now = shared.clock.now();
    let granted = shared
        .client
        .lease_client()
        .grant(ttl_secs(end, now), None)
        .await?;
    let mut map = shared.leases.lock();
    map.retain(|&e, _| e > now);
    Ok(*map.entry(end).or_insert(granted.id()))
}

/// The end of the minute of cap `until`: the lease a session capped then shares.
pub fn bucket_end(until: i64) -> i64 {
    until.div_euclid(BUCKET_MS) * BUCKET_MS + BUCKET_MS
}

/// The TTL, in seconds, of a lease granted at `now` that ends at `end` (at least a minute).
pub fn ttl_secs(end: i64, now: i64) -> i64 {
    ((end - now) / 1000).max(60)
}

impl Leases {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, i64>> {
        self.by_end.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every lease (after etcd said one was not found).
    pub fn forget(&self) {
        self.lock().clear();
    }
}
