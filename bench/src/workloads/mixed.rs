//! `mixed`: 90% verify, 5% issue, 5% logout, each connection over its own share of the
//! preloaded sessions. keyward only: a Redis mix would need AOF for its writes, which would
//! then fsync every `GETEX` too.

use anyhow::Result;
use std::sync::Arc;

use super::{seeds, Bench};
use crate::keyward::{daemon::Daemon, ops, population::Population};
use crate::report::{Shape, Workload};

/// Measures the mix over `population` at `shape`. Logouts use up sessions, so run it after
/// anything else that needs them.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn keyward(
    bench: &mut Bench,
    daemon: &Daemon,
    population: &Population,
    shape: Shape,
) -> Result<()> {
    let sources = sources(population, shape.connections);
    let mut row = bench
        .keyward_row(
            Workload::Mixed,
            daemon,
            sources,
            Some(&population.admin_key),
            shape,
        )
        .await?;
    row.extra.sessions = Some(population.tokens.len() as u64);
    bench.reporter.emit(row);
    Ok(())
}

/// The mix for each of `connections` connections, each over its own share of `population`'s
/// sessions; `soak` runs the same mix for longer.
pub(crate) fn sources(population: &Population, connections: usize) -> Vec<ops::Mixed> {
    let share = population.tokens.len().div_ceil(connections).max(1);
    let mut shares = population.tokens.chunks(share).map(<[_]>::to_vec);
    seeds(connections)
        .map(|seed| {
            let pool = shares.next().unwrap_or_default();
            ops::Mixed::new(pool, Arc::clone(&population.clients), seed)
        })
        .collect()
}
