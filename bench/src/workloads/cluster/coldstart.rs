//! A fresh host joining a cluster that holds `--sessions` sessions: its data dir is empty, so
//! it loads everything from etcd before it binds its socket.
//!
//! The sessions are issued through host A, so etcd holds the records keywardd writes; A is
//! then stopped, and host B is started. The figures are from B's exec to its first answered
//! ping and to the first verify of a known session that succeeds, and B's RSS then; beside
//! them, how long etcd alone takes to serve every key in the pages B reads them in. A verify
//! load over every session follows, whose error count shows any session B did not load.

use anyhow::{Context, Result};
use keyward_client::Requirements;
use std::time::Instant;

use super::{Bench, Cluster, PREFIX};
use crate::keyward::population;
use crate::report::{round, Row, Shape, Target, Workload};
use crate::workloads::verify;

/// What a host's load reads, in order: principals, credentials, expiries, disabled ids
/// (daemon/src/cluster/load.rs).
const LOAD_SECTIONS: &[&str] = &["p/", "c/", "e/", "d/"];

/// Keys per page of a host's load.
const LOAD_PAGE: i64 = 2_000;

/// The note on the verify row on host B: sessions issued over a minute before are due a
/// slide at their first verify, which B writes to etcd.
const SERVING: &str = "the fresh host B; slides due for sessions over 60 s old";

/// Fills a cluster through host A, starts host B fresh and times its start; then verify at
/// `shape` on B.
///
/// # Errors
/// If a server cannot be started or filled, or the known session does not verify on B.
pub(super) async fn run(bench: &mut Bench, shape: Shape) -> Result<()> {
    let n = bench.settings.sizes.coldstart;
    let cluster = Cluster::start(bench).await?;
    let mut a = cluster.host(bench).await?;
    let filling = Instant::now();
    let population = population::preload(&a, n, 1, "cluster coldstart").await?;
    let filled_in = filling.elapsed().as_secs_f64();
    let issued = population.tokens.len() as u64;
    eprintln!(
        "keyward-bench: {issued} sessions issued through host A in {filled_in:.1} s \
         ({:.0}/s, 64 connections, 4 in flight each)",
        issued as f64 / filled_in
    );
    let rss_a = a.rss_mib()?;
    a.stop().await.context("stopping host A")?;
    let db_mib = cluster.etcd.db_mib().await?;
    let etcd_rss = cluster.etcd.rss_mib()?;

    let b = cluster.host(bench).await?;
    let known = population
        .tokens
        .last()
        .context("the population has no session")?;
    let mut client = b.client().await?;
    client
        .verify(known, Requirements::new())
        .await
        .context("the last session issued on A, verified on the fresh host B")?;
    let ready = b.exec_at.elapsed();
    // After B's start, so that B does not find etcd's pages warmed by this read.
    let (keys, read) = cluster
        .etcd
        .read_all(PREFIX, LOAD_SECTIONS, LOAD_PAGE)
        .await?;
    let mut row = Row::bare(Workload::Coldstart, Target::Cluster);
    row.rss_mib = Some(round(b.rss_mib()?, 1));
    row.extra.sessions = Some(issued);
    row.extra.first_ping_ms = Some(round(b.ready_after.as_secs_f64() * 1000.0, 1));
    row.extra.ready_ms = Some(round(ready.as_secs_f64() * 1000.0, 1));
    row.extra.etcd_read_ms = Some(round(read.as_secs_f64() * 1000.0, 1));
    row.extra.etcd_db_mib = Some(round(db_mib, 1));
    bench.reporter.emit(row);
    eprintln!(
        "keyward-bench: host A held {rss_a:.0} MiB after issuing them; etcd's three members \
         {etcd_rss:.0} MiB together; etcd holds {keys} keys under {PREFIX}"
    );
    verify::keyward_as(
        bench,
        Target::Cluster,
        &b,
        &population,
        shape,
        Some(SERVING),
    )
    .await
}
