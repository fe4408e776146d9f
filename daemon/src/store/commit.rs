//! Group commit: one flush makes many writers' changes durable.
//!
//! A writer applies its changes in memory, then takes a [`Ticket`] and waits for it, blocking
//! ([`Committer::wait`]) or as a future ([`Committer::durable`]), so an event-loop thread can
//! go on serving other peers meanwhile. One flusher thread runs [`Committer::run`]: whenever
//! tickets are outstanding it flushes once, and that flush covers every ticket taken before it
//! began. Under load the flush rate stays near the disk's while throughput grows with the
//! number of waiting writers, and no writer ever flushes on its own thread.
//!
//! Waiting futures are woken on their event loop by [`Committer::relay`], a task the daemon
//! runs there: the flusher wakes that one task per flush rather than every waiter. Each wake
//! from another thread costs the flusher a system call (the event loop's eventfd), so waking
//! hundreds of waiters one by one held up the next flush by as long as the sync itself.

use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Wakes the relay, which wakes the waiting futures on its own thread.
    flush_ended: tokio::sync::Notify,
    /// Whether a relay is running: then the flusher wakes only the relay.
    relayed: AtomicBool,
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

    /// Wakes the futures waiting in [`Committer::durable`] after each flush, from the thread
    /// that polls it: run it as a task on the event loop those futures are polled on, so
    /// waking them is a push onto that loop's own queue. Runs until dropped; while it runs
    /// the flusher wakes only it, once per flush.
    pub async fn relay(&self) {
        struct Running<'a>(&'a Committer);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                // Cleared before the wake: a flush that still sees the flag set has already
                // recorded its progress, so the waiters woken here see it.
                self.0.relayed.store(false, Ordering::SeqCst);
                self.0.flushed_async.notify_waiters();
            }
        }
        self.relayed.store(true, Ordering::SeqCst);
        let _running = Running(self);
        loop {
            // A flush that ends while the waiters are being woken leaves a permit, so the
            // next round starts at once.
            self.flush_ended.notified().await;
            self.flushed_async.notify_waiters();
        }
    }

    /// Wakes whoever waits for the flush that just ended.
    fn flush_done(&self) {
        // Outside the progress lock, so writers taking tickets do not wait for the wake-ups.
        // A waiter that checked before the update is already waiting, or registered.
        self.flushed.notify_all();
        if self.relayed.load(Ordering::SeqCst) {
            self.flush_ended.notify_one();
        } else {
            self.flushed_async.notify_waiters();
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
            self.flush_done();
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

    /// Records the thread each wake comes from, then passes it on.
    struct Recorded<F> {
        inner: std::pin::Pin<Box<F>>,
        wakes: Arc<Mutex<Vec<std::thread::ThreadId>>>,
    }

    struct RecordingWaker {
        inner: std::task::Waker,
        wakes: Arc<Mutex<Vec<std::thread::ThreadId>>>,
    }

    impl std::task::Wake for RecordingWaker {
        fn wake(self: Arc<Self>) {
            self.wakes.lock().unwrap().push(std::thread::current().id());
            self.inner.wake_by_ref();
        }
    }

    impl<F: std::future::Future> std::future::Future for Recorded<F> {
        type Output = F::Output;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<F::Output> {
            let waker = std::task::Waker::from(Arc::new(RecordingWaker {
                inner: cx.waker().clone(),
                wakes: Arc::clone(&self.wakes),
            }));
            self.inner
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker))
        }
    }

    /// With a relay running, every waiting future is woken on the relay's thread, never by
    /// the flusher's: 64 futures wait on one event loop, and every wake they get is recorded
    /// with the thread it came from.
    #[test]
    fn the_relay_wakes_futures_on_its_own_thread() {
        let committer = Arc::new(Committer::default());
        // Slow enough that every future is waiting by the time the flush ends.
        let flusher = flusher(&committer, || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(())
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let wakes = Arc::new(Mutex::new(Vec::new()));
        runtime.block_on(async {
            let relay = tokio::spawn({
                let committer = Arc::clone(&committer);
                async move { committer.relay().await }
            });
            // Let the relay start before anyone waits.
            tokio::task::yield_now().await;
            let waiters: Vec<_> = (0..64)
                .map(|_| {
                    let committer = Arc::clone(&committer);
                    let wakes = Arc::clone(&wakes);
                    tokio::spawn(async move {
                        let ticket = committer.ticket();
                        Recorded {
                            inner: Box::pin(async { committer.durable(ticket).await }),
                            wakes,
                        }
                        .await
                    })
                })
                .collect();
            for waiter in waiters {
                waiter.await.unwrap().unwrap();
            }
            relay.abort();
        });
        let here = std::thread::current().id();
        let wakes = wakes.lock().unwrap();
        assert!(
            wakes.len() >= 64,
            "only {} wakes: not every future waited",
            wakes.len()
        );
        let elsewhere = wakes.iter().filter(|&&id| id != here).count();
        assert_eq!(
            elsewhere,
            0,
            "{elsewhere} of {} wakes came from another thread",
            wakes.len()
        );
        committer.stop();
        flusher.join().unwrap();
    }

    /// Once the relay is gone, the flusher wakes the waiting futures itself: none is left
    /// waiting for a relay that will never run.
    #[test]
    fn futures_are_woken_after_the_relay_stops() {
        let committer = Arc::new(Committer::default());
        let flusher = flusher(&committer, || Ok(()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let relay = tokio::spawn({
                let committer = Arc::clone(&committer);
                async move { committer.relay().await }
            });
            tokio::task::yield_now().await;
            committer.durable(committer.ticket()).await.unwrap();
            relay.abort();
            let _ = relay.await;
            // On a thread of its own, so that nothing on this loop could stand in for the relay.
            let waiting = std::thread::spawn({
                let committer = Arc::clone(&committer);
                move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let ticket = committer.ticket();
                        tokio::time::timeout(
                            std::time::Duration::from_secs(30),
                            committer.durable(ticket),
                        )
                        .await
                    })
                }
            });
            let outcome = tokio::task::spawn_blocking(move || waiting.join().unwrap())
                .await
                .unwrap();
            assert!(
                matches!(outcome, Ok(Ok(()))),
                "a future still waited 30 s after its flush"
            );
        });
        committer.stop();
        flusher.join().unwrap();
    }
}
