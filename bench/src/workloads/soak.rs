//! `soak`: issue #4's soak test, a run of 10 minutes or more with mixed load and sweeps, in
//! which RSS and open file descriptors should stay flat and p99 stable.
//!
//! 1. keywardd starts with its default lifetimes and a sweep every [`SWEEP_INTERVAL`], and is
//!    filled as for `mixed`.
//! 2. A tenth as many sessions again are issued to expire during the run, in one cohort per
//!    report interval, each due about the middle of its interval (earlier by the second or two
//!    their issue takes): see [`expiring`] for how, and why the load's sessions keep the default
//!    lifetimes. A tenth is enough that the sweeps keep deleting, and little enough that the
//!    store's shrinking by it hides little growth.
//! 3. The `mixed` load (90% verify, 5% issue, 5% logout over the preload) runs for `--duration`
//!    after the warm-up. Every `--interval` one line is printed: that interval's ops/s and
//!    latencies from a fresh histogram, the daemon's VmRSS and open fds at its end, and the
//!    sessions the sweeper logged deleting in it. A summary line closes the run.

use anyhow::{Context, Result};
use std::time::{Duration, Instant};

use super::{mixed, Bench};
use crate::keyward;
use crate::keyward::daemon::{self, Daemon};
use crate::keyward::expiring::{self, Cohort};
use crate::keyward::log_watch::{swept_in, LogWatch};
use crate::keyward::population::Population;
use crate::load::{Plan, Summary, Tap};
use crate::report::soak::{Interval, SoakReport};
use crate::report::Shape;

/// How often the sweeper runs during the soak: often enough that every report interval holds
/// several sweeps.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Sessions issued to expire during the run, as a share of the preload: one in ten.
const EXPIRING_SHARE: u64 = 10;

/// The most cohorts of expiring sessions, one reload each, however many intervals a run has.
const MAX_COHORTS: usize = 120;

/// Runs the soak on keyward at `shape`.
///
/// # Errors
/// If the daemon cannot be started, filled or reloaded, or the load or a reading fails.
pub(crate) async fn keyward(bench: &mut Bench, shape: Shape) -> Result<()> {
    let (duration, interval, warmup) = (
        bench.settings.duration,
        bench.settings.interval,
        bench.settings.warmup,
    );
    let serving = daemon::Settings {
        sweep_interval: SWEEP_INTERVAL,
        audit_retention: bench.settings.audit_retention,
        ..daemon::Settings::default()
    };
    let (mut daemon, population) = bench
        .keyward_configured(&serving, bench.settings.sizes.steady, "soak")
        .await?;

    // Opened before any session can expire, so every sweep of them is counted.
    let mut log = LogWatch::open(&daemon.log())?;
    log.lines()?;
    let ticks = ticks(duration, interval);
    let expiring_total = (population.tokens.len() as u64).div_ceil(EXPIRING_SHARE);
    let cohorts = cohorts(
        Instant::now() + warmup,
        duration,
        ticks.len(),
        expiring_total,
    );
    let expiring = expiring::issue(&daemon, &population, &serving, &cohorts).await?;

    let tap = Tap::new();
    let plan = Plan {
        tap: Some(tap.clone()),
        ..bench.plan(shape.pipeline)
    };
    let mut report = SoakReport::new(bench.settings.json);
    let watch = watch(
        &daemon,
        &tap,
        log,
        Instant::now() + warmup,
        &ticks,
        &mut report,
    );
    let load = measure(bench, &daemon, &population, shape, &plan);
    let (overall, swept) = tokio::try_join!(load, watch)?;
    daemon.check_alive()?;
    report.finish(&overall, swept, expiring);
    Ok(())
}

/// The mixed load over `population` with `plan`; its whole-run summary.
async fn measure(
    bench: &Bench,
    daemon: &Daemon,
    population: &Population,
    shape: Shape,
    plan: &Plan,
) -> Result<Summary> {
    let sources = mixed::sources(population, shape.connections);
    let outcome = keyward::measure(
        daemon,
        sources,
        Some(&population.admin_key),
        bench.settings.driver,
        plan,
    )
    .await?;
    Ok(outcome.summary)
}

/// Waits for `start`, empties `tap` of the warm-up, then at each of `ticks` (offsets from
/// `start`) takes the interval's replies and reads the daemon, and emits a line. Returns the
/// sessions the sweeper logged deleting since `log` was opened, warm-up included.
async fn watch(
    daemon: &Daemon,
    tap: &Tap,
    mut log: LogWatch,
    start: Instant,
    ticks: &[Duration],
    report: &mut SoakReport,
) -> Result<u64> {
    let mut swept_since =
        || -> Result<u64> { Ok(log.lines()?.iter().filter_map(|l| swept_in(l)).sum()) };
    tokio::time::sleep_until(start.into()).await;
    tap.take();
    // Sessions swept before the first interval count in the total, not in any line.
    let mut swept = swept_since()?;
    for &at in ticks {
        tokio::time::sleep_until((start + at).into()).await;
        let replies = tap.take();
        let in_interval = swept_since()?;
        swept += in_interval;
        let rss = daemon.rss_mib().context("reading keywardd's RSS")?;
        let fds = daemon.open_fds().context("counting keywardd's fds")?;
        report.emit(Interval::new(
            start.elapsed(),
            &replies,
            rss,
            fds,
            in_interval,
        ));
    }
    Ok(swept)
}

/// The ends of the report intervals, as offsets from the start: every `interval`, and the
/// run's end if it falls between two.
fn ticks(duration: Duration, interval: Duration) -> Vec<Duration> {
    let mut ticks: Vec<Duration> = (1..)
        .map(|k| interval * k)
        .take_while(|&at| at < duration)
        .collect();
    ticks.push(duration);
    ticks
}

/// `total` sessions in at most `intervals` cohorts (and at most [`MAX_COHORTS`]), spread evenly
/// over `duration` from `start`, each due in the middle of its share of the run.
fn cohorts(start: Instant, duration: Duration, intervals: usize, total: u64) -> Vec<Cohort> {
    let n = intervals.clamp(1, MAX_COHORTS);
    let spacing = duration / n as u32;
    let (each, extra) = (total / n as u64, total % n as u64);
    (0..n)
        .map(|k| Cohort {
            expires_at: start + spacing * k as u32 + spacing / 2,
            sessions: each + u64::from((k as u64) < extra),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Intervals end every `interval` and at the run's end, never past it.
    #[test]
    fn ticks_end_at_the_run_end() {
        let s = Duration::from_secs;
        assert_eq!(ticks(s(40), s(10)), [s(10), s(20), s(30), s(40)]);
        assert_eq!(ticks(s(45), s(10)), [s(10), s(20), s(30), s(40), s(45)]);
        assert_eq!(ticks(s(5), s(5)), [s(5)]);
    }

    /// Cohorts share the total, one per interval, each due mid-interval.
    #[test]
    fn cohorts_spread_over_the_run() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let c = cohorts(t0, s(40), 4, 2002);
        assert_eq!(c.len(), 4);
        assert_eq!(c.iter().map(|c| c.sessions).sum::<u64>(), 2002);
        assert_eq!((c[0].sessions, c[3].sessions), (501, 500));
        assert_eq!(c[0].expires_at - t0, s(5));
        assert_eq!(c[3].expires_at - t0, s(35));
        assert_eq!(cohorts(t0, s(3600), 3600, 10).len(), MAX_COHORTS);
    }
}
