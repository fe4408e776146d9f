//! `--cluster`: the crash loop on several keywardd hosts sharing one etcd cluster.
//!
//! The run starts a three-member etcd cluster of its own ([`crate::etcd`]) and two or three
//! keywardd hosts on it (`backend = "etcd"`, `max_staleness = "1s"`, `etcd_timeout = "2s"`).
//! Every host but the last lists only "its" member in `etcd_endpoints`, as with an etcd member
//! beside each keywardd, so killing that member cuts the host off from etcd; the last host
//! lists all three and fails over. The load's connections are spread over the hosts.
//!
//! Each cycle kills, at a moment the seed picks, either a keywardd host (SIGKILL; it is
//! restarted on its data dir once the load stops, while the other hosts carried on) or an etcd
//! member (SIGKILL; restarted on its data dir with `--initial-cluster-state existing` while
//! the load goes on, after up to four seconds down). Then, with nothing in flight, every host
//! is checked in turn, each after a barrier that proves it has applied every change
//! acknowledged so far, on any host: another host creates an API token and this one must
//! verify it. The checks are the single-host ones, on each host.
//!
//! What the model allows for ([`crate::expect::Spread`]): a change binds the host that
//! acknowledged it at once, and the other hosts once a barrier has passed or `max_staleness`
//! plus a second has gone by (a host that has not caught up by then must refuse verifies
//! with `UNAVAILABLE`, not answer from its copy). An operation answered `UNAVAILABLE` has an
//! unknown outcome like one cut off by a kill: it may commit later, so before the checks the
//! run waits for the hosts to re-read what such writes touched. An acknowledged revoke holds
//! on every host, whatever else happened.

use keyward_client::{Client, CredentialKind, Error, ErrorCode, Requirements, Scopes, Secret};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::check;
use crate::cli::Args;
use crate::clock::{self, Millis};
use crate::daemon::Daemon;
use crate::etcd::{self, Etcd, MEMBERS};
use crate::expect::Spread;
use crate::load::{self, LoadPlan, Target};
use crate::model::{Model, DEAD_CHECKS};
use crate::report::Summary;
use crate::run::{self, RunError};

/// Every key the hosts write starts with this.
const PREFIX: &str = "/keyward-crashtest/";
/// The hosts' `max_staleness`.
const MAX_STALENESS: &str = "1s";
/// The hosts' `etcd_timeout`.
const ETCD_TIMEOUT: &str = "2s";
/// How long after its acknowledgement a change must have reached every host's copy, or the
/// host must refuse verifies: `max_staleness` and a second for the watch to bring it.
const WITHIN_MS: Millis = 2_000;
/// The kill comes this many milliseconds after the load starts.
const KILL_AFTER_MS: RangeInclusive<u64> = 100..=800;
/// The share of cycles that kill an etcd member rather than a keywardd host.
const MEMBER_SHARE: f64 = 0.5;
/// How long a killed etcd member stays down, under load: often past `max_staleness` plus
/// [`WITHIN_MS`], so a host cut off from etcd has to refuse verifies for a while.
const MEMBER_DOWN_MS: RangeInclusive<u64> = 200..=4_000;
/// How long the load goes on after the member is back.
const MEMBER_TAIL_MS: RangeInclusive<u64> = 100..=500;
/// How long the load goes on on the other hosts after a keywardd host is killed.
const HOST_DOWN_MS: RangeInclusive<u64> = 200..=2_500;
/// After a cycle with an operation answered `UNAVAILABLE`: the host that answered re-reads
/// every key the write touched, retrying at most a second apart, each try within
/// `etcd_timeout`. Time for that before the checks.
const SETTLE_AFTER_UNAVAILABLE: Duration = Duration::from_millis(3_500);
/// How long a host may take, with nothing else going on, to show a change another host has
/// just acknowledged.
const BARRIER_DEADLINE: Duration = Duration::from_secs(30);

/// What a cycle kills.
#[derive(Debug, Clone, Copy)]
enum Victim {
    /// A keywardd host.
    Host(usize),
    /// An etcd member.
    Member(usize),
}

/// A host's config: the single-host run's, on etcd at `endpoints`.
fn config(endpoints: &[String]) -> String {
    let quoted: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "{}backend = \"etcd\"\netcd_endpoints = [{}]\netcd_prefix = \"{PREFIX}\"\n\
         max_staleness = \"{MAX_STALENESS}\"\netcd_timeout = \"{ETCD_TIMEOUT}\"\n",
        run::CONFIG,
        quoted.join(", ")
    )
}

/// `victim` in words.
fn describe(victim: Victim) -> String {
    match victim {
        Victim::Host(h) => format!("keywardd host {h}"),
        Victim::Member(m) => format!("etcd member m{m}"),
    }
}

fn millis(rng: &mut impl RngExt, range: RangeInclusive<u64>) -> Duration {
    Duration::from_millis(rng.random_range(range))
}

