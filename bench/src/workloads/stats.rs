//! `stats`: `Op::Stats` on a daemon with many clients (issue 15 §7: p50 <= 0.2 ms at a million
//! clients). The counts are kept as changes are made, so a call must cost nothing like a scan.

use anyhow::Result;

use super::{seeds, Bench};
use crate::keyward::daemon::Daemon;
use crate::keyward::ops;
use crate::keyward::population::Population;
use crate::report::{Shape, Workload};

/// Measures `Op::Stats` at `shape` on `daemon`, filled with `population`.
///
/// # Errors
/// If the measurement fails.
pub(crate) async fn keyward(
    bench: &mut Bench,
    daemon: &Daemon,
    population: &Population,
    shape: Shape,
) -> Result<()> {
    let sources = seeds(shape.connections).map(|_| ops::StatsCalls).collect();
    let mut row = bench
        .keyward_row(
            Workload::Stats,
            daemon,
            sources,
            Some(&population.admin_key),
            shape,
        )
        .await?;
    row.extra.clients = Some(population.clients.len() as u64);
    row.extra.sessions = Some(population.tokens.len() as u64);
    bench.reporter.emit(row);
    Ok(())
}
