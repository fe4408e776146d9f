//! The threads that make changes durable: the flusher, which runs the group commit, and its
//! helper, which commits sled while the flusher syncs the session journal.
//!
//! Both hold the store only weakly, and only for the length of one flush, so dropping the last
//! [`Store`](super::Store) handle closes sled and the journal at once; the flusher then stops.
//! The strong handle is let go before a flush is reported, so a writer that saw its change
//! acknowledged and then dropped the store can reopen the data dir straight away.

use std::sync::mpsc;
use std::sync::{Arc, Weak};

use super::commit::Committer;
use super::{Store, StoreError, StoreInner};

/// Starts the flusher (and its helper) for the store behind `inner`.
///
/// # Errors
/// If a thread cannot be started.
pub(super) fn spawn(committer: Arc<Committer>, inner: Weak<StoreInner>) -> std::io::Result<()> {
    let (to_helper, jobs) = mpsc::channel::<()>();
    let (done, from_helper) = mpsc::channel::<Option<Result<(), StoreError>>>();
    let helper_inner = Weak::clone(&inner);
    std::thread::Builder::new()
        .name("keyward-sled-commit".into())
        .spawn(move || {
            // Ends when the flusher drops its sender.
            for () in jobs {
                let result = helper_inner
                    .upgrade()
                    .map(|inner| Store { inner }.commit_sled());
                if done.send(result).is_err() {
                    return;
                }
            }
        })?;
    std::thread::Builder::new()
        .name("keyward-flusher".into())
        .spawn(move || {
            committer.run(|| {
                let store = Store {
                    inner: inner.upgrade()?,
                };
                // sled is committed only if it was written to; in parallel with the journal.
                let sled_dirty = store.inner.sled.is_dirty();
                if sled_dirty && to_helper.send(()).is_err() {
                    return Some(Err(helper_gone()));
                }
                let journal = store.inner.sessions.write_queued(true);
                drop(store);
                let sled = if sled_dirty {
                    from_helper
                        .recv()
                        .unwrap_or_else(|_| Some(Err(helper_gone())))?
                } else {
                    Ok(())
                };
                Some(sled.and(journal))
            });
        })?;
    Ok(())
}

fn helper_gone() -> StoreError {
    StoreError::Io(std::io::Error::other("the sled commit thread has stopped"))
}
