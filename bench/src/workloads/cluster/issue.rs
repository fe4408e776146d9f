//! Durable session issue on a cluster host, acknowledged once etcd has committed it, against
//! etcd's own rate for the same transactions at the same concurrency ([`crate::etcd::txns`]).

use anyhow::Result;
use std::sync::Arc;

use super::{Bench, Cluster, PREFIX};
use crate::etcd::txns;
use crate::keyward::{ops, population};
use crate::report::{round, Row, Shape, Target, Workload};
use crate::workloads::{seeds, ISSUE_CLIENTS};

/// Where etcd's own transactions go: beside keyward's keys, outside its prefix and its watch.
const RAW_PREFIX: &str = "/kwb-raw/";

/// Measures issue at `shape` on a cluster host, then etcd's transactions with
/// `connections × pipeline` in flight, on the same cluster.
///
/// # Errors
/// If a server cannot be started or filled, or a measurement fails.
pub(super) async fn run(bench: &mut Bench, shape: Shape) -> Result<()> {
    let cluster = Cluster::start(bench).await?;
    let host = cluster.host(bench).await?;
    let population = population::preload(&host, 0, ISSUE_CLIENTS, "cluster issue").await?;
    let sources = seeds(shape.connections)
        .map(|seed| ops::Issues::new(Arc::clone(&population.clients), seed))
        .collect();
    let row = bench
        .keyward_row_as(
            Target::Cluster,
            Workload::Issue,
            &host,
            sources,
            Some(&population.admin_key),
            shape,
        )
        .await?;
    bench.reporter.emit(row);

    let client = cluster.etcd.client().await?;
    let value_len = txns::credential_len(&client, PREFIX).await?;
    let summary = txns::measure(
        &client,
        RAW_PREFIX,
        value_len,
        shape.connections * shape.pipeline,
        bench.settings.warmup,
        bench.settings.duration,
    )
    .await?;
    let mut row = Row::measured(
        Workload::Issue,
        Target::Etcd,
        shape,
        &summary,
        cluster.etcd.rss_mib().ok(),
    );
    row.extra.command = Some("txn of 2 puts shaped as an issue's, from etcd-client");
    row.extra.etcd_db_mib = Some(round(cluster.etcd.db_mib().await?, 1));
    bench.reporter.emit(row);
    Ok(())
}
