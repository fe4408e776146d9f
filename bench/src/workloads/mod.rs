//! The workloads, and what they share: the run's settings, the reporter, and starting and
//! filling the servers.
//!
//! Each workload file measures one thing on servers it is handed, so the suite can start a
//! server once and measure many shapes on it; [`run_one`] starts what a single workload needs.

pub(crate) mod clients_page;
pub(crate) mod cluster;
pub(crate) mod coldstart;
pub(crate) mod forward_auth;
pub(crate) mod http_verify;
pub(crate) mod issue;
pub(crate) mod mixed;
pub(crate) mod ping;
pub(crate) mod soak;
pub(crate) mod stats;
pub(crate) mod sweep;
pub(crate) mod verify;

use anyhow::Result;
use bytes::Bytes;
use std::sync::Arc;

use crate::cli::{Settings, What};
use crate::keyward::daemon::{self, Daemon};
use crate::keyward::ops::OpSource;
use crate::keyward::population::{self, Population};
use crate::keyward::{self, Driver};
use crate::load::Plan;
use crate::redis::server::{self as redis_server, Persistence, RedisServer};
use crate::redis::{self, CommandSource};
use crate::report::{Reporter, Row, Shape, Target, Workload};
use keyward_protocol::Secret;

/// Clients created for the issue workload, which needs clients but no sessions.
const ISSUE_CLIENTS: u64 = 64;

/// A run in progress: its settings, where its rows go, and whether Redis can be measured.
#[derive(Debug)]
pub(crate) struct Bench {
    /// The resolved settings.
    pub settings: Settings,
    /// Where rows go.
    pub reporter: Reporter,
    /// Why Redis rows are skipped, when they are.
    pub redis_missing: Option<String>,
}

impl Bench {
    /// A run with `settings`, probing for `redis-server` if Redis is a target.
    pub fn new(settings: Settings) -> Bench {
        let redis_missing = if settings.redis {
            redis_server::version(&settings.redis_server).err()
        } else {
            None
        };
        Bench {
            reporter: Reporter::new(settings.json),
            settings,
            redis_missing,
        }
    }

    /// Measures keyward at `shape` with one op source per connection and returns the row
    /// (driver marked), for the caller to add what only it knows and emit.
    ///
    /// # Errors
    /// If the measurement fails.
    pub async fn keyward_row<S: OpSource>(
        &self,
        workload: Workload,
        daemon: &Daemon,
        sources: Vec<S>,
        admin_key: Option<&Secret>,
        shape: Shape,
    ) -> Result<Row> {
        self.keyward_row_as(Target::Keyward, workload, daemon, sources, admin_key, shape)
            .await
    }

    /// As [`Bench::keyward_row`], with the row labelled `target`: [`Target::Cluster`] for a
    /// keywardd with `backend = "etcd"`.
    ///
    /// # Errors
    /// If the measurement fails.
    pub async fn keyward_row_as<S: OpSource>(
        &self,
        target: Target,
        workload: Workload,
        daemon: &Daemon,
        sources: Vec<S>,
        admin_key: Option<&Secret>,
        shape: Shape,
    ) -> Result<Row> {
        let plan = self.plan(shape.pipeline);
        let outcome =
            keyward::measure(daemon, sources, admin_key, self.settings.driver, &plan).await?;
        let mut row = Row::measured(
            workload,
            target,
            shape,
            &outcome.summary,
            daemon.rss_mib().ok(),
        );
        self.mark_driver(&mut row);
        Ok(row)
    }

    /// Measures Redis at `shape` with one command source per connection and returns the row
    /// labelled with `command`, for the caller to add what only it knows and emit.
    ///
    /// # Errors
    /// If the measurement fails.
    pub async fn redis_row<S: CommandSource>(
        &self,
        workload: Workload,
        server: &RedisServer,
        sources: Vec<S>,
        command: &'static str,
        shape: Shape,
    ) -> Result<Row> {
        let outcome = redis::measure(server, sources, &self.plan(shape.pipeline)).await?;
        let mut row = Row::measured(
            workload,
            Target::Redis,
            shape,
            &outcome.summary,
            server.rss_mib().ok(),
        );
        row.extra.command = Some(command);
        Ok(row)
    }

