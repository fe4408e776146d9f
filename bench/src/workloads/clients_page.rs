//! `clients-page`: `Op::ClientList` a page of 100 at a time on a daemon with many clients
//! (issue 15 §7: p50 <= 1 ms at a million clients). Each connection walks the list from its
//! first page, each request asking for the page after the last reply's cursor.

use anyhow::Result;

use super::{seeds, Bench};
use crate::keyward::daemon::Daemon;
use crate::keyward::ops;
use crate::keyward::population::Population;
use crate::report::{Shape, Workload};

/// Clients per page: the CLI's default `--limit`.
pub(crate) const PAGE: u32 = 100;

/// Measures paging through the clients at `shape` on `daemon`, filled with `population`.
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
        .map(|_| ops::ClientPages::new(PAGE))
        .collect();
    let mut row = bench
        .keyward_row(
            Workload::ClientsPage,
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
