//! Verify on a cluster host against a single host: the same sessions, issued through each,
//! and the same load. A cluster host answers verifies from its own copy; what it adds is the
//! check that it has heard from etcd within `max_staleness`.

use anyhow::Result;

use super::{Bench, Cluster};
use crate::keyward::population;
use crate::report::{Shape, Target};
use crate::workloads::verify;

/// Measures verify at `shape` on a cluster host, then on a single host (the cluster is
/// stopped first, so the single host has the machine to itself as well).
///
/// # Errors
/// If a server cannot be started or filled, or a measurement fails.
pub(super) async fn run(bench: &mut Bench, shape: Shape) -> Result<()> {
    let sessions = bench.settings.sizes.steady;
    {
        let cluster = Cluster::start(bench).await?;
        let host = cluster.host(bench).await?;
        let population = population::preload(&host, sessions, 1, "cluster verify").await?;
        verify::keyward_as(bench, Target::Cluster, &host, &population, shape).await?;
    }
    let (daemon, population) = bench.keyward_with(sessions, "verify").await?;
    verify::keyward(bench, &daemon, &population, shape).await
}
