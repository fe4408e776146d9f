//! `verify`: a random preloaded session per request, each verify sliding its expiry; against
//! Redis `GETEX key EX 86400` on as many preloaded keys of a session record's size.

use anyhow::Result;
use bytes::Bytes;
use std::sync::Arc;

use super::{seeds, Bench};
use crate::keyward::{daemon::Daemon, ops, population::Population};
use crate::redis::{commands, server::RedisServer};
use crate::report::{Shape, Target, Workload};

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
    keyward_as(bench, Target::Keyward, daemon, population, shape, None).await
}

/// As [`keyward`], with the row labelled `target` ([`Target::Cluster`] for a host on etcd)
/// and, if given, a note on what it measured.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn keyward_as(
    bench: &mut Bench,
    target: Target,
    daemon: &Daemon,
    population: &Population,
    shape: Shape,
    note: Option<&'static str>,
) -> Result<()> {
    let sources = seeds(shape.connections)
        .map(|seed| ops::Verifies::new(Arc::clone(&population.tokens), seed))
        .collect();
    let mut row = bench
        .keyward_row_as(target, Workload::Verify, daemon, sources, None, shape)
        .await?;
    row.extra.sessions = Some(population.tokens.len() as u64);
    row.extra.command = note;
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
    let mut row = bench
        .redis_row(
            Workload::Verify,
            server,
            sources,
            "GETEX key EX 86400",
            shape,
        )
        .await?;
    row.extra.sessions = Some(keys.len() as u64);
    bench.reporter.emit(row);
    Ok(())
}
