//! Sweeping idle-expired sessions out of etcd: one host at a time, chosen with etcd's own
//! election API, in batched transactions.
//!
//! Every host keeps sweeping its own copy as with the local backend; an expired session
//! never verifies on any host, swept or not. This sweep only keeps etcd from filling with
//! dead sessions. The elected host reads the expiry keys (`e/…`) page by page and deletes
//! each session past its expiry by more than the slide granularity (the most a host's
//! unwritten slides can lag), each delete guarded by a compare on the expiry it read: a
//! session another host slid meanwhile stays. Sessions past their 7-day cap go with their
//! lease ([`super::lease`]).

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};

use super::keys::{self, Key};
use super::{load, Shared};

/// Sessions per transaction (each is a nested transaction of two deletes).
const BATCH: usize = 32;
/// How long the sweeper's election lease lives without a keep-alive.
const LEASE_TTL: i64 = 10;

/// How often and how late to sweep.
#[derive(Debug, Clone, Copy)]
pub struct Sweeping {
    /// Between sweeps.
    pub every: Duration,
    /// How long past its expiry a session is left, for unwritten slides.
    pub grace: Duration,
}

/// Campaigns for the sweeper's seat and, while holding it, sweeps every `every`. Runs for
/// as long as the process lives.
pub async fn run(shared: Arc<Shared>, sweeping: Sweeping) {
    let name = format!("{}sweeper", shared.keys.prefix());
    loop {
        if let Err(e) = lead(&shared, &name, sweeping).await {
            tracing::debug!(error = %e, "sweeper election: retrying");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One term: wins the election, then sweeps until the lease is lost.
async fn lead(shared: &Shared, name: &str, sweeping: Sweeping) -> Result<(), etcd_client::Error> {
    let mut leases = shared.client.lease_client();
    let lease = leases.grant(LEASE_TTL, None).await?.id();
    let (mut keeper, mut answers) = leases.keep_alive(lease).await?;
    let mut election = shared.client.election_client();
    let host = std::process::id().to_string();
    let campaign = election.campaign(name, host, lease);
    tokio::pin!(campaign);
    let mut beat = tokio::time::interval(Duration::from_secs(LEASE_TTL as u64 / 3));
    // Keep the lease alive while waiting to be elected.
    loop {
        tokio::select! {
            won = &mut campaign => { won?; break; }
            _ = beat.tick() => {
                keeper.keep_alive().await?;
                match answers.message().await? {
                    Some(answer) if answer.ttl() > 0 => {}
                    _ => return Ok(()),
                }
            }
        }
    }
    tracing::info!("this host sweeps etcd");
    let mut sweep = tokio::time::interval(sweeping.every);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                keeper.keep_alive().await?;
                match answers.message().await? {
                    Some(answer) if answer.ttl() > 0 => {}
                    _ => {
                        tracing::info!("lost the sweeper's seat");
                        return Ok(());
                    }
                }
            }
            _ = sweep.tick() => {
                match once(shared, sweeping.grace).await {
                    Ok(0) => {}
                    Ok(swept) => tracing::info!(swept, "swept expired sessions from etcd"),
                    Err(e) => tracing::warn!(error = %e, "sweeping etcd failed; next time"),
                }
            }
        }
    }
}

/// One sweep: deletes every session expired by more than `grace`; returns how many.
///
/// # Errors
/// If etcd cannot be read or written.
pub async fn once(shared: &Shared, grace: Duration) -> Result<u64, etcd_client::Error> {
    let before = shared.clock.now() - grace.as_millis() as i64;
    let start = shared.keys.section("e/");
    let end = load::range_end(&start);
    let mut from = start;
    let mut kv = shared.client.kv_client();
    let mut swept = 0;
    loop {
        let page = kv
            .get(
                from.clone(),
                Some(GetOptions::new().with_range(end.clone()).with_limit(1_000)),
            )
            .await?;
        let Some(last) = page.kvs().last() else {
            break;
        };
        from = last.key().to_vec();
        from.push(0);
        let mut expired = Vec::new();
        for item in page.kvs() {
            let (Some(Key::Expiry { id }), Some((at, owner))) = (
                shared.keys.parse(item.key()),
                keys::decode_expiry(item.value()),
            ) else {
                continue;
            };
            if at < before {
                // Only if no host slid it meanwhile.
                expired.push(TxnOp::txn(
                    Txn::new()
                        .when([Compare::value(
                            item.key().to_vec(),
                            CompareOp::Equal,
                            item.value().to_vec(),
                        )])
                        .and_then([
                            TxnOp::delete(item.key().to_vec(), None),
                            TxnOp::delete(shared.keys.credential(owner, id), None),
                        ]),
                ));
            }
        }
        for batch in expired.chunks(BATCH) {
            let done = kv.txn(Txn::new().and_then(batch.to_vec())).await?;
            swept += done
                .op_responses()
                .iter()
                .filter(|r| matches!(r, TxnOpResponse::Txn(t) if t.succeeded()))
                .count() as u64;
        }
        if !page.more() {
            break;
        }
    }
    Ok(swept)
}
