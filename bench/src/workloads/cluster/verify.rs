//! Verify on a cluster host against a single host: the same number of sessions, issued
//! through each, and the same load. A cluster host answers verifies from its own copy; on
//! the verify path it adds only the check that it has heard from etcd within `max_staleness`.
//!
//! What differs is a verify's slide. A verify that moves a session's idle expiry by at least
//! `slide_granularity` (60 s by default) stores the new expiry: lazily in the journal on a
//! single host, and as an etcd transaction on a cluster host, which the verify does not wait
//! for but which etcd and the host's etcd thread must still do. So there are two pairs of
//! rows, both hosts running side by side:
//! - [`NO_SLIDE`]: both with `slide_granularity = "10m"`, every session younger than that:
//!   the verify path alone (target 16a);
//! - [`SLIDES_DUE`]: both reloaded to the default 60 s once every session is older than
//!   that, so each session's first verify in the row stores its slide (16e, reported). The
//!   single host goes first: the cluster host's slides keep etcd busy after its row;
//! - [`STRICT`]: a second cluster host with `strict_verify = true` on the same sessions,
//!   before the reload, against the single host's [`NO_SLIDE`] row (16f, reported).

use anyhow::{bail, Result};
use std::time::{Duration, Instant};

use super::{Bench, Cluster, NO_SLIDE, SLIDES_DUE, STRICT};
use crate::keyward::daemon::{self, Daemon};
use crate::keyward::population;
use crate::report::{Shape, Target};
use crate::workloads::verify;

/// `slide_granularity` for the rows without slides; the daemon caps it at 1% of
/// `idle_timeout` (14.4 min at the default 24 h).
const LAZY: Duration = Duration::from_secs(600);

/// The daemon's default `slide_granularity`.
const DEFAULT_GRANULARITY: Duration = Duration::from_secs(60);

/// Past the granularity, so that no session is on the edge of it.
const MARGIN: Duration = Duration::from_secs(1);

/// Measures verify at `shape` on a cluster host and on a single host, first with no slide
/// due, then with every session's slide due.
///
/// # Errors
/// If a server cannot be started, filled or reloaded, the preloads outlast the lazy
/// granularity, or a measurement fails.
pub(super) async fn run(bench: &mut Bench, shape: Shape) -> Result<()> {
    let sessions = bench.settings.sizes.steady;
    let lazy = daemon::Settings {
        slide_granularity: Some(LAZY),
        ..daemon::Settings::default()
    };
    let first_issue = Instant::now();
    let cluster = Cluster::start(bench).await?;
    let host = cluster.host_with(bench, &lazy).await?;
    let on_cluster = population::preload(&host, sessions, 1, "cluster verify").await?;
    let local = Daemon::start(&bench.settings.keywardd, &lazy).await?;
    let on_local = population::preload(&local, sessions, 1, "verify").await?;
    let last_issue = Instant::now();
    let rows = 3 * (bench.settings.warmup + bench.settings.duration);
    if first_issue.elapsed() + rows >= LAZY {
        bail!(
            "issuing {sessions} sessions took {:.0} s: the first would be due a slide before \
             the rows without slides end; use fewer --sessions",
            first_issue.elapsed().as_secs_f64()
        );
    }
    verify::keyward_as(
        bench,
        Target::Cluster,
        &host,
        &on_cluster,
        shape,
        Some(NO_SLIDE),
    )
    .await?;
    verify::keyward_as(
        bench,
        Target::Keyward,
        &local,
        &on_local,
        shape,
        Some(NO_SLIDE),
    )
    .await?;

    // The sessions are in etcd: a strict host loads them at start.
    let strict = Daemon::start(
        &bench.settings.keywardd,
        &cluster.configure_strict(&lazy, true),
    )
    .await?;
    verify::keyward_as(
        bench,
        Target::Cluster,
        &strict,
        &on_cluster,
        shape,
        Some(STRICT),
    )
    .await?;
    drop(strict);

    let eager = daemon::Settings {
        slide_granularity: Some(DEFAULT_GRANULARITY),
        ..lazy
    };
    local.reload(&eager).await?;
    host.reload(&cluster.configure(&eager)).await?;
    tokio::time::sleep_until((last_issue + DEFAULT_GRANULARITY + MARGIN).into()).await;
    verify::keyward_as(
        bench,
        Target::Keyward,
        &local,
        &on_local,
        shape,
        Some(SLIDES_DUE),
    )
    .await?;
    verify::keyward_as(
        bench,
        Target::Cluster,
        &host,
        &on_cluster,
        shape,
        Some(SLIDES_DUE),
    )
    .await
}
