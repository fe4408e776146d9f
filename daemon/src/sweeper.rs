//! The expiry timer: every `sweep_interval`, prunes audit entries past their retention and
//! sweeps expired credentials.
//!
//! Ending a session is CPU work (about half a microsecond, mostly cache misses in the table's
//! indexes), so ending a million at once keeps a core busy for half a second. A thread doing
//! that beside the event loop on a small host takes its core from the loop or from the
//! clients: the loop is descheduled for whole time slices and every connection's latency
//! jumps. So a sweep runs in three steps (see `authority/sweep.rs`):
//! 1. on the blocking pool: prune the audit log and list the expired sessions (a read-only
//!    scan);
//! 2. on this task, that is on the event loop: end them in turns of at most [`TURN`], yielding
//!    between turns, so that every request that became ready meanwhile is answered first. A
//!    busy daemon sweeps more slowly and an idle one at full speed, and the sweep delays no
//!    request by more than one turn (a removal's shard lock can still wait for a scan of that
//!    shard, such as `Op::Stats`'s, as an issue's can);
//! 3. on the blocking pool: compact the journal if due, sweep sled's expiry index, count the
//!    sweep, and hand freed memory back to the OS.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;

use crate::authority::{Authority, Fault, SweepReport};
use crate::state::DaemonState;

/// How long one turn of sweeping may hold the event loop: about what answering a handful of
/// requests costs, so a request that became ready meanwhile waits at most this much longer.
/// (BENCHMARKS.md, target 5b: turns of 64 sessions kept the verify p99 within 1.4x of a quiet
/// one, turns of 128 let it reach 2x, and 256 nearly 4x.)
pub(crate) const TURN: Duration = Duration::from_micros(30);

/// Sessions ended between two looks at the clock.
const STEP: usize = 16;

