//! Group commit: one flush makes many writers' changes durable.
//!
//! A writer applies its changes in memory, then takes a [`Ticket`] and waits for it, blocking
//! ([`Committer::wait`]) or as a future ([`Committer::durable`]), so an event-loop thread can
//! go on serving other peers meanwhile. One flusher thread runs [`Committer::run`]: whenever
//! tickets are outstanding it flushes once, and that flush covers every ticket taken before it
//! began. Under load the flush rate stays near the disk's while throughput grows with the
//! number of waiting writers, and no writer ever flushes on its own thread.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::StoreError;

/// A point in the order of changes: durable once a flush that began after it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

impl Ticket {
    /// A ticket that is durable already: nothing was changed.
    pub const NONE: Ticket = Ticket(0);
}

/// Progress of flushes, counted in tickets.
#[derive(Debug, Default)]
struct Progress {
    /// The last ticket handed out.
    issued: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// The last flush that failed covered the tickets up to this one...
    failed_through: u64,
    /// ...and failed with this error.
    failure: Option<Arc<StoreError>>,
    /// Whether the flusher is asleep, waiting for a ticket.
    idle: bool,
    /// Set when the store is dropped: the flusher exits.
    stopped: bool,
}

/// Hands out tickets and tells waiters when their ticket is durable.
#[derive(Debug, Default)]
pub(crate) struct Committer {
    progress: Mutex<Progress>,
    /// Wakes the flusher.
    work: Condvar,
    /// Wakes blocking waiters.
    flushed: Condvar,
    /// Wakes waiting futures.
    flushed_async: tokio::sync::Notify,
}

impl Committer {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        // The counters stay consistent even if a thread panicked holding the lock: every
        // update is a single assignment.
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A ticket covering every change the calling thread has made so far. The flusher is not
    /// woken yet: waiting for the ticket does that.
    pub fn ticket(&self) -> Ticket {
        let mut progress = self.lock();
        progress.issued += 1;
        Ticket(progress.issued)
    }

    /// Wakes the flusher if it sleeps while tickets wait.
    fn kick(&self) {
        let wake = {
            let mut progress = self.lock();
            let waiting = progress.issued > progress.durable.max(progress.failed_through);
            let wake = progress.idle && waiting;
            if wake {
                progress.idle = false;
            }
            wake
        };
        // Outside the lock, so the woken flusher does not block on it at once.
        if wake {
            self.work.notify_one();
        }
    }

    /// Where `ticket` stands: `Some` once a flush covering it has ended.
    fn outcome(progress: &Progress, ticket: Ticket) -> Option<Result<(), StoreError>> {
        if progress.durable >= ticket.0 {
            return Some(Ok(()));
        }
        if progress.failed_through >= ticket.0 {
            let failure = progress.failure.as_deref();
            return Some(Err(failure.map_or_else(
                || StoreError::Io(std::io::Error::other("flush failed")),
                StoreError::shared,
            )));
        }
        None
    }

    /// Blocks until `ticket` is durable.
    ///
    /// # Errors
    /// The error of the flush that should have made it durable. The changes stay queued, and
    /// a later flush retries them.
    pub fn wait(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.kick();
        let mut progress = self.lock();
        loop {
            if let Some(outcome) = Self::outcome(&progress, ticket) {
                return outcome;
            }
            progress = self
                .flushed
                .wait(progress)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Resolves once `ticket` is durable; as [`Committer::wait`] without blocking the thread.
    ///
    /// Before it wakes the flusher it yields once, so the other requests ready in this turn of
    /// the event loop take their tickets first and one flush covers them all, as Redis's
    /// event loop does with its append-only file.
    ///
    /// # Errors
    /// As [`Committer::wait`].
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        if Self::outcome(&self.lock(), ticket).is_none() {
            tokio::task::yield_now().await;
            self.kick();
        }
        loop {
            let notified = self.flushed_async.notified();
            tokio::pin!(notified);
            // Registered before the check, so a flush ending in between still wakes it.
            notified.as_mut().enable();
            if let Some(outcome) = Self::outcome(&self.lock(), ticket) {
                return outcome;
            }
            notified.await;
        }
    }

    /// Stops the flusher once it is done with its current flush.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.work.notify_one();
    }

