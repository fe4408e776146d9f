//! `cluster` (issue 16 §4): keywardd hosts with `backend = "etcd"` on a three-member etcd
//! cluster the harness starts on 127.0.0.1.
//!
//! Every workload starts a fresh cluster and fresh hosts, each host in its own temporary
//! directory with an empty data dir, all under one key prefix; they are stopped and removed
//! when the workload ends. The hosts run with the daemon's defaults for everything but the
//! backend keys (`max_staleness` 2 s, `stale_verify = "refuse"`, `etcd_timeout` 5 s).
//!
//! - [`verify`]: verify on a cluster host against a single host, same load;
//! - [`issue`]: durable issue on a cluster host against etcd's own rate for the same
//!   transactions;
//! - [`revocation`]: the lag from a revoke's acknowledgment on one host to the first refusal
//!   on another;
//! - [`coldstart`]: a fresh host joining a cluster that holds many sessions.
//!
//! `verify` also measures a host with `strict_verify = true`, where every round of verifies
//! first waits for a mark written to etcd.

mod coldstart;
mod issue;
mod revocation;
mod verify;

use anyhow::{Context, Result};

use super::Bench;
use crate::cli::ClusterWorkload;
use crate::etcd::{self, EtcdCluster, MEMBERS};
use crate::keyward::daemon::{self, Daemon};
use crate::report::Shape;

/// Where every host of a workload keeps its keys.
const PREFIX: &str = "/kwb/";

/// The note on verify rows where no verify stores a slide (target 16a pairs them).
pub(crate) const NO_SLIDE: &str = "no slide due (slide_granularity 10 min)";

/// The note on the verify row of a host with `strict_verify = true` (16f).
pub(crate) const STRICT: &str = "strict_verify = true; no slide due (slide_granularity 10 min)";

/// The note on verify rows where each session's first verify stores its slide (16e).
pub(crate) const SLIDES_DUE: &str = "each session's slide due (slide_granularity 60 s)";

/// Runs `workload` (or all four, in order) at `shape`.
///
/// # Errors
/// If etcd is missing, a server cannot be started or filled, or a measurement fails.
pub(crate) async fn run(bench: &mut Bench, workload: ClusterWorkload, shape: Shape) -> Result<()> {
    let version = etcd::version(&bench.settings.etcd)?;
    eprintln!(
        "keyward-bench: {version} ({}), {MEMBERS} members on 127.0.0.1; keywardd hosts with \
         backend = \"etcd\"",
        bench.settings.etcd.display()
    );
    match workload {
        ClusterWorkload::All => {
            verify::run(bench, shape).await?;
            issue::run(bench, shape).await?;
            revocation::run(bench).await?;
            coldstart::run(bench, shape).await?;
        }
        ClusterWorkload::Verify => verify::run(bench, shape).await?,
        ClusterWorkload::Issue => issue::run(bench, shape).await?,
        ClusterWorkload::Revocation => revocation::run(bench).await?,
        ClusterWorkload::Coldstart => coldstart::run(bench, shape).await?,
    }
    Ok(())
}

/// A fresh etcd cluster, for hosts to join.
#[derive(Debug)]
struct Cluster {
    etcd: EtcdCluster,
}

impl Cluster {
    /// Starts the members and waits until each answers a quorum read.
    async fn start(bench: &Bench) -> Result<Cluster> {
        let etcd = EtcdCluster::start(&bench.settings.etcd).await?;
        Ok(Cluster { etcd })
    }

    /// `base`, on this cluster under [`PREFIX`].
    fn configure(&self, base: &daemon::Settings) -> daemon::Settings {
        self.configure_strict(base, false)
    }

    /// `base`, on this cluster under [`PREFIX`], with `strict_verify` as given.
    fn configure_strict(&self, base: &daemon::Settings, strict_verify: bool) -> daemon::Settings {
        daemon::Settings {
            etcd: Some(daemon::EtcdBackend {
                endpoints: self.etcd.client_urls().to_vec(),
                prefix: PREFIX.to_owned(),
                strict_verify,
            }),
            ..base.clone()
        }
    }

    /// Starts a keywardd host with the daemon's defaults on an empty data dir; it answers
    /// once its copy of etcd is loaded.
    async fn host(&self, bench: &Bench) -> Result<Daemon> {
        self.host_with(bench, &daemon::Settings::default()).await
    }

    /// As [`Cluster::host`], with `base`'s settings.
    async fn host_with(&self, bench: &Bench, base: &daemon::Settings) -> Result<Daemon> {
        Daemon::start(&bench.settings.keywardd, &self.configure(base))
            .await
            .context(
                "keywardd with backend = \"etcd\" did not start; the cluster workloads need \
                 one built with `cargo build --release -p keywardd --features etcd -p \
                 keyward-bench`",
            )
    }
}
