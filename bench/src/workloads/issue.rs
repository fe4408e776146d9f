//! `issue`: a durable session issue (acknowledged only once flushed) for a random client;
//! against Redis `SET key value EX 86400` with `appendonly yes` and `appendfsync always`.

use anyhow::Result;
use std::sync::Arc;

use super::{seeds, Bench};
use crate::keyward::{self, daemon::Daemon, ops, population::Population};
use crate::redis::{self, commands, server::RedisServer};
use crate::report::{Row, Shape, Target, Workload};

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
    let plan = bench.plan(shape.pipeline);
    let outcome = keyward::measure(
        daemon,
        sources,
        Some(&population.admin_key),
        bench.settings.driver,
        &plan,
    )
    .await?;
    let mut row = Row::measured(
        Workload::Issue,
        Target::Keyward,
        shape,
        &outcome.summary,
        daemon.rss_mib().ok(),
    );
    bench.mark_driver(&mut row);
    bench.reporter.emit(row);
    Ok(())
}

/// Measures `SET key value EX 86400` on fresh keys at `shape`; `server` must fsync every write.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn redis(bench: &mut Bench, server: &RedisServer, shape: Shape) -> Result<()> {
    let sources = seeds(shape.connections).map(commands::Sets::new).collect();
    let outcome = redis::measure(server, sources, &bench.plan(shape.pipeline)).await?;
    let mut row = Row::measured(
        Workload::Issue,
        Target::Redis,
        shape,
        &outcome.summary,
        server.rss_mib().ok(),
    );
    row.extra.command = Some("SET key value EX 86400, appendfsync always");
    bench.reporter.emit(row);
    Ok(())
}
