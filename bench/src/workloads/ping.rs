//! `ping`: the cheapest request each server has, the floor every other figure stands on.

use anyhow::Result;

use super::{seeds, Bench};
use crate::keyward::{daemon::Daemon, ops};
use crate::redis::{commands, server::RedisServer};
use crate::report::{Shape, Workload};

/// Measures `Op::Ping` at `shape`.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn keyward(bench: &mut Bench, daemon: &Daemon, shape: Shape) -> Result<()> {
    let sources = seeds(shape.connections).map(|_| ops::Pings).collect();
    let row = bench
        .keyward_row(Workload::Ping, daemon, sources, None, shape)
        .await?;
    bench.reporter.emit(row);
    Ok(())
}

/// Measures `PING` at `shape`.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn redis(bench: &mut Bench, server: &RedisServer, shape: Shape) -> Result<()> {
    let sources = seeds(shape.connections).map(|_| commands::Pings).collect();
    let row = bench
        .redis_row(Workload::Ping, server, sources, "PING", shape)
        .await?;
    bench.reporter.emit(row);
    Ok(())
}