/// Runs `args.cycles` cycles on a cluster and returns the totals; violations are printed as
/// found.
///
/// # Errors
/// If the run cannot be carried out at all; see [`RunError`].
pub(crate) async fn run(args: &Args) -> Result<Summary, RunError> {
    let seed = args.seed.unwrap_or_else(|| clock::now_ms().unsigned_abs());
    println!("keyward-crashtest: seed {seed} (replay with --cluster --seed {seed})");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let count = usize::from(args.hosts.unwrap_or(3));
    let program = match &args.keywardd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("keywardd"),
    };
    if !program.is_file() {
        return Err(RunError::NoClusterDaemon(program));
    }
    let (etcd_program, etcdctl) =
        etcd::programs(args.etcd.as_deref()).map_err(RunError::Cluster)?;
    let temp = match &args.data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("keyward-crashtest-cluster-")
                .tempdir()?,
        ),
    };
    let root = match (&args.data_dir, &temp) {
        (Some(dir), _) => dir.clone(),
        (None, Some(temp)) => temp.path().to_owned(),
        (None, None) => unreachable!("a temporary dir without --data-dir"),
    };
    std::fs::create_dir_all(&root)?;
    let mut etcd = Etcd::start(etcd_program, etcdctl, &root)
        .await
        .map_err(RunError::Cluster)?;
    let mut hosts = Vec::with_capacity(count);
    for h in 0..count {
        let dir = root.join(format!("host{h}"));
        std::fs::create_dir_all(&dir)?;
        let endpoints: Vec<String> = if h + 1 < count {
            vec![etcd.client_url(h)]
        } else {
            (0..MEMBERS).map(|i| etcd.client_url(i)).collect()
        };
        let config_path = dir.join("keywardd.toml");
        std::fs::write(&config_path, config(&endpoints))?;
        let mut host = Daemon::new(
            program.clone(),
            dir.join("keyward.sock"),
            dir.join("data"),
            config_path,
            dir.join("keywardd.log"),
        );
        host.start().await.map_err(|e| {
            RunError::Cluster(format!(
                "keywardd host {h} did not start on etcd (is it built with --features etcd?): \
                 {e}"
            ))
        })?;
        hosts.push(host);
    }
    let mut model = Model::new(run::IDLE_MS);
    model.spread = Some(Spread {
        synced: vec![0; count],
        within_ms: WITHIN_MS,
    });
    model.dead_checks = DEAD_CHECKS * u32::try_from(count).unwrap_or(1);
    let mut summary = Summary::default();
    let admin_key = run::set_up(&mut model, &hosts[0]).await?;
    for h in 0..count {
        if !barrier(&mut model, &hosts, &admin_key, h).await? {
            run::report(&mut model, seed, &mut summary);
            return Ok(summary);
        }
    }
    run::report(&mut model, seed, &mut summary);
    let targets: Vec<Target> = hosts
        .iter()
        .enumerate()
        .map(|(h, d)| Target::of(d, h))
        .collect();
    let mut last_progress = Instant::now();
    'cycles: for cycle in 1..=args.cycles {
        model.cycle = cycle;
        let plan = LoadPlan {
            kill_after: millis(&mut rng, KILL_AFTER_MS),
            worker_seeds: (0..run::WORKERS).map(|_| rng.random()).collect(),
            limited_creates: rng.random_bool(run::LIMITED_SHARE),
            transport: args.transport,
        };
        let victim = if rng.random_bool(MEMBER_SHARE) {
            Victim::Member(rng.random_range(0..MEMBERS))
        } else {
            Victim::Host(rng.random_range(0..count))
        };
        let down = match victim {
            Victim::Member(_) => millis(&mut rng, MEMBER_DOWN_MS),
            Victim::Host(_) => millis(&mut rng, HOST_DOWN_MS),
        };
        let tail = millis(&mut rng, MEMBER_TAIL_MS);
        let unavailable_before = model.tally.unavailable;

        let running = load::start(model, &targets, &admin_key, &plan).await?;
        tokio::time::sleep(plan.kill_after).await;
        let mut crashed = Vec::new();
        match victim {
            Victim::Host(h) => {
                if let Err(how) = hosts[h].kill() {
                    crashed.push((h, how));
                }
                tokio::time::sleep(down).await;
            }
            Victim::Member(m) => {
                etcd.kill(m);
                tokio::time::sleep(down).await;
                etcd.restart(m).await.map_err(RunError::Cluster)?;
                tokio::time::sleep(tail).await;
            }
        }
        model = running.finish(true).await?;
        match victim {
            Victim::Host(_) => model.tally.kills.0 += 1,
            Victim::Member(_) => model.tally.kills.1 += 1,
        }
        let mut down_hosts: Vec<usize> = match victim {
            Victim::Host(h) => vec![h],
            Victim::Member(_) => Vec::new(),
        };
        for (h, host) in hosts.iter_mut().enumerate() {
            if let Some(how) = host.exited() {
                crashed.push((h, how));
                down_hosts.push(h);
            }
        }
        for (h, how) in crashed {
            model.violation(
                "crash",
                None,
                format!(
                    "keywardd host {h}, answering the load ({} was killed)",
                    describe(victim)
                ),
                format!("it exited on its own: {how}"),
            );
        }
        model.end_epoch();
        for h in down_hosts {
            if let Err(e) = hosts[h].start().await {
                let dir = hosts[h].data_dir().display().to_string();
                model.violation(
                    "start",
                    None,
                    format!("a restart of keywardd host {h} on {dir} in cycle {cycle}"),
                    e.to_string(),
                );
                run::report(&mut model, seed, &mut summary);
                break 'cycles;
            }
        }
        etcd.wait_healthy().await.map_err(RunError::Cluster)?;
        if model.tally.unavailable > unavailable_before {
            tokio::time::sleep(SETTLE_AFTER_UNAVAILABLE).await;
        }
        let mut order: Vec<usize> = (0..count).collect();
        for i in (1..count).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        for h in order {
            model.checking = Some(h);
            let checked = match barrier(&mut model, &hosts, &admin_key, h).await {
                Ok(true) => check::run(&mut model, &hosts[h].socket, h, &admin_key, &mut rng).await,
                Ok(false) => {
                    run::report(&mut model, seed, &mut summary);
                    break 'cycles;
                }
                Err(e) => Err(e),
            };
            match checked {
                Ok(checked) => summary.acked_checked += checked,
                Err(e) => {
                    model.violation(
                        "check",
                        None,
                        format!("keywardd host {h}, running on a healthy etcd cluster"),
                        format!("it stopped answering during the check: {e}"),
                    );
                    run::report(&mut model, seed, &mut summary);
                    break 'cycles;
                }
            }
        }
        model.checking = None;
        model.prune();
        model.abandon(&mut rng, run::ABANDON_SHARE);
        summary.cycles = cycle;
        // What each cycle killed, to read the violations (which name their cycle) against.
        eprintln!(
            "keyward-crashtest: cycle {cycle} killed {}, {} ms into the load, for {} ms",
            describe(victim),
            plan.kill_after.as_millis(),
            down.as_millis()
        );
        run::report(&mut model, seed, &mut summary);
        if args.max_violations != 0 && summary.violations >= args.max_violations {
            eprintln!(
                "keyward-crashtest: stopping after {} violations",
                args.max_violations
            );
            break;
        }
        if last_progress.elapsed() >= run::PROGRESS_EVERY {
            last_progress = Instant::now();
            eprintln!(
                "keyward-crashtest: cycle {cycle}/{}: {} checked, {} violations, tracking {} \
                 credentials of {} clients; {} UNAVAILABLE so far",
                args.cycles,
                summary.acked_checked,
                summary.violations,
                model.creds.len(),
                model.clients.len(),
                model.tally.unavailable
            );
        }
    }
    model.tally.print();
    Ok(summary)
}

