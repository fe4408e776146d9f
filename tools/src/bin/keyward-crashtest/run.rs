//! The run: set-up, then cycles of load, kill, restart and check, then the summary.

use keyward_client::{Client, Env, Error, Secret};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::Args;
use crate::daemon::Daemon;
use crate::load::{self, LoadError, LoadPlan};
use crate::model::Model;
use crate::ops::{Answer, Planned};
use crate::report::Summary;
use crate::{check, clock};

/// The daemon's configuration: expiry happens within a run (sessions idle out after 30 s and
/// end at 2 min) without dominating it, and the sweeper runs often so swept and unswept expired
/// credentials both occur. No default seat limit: limits come from clients' own.
pub(crate) const CONFIG: &str = r#"idle_timeout = "30s"
max_lifetime = "120s"
sweep_interval = "200ms"
log_level = "warn"
"#;
/// `idle_timeout` above, in milliseconds.
pub(crate) const IDLE_MS: i64 = 30_000;
/// Concurrent connections in each cycle's load.
pub(crate) const WORKERS: usize = 4;
/// The kill comes this many milliseconds after the load starts, uniformly.
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 20..=300;
/// The share of cycles whose new clients get a seat limit.
pub(crate) const LIMITED_SHARE: f64 = 0.25;
/// The share of used sessions the workload stops using after each cycle: over a session's
/// two-minute cap (a few hundred cycles) most keepers are abandoned, some live to the cap.
pub(crate) const ABANDON_SHARE: f64 = 0.005;
/// How often progress goes to stderr.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// Why the run could not be carried out (as opposed to finding violations).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// No daemon binary.
    #[error(
        "no keywardd at {}: build it (cargo build --release -p keywardd) or pass --keywardd PATH",
        .0.display()
    )]
    NoDaemon(PathBuf),
    /// No keywardd for `--cluster`.
    #[error(
        "no keywardd at {}: build it with the etcd backend (cargo build --release -p keywardd \
         --features etcd) or pass --keywardd PATH",
        .0.display()
    )]
    NoClusterDaemon(PathBuf),
    /// The etcd cluster or a keywardd host on it could not be started.
    #[error("{0}")]
    Cluster(String),
    /// The temporary files could not be made.
    #[error("cannot set up the temporary dir: {0}")]
    Temp(#[from] std::io::Error),
    /// The set-up requests failed.
    #[error("set-up failed: {0}")]
    Setup(#[from] Error),
    /// A cycle's load could not run.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Runs `args.cycles` cycles and returns the totals; violations are printed as found.
///
/// # Errors
/// If the run cannot be carried out at all; see [`RunError`].
pub(crate) async fn run(args: &Args) -> Result<Summary, RunError> {
    if args.cluster {
        return crate::cluster::run(args).await;
    }
    let seed = args.seed.unwrap_or_else(|| clock::now_ms().unsigned_abs());
    println!("keyward-crashtest: seed {seed} (replay with --seed {seed})");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let program = match &args.keywardd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("keywardd"),
    };
    if !program.is_file() {
        return Err(RunError::NoDaemon(program));
    }
    let root = tempfile::Builder::new()
        .prefix("keyward-crashtest-")
        .tempdir()?;
    let config = root.path().join("keywardd.toml");
    std::fs::write(&config, CONFIG)?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| root.path().join("data"));
    let mut daemon = Daemon::new(
        program,
        root.path().join("keyward.sock"),
        data_dir,
        config,
        root.path().join("keywardd.log"),
    );
    let mut model = Model::new(IDLE_MS);
    let mut summary = Summary::default();
    if let Err(e) = daemon.start().await {
        let dir = daemon.data_dir().display().to_string();
        model.violation(
            "start",
            None,
            format!("a first start on {dir}"),
            e.to_string(),
        );
        report(&mut model, seed, &mut summary);
        return Ok(summary);
    }
    let admin_key = set_up(&mut model, &daemon).await?;
    report(&mut model, seed, &mut summary);
    let mut last_progress = Instant::now();
    for cycle in 1..=args.cycles {
        model.cycle = cycle;
        let plan = LoadPlan {
            kill_after: Duration::from_millis(rng.random_range(KILL_AFTER_MS)),
            worker_seeds: (0..WORKERS).map(|_| rng.random()).collect(),
            limited_creates: rng.random_bool(LIMITED_SHARE),
            transport: args.transport,
        };
        let (loaded, killed) = load::run(model, &mut daemon, &admin_key, &plan).await?;
        model = loaded;
        if let Err(how) = killed {
            model.violation(
                "crash",
                None,
                "a daemon that answered every request of the load".into(),
                format!("it exited on its own before the SIGKILL: {how}"),
            );
        }
        model.end_epoch();
        if let Err(e) = daemon.start().await {
            let dir = daemon.data_dir().display().to_string();
            model.violation(
                "start",
                None,
                format!("a restart on {dir} after the SIGKILL of cycle {cycle}"),
                e.to_string(),
            );
            report(&mut model, seed, &mut summary);
            break;
        }
        match check::run(&mut model, &daemon.socket, 0, &admin_key, &mut rng).await {
            Ok(checked) => summary.acked_checked += checked,
            Err(e) => {
                model.violation(
                    "check",
                    None,
                    "a daemon that had just answered a ping".into(),
                    format!("it stopped answering during the check: {e}"),
                );
                report(&mut model, seed, &mut summary);
                break;
            }
        }
        model.prune();
        model.abandon(&mut rng, ABANDON_SHARE);
        summary.cycles = cycle;
        report(&mut model, seed, &mut summary);
        if args.max_violations != 0 && summary.violations >= args.max_violations {
            eprintln!(
                "keyward-crashtest: stopping after {} violations",
                args.max_violations
            );
            break;
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            eprintln!(
                "keyward-crashtest: cycle {cycle}/{}: {} checked, {} violations, tracking {} \
                 credentials of {} clients",
                args.cycles,
                summary.acked_checked,
                summary.violations,
                model.creds.len(),
                model.clients.len()
            );
        }
    }
    // Best effort: the run is over, how the daemon ends no longer matters.
    let _ = daemon.kill();
    model.tally.print();
    Ok(summary)
}

/// Creates the run's admin key and its first clients on `daemon` (host 0).
pub(crate) async fn set_up(model: &mut Model, daemon: &Daemon) -> Result<Secret, Error> {
    let mut client = Client::connect(&daemon.socket).await?;
    let admin_key = client
        .admin_key_create("keyward-crashtest", Env::Live)
        .await?
        .secret;
    client.set_admin_key(admin_key.clone());
    // Three steady clients hold the keepers; a limited one is probed for its seats.
    for (limit, steady) in [(None, true), (None, true), (None, true), (Some(3), false)] {
        let (ticket, op) = model.begin(Planned::CreateClient { limit, steady }, 0);
        let answer = match client.call(op).await {
            Ok(reply) => Answer::Reply(reply),
            Err(Error::Daemon(e)) => Answer::Refused(e),
            Err(e) => return Err(e),
        };
        model.settle(ticket, answer);
    }
    model.switches = crate::switches::set_up(&mut client).await?;
    model.updates = crate::updates::set_up(&mut client).await?;
    Ok(admin_key)
}

/// Prints the violations found since the last call and counts them.
pub(crate) fn report(model: &mut Model, seed: u64, summary: &mut Summary) {
    for v in model.violations.drain(..) {
        println!("{}", v.render(seed));
        summary.violations += 1;
    }
}
