//! Command-line arguments, and the settings a run derives from them.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

use crate::keyward::Driver;
use crate::report::Shape;

/// Measures keywardd and Redis with the same load generator in the same run.
///
/// Build first: `cargo build --release -p keywardd -p keyward-bench` (with `--features etcd`
/// after `-p keywardd` for `cluster`). The harness starts every server itself, each in a
/// temporary directory it removes afterwards; Redis rows are skipped when `redis-server` is
/// not installed.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub(crate) struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub what: What,
    /// How to run it.
    #[command(flatten)]
    pub options: Options,
}

/// The suite or one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub(crate) enum What {
    /// The standard matrix: ping and verify at 1 and 16 connections, pipeline 1 and 16;
    /// http-verify at 1 and 16 connections; forward-auth at 16 connections; issue
    /// at 1 and 16 connections; mixed; sweep; coldstart. Prints a table, ratios and targets.
    Suite,
    /// Op::Ping against PING: the transport floor.
    Ping,
    /// Verify a random preloaded session (each verify slides its expiry) against
    /// `GETEX key EX 86400` on as many preloaded keys.
    Verify,
    /// Verify as `verify` does, but as `POST /v1/verify` over the HTTP API on `http.sock` with
    /// keep-alive (keyward only; the suite compares it with verify and Redis GETEX).
    HttpVerify,
    /// GET through a real nginx whose location asks keywardd's `GET /v1/auth` by
    /// `auth_request`, against the same nginx location without auth, with keep-alive (the
    /// suite compares the two).
    ForwardAuth,
    /// Durable session issue against `SET key value EX 86400` with `appendfsync always`.
    Issue,
    /// Let many sessions expire, then time the sweep and verify p99 on live sessions during it.
    Sweep,
    /// 90% verify, 5% issue, 5% logout.
    Mixed,
    /// Restart with many sessions on disk: exec to first answered ping, RSS, data size.
    Coldstart,
    /// Op::Stats on a daemon with --clients clients (issue 15 §7; keyward only).
    Stats,
    /// Op::ClientList a page of 100 at a time, each connection walking the list, on a daemon
    /// with --clients clients (issue 15 §7; keyward only).
    ClientsPage,
    /// Issue #4's soak: the mixed load for 10 minutes with sweeps every 5 s deleting sessions
    /// that expire along the way. Every --interval: ops/s, p50/p99/p99.9 of that interval alone,
    /// the daemon's RSS and open fds; then how they moved.
    Soak,
    /// Issue 16 §4: keywardd hosts with `backend = "etcd"` on a 3-member etcd cluster the
    /// harness starts on 127.0.0.1 (needs `etcd` and a keywardd built with `--features etcd`;
    /// keyward only).
    Cluster(ClusterArgs),
}

/// Which cluster workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub(crate) struct ClusterArgs {
    /// The workload; `all` runs the four in this order, each on a fresh etcd cluster.
    #[arg(long, value_enum, default_value_t = ClusterWorkload::All)]
    pub workload: ClusterWorkload,
}

/// The cluster workloads. `verify` also measures a host with `strict_verify = true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ClusterWorkload {
    /// verify, issue, revocation and coldstart.
    All,
    /// Verify on a host with `backend = "etcd"` against a single host (`backend = "local"`),
    /// same sessions, connections and duration; also on a host with `strict_verify = true`.
    Verify,
    /// Durable session issue on a host with `backend = "etcd"` against etcd's own rate for
    /// the same transactions, sent straight from etcd-client, as many in flight.
    Issue,
    /// Revoke a session on host A, poll verify on host B until it is refused: the lag from A's
    /// acknowledgment to B's first refusal, over --revocations revocations.
    Revocation,
    /// A fresh host on an empty data dir joining a cluster that holds --sessions sessions:
    /// exec to first ping and to a verify of a known session, and RSS.
    Coldstart,
}

/// Which systems to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetChoice {
    /// keywardd only.
    Keyward,
    /// redis-server only.
    Redis,
    /// Both, alternating row by row.
    Both,
}