/// Proves that host `target` has applied every change acknowledged so far, on any host:
/// another host creates an API token, and `target` must verify it within
/// [`BARRIER_DEADLINE`] (its watch applies etcd's changes in order). Returns `false`, after
/// recording a violation, if it never does.
///
/// # Errors
/// If a host stops answering.
async fn barrier(
    model: &mut Model,
    hosts: &[Daemon],
    admin_key: &Secret,
    target: usize,
) -> Result<bool, Error> {
    let from = (target + 1) % hosts.len();
    let mut writer = Client::connect(&hosts[from].socket).await?;
    writer.set_admin_key(admin_key.clone());
    let mut reader = Client::connect(&hosts[target].socket).await?;
    let before = model.stamp();
    let begun = Instant::now();
    let created = loop {
        match writer
            .api_token_create("crashtest-barrier", Scopes::new(), None)
            .await
        {
            Ok(created) => break created,
            // etcd still electing after a member's restart.
            Err(Error::Daemon(e))
                if e.code == ErrorCode::Unavailable && begun.elapsed() < BARRIER_DEADLINE =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let acked = Instant::now();
    let require = Requirements::new().kind(CredentialKind::ApiToken);
    loop {
        match reader.verify(&created.token, require.clone()).await {
            Ok(_) => break,
            Err(Error::Daemon(_)) if acked.elapsed() < BARRIER_DEADLINE => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(Error::Daemon(e)) => {
                model.violation(
                    "lost",
                    Some((created.id, CredentialKind::ApiToken)),
                    format!(
                        "api token create on host {from} in cycle {} (a barrier, nothing else \
                         in flight)",
                        model.cycle
                    ),
                    format!("host {target} still answered {e} {BARRIER_DEADLINE:?} later"),
                );
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    let took = u64::try_from(acked.elapsed().as_millis()).unwrap_or(u64::MAX);
    model.tally.slowest_barrier_ms = model.tally.slowest_barrier_ms.max(took);
    if let Some(spread) = model.spread.as_mut() {
        spread.synced[target] = spread.synced[target].max(before.seq);
    }
    // The barrier's token has served; it is not part of the model. Best effort: a host that
    // stopped answering shows in the check that follows.
    let _ = writer.revoke(created.id).await;
    Ok(true)
}