    /// A timed plan with the run's warm-up and duration at `depth`.
    pub fn plan(&self, depth: usize) -> Plan {
        Plan::timed(depth, self.settings.warmup, self.settings.duration)
    }

    /// Whether keyward rows should be measured.
    pub fn keyward(&self) -> bool {
        self.settings.keyward
    }

    /// Whether Redis rows can be measured; when Redis is wanted but missing, emits a skipped
    /// row for `workload` instead.
    pub fn redis(&mut self, workload: Workload, shape: Option<Shape>) -> bool {
        if !self.settings.redis {
            return false;
        }
        match &self.redis_missing {
            None => true,
            Some(why) => {
                let why = why.clone();
                self.reporter
                    .emit(Row::skipped(workload, Target::Redis, shape, &why));
                false
            }
        }
    }

    /// Whether Redis is wanted and present, without emitting anything.
    pub fn redis_present(&self) -> bool {
        self.settings.redis && self.redis_missing.is_none()
    }

    /// Marks a keyward row with the driver, when it is not the default.
    pub fn mark_driver(&self, row: &mut Row) {
        if self.settings.driver == Driver::Client {
            row.extra.driver = Some("keyward_client");
        }
    }

    /// Starts keywardd with default settings, filled with `sessions` sessions.
    ///
    /// # Errors
    /// If it cannot be started or filled.
    pub async fn keyward_with(&self, sessions: u64, label: &str) -> Result<(Daemon, Population)> {
        self.keyward_configured(&daemon::Settings::default(), sessions, label)
            .await
    }

    /// Starts keywardd with `settings`, filled with `sessions` sessions.
    ///
    /// # Errors
    /// If it cannot be started or filled.
    pub async fn keyward_configured(
        &self,
        settings: &daemon::Settings,
        sessions: u64,
        label: &str,
    ) -> Result<(Daemon, Population)> {
        let daemon = Daemon::start(&self.settings.keywardd, settings).await?;
        let population = population::preload(&daemon, sessions, 1, label).await?;
        Ok((daemon, population))
    }

    /// Starts keywardd with default settings and `--clients` clients, each created with its
    /// first session, as `client create` does.
    ///
    /// # Errors
    /// If it cannot be started or filled.
    pub async fn keyward_with_clients(&self) -> Result<(Daemon, Population)> {
        let daemon = Daemon::start(&self.settings.keywardd, &daemon::Settings::default()).await?;
        let clients = self.settings.sizes.clients;
        let population = population::preload(&daemon, 0, clients, "clients").await?;
        Ok((daemon, population))
    }

    /// Starts keywardd with default settings and a few clients for issuing.
    ///
    /// # Errors
    /// If it cannot be started or filled.
    pub async fn keyward_for_issue(&self) -> Result<(Daemon, Population)> {
        let daemon = Daemon::start(&self.settings.keywardd, &daemon::Settings::default()).await?;
        let population = population::preload(&daemon, 0, ISSUE_CLIENTS, "issue").await?;
        Ok((daemon, population))
    }

    /// Starts redis-server with `persistence`, filled with `keys` session-shaped keys.
    ///
    /// # Errors
    /// If it cannot be started or filled.
    pub async fn redis_with(
        &self,
        persistence: Persistence,
        keys: u64,
        label: &str,
    ) -> Result<(RedisServer, Arc<Vec<Bytes>>)> {
        let server = RedisServer::start(&self.settings.redis_server, persistence).await?;
        let keys = if keys > 0 {
            crate::redis::preload(&server, keys, label).await?
        } else {
            Vec::new()
        };
        Ok((server, Arc::new(keys)))
    }
}

