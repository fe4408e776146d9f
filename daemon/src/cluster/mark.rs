//! A mark in the watch's stream: a write of one key under the prefix, whose event tells this
//! host that its copy has applied everything etcd committed before the mark.
//!
//! A progress notification cannot say that on etcd 3.4.23 (Debian's): one that is asked for
//! is answered out of band, ahead of events still queued for the watch (etcd-io/etcd#15220,
//! fixed in 3.4.24 and 3.5.8). So progress notifications only say that etcd is there, and
//! how far the copy has applied comes from events alone. Events arrive in revision order:
//! once the mark's event is applied, so is every change committed before it.

use std::time::Duration;

use etcd_client::PutOptions;

use super::{lease, Shared};

/// How long the mark's key outlives the last host that wrote it.
const KEEP_MS: i64 = 10 * 60_000;

/// Writes the mark and waits until the copy has applied it, for at most `within`; returns
/// the mark's revision.
///
/// # Errors
/// Why not, for an `UNAVAILABLE` answer.
pub async fn reach(shared: &Shared, within: Duration) -> Result<i64, String> {
    let deadline = tokio::time::Instant::now() + within;
    let revision = match tokio::time::timeout_at(deadline, put(shared)).await {
        Ok(Ok(revision)) => revision,
        Ok(Err(e)) => return Err(format!("etcd refused the mark: {e}")),
        Err(_) => return Err("etcd did not commit the mark".into()),
    };
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if shared.caught_up(revision, left).await {
        Ok(revision)
    } else {
        Err(format!(
            "this host's copy did not reach revision {revision} through its watch"
        ))
    }
}

/// Puts the mark's key, on a lease so that a prefix no host writes to empties itself.
async fn put(shared: &Shared) -> Result<i64, etcd_client::Error> {
    let mut kv = shared.client.kv_client();
    for _ in 0..2 {
        let lease = lease::until(shared, shared.clock.now() + KEEP_MS).await?;
        let options = PutOptions::new().with_lease(lease);
        match kv.put(shared.keys.mark(), Vec::new(), Some(options)).await {
            Ok(put) => return Ok(put.header().map_or(0, |h| h.revision())),
            Err(e) if e.to_string().contains("lease not found") => shared.leases.forget(),
            Err(e) => return Err(e),
        }
    }
    Err(etcd_client::Error::InvalidArgs(
        "etcd lost two fresh leases in a row".into(),
    ))
}
