//! `coldstart`: many sessions on disk, a clean restart, and the time from exec to the first
//! answered ping; then a verify load on the restarted server for RSS with those sessions live.
//!
//! Redis gets the same treatment where present: the same number of session-shaped keys, a
//! `SAVE`, a restart that loads the snapshot, and `GETEX` on the restarted server.

use anyhow::Result;

use super::{verify, Bench};
use crate::disk;
use crate::keyward::daemon;
use crate::redis::server::Persistence;
use crate::report::{round, Row, Shape, Target, Workload};

/// Runs the cold start on every target, then verify at `shape` on the restarted servers.
///
/// # Errors
/// If a server cannot be filled, stopped or restarted, or a measurement fails.
pub(crate) async fn run(bench: &mut Bench, shape: Shape) -> Result<()> {
    let n = bench.settings.sizes.coldstart;
    if bench.keyward() {
        let (mut daemon, population) = bench.keyward_with(n, "coldstart").await?;
        let rss_preloaded = daemon.rss_mib()?;
        daemon.restart(&daemon::Settings::default()).await?;
        let mut row = Row::bare(Workload::Coldstart, Target::Keyward);
        row.rss_mib = Some(round(daemon.rss_mib()?, 1));
        row.extra.sessions = Some(population.tokens.len() as u64);
        row.extra.first_ping_ms = Some(round(daemon.ready_after.as_secs_f64() * 1000.0, 1));
        row.extra.data_dir_mib = Some(round(disk::dir_mib(&daemon.data_dir())?, 1));
        row.extra.rss_mib_after_preload = Some(round(rss_preloaded, 1));
        bench.reporter.emit(row);
        verify::keyward(bench, &daemon, &population, shape).await?;
    }
    if bench.redis(Workload::Coldstart, None) {
        let (mut redis, keys) = bench
            .redis_with(Persistence::Memory, n, "coldstart")
            .await?;
        let rss_preloaded = redis.rss_mib()?;
        redis.save().await?;
        redis.restart().await?;
        let mut row = Row::bare(Workload::Coldstart, Target::Redis);
        row.rss_mib = Some(round(redis.rss_mib()?, 1));
        row.extra.command = Some("load an RDB snapshot");
        row.extra.sessions = Some(keys.len() as u64);
        row.extra.first_ping_ms = Some(round(redis.ready_after.as_secs_f64() * 1000.0, 1));
        row.extra.data_dir_mib = Some(round(disk::dir_mib(&redis.data_dir())?, 1));
        row.extra.rss_mib_after_preload = Some(round(rss_preloaded, 1));
        bench.reporter.emit(row);
        verify::redis(bench, &redis, &keys, shape).await?;
    }
    Ok(())
}
