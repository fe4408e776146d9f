//! A three-member etcd cluster on 127.0.0.1 for the cluster workloads, and etcd's own write
//! rate ([`txns`]).
//!
//! The harness starts the members itself, as it starts keywardd: each in a directory of one
//! temporary directory, on client and peer ports that were free a moment before, with a
//! cluster token of its own. Every member is killed and the directory removed when the
//! cluster is dropped, so an error or Ctrl-C leaves nothing behind. Readiness is a
//! linearizable read answered by every member, polled against a deadline.

pub(crate) mod txns;

use anyhow::{bail, Context, Result};
use etcd_client::GetOptions;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

use crate::process::Server;

/// Members: the smallest cluster that survives losing one.
pub(crate) const MEMBERS: usize = 3;

/// The longest a cluster may take from exec to every member answering a quorum read.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How often readiness is probed.
const READY_POLL: Duration = Duration::from_millis(50);

/// How long one probe of one member may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Starts tried when another process takes a port between the pick and etcd's bind.
const START_ATTEMPTS: usize = 5;

/// etcd's backend quota: its default of 2 GiB raises a NOSPACE alarm somewhere past a
/// million sessions (two keys each, every revision kept); 8 GiB keeps the cold start's
/// population well clear of it.
const QUOTA_BYTES: u64 = 8 << 30;

