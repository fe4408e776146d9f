//! etcd's own write rate on the cluster keywardd uses: the transaction a durable session
//! issue commits, sent straight from `etcd-client` with as many in flight as keyward's row
//! had, and timed by the same recorder.
//!
//! A session issue for a client without a seat limit commits one transaction of two puts and
//! no compares (daemon/src/cluster/commit.rs): the credential at `c/<owner>/<id>` (its token's
//! hash, then its record) and its idle expiry at `e/<id>` (16 hex digits). These do the same
//! under a prefix of their own, with values as long as the credential records keyward wrote.
//! etcd ships a `benchmark` tool for this, but Debian's etcd packages do not include it, and
//! `etcdctl check perf` paces its writes to a fixed rate, so it measures latency, not the most
//! etcd can take.

use anyhow::{bail, Context, Result};
use etcd_client::{Client, GetOptions, Txn, TxnOp};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

use crate::load::{Recorder, Summary, Window, REPLY_TIMEOUT};

/// Owners the keys are spread over, as an issue's client is picked among a few dozen.
const OWNERS: u64 = 64;

/// The shape of keyward's credential records under `prefix`: the length of the value of a
/// session's `c/` key (any credential whose owner is not the nil id of admin keys).
///
/// # Errors
/// If etcd cannot be read or holds no session under `prefix`.
pub(crate) async fn credential_len(client: &Client, prefix: &str) -> Result<usize> {
    let mut kv = client.kv_client();
    let section = format!("{prefix}c/");
    let admin = format!("{section}{}/", uuid::Uuid::nil().simple());
    let got = kv
        .get(
            section.as_bytes(),
            Some(GetOptions::new().with_prefix().with_limit(16)),
        )
        .await
        .context("reading keyward's credentials from etcd")?;
    got.kvs()
        .iter()
        .find(|kv| !kv.key().starts_with(admin.as_bytes()))
        .map(|kv| kv.value().len())
        .with_context(|| format!("etcd holds no session under {section}"))
}

/// Runs `in_flight` writers of issue-shaped transactions (credential values of `value_len`
/// bytes) under `prefix` for `warmup` then `duration`, and returns what was committed in the
/// measured window.
///
/// # Errors
/// If etcd refuses a transaction or does not answer within [`REPLY_TIMEOUT`].
pub(crate) async fn measure(
    client: &Client,
    prefix: &str,
    value_len: usize,
    in_flight: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Summary> {
    let start = Instant::now() + warmup;
    let window = Window {
        start,
        end: start + duration,
    };
    let mut tasks = JoinSet::new();
    for seed in crate::workloads::seeds(in_flight) {
        let mut kv = client.kv_client();
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut recorder = Recorder::new(window, false);
            while Instant::now() < window.end {
                let owner = uuid::Uuid::from_u64_pair(0, rng.u64(..OWNERS)).simple();
                let id = uuid::Uuid::from_u128(rng.u128(..)).simple();
                let value: Vec<u8> = std::iter::repeat_with(|| rng.u8(..))
                    .take(value_len)
                    .collect();
                let expiry = format!("{:016x}", rng.u64(..));
                let txn = Txn::new().and_then([
                    TxnOp::put(format!("{prefix}c/{owner}/{id}"), value, None),
                    TxnOp::put(format!("{prefix}e/{id}"), expiry, None),
                ]);
                let sent = Instant::now();
                let answer = tokio::time::timeout(REPLY_TIMEOUT, kv.txn(txn))
                    .await
                    .with_context(|| format!("no answer from etcd within {REPLY_TIMEOUT:?}"))?
                    .context("etcd refused a transaction")?;
                recorder.record(sent, Instant::now(), answer.succeeded());
            }
            Ok::<_, anyhow::Error>(recorder)
        });
    }
    let mut total = Recorder::new(window, false);
    while let Some(joined) = tasks.join_next().await {
        total.merge(joined.context("an etcd writer panicked")??);
    }
    let (summary, _) = total.finish(duration.as_secs_f64());
    if summary.ok == 0 {
        bail!("etcd committed no transaction in {duration:?}");
    }
    Ok(summary)
}
