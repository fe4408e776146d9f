//! `strict_verify`: linearizable verifies, read-index style.
//!
//! A verify asks etcd for its current revision with a quorum read, and waits until this
//! host's copy has applied at least that revision; then it reads the copy. One quorum read
//! serves every verify waiting when it starts: verifies that arrive during a read wait for
//! the next one, so each sees every change acknowledged before it arrived.

use std::sync::mpsc as blocking;

use etcd_client::GetOptions;
use tokio::sync::mpsc;

use super::Shared;
use crate::store::StoreError;

/// A verify's place in the queue: where to send the answer.
pub type Waiter = blocking::SyncSender<Result<(), String>>;

/// Serves read-index rounds for as long as verifies ask.
pub async fn serve(shared: std::sync::Arc<Shared>, mut asks: mpsc::UnboundedReceiver<Waiter>) {
    while let Some(first) = asks.recv().await {
        let mut waiting = vec![first];
        while let Ok(more) = asks.try_recv() {
            waiting.push(more);
        }
        let answer = round(&shared).await;
        for waiter in waiting {
            let _ = waiter.send(answer.clone());
        }
    }
}

/// One quorum read, then the wait for the copy to apply its revision.
async fn round(shared: &Shared) -> Result<(), String> {
    let timeout = shared.config.timeout;
    let mut kv = shared.client.kv_client();
    let read = kv.get(
        shared.keys.prefix().as_bytes(),
        Some(GetOptions::new().with_count_only()),
    );
    let revision = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(got)) => got.header().map_or(0, |h| h.revision()),
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no answer to the quorum read".into()),
    };
    if shared.caught_up(revision, timeout).await {
        Ok(())
    } else {
        Err(format!(
            "this host's copy did not reach revision {revision}"
        ))
    }
}

/// Blocks the calling thread until the copy has caught up with a quorum read that began
/// after the call.
///
/// # Errors
/// `UNAVAILABLE` if etcd does not answer or the copy does not catch up within
/// `etcd_timeout`.
pub fn wait(asks: &mpsc::UnboundedSender<Waiter>) -> Result<(), StoreError> {
    let (tx, rx) = blocking::sync_channel(1);
    let gone = || StoreError::Unavailable("the etcd client has stopped".into());
    asks.send(tx).map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())?.map_err(|why| {
        StoreError::Unavailable(format!(
            "strict_verify: {why}; the verify is refused rather than answered from a copy \
             that may be behind"
        ))
    })
}
