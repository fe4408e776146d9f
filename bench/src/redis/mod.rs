//! The Redis side: starting `redis-server`, filling it with session-shaped keys, and driving it
//! with the shared load generator.

pub(crate) mod commands;
pub(crate) mod server;
mod wire;

use anyhow::{bail, Result};
use bytes::Bytes;

use crate::load::{self, Outcome, Plan};
use crate::progress;
use server::RedisServer;
pub(crate) use wire::CommandSource;
use wire::RespExchange;

/// Connections a preload uses.
const PRELOAD_CONNECTIONS: usize = 4;

/// Commands in flight per preload connection: Redis pipelines cheaply.
const PRELOAD_DEPTH: usize = 256;

/// Runs one source per connection against `redis` with `plan`, and hands the sources back.
///
/// # Errors
/// If a connection fails or a reply does not decode.
pub(crate) async fn measure<S: CommandSource>(
    redis: &RedisServer,
    sources: Vec<S>,
    plan: &Plan,
) -> Result<Outcome<S>> {
    let streams = redis.connect(sources.len()).await?;
    let links = streams
        .into_iter()
        .zip(sources)
        .map(|(stream, source)| (stream, RespExchange::new(source)))
        .collect();
    let outcome = load::run(links, plan).await?;
    Ok(Outcome {
        summary: outcome.summary,
        exchanges: outcome
            .exchanges
            .into_iter()
            .map(RespExchange::into_source)
            .collect(),
        samples: outcome.samples,
    })
}

/// Stores `n` session-shaped keys with pipelined `SET`s; returns the keys.
///
/// # Errors
/// If any `SET` fails.
pub(crate) async fn preload(redis: &RedisServer, n: u64, label: &str) -> Result<Vec<Bytes>> {
    let keys = commands::session_keys(n)?;
    let per = keys.len().div_ceil(PRELOAD_CONNECTIONS).max(1);
    let sources: Vec<_> = keys
        .chunks(per)
        .map(|chunk| commands::Preload::new(chunk.to_vec()))
        .collect();
    let bar = progress::bar(n, &format!("{label}: keys"));
    let outcome = measure(
        redis,
        sources,
        &Plan::to_completion(PRELOAD_DEPTH, bar.clone()),
    )
    .await?;
    bar.finish_and_clear();
    if let Some(e) = outcome.exchanges.iter().find_map(|s| s.failure.as_ref()) {
        bail!("Redis preload failed: {e}");
    }
    Ok(keys)
}
