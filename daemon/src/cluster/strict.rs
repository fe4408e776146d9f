//! `strict_verify`: linearizable verifies, read-index style.
//!
//! A verify waits until this host's copy has applied at least etcd's revision as of a quorum
//! operation that began after the verify arrived; then it reads the copy. The operation is a
//! write of the mark ([`super::mark`]) rather than a read: on etcd 3.4.23 only an event, not
//! a progress notification, says how far the copy has applied. One mark serves every verify
//! waiting when it starts: verifies that arrive during a round wait for the next one, so
//! each sees every change acknowledged before it arrived.

use std::sync::mpsc as blocking;

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

/// One mark (a quorum write), then the wait for the copy to apply it.
async fn round(shared: &Shared) -> Result<(), String> {
    super::mark::reach(shared, shared.config.timeout)
        .await
        .map(drop)
}

/// Blocks the calling thread until the copy has caught up with a mark that began
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