/// Options shared by the suite and every workload.
#[derive(Debug, Args)]
pub(crate) struct Options {
    /// Concurrent connections [default: 16]. The suite takes a comma-separated list
    /// [default: 1,16] and runs its connection-dependent rows (ping, verify, http-verify and
    /// issue) at each; a single workload takes one count.
    #[arg(long, global = true, value_name = "N[,N...]", value_delimiter = ',')]
    pub connections: Option<Vec<usize>>,
    /// Requests in flight per connection [default: 1] (single workloads only).
    #[arg(long, global = true, value_name = "D")]
    pub pipeline: Option<usize>,
    /// Measured seconds per row [default: 10, or 1 with --quick; soak 600, or 60 with --quick].
    #[arg(long, global = true, value_name = "S")]
    pub duration: Option<f64>,
    /// Seconds between the soak's report lines [default: 30, or 10 with --quick] (soak only).
    #[arg(long, global = true, value_name = "S")]
    pub interval: Option<f64>,
    /// Seconds the daemon keeps audit entries [default: the daemon's 90 days] (soak only).
    /// Every issue is audited, so a short retention lets the audit log reach a steady size
    /// and shows whether what remains of RSS growth is anything else.
    #[arg(long, global = true, value_name = "S")]
    pub audit_retention: Option<f64>,
    /// Warm-up seconds before each row's measurement [default: 2, or 0.3 with --quick].
    #[arg(long, global = true, value_name = "S")]
    pub warmup: Option<f64>,
    /// Sessions (and Redis keys) to preload, for every workload that preloads [defaults:
    /// verify, mixed, soak and cluster's verify 100000, sweep, coldstart and cluster's
    /// coldstart 1000000; far fewer with --quick].
    #[arg(long, global = true, value_name = "M")]
    pub sessions: Option<u64>,
    /// Runs the suite N times and ends with the min, median and max of each ratio and goal,
    /// so that a figure's spread on a busy machine is one command [default: 1] (suite only).
    #[arg(long, global = true, value_name = "N")]
    pub repeat: Option<usize>,
    /// Clients to create for clients-page and stats, each with one session [default:
    /// 1000000; 10000 with --quick].
    #[arg(long, global = true, value_name = "C")]
    pub clients: Option<u64>,
    /// Which systems to measure.
    #[arg(long, global = true, value_enum, default_value_t = TargetChoice::Both)]
    pub target: TargetChoice,
    /// One JSON object per row on stdout; ratios and targets go to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// A short smoke run (the whole suite in under two minutes): small preloads, short rows.
    #[arg(long, global = true)]
    pub quick: bool,
    /// The keywardd binary [default: `keywardd` beside this executable, i.e. target/release].
    #[arg(long, global = true, value_name = "PATH")]
    pub keywardd: Option<PathBuf>,
    /// The redis-server binary.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "redis-server"
    )]
    pub redis_server: PathBuf,
    /// Revocations the cluster's revocation workload times [default: 300; 50 with --quick].
    #[arg(long, global = true, value_name = "N")]
    pub revocations: Option<u64>,
    /// The etcd binary, for the cluster workloads.
    #[arg(long, global = true, value_name = "PATH", default_value = "etcd")]
    pub etcd: PathBuf,
    /// The nginx binary, for forward-auth.
    #[arg(long, global = true, value_name = "PATH", default_value = crate::nginx::DEFAULT_NGINX)]
    pub nginx: PathBuf,
    /// How keyward is driven: raw frames with a sliding window, or keyward_client's pipeline.
    #[arg(long, global = true, value_enum, default_value_t = Driver::Frames)]
    pub driver: Driver,
}

/// Preload sizes and sweep timing of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Sessions for verify, mixed and soak.
    pub steady: u64,
    /// Expired sessions the sweep deletes.
    pub sweep: u64,
    /// Sessions on disk for the cold start.
    pub coldstart: u64,
    /// Clients for clients-page and stats.
    pub clients: u64,
    /// Live sessions verified while the sweep runs.
    pub sweep_live: u64,
    /// The sweep interval after the restart: time to issue the live sessions and warm up
    /// before the first sweep.
    pub sweep_interval: Duration,
    /// Revocations timed by the cluster's revocation workload.
    pub revocations: u64,
}

/// The suite's connection counts when `--connections` is not given.
pub(crate) const DEFAULT_SUITE_CONNECTIONS: [usize; 2] = [1, 16];

/// The most runs `--repeat` asks for: a bound on a mistyped count, not on patience.
const MAX_REPEAT: usize = 100;

/// A full run's defaults.
const FULL: (Duration, Duration, Sizes) = (
    Duration::from_secs(2),
    Duration::from_secs(10),
    Sizes {
        steady: 100_000,
        sweep: 1_000_000,
        coldstart: 1_000_000,
        clients: 1_000_000,
        sweep_live: 1_000,
        sweep_interval: Duration::from_secs(10),
        revocations: 300,
    },
);

