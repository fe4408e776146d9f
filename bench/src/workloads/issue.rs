//! `issue`: a durable session issue (acknowledged only once flushed) for a random client;
//! against Redis `SET key value EX 86400` with `appendonly yes` and `appendfsync always`.

use anyhow::Result;
use std::sync::Arc;

use super::{seeds, Bench};
use crate::keyward::{daemon::Daemon, ops, population::Population};
use crate::redis::{commands, server::RedisServer};
use crate::report::{Shape, Workload};

/// Measures `Op::SessionIssue` for `population`'s clients at `shape`.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn keyward(
    bench: &mut Bench,
    daemon: &Daemon,
    population: &Population,
    shape: Shape,
) -> Result<()> {
    let sources = seeds(shape.connections)
        .map(|seed| ops::Issues::new(Arc::clone(&population.clients), seed))
        .collect();
    let row = bench
        .keyward_row(
            Workload::Issue,
            daemon,
            sources,
            Some(&population.admin_key),
            shape,
        )
        .await?;
    bench.reporter.emit(row);
    Ok(())
}

/// Measures `SET key value EX 86400` on fresh keys at `shape`; `server` must fsync every write.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn redis(bench: &mut Bench, server: &RedisServer, shape: Shape) -> Result<()> {
    let sources = seeds(shape.connections).map(commands::Sets::new).collect();
    let row = bench
        .redis_row(
            Workload::Issue,
            server,
            sources,
            "SET key value EX 86400, appendfsync always",
            shape,
        )
        .await?;
    bench.reporter.emit(row);
    Ok(())
}
