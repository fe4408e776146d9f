//! Slides written back to etcd in batches.
//!
//! A verify that slides a session by at least `slide_granularity` queues its new expiry
//! here and goes on; one task writes what is queued. While its transactions are in flight,
//! more slides queue up, and the next round writes them together: a busy host sends a few
//! large transactions rather than one per slide, and a quiet one sends each slide at once.
//! A session slid twice meanwhile is written once, with the later expiry.
//!
//! Each slide is a nested transaction that writes the session's `e/<id>` only if it moves
//! it forward (a byte compare; the value starts with 16 hex digits), so an expiry never
//! moves back whichever host wrote last, and a deleted session, whose expiry key went with
//! it, is never brought back. A slide that is not written is lost like a local one not yet
//! checkpointed: the session expires a little early, never late.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};

use super::Shared;

/// Slides per transaction: within etcd's default limit of 128 operations.
const BATCH: usize = 64;

/// Slides waiting to be written, by `e/<id>` key.
#[derive(Debug, Default)]
pub struct Slides {
    queued: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    wake: tokio::sync::Notify,
}

impl Slides {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<u8>>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `value` for expiry key `key`, unless a later one is queued already.
    pub fn queue(&self, key: Vec<u8>, value: Vec<u8>) {
        {
            let mut queued = self.lock();
            let slot = queued.entry(key).or_default();
            if value > *slot {
                *slot = value;
            }
        }
        self.wake.notify_one();
    }

    fn take(&self) -> HashMap<Vec<u8>, Vec<u8>> {
        std::mem::take(&mut *self.lock())
    }
}

/// Writes queued slides for as long as the process lives.
pub async fn run(shared: Arc<Shared>) {
    loop {
        shared.slides.wake.notified().await;
        let queued: Vec<TxnOp> = shared
            .slides
            .take()
            .into_iter()
            .map(|(key, value)| {
                // The expiry key keeps its lease: a slide never moves the 7-day cap.
                TxnOp::txn(
                    Txn::new()
                        .when([Compare::value(key.clone(), CompareOp::Less, value.clone())])
                        .and_then([TxnOp::put(
                            key,
                            value,
                            Some(PutOptions::new().with_ignore_lease()),
                        )]),
                )
            })
            .collect();
        let timeout = shared.config.timeout;
        let writes = queued.chunks(BATCH).map(|batch| {
            let mut kv = shared.client.kv_client();
            let txn = Txn::new().and_then(batch.to_vec());
            async move {
                match tokio::time::timeout(timeout, kv.txn(txn)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "slides were not written to etcd"),
                    Err(_) => tracing::debug!("etcd did not answer a batch of slides in time"),
                }
            }
        });
        futures_util::future::join_all(writes).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session slid twice before its write keeps the later expiry, whatever the order.
    #[test]
    fn a_queued_slide_keeps_the_later_expiry() {
        let slides = Slides::default();
        let owner = uuid::Uuid::nil();
        let later = super::super::keys::encode_expiry(2_000, owner);
        let earlier = super::super::keys::encode_expiry(1_000, owner);
        slides.queue(b"e/1".to_vec(), later.clone());
        slides.queue(b"e/1".to_vec(), earlier.clone());
        slides.queue(b"e/2".to_vec(), earlier.clone());
        let taken = slides.take();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[b"e/1".as_slice()], later);
        assert!(slides.take().is_empty());
    }
}