    /// The flusher's loop: waits for tickets, then runs `flush` once for all tickets taken so
    /// far. Returns when [`Committer::stop`] is called, or when `flush` returns `None` (there
    /// is nothing left to flush for).
    pub fn run(&self, mut flush: impl FnMut() -> Option<Result<(), StoreError>>) {
        let mut progress = self.lock();
        loop {
            if progress.stopped {
                return;
            }
            let attempted = progress.durable.max(progress.failed_through);
            if progress.issued <= attempted {
                progress.idle = true;
                progress = self.work.wait(progress).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Every ticket issued so far belongs to changes made before this flush starts.
            let covers = progress.issued;
            drop(progress);
            let Some(result) = flush() else {
                return;
            };
            {
                let mut progress = self.lock();
                match result {
                    Ok(()) => progress.durable = covers,
                    Err(e) => {
                        progress.failed_through = covers;
                        progress.failure = Some(Arc::new(e));
                    }
                }
            }
            // Outside the lock, so writers taking tickets do not wait for the wake-ups. A
            // waiter that checked before the update is already waiting, or registered.
            self.flushed.notify_all();
            self.flushed_async.notify_waiters();
            progress = self.lock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn flusher(
        committer: &Arc<Committer>,
        mut flush: impl FnMut() -> Result<(), StoreError> + Send + 'static,
    ) -> std::thread::JoinHandle<()> {
        let committer = Arc::clone(committer);
        std::thread::spawn(move || committer.run(|| Some(flush())))
    }

    /// Tickets taken while a flush runs are all covered by the one next flush, and none is
    /// acknowledged before that flush ends: each flush is held until the test releases it, and
    /// eight tickets are taken while the first one is held.
    #[test]
    fn flushes_are_shared() {
        const TICKETS: usize = 8;
        let committer = Arc::new(Committer::default());
        let flushes = Arc::new(AtomicU64::new(0));
        let (started, flush_started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let counted = Arc::clone(&flushes);
        let flusher = flusher(&committer, move || {
            // Once the test has stopped holding flushes, both ends are gone and nothing waits.
            let _ = started.send(());
            let _ = released.recv();
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let first = committer.ticket();
        let first_waiter = {
            let committer = Arc::clone(&committer);
            std::thread::spawn(move || committer.wait(first).unwrap())
        };
        flush_started.recv().unwrap();
        let tickets: Vec<Ticket> = (0..TICKETS).map(|_| committer.ticket()).collect();
        release.send(()).unwrap();
        first_waiter.join().unwrap();
        flush_started.recv().unwrap();
        for &ticket in &tickets {
            let outcome = Committer::outcome(&committer.lock(), ticket);
            assert!(outcome.is_none(), "acknowledged before its flush ended");
        }
        release.send(()).unwrap();
        drop((release, flush_started));
        for ticket in tickets {
            committer.wait(ticket).unwrap();
        }
        committer.stop();
        flusher.join().unwrap();
        let n = flushes.load(Ordering::SeqCst);
        assert_eq!(
            n, 2,
            "{TICKETS} tickets taken during the first flush took {n} flushes"
        );
    }

    /// A failed flush fails the tickets it covered, and the next ticket is flushed again.
    #[test]
    fn failure_is_reported_and_retried() {
        let committer = Arc::new(Committer::default());
        let mut calls = 0;
        let flusher = flusher(&committer, move || {
            calls += 1;
            if calls == 1 {
                Err(StoreError::Io(std::io::Error::other("disk full")))
            } else {
                Ok(())
            }
        });
        let err = committer.wait(committer.ticket()).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        committer.wait(committer.ticket()).unwrap();
        committer.stop();
        flusher.join().unwrap();
    }

    /// A future waiting for its ticket resolves once the flusher has run.
    #[test]
    fn futures_are_woken() {
        let committer = Arc::new(Committer::default());
        let flusher = flusher(&committer, || Ok(()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..100 {
                committer.durable(committer.ticket()).await.unwrap();
            }
        });
        assert_eq!(
            runtime.block_on(committer.durable(Ticket::NONE)).ok(),
            Some(())
        );
        committer.stop();
        flusher.join().unwrap();
    }
}
