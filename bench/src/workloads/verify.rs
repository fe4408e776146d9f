//! `verify`: a random preloaded session per request, each verify sliding its expiry; against
//! Redis `GETEX key EX 86400` on as many preloaded keys of a session record's size.

use anyhow::Result;
use bytes::Bytes;
use std::sync::Arc;

use super::{seeds, Bench};
use crate::keyward::{self, daemon::Daemon, ops, population::Population};
use crate::redis::{self, commands, server::RedisServer};
use crate::report::{Row, Shape, Target, Workload};

/// Measures verify over `population`'s sessions at `shape`.
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
        .map(|seed| ops::Verifies::new(Arc::clone(&population.tokens), seed))
        .collect();
    let plan = bench.plan(shape.pipeline);
    let outcome = keyward::measure(daemon, sources, None, bench.settings.driver, &plan).await?;
    let mut row = Row::measured(
        Workload::Verify,
        Target::Keyward,
        shape,
        &outcome.summary,
        daemon.rss_mib().ok(),
    );
    row.extra.sessions = Some(population.tokens.len() as u64);
    bench.mark_driver(&mut row);
    bench.reporter.emit(row);
    Ok(())
}

/// Measures `GETEX key EX 86400` over `keys` at `shape`.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn redis(
    bench: &mut Bench,
    server: &RedisServer,
    keys: &Arc<Vec<Bytes>>,
    shape: Shape,
) -> Result<()> {
    let sources = seeds(shape.connections)
        .map(|seed| commands::GetExes::new(Arc::clone(keys), seed))
        .collect();
    let outcome = redis::measure(server, sources, &bench.plan(shape.pipeline)).await?;
    let mut row = Row::measured(
        Workload::Verify,
        Target::Redis,
        shape,
        &outcome.summary,
        server.rss_mib().ok(),
    );
    row.extra.command = Some("GETEX key EX 86400");
    row.extra.sessions = Some(keys.len() as u64);
    bench.reporter.emit(row);
    Ok(())
}
