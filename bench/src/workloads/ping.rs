//! `ping`: the cheapest request each server has, the floor every other figure stands on.

use anyhow::Result;

use super::{seeds, Bench};
use crate::keyward::{self, daemon::Daemon, ops};
use crate::redis::{self, commands, server::RedisServer};
use crate::report::{Row, Shape, Target, Workload};

/// Measures `Op::Ping` at `shape`.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn keyward(bench: &mut Bench, daemon: &Daemon, shape: Shape) -> Result<()> {
    let sources = seeds(shape.connections).map(|_| ops::Pings).collect();
    let plan = bench.plan(shape.pipeline);
    let outcome = keyward::measure(daemon, sources, None, bench.settings.driver, &plan).await?;
    let mut row = Row::measured(
        Workload::Ping,
        Target::Keyward,
        shape,
        &outcome.summary,
        daemon.rss_mib().ok(),
    );
    bench.mark_driver(&mut row);
    bench.reporter.emit(row);
    Ok(())
}

/// Measures `PING` at `shape`.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn redis(bench: &mut Bench, server: &RedisServer, shape: Shape) -> Result<()> {
    let sources = seeds(shape.connections).map(|_| commands::Pings).collect();
    let outcome = redis::measure(server, sources, &bench.plan(shape.pipeline)).await?;
    let mut row = Row::measured(
        Workload::Ping,
        Target::Redis,
        shape,
        &outcome.summary,
        server.rss_mib().ok(),
    );
    row.extra.command = Some("PING");
    bench.reporter.emit(row);
    Ok(())
}