/// Why a sweep stopped short.
#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error(transparent)]
    Store(#[from] Fault),
    #[error("sweep panicked: {0}")]
    Panicked(#[from] JoinError),
}

/// Runs sweeps until `shutdown` fires, re-reading the interval after each one so a reload
/// takes effect from the next wait.
pub(crate) async fn run(shared: Arc<DaemonState>, shutdown: CancellationToken) {
    loop {
        let interval = shared.settings.load().sweep_interval;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let settings = shared.settings.load();
        let audit_bounds = (settings.audit_retention, settings.audit_max_bytes);
        drop(settings);
        // Counts of refused attempts reach the log at least once per sweep.
        shared.refusals.flush(shared.authority.store());
        match sweep(&shared.authority, audit_bounds, &shutdown).await {
            Ok(Timed { report, took }) if report.swept > 0 => {
                tracing::info!(
                    swept = report.swept,
                    moved = report.moved,
                    listed_ms = millis(took[0]),
                    ended_ms = millis(took[1]),
                    rest_ms = millis(took[2]),
                    "sweep"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "sweep failed"),
        }
    }
}

/// A sweep's report, with how long each of its three steps took.
struct Timed {
    report: SweepReport,
    took: [Duration; 3],
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One sweep, in the three steps the module describes. If `shutdown` fires, it stops ending
/// sessions between turns and goes on to the last step; what it ended stays ended and is
/// counted.
async fn sweep(
    authority: &Arc<Authority>,
    (retention, max_bytes): (Duration, u64),
    shutdown: &CancellationToken,
) -> Result<Timed, SweepError> {
    let mut took = [Duration::ZERO; 3];
    let started = Instant::now();
    let auth = Arc::clone(authority);
    let expired = tokio::task::spawn_blocking(move || {
        if let Err(e) = auth.prune_audit(retention, max_bytes) {
            tracing::error!(error = %e, "pruning the audit log failed");
        }
        auth.expired_sessions()
    })
    .await?;
    took[0] = started.elapsed();
    let now = expired.now;
    let mut swept = 0;
    let mut steps = expired.ids.chunks(STEP).peekable();
    while let Some(&first) = steps.peek() {
        if shutdown.is_cancelled() {
            // The last step still runs, so what was ended is counted; the daemon waits for
            // this task before it closes the store.
            break;
        }
        // The guard is dropped within the turn: it must not be held across an await.
        let ended = authority.try_change().map(|change| {
            let started = Instant::now();
            let mut ended = 0;
            for step in steps.by_ref() {
                ended += change.sweep_sessions(step, now);
                if started.elapsed() >= TURN {
                    break;
                }
            }
            ended
        });
        swept += match ended {
            Some(ended) => ended,
            // A snapshot holds changes off: wait for it off the event loop.
            None => {
                let auth = Arc::clone(authority);
                let step = first.to_vec();
                steps.next();
                tokio::task::spawn_blocking(move || auth.change().sweep_sessions(&step, now))
                    .await?
            }
        };
        tokio::task::yield_now().await;
    }
    took[1] = started.elapsed() - took[0];
    let auth = Arc::clone(authority);
    let report = tokio::task::spawn_blocking(move || {
        let report = auth.change().sweep_rest(now, swept);
        // A sweep frees what expired; hand it back rather than keep it resident.
        crate::host::memory::trim();
        report
    })
    .await??;
    took[2] = started.elapsed() - took[0] - took[1];
    Ok(Timed { report, took })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::{test_authority, Acknowledge, AdminContext, NewIdentity};
    use crate::clock::ManualClock;
    use crate::config::Policy;
    use crate::store::StoreOptions;
    use keyward_protocol::Scopes;
    use std::cell::Cell;
    use std::sync::mpsc::{self, RecvTimeoutError};

    const START: i64 = 1_800_000_000_000;
    const DAY: i64 = 24 * 3600 * 1000;
    const SESSIONS: u64 = 3000;

    struct Fixture {
        _dir: tempfile::TempDir,
        clock: ManualClock,
        auth: Arc<Authority>,
        admin: AdminContext,
    }

    /// An authority holding `SESSIONS` sessions of 300 clients, and one more session issued
    /// a day later: the first lot expired, the last one live.
    fn fixture() -> (Fixture, keyward_protocol::Secret) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(START);
        let options = StoreOptions {
            fsync: false,
            ..StoreOptions::default()
        };
        let (auth, admin) = test_authority(dir.path(), &clock, Policy::default(), options);
        let f = Fixture {
            _dir: dir,
            clock,
            auth: Arc::new(auth),
            admin,
        };
        for _ in 0..SESSIONS / 10 {
            let client = f.client();
            for _ in 0..9 {
                f.issue(client);
            }
        }
        f.clock.advance_ms(DAY);
        let live = f.issue(f.client());
        (f, live)
    }

    impl Fixture {
        fn client(&self) -> uuid::Uuid {
            let c = self.auth.change();
            let created =
                c.create_client(self.admin, None, None, &Scopes::new(), NewIdentity::none());
            created.acknowledged().unwrap().unwrap().client_id
        }

        fn issue(&self, client: uuid::Uuid) -> keyward_protocol::Secret {
            let c = self.auth.change();
            let issued = c.issue_session(self.admin, client).acknowledged();
            issued.unwrap().unwrap().token
        }

        /// Expired sessions still held.
        fn unswept(&self) -> usize {
            self.auth.expired_sessions().ids.len()
        }
    }

    /// Runs `sweep` beside a task that counts its own turns on the same thread, until the
    /// sweep ends; returns the sweep's result and how many turns the other task had.
    async fn sweep_beside_a_ticker(
        f: &Fixture,
        shutdown: &CancellationToken,
        mut on_tick: impl FnMut(u64),
    ) -> (Result<Timed, SweepError>, u64) {
        let done = Cell::new(false);
        let ticks = Cell::new(0u64);
        let ticker = async {
            while !done.get() {
                ticks.set(ticks.get() + 1);
                on_tick(ticks.get());
                tokio::task::yield_now().await;
            }
        };
        let sweeping = async {
            let result = sweep(&f.auth, (Duration::from_secs(3600), u64::MAX), shutdown).await;
            done.set(true);
            result
        };
        let (result, ()) = tokio::join!(sweeping, ticker);
        (result, ticks.get())
    }

    /// The sweep ends every expired session and only those, and it does so in turns: another
    /// task on the same (single) thread keeps running while it works.
    #[tokio::test(flavor = "current_thread")]
    async fn sweep_ends_the_expired_in_turns_on_a_shared_thread() {
        let (f, live) = fixture();
        assert_eq!(f.unswept(), SESSIONS as usize);
        // The ticker looks at how many expired sessions are left each time it runs. A sweep
        // done in one go would show it only "all" and "none".
        let mut partly_swept = std::collections::BTreeSet::new();
        let (result, _) = sweep_beside_a_ticker(&f, &CancellationToken::new(), |_| {
            let left = f.unswept();
            if left > 0 && left < SESSIONS as usize {
                partly_swept.insert(left);
            }
        })
        .await;
        let timed = result.unwrap();
        assert_eq!(timed.report.swept, SESSIONS);
        assert_eq!(f.unswept(), 0);
        assert!(f
            .auth
            .verify(&live, &keyward_protocol::Requirements::new())
            .unwrap()
            .is_ok());
        assert!(
            partly_swept.len() >= 3,
            "the other task saw only {partly_swept:?} sessions left mid-sweep"
        );
        let stats = f.auth.stats().unwrap();
        assert_eq!((stats.sweeps_run, stats.credentials_swept), (1, SESSIONS));
    }

    /// A snapshot holding changes off makes the sweep wait off the event loop: the thread it
    /// shares keeps serving until the snapshot lets go, and then the sweep completes.
    #[tokio::test(flavor = "current_thread")]
    async fn a_snapshot_does_not_block_the_event_loop() {
        let (f, _) = fixture();
        let (hold, release) = mpsc::channel::<()>();
        let (held, is_held) = mpsc::channel::<()>();
        let auth = Arc::clone(&f.auth);
        // Returns whether the ticker let it go (rather than its own deadline: had the sweep
        // blocked the thread it shares with the ticker, the ticker could never get there).
        let snapshot = std::thread::spawn(move || {
            auth.frozen(|_| {
                held.send(()).unwrap();
                release.recv_timeout(Duration::from_secs(30)) != Err(RecvTimeoutError::Timeout)
            })
        });
        is_held.recv().unwrap();
        let mut hold = Some(hold);
        let (result, _) = sweep_beside_a_ticker(&f, &CancellationToken::new(), |tick| {
            if tick == 1000 {
                drop(hold.take());
            }
        })
        .await;
        assert!(
            snapshot.join().unwrap(),
            "the event loop stopped while a snapshot was held"
        );
        assert_eq!(result.unwrap().report.swept, SESSIONS);
        assert_eq!(f.unswept(), 0);
    }

    /// Shutdown stops a sweep between turns; what it did not reach, the next sweep ends.
    #[tokio::test(flavor = "current_thread")]
    async fn shutdown_stops_a_sweep_between_turns() {
        let (f, live) = fixture();
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let (result, _) = sweep_beside_a_ticker(&f, &shutdown, |_| {}).await;
        assert_eq!(result.unwrap().report.swept, 0);
        assert_eq!(f.unswept(), SESSIONS as usize);
        // The cut-short sweep still ran its last step, so it was counted.
        assert_eq!(f.auth.stats().unwrap().sweeps_run, 1);
        let (result, _) = sweep_beside_a_ticker(&f, &CancellationToken::new(), |_| {}).await;
        assert_eq!(result.unwrap().report.swept, SESSIONS);
        assert_eq!(f.unswept(), 0);
        assert!(f
            .auth
            .verify(&live, &keyward_protocol::Requirements::new())
            .unwrap()
            .is_ok());
        let stats = f.auth.stats().unwrap();
        assert_eq!((stats.sweeps_run, stats.credentials_swept), (2, SESSIONS));
    }
}