/// `--quick` defaults.
const QUICK: (Duration, Duration, Sizes) = (
    Duration::from_millis(300),
    Duration::from_secs(1),
    Sizes {
        steady: 5_000,
        sweep: 20_000,
        coldstart: 20_000,
        clients: 10_000,
        sweep_live: 200,
        sweep_interval: Duration::from_secs(4),
        revocations: 50,
    },
);

/// The soak's length and report interval: issue #4 asks for a run of 10 minutes or more.
const SOAK: (Duration, Duration) = (Duration::from_secs(600), Duration::from_secs(30));

/// The soak's length and report interval with `--quick`.
const QUICK_SOAK: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(10));

/// Everything a run needs, resolved and checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// What to run.
    pub what: What,
    /// Shape of single-workload runs.
    pub shape: Shape,
    /// The suite's connection counts, in the order given.
    pub suite_connections: Vec<usize>,
    /// How many times the suite runs.
    pub repeat: usize,
    /// Warm-up before each measurement.
    pub warmup: Duration,
    /// Measured time per row; the soak's whole length.
    pub duration: Duration,
    /// Time between the soak's report lines.
    pub interval: Duration,
    /// The daemon's audit retention in the soak, if not its default.
    pub audit_retention: Option<Duration>,
    /// Preload sizes.
    pub sizes: Sizes,
    /// Measure keywardd.
    pub keyward: bool,
    /// Measure Redis.
    pub redis: bool,
    /// JSON lines instead of a table.
    pub json: bool,
    /// Whether this is a `--quick` run.
    pub quick: bool,
    /// The keywardd binary.
    pub keywardd: PathBuf,
    /// The redis-server binary.
    pub redis_server: PathBuf,
    /// The nginx binary.
    pub nginx: PathBuf,
    /// The etcd binary.
    pub etcd: PathBuf,
    /// How keyward is driven.
    pub driver: Driver,
}