/// Seeds for per-connection random generators: fixed, so runs choose the same sequences.
pub(crate) fn seeds(n: usize) -> impl Iterator<Item = u64> {
    (0..n as u64).map(|i| 0x6b77_6172_6400_0000 + i)
}

/// Runs the one workload the settings name (not the suite).
///
/// # Errors
/// If a server cannot be started or a measurement fails.
pub(crate) async fn run_one(bench: &mut Bench) -> Result<()> {
    let shape = bench.settings.shape;
    let sessions = bench.settings.sizes.steady;
    let what = bench.settings.what;
    if bench.settings.redis
        && matches!(
            what,
            What::Mixed
                | What::Sweep
                | What::Soak
                | What::HttpVerify
                | What::ForwardAuth
                | What::Stats
                | What::ClientsPage
                | What::Cluster(_)
        )
    {
        let name = match what {
            What::Cluster(_) => "Cluster".to_owned(),
            _ => format!("{what:?}"),
        };
        eprintln!("keyward-bench: {name} has no Redis equivalent; only keyward is measured");
    }
    match what {
        What::Suite => unreachable!("the suite has its own runner"),
        What::Ping => {
            if bench.keyward() {
                let daemon =
                    Daemon::start(&bench.settings.keywardd, &daemon::Settings::default()).await?;
                ping::keyward(bench, &daemon, shape).await?;
            }
            if bench.redis(Workload::Ping, Some(shape)) {
                let (redis, _) = bench.redis_with(Persistence::Memory, 0, "ping").await?;
                ping::redis(bench, &redis, shape).await?;
            }
        }
        What::Verify => {
            if bench.keyward() {
                let (daemon, population) = bench.keyward_with(sessions, "verify").await?;
                verify::keyward(bench, &daemon, &population, shape).await?;
            }
            if bench.redis(Workload::Verify, Some(shape)) {
                let (redis, keys) = bench
                    .redis_with(Persistence::Memory, sessions, "verify")
                    .await?;
                verify::redis(bench, &redis, &keys, shape).await?;
            }
        }
        What::HttpVerify => {
            if bench.keyward() {
                let (daemon, population) = bench.keyward_with(sessions, "verify").await?;
                http_verify::keyward(bench, &daemon, &population, shape).await?;
            }
        }
        What::ForwardAuth => {
            if bench.keyward() {
                let (daemon, population) = bench.keyward_with(sessions, "verify").await?;
                forward_auth::run(bench, &daemon, &population, shape).await?;
            }
        }
        What::Issue => {
            if bench.keyward() {
                let (daemon, population) = bench.keyward_for_issue().await?;
                issue::keyward(bench, &daemon, &population, shape).await?;
            }
            if bench.redis(Workload::Issue, Some(shape)) {
                let (redis, _) = bench
                    .redis_with(Persistence::AppendFsyncAlways, 0, "issue")
                    .await?;
                issue::redis(bench, &redis, shape).await?;
            }
        }
        What::Mixed => {
            if bench.keyward() {
                let (daemon, population) = bench.keyward_with(sessions, "mixed").await?;
                mixed::keyward(bench, &daemon, &population, shape).await?;
            }
        }
        What::Sweep => {
            if bench.keyward() {
                sweep::keyward(bench, shape).await?;
            }
        }
        What::Soak => {
            if bench.keyward() {
                soak::keyward(bench, shape).await?;
            }
        }
        What::Coldstart => coldstart::run(bench, shape).await?,
        What::Cluster(args) => {
            if bench.keyward() {
                cluster::run(bench, args.workload, shape).await?;
            }
        }
        What::Stats | What::ClientsPage => {
            if bench.keyward() {
                let (daemon, population) = bench.keyward_with_clients().await?;
                match what {
                    What::Stats => stats::keyward(bench, &daemon, &population, shape).await?,
                    _ => clients_page::keyward(bench, &daemon, &population, shape).await?,
                }
            }
        }
    }
    Ok(())
}
