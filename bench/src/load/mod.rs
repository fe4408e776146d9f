//! The load generator every target shares: N connections, D requests in flight on each, a
//! warm-up, then a measured window.
//!
//! A connection keeps D requests outstanding at all times: whenever replies arrive it writes as
//! many new requests as were answered, so the pipeline depth is a sliding window rather than
//! lock-step batches. Both keyward and Redis answer one connection's requests in order, so the
//! send time of each request is kept in a queue and matched to the next reply. All connections
//! run as tasks of one current-thread runtime, which keeps the generator on one core and leaves
//! the other to the server under test.
//!
//! The protocol and the choice of request live behind [`Exchange`]; this module only times.
//! Besides the per-run totals, a plan may carry a [`Tap`] that is read while the run goes on.

mod recorder;
mod tap;

pub(crate) use recorder::{Recorder, Sample, Summary, Window};
pub(crate) use tap::Tap;

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use indicatif::ProgressBar;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Bytes reserved for each read from a connection.
const READ_CHUNK: usize = 64 * 1024;

/// The longest a connection waits for a reply before the run is declared stuck.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A horizon for runs that end only when their requests or their stop token run out.
const UNBOUNDED: Duration = Duration::from_secs(365 * 24 * 3600);

/// One connection's protocol and workload: what to send next, and whether each reply is the
/// success the workload expects.
pub(crate) trait Exchange: Send + 'static {
    /// Appends the next request to `out`; returns `false` when there is nothing more to send.
    ///
    /// # Errors
    /// If the request cannot be encoded.
    fn write_request(&mut self, out: &mut BytesMut) -> Result<bool>;

    /// Takes one whole reply off the front of `input`: `None` if more bytes are needed, else
    /// whether it was a success.
    ///
    /// # Errors
    /// If the bytes are not a valid reply, or a reply the workload cannot tolerate.
    fn read_reply(&mut self, input: &mut BytesMut) -> Result<Option<bool>>;
}

/// How to run a load.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Requests in flight per connection.
    pub depth: usize,
    /// Time before measurement starts.
    pub warmup: Duration,
    /// The measured time; `None` runs until every exchange has nothing more to send or `stop`
    /// fires.
    pub duration: Option<Duration>,
    /// Keep every reply's send time and latency, for workloads that split them afterwards.
    pub keep_samples: bool,
    /// Ends the run early: connections stop writing and collect what is in flight.
    pub stop: CancellationToken,
    /// Advanced once per reply.
    pub progress: Option<ProgressBar>,
    /// Also given every reply, warm-up included, for a reader that takes per-interval figures
    /// while the run goes on.
    pub tap: Option<Tap>,
}

impl Plan {
    /// A measured run of `duration` after `warmup`, `depth` deep.
    pub fn timed(depth: usize, warmup: Duration, duration: Duration) -> Plan {
        Plan {
            depth,
            warmup,
            duration: Some(duration),
            keep_samples: false,
            stop: CancellationToken::new(),
            progress: None,
            tap: None,
        }
    }

    /// A run that sends everything the exchanges hold, `depth` deep, and reports progress.
    pub fn to_completion(depth: usize, progress: ProgressBar) -> Plan {
        Plan {
            depth,
            warmup: Duration::ZERO,
            duration: None,
            keep_samples: false,
            stop: CancellationToken::new(),
            progress: Some(progress),
            tap: None,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Outcome<E> {
    /// Throughput and latencies inside the measured window.
    pub summary: Summary,
    /// The exchanges, handed back so workloads can read what they collected.
    pub exchanges: Vec<E>,
    /// Every reply, if the plan kept samples.
    pub samples: Vec<Sample>,
}

/// Runs `plan` over already connected `links`.
///
/// # Errors
/// If any connection fails, a reply does not decode, or no reply comes within
/// [`REPLY_TIMEOUT`]; the other connections are then abandoned.
pub(crate) async fn run<E: Exchange>(
    links: Vec<(UnixStream, E)>,
    plan: &Plan,
) -> Result<Outcome<E>> {
    let start = Instant::now() + plan.warmup;
    let window = Window {
        start,
        end: start + plan.duration.unwrap_or(UNBOUNDED),
    };
    let mut tasks = JoinSet::new();
    for (index, (stream, exchange)) in links.into_iter().enumerate() {
        let plan = plan.clone();
        tasks.spawn(async move {
            let result = drive(stream, exchange, &plan, window).await;
            (index, result)
        });
    }
    let mut finished = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.context("a load connection panicked")?;
        finished.push((
            index,
            result.with_context(|| format!("load connection {index}"))?,
        ));
    }
    let seconds = match plan.duration {
        Some(d) => d.as_secs_f64(),
        None => Instant::now()
            .saturating_duration_since(start)
            .as_secs_f64(),
    };
    finished.sort_by_key(|(index, _)| *index);
    let mut total = Recorder::new(window, plan.keep_samples);
    let mut exchanges = Vec::with_capacity(finished.len());
    for (_, (recorder, exchange)) in finished {
        total.merge(recorder);
        exchanges.push(exchange);
    }
    let (summary, samples) = total.finish(seconds);
    Ok(Outcome {
        summary,
        exchanges,
        samples,
    })
}

/// One connection's loop: keep `plan.depth` requests in flight until the window closes, then
/// collect the replies still owed.
async fn drive<E: Exchange>(
    mut stream: UnixStream,
    mut exchange: E,
    plan: &Plan,
    window: Window,
) -> Result<(Recorder, E)> {
    let mut recorder = Recorder::new(window, plan.keep_samples);
    let mut in_flight: VecDeque<Instant> = VecDeque::with_capacity(plan.depth);
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut exhausted = false;
    loop {
        let sending = !exhausted && !plan.stop.is_cancelled() && Instant::now() < window.end;
        if sending {
            let mut queued = 0;
            while in_flight.len() + queued < plan.depth {
                if !exchange.write_request(&mut out)? {
                    exhausted = true;
                    break;
                }
                queued += 1;
            }
            if queued > 0 {
                // Stamped after encoding, so a request's latency starts when it is written.
                let sent = Instant::now();
                in_flight.extend(std::iter::repeat_n(sent, queued));
                stream.write_all(&out).await?;
                out.clear();
            }
        }
        if in_flight.is_empty() {
            return Ok((recorder, exchange));
        }
        input.reserve(READ_CHUNK);
        let read = tokio::time::timeout(REPLY_TIMEOUT, stream.read_buf(&mut input))
            .await
            .with_context(|| format!("no reply within {REPLY_TIMEOUT:?}"))??;
        if read == 0 {
            bail!(
                "the server closed the connection with {} requests unanswered",
                in_flight.len()
            );
        }
        let done = Instant::now();
        while let Some(ok) = exchange.read_reply(&mut input)? {
            let sent = in_flight
                .pop_front()
                .context("a reply arrived for no request")?;
            recorder.record(sent, done, ok);
            if let Some(tap) = &plan.tap {
                tap.record(done.saturating_duration_since(sent), ok);
            }
            if let Some(progress) = &plan.progress {
                progress.inc(1);
            }
        }
    }
}
