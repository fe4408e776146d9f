//! `sweep`: fill the daemon with sessions that all expire, then time the sweep that deletes
//! them while a verify load runs on other, live sessions.
//!
//! 1. keywardd runs with a 1 s idle timeout and lifetime and a sweep interval too long to fire;
//!    the preload's sessions expire a second after issue.
//! 2. It is restarted on the same data dir with the default lifetimes and a short sweep
//!    interval. The daemon binds its socket just before it starts the sweep timer, so the first
//!    sweep is due one interval after the socket appears. Live sessions are issued and a
//!    verify load starts on them before then.
//! 3. `Op::Stats` is polled from the sweep's due time until `credentials_swept` has grown by
//!    the number of expired sessions: that is the sweep time. The load runs on for a settling
//!    second and then one measured duration without a sweep.
//!
//! Every request's send time and latency is kept, so the verify latencies are split afterwards
//! into "during the sweep" and "without a sweep".

use anyhow::{bail, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::{seeds, Bench};
use crate::keyward::daemon::{self, Daemon};
use crate::keyward::log_watch::{steps_in, swept_in, LogWatch};
use crate::keyward::{self, ops, population};
use crate::load::{Plan, Summary};
use crate::report::{round, Row, Shape, Target, Workload};

/// Idle timeout and lifetime while the expiring sessions are issued.
const EXPIRING: Duration = Duration::from_secs(1);

/// A sweep interval that never fires during the preload.
const NEVER: Duration = Duration::from_secs(24 * 3600);

/// How often the daemon's log is read for the sweeper's line.
const LOG_POLL: Duration = Duration::from_millis(2);

/// Time after the sweep before the no-sweep measurement starts.
const SETTLE: Duration = Duration::from_secs(1);

/// The longest a sweep may take before the run gives up.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the sweep workload on keyward at `shape` (the verify load's shape).
///
/// # Errors
/// If a server step fails, the timing assumption does not hold, or the sweep never ends.
pub(crate) async fn keyward(bench: &mut Bench, shape: Shape) -> Result<()> {
    let sizes = bench.settings.sizes;
    let expiring = daemon::Settings {
        idle_timeout: EXPIRING,
        max_lifetime: EXPIRING,
        sweep_interval: NEVER,
        audit_retention: None,
        slide_granularity: None,
        etcd: None,
    };
    let mut daemon = Daemon::start(&bench.settings.keywardd, &expiring).await?;
    let population = population::preload(&daemon, sizes.sweep, 1, "sweep").await?;
    let expired = population.tokens.len() as u64;
    // The last sessions issued expire a second after their issue.
    tokio::time::sleep(EXPIRING + Duration::from_millis(100)).await;

    let serving = daemon::Settings {
        sweep_interval: sizes.sweep_interval,
        ..daemon::Settings::default()
    };
    daemon.restart(&serving).await?;
    let sweep_due = daemon.listening_since + sizes.sweep_interval;
    let mut admin = daemon.client().await?;
    let before = admin.stats().await?.credentials_swept;
    if before != 0 {
        // The data dir is fresh and the first daemon never swept: a sweep already counted means
        // the daemon swept at start-up, and the timing below would not hold.
        bail!("keywardd swept {before} credentials before its first sweep interval elapsed");
    }
    let live = population::issue(&daemon, &population, sizes.sweep_live, "live sessions").await?;
    if Instant::now() + bench.settings.warmup >= sweep_due {
        bail!(
            "issuing {} live sessions and warming up took longer than the {:?} sweep interval, \
             so the load would not be running when the sweep starts",
            live.len(),
            sizes.sweep_interval
        );
    }

    let live = Arc::new(live);
    let sources = seeds(shape.connections)
        .map(|seed| ops::Verifies::new(Arc::clone(&live), seed))
        .collect();
    let stop = CancellationToken::new();
    let plan = Plan {
        depth: shape.pipeline,
        warmup: Duration::ZERO,
        duration: None,
        keep_samples: true,
        stop: stop.clone(),
        progress: None,
        tap: None,
    };
    let duration = bench.settings.duration;
    let log = daemon.log();
    let watch = async {
        let result = watch_sweep(&log, &mut admin, sweep_due, expired, duration).await;
        stop.cancel();
        result
    };
    let (load, watched) = tokio::join!(
        keyward::measure(&daemon, sources, None, bench.settings.driver, &plan),
        watch
    );
    let timeline = watched?;
    let samples = load?.samples;
    daemon.check_alive()?;

    let during = Summary::of_samples(&samples, sweep_due, timeline.swept_at);
    let quiet_from = timeline.swept_at + SETTLE;
    let without = Summary::of_samples(&samples, quiet_from, quiet_from + duration);
    let mut row = Row::measured(
        Workload::Sweep,
        Target::Keyward,
        shape,
        &during,
        daemon.rss_mib().ok(),
    );
    row.extra.sessions = Some(expired);
    row.extra.swept = Some(timeline.swept);
    row.extra.sweep_steps_ms = timeline.steps;
    row.extra.sweep_ms = Some(round(
        (timeline.swept_at - sweep_due).as_secs_f64() * 1000.0,
        0,
    ));
    row.extra.p99_us_without_sweep = without.quantile_us(0.99).map(|v| round(v, 1));
    row.extra.ops_per_sec_without_sweep = Some(round(without.ops_per_sec(), 0));
    bench.mark_driver(&mut row);
    bench.reporter.emit(row);
    Ok(())
}

/// When the sweep was seen to finish, and what it deleted.
struct Timeline {
    /// When the sweeper's closing line appeared in the log.
    swept_at: Instant,
    /// Credentials deleted since the restart, by the daemon's own count.
    swept: u64,
    /// The daemon's timing of the last sweep's steps, from its closing line.
    steps: Option<[f64; 3]>,
}

/// Waits from `due` until the sweeper's log lines account for `expired` deletions, confirms
/// the count with one `Op::Stats`, then lets the load run through the settling time and one
/// `duration` without a sweep.
async fn watch_sweep(
    log: &Path,
    admin: &mut keyward_client::Client,
    due: Instant,
    expired: u64,
    duration: Duration,
) -> Result<Timeline> {
    let mut watch = LogWatch::open(log)?;
    let mut logged = 0;
    let mut steps = None;
    tokio::time::sleep_until(due.into()).await;
    let swept_at = loop {
        for line in watch.lines()? {
            logged += swept_in(&line).unwrap_or(0);
            steps = steps_in(&line).or(steps);
        }
        let now = Instant::now();
        if logged >= expired {
            break now;
        }
        if now > due + SWEEP_TIMEOUT {
            bail!(
                "keywardd's log shows {logged} of {expired} expired sessions swept after \
                 {SWEEP_TIMEOUT:?} (the harness reads the sweeper's `sweep swept=N` lines)"
            );
        }
        tokio::time::sleep(LOG_POLL).await;
    };
    // One stats call, on a store the sweep has emptied, checks the log against the counter.
    let swept = admin.stats().await?.credentials_swept;
    if swept < expired {
        bail!("the log reports {logged} swept but Op::Stats counts {swept} of {expired}");
    }
    tokio::time::sleep_until((swept_at + SETTLE + duration).into()).await;
    Ok(Timeline {
        swept_at,
        swept,
        steps,
    })
}
