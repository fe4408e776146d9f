//! `http-verify`: the `verify` workload over keywardd's HTTP API, `POST /v1/verify` on
//! `http.sock` with keep-alive, a random preloaded session per request; compared with the frame
//! protocol's verify and Redis `GETEX` in the report's targets.

use anyhow::Result;
use std::sync::Arc;

use super::{seeds, Bench};
use crate::keyward::http::{self, HttpVerifies};
use crate::keyward::{daemon::Daemon, population::Population};
use crate::load;
use crate::report::{Row, Shape, Target, Workload};

/// Measures `POST /v1/verify` over `population`'s sessions at `shape`.
///
/// # Errors
/// If a connection fails or a response does not parse.
pub(crate) async fn keyward(
    bench: &mut Bench,
    daemon: &Daemon,
    population: &Population,
    shape: Shape,
) -> Result<()> {
    let streams = http::connect(&daemon.http_socket(), shape.connections).await?;
    let links = streams
        .into_iter()
        .zip(seeds(shape.connections))
        .map(|(stream, seed)| {
            (
                stream,
                HttpVerifies::new(Arc::clone(&population.tokens), seed),
            )
        })
        .collect();
    let outcome = load::run(links, &bench.plan(shape.pipeline)).await?;
    let mut row = Row::measured(
        Workload::HttpVerify,
        Target::Keyward,
        shape,
        &outcome.summary,
        daemon.rss_mib().ok(),
    );
    row.extra.sessions = Some(population.tokens.len() as u64);
    bench.reporter.emit(row);
    Ok(())
}
