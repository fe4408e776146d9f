//! Group commit: one flush makes many writers' changes durable.
//!
//! A writer applies its changes in memory, then calls [`GroupCommit::commit`]. If no flush is
//! running, it runs one itself; otherwise it waits for the running flush to end and, if that
//! flush began before the writer's changes, runs (or waits for) the next. Each flush therefore
//! serves every writer that finished its changes before the flush began, so under load the
//! number of flushes stays near the disk's flush rate while throughput scales with waiting
//! writers.

use std::sync::{Condvar, Mutex, MutexGuard};

/// Progress of flushes, counted in tickets: each commit call takes the next ticket.
#[derive(Debug, Default)]
struct Progress {
    /// The last ticket handed out.
    issued: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// Whether a flush is running now.
    flushing: bool,
}

/// Coordinates flushes among concurrent writers.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    progress: Mutex<Progress>,
    flushed: Condvar,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        // The counters stay consistent even if a flush panicked: it never got to update them.
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once every change this thread made before the call is durable.
    ///
    /// `flush` makes everything written so far durable; it is called by at most one thread at
    /// a time.
    ///
    /// # Errors
    /// The error of the flush that should have covered this call's changes. A later call
    /// retries with a fresh flush.
    pub fn commit<E>(&self, flush: impl Fn() -> Result<(), E>) -> Result<(), E> {
        let mut progress = self.lock();
        progress.issued += 1;
        let ticket = progress.issued;
        loop {
            if progress.durable >= ticket {
                return Ok(());
            }
            if !progress.flushing {
                progress.flushing = true;
                // Every ticket issued so far belongs to changes made before this flush starts.
                let covers = progress.issued;
                drop(progress);
                let result = flush();
                progress = self.lock();
                progress.flushing = false;
                if result.is_ok() {
                    progress.durable = progress.durable.max(covers);
                }
                self.flushed.notify_all();
                result?;
                continue;
            }
            progress = self
                .flushed
                .wait(progress)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Many concurrent committers are served by fewer flushes, and each returns only after a
    /// flush that began after its own call.
    #[test]
    fn flushes_are_shared() {
        let group = Arc::new(GroupCommit::default());
        let flushes = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let group = Arc::clone(&group);
                let flushes = Arc::clone(&flushes);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let before = flushes.load(Ordering::SeqCst);
                        group
                            .commit(|| {
                                std::thread::sleep(std::time::Duration::from_micros(200));
                                flushes.fetch_add(1, Ordering::SeqCst);
                                Ok::<(), ()>(())
                            })
                            .unwrap();
                        assert!(
                            flushes.load(Ordering::SeqCst) > before,
                            "returned before a flush"
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n <= 800, "{n} flushes");
    }

    /// A failed flush fails its committers, and the next commit flushes again.
    #[test]
    fn failure_is_reported_and_retried() {
        let group = GroupCommit::default();
        assert_eq!(group.commit(|| Err("disk full")), Err("disk full"));
        assert_eq!(group.commit(|| Ok::<(), &str>(())), Ok(()));
    }
}
