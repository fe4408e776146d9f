//! The same workloads driven through `keyward_client::Client::pipeline`, to measure what the
//! client itself costs compared with raw frames.
//!
//! `pipeline` sends a batch and waits for all of its replies, so at depth D each connection works
//! in lock-step batches of D rather than keeping D in flight; at depth 1 the two drivers do
//! exactly the same thing and differ only in the client's own work.

use anyhow::{Context, Result};
use keyward_client::Client;
use std::time::Instant;
use tokio::task::JoinSet;

use super::ops::OpSource;
use crate::load::{Outcome, Plan, Recorder, Tap, Window, REPLY_TIMEOUT};

/// Runs `plan` over `links` through the client. Only timed plans are supported.
///
/// # Errors
/// If a connection fails or a batch gets no reply in time.
pub(crate) async fn run<S: OpSource>(links: Vec<(Client, S)>, plan: &Plan) -> Result<Outcome<S>> {
    let duration = plan
        .duration
        .context("the client driver runs timed plans only")?;
    let start = Instant::now() + plan.warmup;
    let window = Window {
        start,
        end: start + duration,
    };
    let mut tasks = JoinSet::new();
    for (index, (client, source)) in links.into_iter().enumerate() {
        let depth = plan.depth;
        let tap = plan.tap.clone();
        tasks.spawn(async move { (index, drive(client, source, depth, window, tap).await) });
    }
    let mut finished = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.context("a client connection panicked")?;
        finished.push((
            index,
            result.with_context(|| format!("client connection {index}"))?,
        ));
    }
    finished.sort_by_key(|(index, _)| *index);
    let mut total = Recorder::new(window, false);
    let mut sources = Vec::with_capacity(finished.len());
    for (_, (recorder, source)) in finished {
        total.merge(recorder);
        sources.push(source);
    }
    let (summary, samples) = total.finish(duration.as_secs_f64());
    Ok(Outcome {
        summary,
        exchanges: sources,
        samples,
    })
}

async fn drive<S: OpSource>(
    mut client: Client,
    mut source: S,
    depth: usize,
    window: Window,
    tap: Option<Tap>,
) -> Result<(Recorder, S)> {
    let mut recorder = Recorder::new(window, false);
    while Instant::now() < window.end {
        let ops: Vec<_> = std::iter::from_fn(|| source.next_op())
            .take(depth)
            .collect();
        if ops.is_empty() {
            break;
        }
        let sent = Instant::now();
        let replies = tokio::time::timeout(REPLY_TIMEOUT, client.pipeline(ops))
            .await
            .with_context(|| format!("no reply within {REPLY_TIMEOUT:?}"))??;
        let done = Instant::now();
        for reply in replies {
            let ok = source.on_reply(reply);
            recorder.record(sent, done, ok);
            if let Some(tap) = &tap {
                tap.record(done.saturating_duration_since(sent), ok);
            }
        }
    }
    Ok((recorder, source))
}