/// `etcd --version`'s first line, or why the cluster workloads cannot run.
///
/// # Errors
/// If `etcd` cannot be run.
pub(crate) fn version(etcd: &Path) -> Result<String> {
    let out = Command::new(etcd).arg("--version").output().map_err(|e| {
        anyhow::anyhow!(
            "etcd not found ({}: {e}): the cluster workloads start a 3-member etcd cluster \
             themselves and need etcd 3.4 or later, e.g. Debian's etcd-server \
             (`apt-get install etcd-server etcd-client`), or pass --etcd PATH",
            etcd.display()
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default().trim();
    if !out.status.success() || first.is_empty() {
        bail!(
            "{} --version failed ({}): is it etcd?",
            etcd.display(),
            out.status
        );
    }
    Ok(first.to_owned())
}

/// A running three-member cluster; dropping it kills every member, then removes their
/// directories.
#[derive(Debug)]
pub(crate) struct EtcdCluster {
    // Declared before `dir`: the members must be gone before their directories are removed.
    members: Vec<Server>,
    dir: TempDir,
    client_urls: Vec<String>,
}

impl EtcdCluster {
    /// Starts three members with a static bootstrap on free ports of 127.0.0.1 and waits
    /// until each answers a linearizable read.
    ///
    /// # Errors
    /// If etcd cannot be run, a member exits, or the cluster is not ready in time.
    pub async fn start(etcd: &Path) -> Result<EtcdCluster> {
        let mut lost_ports = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let mut cluster = EtcdCluster::spawn(etcd)?;
            match cluster.wait_ready().await {
                Ok(()) => return Ok(cluster),
                Err(e) if format!("{e:#}").contains("address already in use") => {
                    lost_ports.push(format!("{e:#}"));
                }
                Err(e) => return Err(e),
            }
        }
        bail!(
            "etcd did not start in {START_ATTEMPTS} attempts, each losing a port to another \
             process:\n{}",
            lost_ports.join("\n")
        )
    }

    fn spawn(etcd: &Path) -> Result<EtcdCluster> {
        let dir = tempfile::Builder::new()
            .prefix("keyward-bench-etcd.")
            .tempdir()
            .context("creating a temporary directory for etcd")?;
        // All six listeners are open together, so no two of them get the same port.
        let listeners = (0..2 * MEMBERS)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<Vec<_>>>()
            .context("finding free ports for etcd")?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<u16>>>()?;
        drop(listeners);
        let url = |port: u16| format!("http://127.0.0.1:{port}");
        let client_urls: Vec<String> = (0..MEMBERS).map(|i| url(ports[2 * i])).collect();
        let peer_urls: Vec<String> = (0..MEMBERS).map(|i| url(ports[2 * i + 1])).collect();
        let initial_cluster = peer_urls
            .iter()
            .enumerate()
            .map(|(i, peer)| format!("m{i}={peer}"))
            .collect::<Vec<_>>()
            .join(",");
        // Unique per start, so a member never takes a stale cluster's peer for its own.
        let token = format!(
            "keyward-bench-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let mut members = Vec::with_capacity(MEMBERS);
        for i in 0..MEMBERS {
            let home = dir.path().join(format!("m{i}"));
            std::fs::create_dir(&home).with_context(|| format!("creating {}", home.display()))?;
            let mut command = Command::new(etcd);
            command
                .arg(format!("--name=m{i}"))
                .arg(format!("--data-dir={}", home.join("data").display()))
                .arg(format!("--listen-client-urls={}", client_urls[i]))
                .arg(format!("--advertise-client-urls={}", client_urls[i]))
                .arg(format!("--listen-peer-urls={}", peer_urls[i]))
                .arg(format!("--initial-advertise-peer-urls={}", peer_urls[i]))
                .arg(format!("--initial-cluster={initial_cluster}"))
                .arg(format!("--initial-cluster-token={token}"))
                .arg("--initial-cluster-state=new")
                .arg(format!("--quota-backend-bytes={QUOTA_BYTES}"))
                .arg("--logger=zap")
                .arg("--log-outputs=stderr")
                .arg("--log-level=error");
            // etcd also reads every flag from an ETCD_* variable; none from outside may apply.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("ETCD") {
                    command.env_remove(key);
                }
            }
            members.push(Server::spawn("etcd", command, &home.join("etcd.log"))?);
        }
        Ok(EtcdCluster {
            members,
            dir,
            client_urls,
        })
    }

    /// Polls until every member answers a linearizable read (which needs a leader and a
    /// quorum); fails at once with a member's log if one exits.
    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            for (i, member) in self.members.iter_mut().enumerate() {
                member
                    .check_alive()
                    .with_context(|| format!("etcd member m{i} exited during start-up"))?;
            }
            let mut ready = 0;
            for url in &self.client_urls {
                if probe(url).await.is_ok() {
                    ready += 1;
                }
            }
            if ready == MEMBERS {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                let why = probe(&self.client_urls[0]).await.err();
                bail!(
                    "etcd not ready within {READY_TIMEOUT:?} ({ready} of {MEMBERS} members \
                     answered; m0: {why:?}); logs in {}",
                    self.dir.path().display()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Each member's client URL.
    pub fn client_urls(&self) -> &[String] {
        &self.client_urls
    }

    /// A client of the whole cluster, as keywardd makes one (every endpoint, one channel).
    ///
    /// # Errors
    /// If the cluster cannot be reached.
    pub async fn client(&self) -> Result<etcd_client::Client> {
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        etcd_client::Client::connect(&self.client_urls, Some(options))
            .await
            .context("connecting to etcd")
    }

    /// The size of the database file of the member that answers, MiB (every member holds
    /// the same keys).
    ///
    /// # Errors
    /// If etcd does not answer.
    pub async fn db_mib(&self) -> Result<f64> {
        let mut client = self.client().await?;
        let status = client.status().await.context("etcd status")?;
        Ok(status.db_size() as f64 / (1024.0 * 1024.0))
    }

    /// Reads every key under each of `prefix` + `sections`, in that order, at one revision
    /// and in pages of `page` keys, as a host's load at start does
    /// (daemon/src/cluster/load.rs), without applying them; returns how many keys there were
    /// and how long etcd took to serve them.
    ///
    /// # Errors
    /// If etcd does not answer.
    pub async fn read_all(
        &self,
        prefix: &str,
        sections: &[&str],
        page: i64,
    ) -> Result<(u64, Duration)> {
        let mut kv = self.client().await?.kv_client();
        let started = Instant::now();
        let revision = kv
            .get(
                prefix,
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await
            .context("etcd count")?
            .header()
            .map_or(0, |h| h.revision());
        let mut keys = 0;
        for section in sections {
            let start = format!("{prefix}{section}").into_bytes();
            let end = range_end(&start);
            let mut from = start;
            loop {
                let options = GetOptions::new()
                    .with_range(end.clone())
                    .with_limit(page)
                    .with_revision(revision);
                let got = kv
                    .get(from.clone(), Some(options))
                    .await
                    .context("a page of etcd's keys")?;
                keys += got.kvs().len() as u64;
                let Some(last) = got.kvs().last() else {
                    break;
                };
                from = last.key().to_vec();
                from.push(0);
                if !got.more() {
                    break;
                }
            }
        }
        Ok((keys, started.elapsed()))
    }

    /// The members' resident set sizes added up, MiB.
    ///
    /// # Errors
    /// If a member is not running.
    pub fn rss_mib(&self) -> Result<f64> {
        self.members.iter().map(Server::rss_mib).sum()
    }
}

/// The end of the range of keys that start with `prefix`.
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// One linearizable read on one member alone.
async fn probe(url: &str) -> Result<()> {
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(PROBE_TIMEOUT)
        .with_timeout(PROBE_TIMEOUT);
    let attempt = async {
        let mut client = etcd_client::Client::connect([url], Some(options)).await?;
        client.get("keyward-bench-health", None).await?;
        Ok::<_, etcd_client::Error>(())
    };
    tokio::time::timeout(PROBE_TIMEOUT, attempt)
        .await
        .context("no answer")?
        .context("no quorum read")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix's range ends just past every key that starts with it.
    #[test]
    fn range_ends_cover_their_prefix() {
        assert_eq!(range_end(b"/kwb/"), b"/kwb0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
    }
}
