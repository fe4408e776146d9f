//! Revocation propagation: how long a session revoked on host A still verifies on host B.
//!
//! Each round issues a session on A and waits until B verifies it; then A revokes it, and
//! from A's acknowledgment B is asked to verify it in a tight loop on one connection until it
//! answers `CREDENTIAL_INVALID`. The lag is from the acknowledgment to that refusal's reply,
//! so it includes one verify round trip even when B had the revocation before A answered.

use anyhow::{bail, Context, Result};
use keyward_client::{Client, ErrorCode, Requirements, Secret};
use std::time::{Duration, Instant};

use super::{Bench, Cluster};
use crate::keyward::population;
use crate::load::{Recorder, Window};
use crate::report::{round, Row, Target, Workload};

/// The longest B may take to honour a session A issued, or to refuse one A revoked, before
/// the run is declared stuck: far past any lag worth measuring.
const DEADLINE: Duration = Duration::from_secs(10);

/// Times `--revocations` revocations on A as seen from B.
///
/// # Errors
/// If a server cannot be started, a call fails, or B does not catch up within [`DEADLINE`].
pub(super) async fn run(bench: &mut Bench) -> Result<()> {
    let rounds = bench.settings.sizes.revocations;
    let cluster = Cluster::start(bench).await?;
    let a = cluster.host(bench).await?;
    let b = cluster.host(bench).await?;
    let population = population::preload(&a, 0, 1, "revocation").await?;
    let client_id = population.clients[0];
    let mut on_a = a.client().await?;
    on_a.set_admin_key(population.admin_key.clone());
    let mut on_b = b.client().await?;

    let always = Window {
        start: Instant::now(),
        end: Instant::now() + Duration::from_secs(365 * 24 * 3600),
    };
    let mut lags = Recorder::new(always, false);
    let mut acks = Recorder::new(always, false);
    let mut at_first_poll = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        let issued = on_a.session_issue(client_id).await?;
        poll_until(&mut on_b, &issued.token, Outcome::Verified).await?;
        let sent = Instant::now();
        on_a.revoke(issued.id).await.context("revoke on A")?;
        let acked = Instant::now();
        acks.record(sent, acked, true);
        let polls = poll_until(&mut on_b, &issued.token, Outcome::Refused).await?;
        lags.record(acked, Instant::now(), true);
        at_first_poll += u64::from(polls == 1);
    }
    let seconds = started.elapsed().as_secs_f64();
    let (lags, _) = lags.finish(seconds);
    let (acks, _) = acks.finish(seconds);
    let ms = |q| acks.quantile_us(q).map_or(0.0, |us| round(us / 1000.0, 1));
    let mut row = Row {
        connections: Some(1),
        pipeline: Some(1),
        p50_us: lags.quantile_us(0.5).map(|v| round(v, 1)),
        p99_us: lags.quantile_us(0.99).map(|v| round(v, 1)),
        p999_us: lags.quantile_us(0.999).map(|v| round(v, 1)),
        rss_mib: b.rss_mib().ok().map(|v| round(v, 1)),
        ..Row::bare(Workload::Revocation, Target::Cluster)
    };
    row.extra.revocations = Some(lags.ok);
    row.extra.lag_max_ms = Some(round(lags.histogram.max() as f64 / 1e6, 1));
    row.extra.revoke_ms = Some([ms(0.5), ms(0.99)]);
    row.extra.refused_at_first_poll = Some(at_first_poll);
    bench.reporter.emit(row);
    Ok(())
}

/// What a poll waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The session verifies.
    Verified,
    /// It is refused as revoked.
    Refused,
}

/// Verifies `token` on `client` back to back until the answer is `want`; returns how many
/// verifies that took.
async fn poll_until(client: &mut Client, token: &Secret, want: Outcome) -> Result<u64> {
    let started = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        let got = match client.verify(token, Requirements::new()).await {
            Ok(_) => Outcome::Verified,
            Err(e) if e.code() == Some(ErrorCode::CredentialInvalid) => Outcome::Refused,
            Err(e) => return Err(e).context("verify on B"),
        };
        if got == want {
            return Ok(polls);
        }
        if started.elapsed() > DEADLINE {
            bail!("B still answered {got:?} {DEADLINE:?} after the change on A ({polls} polls)");
        }
    }
}