impl Settings {
    /// Resolves `cli` against the defaults; `exe` is this program's path.
    ///
    /// # Errors
    /// For out-of-range values or options that do not apply.
    pub fn resolve(cli: Cli, exe: Option<PathBuf>) -> Result<Settings> {
        let o = cli.options;
        let (warmup, mut duration, mut sizes) = if o.quick { QUICK } else { FULL };
        let (soak_duration, interval) = if o.quick { QUICK_SOAK } else { SOAK };
        if cli.what == What::Soak {
            duration = soak_duration;
        } else if o.interval.is_some() || o.audit_retention.is_some() {
            bail!("--interval and --audit-retention apply to soak only");
        }
        let suite = cli.what == What::Suite;
        if suite && o.pipeline.is_some() {
            bail!("the suite runs a fixed set of pipeline depths; --pipeline applies to single workloads");
        }
        let connections = o.connections.unwrap_or_default();
        if connections.contains(&0) || o.pipeline == Some(0) {
            bail!("--connections and --pipeline must be at least 1");
        }
        let mut suite_connections = Vec::new();
        for &n in &connections {
            if suite_connections.contains(&n) {
                bail!("--connections lists {n} twice");
            }
            suite_connections.push(n);
        }
        if suite_connections.is_empty() {
            suite_connections = DEFAULT_SUITE_CONNECTIONS.to_vec();
        }
        if !suite && connections.len() > 1 {
            bail!(
                "a list of --connections applies to the suite; a single workload takes one count"
            );
        }
        let shape = Shape {
            connections: connections.first().copied().unwrap_or(16),
            pipeline: o.pipeline.unwrap_or(1),
        };
        let repeat = o.repeat.unwrap_or(1);
        if repeat == 0 || repeat > MAX_REPEAT {
            bail!("--repeat must be from 1 to {MAX_REPEAT}");
        }
        if !suite && repeat > 1 {
            bail!("--repeat applies to the suite");
        }
        let seconds = |name: &str, value: Option<f64>, default: Duration| -> Result<Duration> {
            match value {
                None => Ok(default),
                Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
                Some(s) => bail!("--{name} {s} is not a number of seconds"),
            }
        };
        let warmup = seconds("warmup", o.warmup, warmup)?;
        let duration = seconds("duration", o.duration, duration)?;
        if duration.is_zero() {
            bail!("--duration must be above zero");
        }
        let interval = seconds("interval", o.interval, interval)?;
        let audit_retention = o
            .audit_retention
            .map(|s| seconds("audit-retention", Some(s), Duration::ZERO))
            .transpose()?;
        if audit_retention.is_some_and(|d| d.is_zero()) {
            bail!("--audit-retention must be above zero");
        }
        if cli.what == What::Soak && (interval.is_zero() || interval > duration) {
            bail!(
                "--interval must be above zero and at most --duration ({} s)",
                duration.as_secs_f64()
            );
        }
        if let Some(m) = o.sessions {
            if m == 0 {
                bail!("--sessions must be at least 1");
            }
            sizes.steady = m;
            sizes.sweep = m;
            sizes.coldstart = m;
            sizes.sweep_live = sizes.sweep_live.min(m);
        }
        if let Some(n) = o.revocations {
            if !matches!(cli.what, What::Cluster(_)) {
                bail!("--revocations applies to cluster only");
            }
            if n == 0 {
                bail!("--revocations must be at least 1");
            }
            sizes.revocations = n;
        }
        if let Some(c) = o.clients {
            if c == 0 {
                bail!("--clients must be at least 1");
            }
            sizes.clients = c;
        }
        let keywardd = match o.keywardd {
            Some(path) => path,
            None => exe
                .as_deref()
                .and_then(|e| e.parent())
                .map(|dir| dir.join("keywardd"))
                .context("cannot locate keywardd beside this executable; pass --keywardd")?,
        };
        let keyward = o.target != TargetChoice::Redis;
        if keyward && !keywardd.is_file() {
            let features = if matches!(cli.what, What::Cluster(_)) {
                " --features etcd"
            } else {
                ""
            };
            bail!(
                "keywardd not found at {}: run `cargo build --release -p keywardd{features} -p \
                 keyward-bench` first, or pass --keywardd PATH",
                keywardd.display()
            );
        }
        Ok(Settings {
            what: cli.what,
            shape,
            suite_connections,
            repeat,
            warmup,
            duration,
            interval,
            audit_retention,
            sizes,
            keyward,
            redis: o.target != TargetChoice::Keyward,
            json: o.json,
            quick: o.quick,
            keywardd,
            redis_server: o.redis_server,
            nginx: o.nginx,
            etcd: o.etcd,
            driver: o.driver,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings> {
        let mut argv = vec!["keyward-bench"];
        argv.extend_from_slice(args);
        // `/bin/sh` stands in for a keywardd binary that exists.
        argv.extend_from_slice(&["--keywardd", "/bin/sh"]);
        Settings::resolve(Cli::try_parse_from(argv)?, None)
    }

    /// A workload takes its shape, timing and target from options given after its name.
    #[test]
    fn workload_options() {
        let s = settings(&[
            "verify",
            "--connections",
            "4",
            "--pipeline",
            "8",
            "--duration",
            "2.5",
            "--warmup",
            "0",
            "--sessions",
            "500",
            "--target",
            "redis",
            "--json",
        ])
        .unwrap();
        assert_eq!(s.what, What::Verify);
        assert_eq!((s.shape.connections, s.shape.pipeline), (4, 8));
        assert_eq!(s.duration, Duration::from_millis(2500));
        assert_eq!(s.warmup, Duration::ZERO);
        assert_eq!(
            (s.sizes.steady, s.sizes.sweep, s.sizes.sweep_live),
            (500, 500, 500)
        );
        assert!(!s.keyward && s.redis && s.json);
    }

    /// Defaults: 16 connections, no pipelining, both targets, full sizes; --quick shrinks them.
    #[test]
    fn defaults_and_quick() {
        let s = settings(&["ping"]).unwrap();
        assert_eq!((s.shape.connections, s.shape.pipeline), (16, 1));
        assert!(s.keyward && s.redis && !s.quick);
        assert_eq!(s.sizes.coldstart, 1_000_000);
        let q = settings(&["--quick", "suite"]).unwrap();
        assert!(q.quick);
        assert!(q.sizes.coldstart < s.sizes.coldstart && q.duration < s.duration);
    }

    /// Nonsense is refused: a zero depth, a negative duration, a shape for the suite.
    #[test]
    fn bad_values_are_refused() {
        assert!(settings(&["ping", "--pipeline", "0"]).is_err());
        assert!(settings(&["ping", "--duration", "-1"]).is_err());
        assert!(settings(&["suite", "--pipeline", "4"]).is_err());
        assert!(settings(&["nonsense"]).is_err());
    }

    /// The suite takes a list of connection counts, in order; a single workload takes one.
    #[test]
    fn suite_connections() {
        let s = settings(&["suite"]).unwrap();
        assert_eq!(s.suite_connections, DEFAULT_SUITE_CONNECTIONS);
        assert_eq!(s.repeat, 1);
        let s = settings(&["suite", "--connections", "16,64,256"]).unwrap();
        assert_eq!(s.suite_connections, [16, 64, 256]);
        let s = settings(&["--connections", "64", "suite"]).unwrap();
        assert_eq!(s.suite_connections, [64]);
        assert!(settings(&["suite", "--connections", "16,0"]).is_err());
        assert!(settings(&["suite", "--connections", "16,16"]).is_err());
        assert!(settings(&["suite", "--connections", "16,x"]).is_err());
        assert!(settings(&["suite", "--connections", ""]).is_err());
        assert!(settings(&["verify", "--connections", "16,64"]).is_err());
        assert_eq!(
            settings(&["verify", "--connections", "64"])
                .unwrap()
                .shape
                .connections,
            64
        );
    }

    /// --repeat runs the suite N times; it is the suite's alone, and bounded.
    #[test]
    fn repeat() {
        let s = settings(&["suite", "--quick", "--repeat", "5"]).unwrap();
        assert_eq!(s.repeat, 5);
        assert!(settings(&["suite", "--repeat", "0"]).is_err());
        assert!(settings(&["suite", "--repeat", "101"]).is_err());
        assert!(settings(&["suite", "--repeat", "-1"]).is_err());
        assert!(settings(&["verify", "--repeat", "2"]).is_err());
    }

    /// The soak runs 10 minutes with a line every 30 s unless told otherwise; --interval is
    /// the soak's alone and must fit in the run.
    #[test]
    fn soak_timing() {
        let s = settings(&["soak"]).unwrap();
        assert_eq!(s.what, What::Soak);
        assert_eq!(s.duration, Duration::from_secs(600));
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!((s.shape.connections, s.sizes.steady), (16, 100_000));
        let s = settings(&[
            "soak",
            "--duration",
            "40",
            "--interval",
            "10",
            "--sessions",
            "20000",
        ])
        .unwrap();
        assert_eq!(s.duration, Duration::from_secs(40));
        assert_eq!(s.interval, Duration::from_secs(10));
        assert_eq!(s.sizes.steady, 20_000);
        assert!(settings(&["soak", "--duration", "10", "--interval", "20"]).is_err());
        assert!(settings(&["soak", "--interval", "0"]).is_err());
        assert!(settings(&["mixed", "--interval", "5"]).is_err());
        assert_eq!(
            settings(&["mixed"]).unwrap().duration,
            Duration::from_secs(10)
        );
    }

    /// clients-page and stats take --clients, a million by default.
    #[test]
    fn clients() {
        let s = settings(&["clients-page", "--clients", "1000"]).unwrap();
        assert_eq!((s.what, s.sizes.clients), (What::ClientsPage, 1000));
        assert_eq!(settings(&["stats"]).unwrap().sizes.clients, 1_000_000);
        assert!(settings(&["stats", "--clients", "0"]).is_err());
    }

    /// cluster takes --workload (all by default) and --revocations, which is its alone.
    #[test]
    fn cluster() {
        let s = settings(&["cluster"]).unwrap();
        assert_eq!(
            s.what,
            What::Cluster(ClusterArgs {
                workload: ClusterWorkload::All
            })
        );
        assert_eq!(s.sizes.revocations, 300);
        let s = settings(&[
            "cluster",
            "--workload",
            "revocation",
            "--revocations",
            "20",
            "--etcd",
            "/opt/etcd",
        ])
        .unwrap();
        assert_eq!(
            s.what,
            What::Cluster(ClusterArgs {
                workload: ClusterWorkload::Revocation
            })
        );
        assert_eq!(s.sizes.revocations, 20);
        assert_eq!(s.etcd, PathBuf::from("/opt/etcd"));
        assert!(settings(&["cluster", "--workload", "strict-verify"]).is_err());
        assert!(settings(&["cluster", "--revocations", "0"]).is_err());
        assert!(settings(&["verify", "--revocations", "5"]).is_err());
    }

    /// Without --keywardd the daemon is looked for beside the harness itself.
    #[test]
    fn keywardd_is_found_beside_the_harness() {
        let cli = Cli::try_parse_from(["keyward-bench", "ping"]).unwrap();
        let err = Settings::resolve(cli, Some("/nonexistent/release/keyward-bench".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/release/keywardd"), "{err}");
        assert!(err.contains("cargo build --release"), "{err}");
    }
}
