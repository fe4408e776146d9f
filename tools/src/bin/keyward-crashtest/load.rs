//! One cycle's load: several connections issuing, verifying and revoking at once until the
//! daemon is SIGKILLed under them at a random moment, or, with `--cluster`, spread over the
//! keywardd hosts until the cycle tells them to stop.

use keyward_client::{Error, Secret};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

use crate::daemon::Daemon;
use crate::model::Model;
use crate::ops::Answer;
use crate::transport::{Connection, Transport};

/// How long the workers may take to stop after the kill (or the stop). They notice a kill at
/// once (the socket closes with the process), and a stop after their operation in flight,
/// which `etcd_timeout` bounds; this only bounds a bug.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// What one cycle's load does.
#[derive(Debug, Clone)]
pub(crate) struct LoadPlan {
    /// When, after the load starts, the daemon is killed.
    pub kill_after: Duration,
    /// One seed per worker, each with its own connection.
    pub worker_seeds: Vec<u64>,
    /// Whether clients created in this cycle get a seat limit.
    pub limited_creates: bool,
    /// Which socket each worker uses.
    pub transport: Transport,
}

/// Where connections of the load go: one keywardd host's sockets.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The host's number (0 without `--cluster`).
    pub host: usize,
    /// Its frame socket.
    pub socket: PathBuf,
    /// Its HTTP socket.
    pub http_socket: PathBuf,
}

impl Target {
    /// The one daemon's sockets.
    pub(crate) fn of(daemon: &Daemon, host: usize) -> Target {
        Target {
            host,
            socket: daemon.socket.clone(),
            http_socket: daemon.http_socket(),
        }
    }
}

/// Why the load could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// A worker could not connect to a daemon that had just answered a ping.
    #[error("cannot connect to keywardd: {0}")]
    Connect(Error),
    /// A worker did not stop after the kill.
    #[error("a load worker was still running {DRAIN_DEADLINE:?} after the kill")]
    Stuck,
}

/// The load under way.
pub(crate) struct Running {
    shared: Arc<Mutex<Model>>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// Starts the load on `targets`: worker `i` on `targets[i % len]`, the switcher and the updater
/// on targets their seeds pick (with one target, all on it).
///
/// # Errors
/// If a worker cannot connect.
pub(crate) async fn start(
    model: Model,
    targets: &[Target],
    admin_key: &Secret,
    plan: &LoadPlan,
) -> Result<Running, LoadError> {
    let at = |i: usize| &targets[i % targets.len()];
    let mut clients = Vec::with_capacity(plan.worker_seeds.len());
    for index in 0..plan.worker_seeds.len() {
        let t = at(index);
        let client = plan
            .transport
            .connect(index, &t.socket, &t.http_socket, admin_key)
            .await
            .map_err(LoadError::Connect)?;
        clients.push((client, t.host));
    }
    let switch_seed = plan
        .worker_seeds
        .iter()
        .fold(0x5157_u64, |a, s| a ^ s.rotate_left(7));
    let switch_at = at((switch_seed >> 1) as usize);
    let mut switcher = keyward_client::Client::connect(&switch_at.socket)
        .await
        .map_err(LoadError::Connect)?;
    switcher.set_admin_key(admin_key.clone());
    // The updater sends its updates over the run's transport (with `mixed`, frames or HTTP by
    // the seed) and verifies their effect over frames, on the same host.
    let update_seed = switch_seed.rotate_left(13) ^ 0x00b0_da7e;
    let update_at = at((update_seed >> 1) as usize);
    let updater = plan
        .transport
        .connect(
            (update_seed & 1) as usize,
            &update_at.socket,
            &update_at.http_socket,
            admin_key,
        )
        .await
        .map_err(LoadError::Connect)?;
    let mut prober = keyward_client::Client::connect(&update_at.socket)
        .await
        .map_err(LoadError::Connect)?;
    prober.set_admin_key(admin_key.clone());
    let shared = Arc::new(Mutex::new(model));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers: Vec<_> = clients
        .into_iter()
        .zip(&plan.worker_seeds)
        .map(|((client, host), &seed)| {
            tokio::spawn(work(
                client,
                Arc::clone(&shared),
                Worker {
                    seed,
                    host,
                    limited_creates: plan.limited_creates,
                    stop: Arc::clone(&stop),
                },
            ))
        })
        .collect();
    workers.push(tokio::spawn(crate::switches::work(
        switcher,
        Arc::clone(&shared),
        switch_seed,
        Arc::clone(&stop),
    )));
    workers.push(tokio::spawn(crate::updates::work(
        updater,
        prober,
        Arc::clone(&shared),
        update_seed,
        Arc::clone(&stop),
    )));
    Ok(Running {
        shared,
        workers,
        stop,
    })
}

impl Running {
    /// Waits until every worker has ended, after telling them to stop if `stop` (else they end
    /// as their daemon dies), and returns the model with every outcome recorded.
    ///
    /// # Errors
    /// If a worker does not end in time.
    pub(crate) async fn finish(self, stop: bool) -> Result<Model, LoadError> {
        if stop {
            self.stop.store(true, Ordering::Relaxed);
        }
        for worker in self.workers {
            match tokio::time::timeout(DRAIN_DEADLINE, worker).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
                Err(_) => return Err(LoadError::Stuck),
            }
        }
        Ok(Arc::try_unwrap(self.shared)
            .expect("every worker has finished")
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()))
    }
}

/// Runs the load on `daemon`, kills it, and returns the model with every outcome recorded; the
/// daemon is left dead. `Err(text)` in the second slot means the daemon had died on its own.
///
/// # Errors
/// If a worker cannot connect or does not stop.
pub(crate) async fn run(
    model: Model,
    daemon: &mut Daemon,
    admin_key: &Secret,
    plan: &LoadPlan,
) -> Result<(Model, Result<(), String>), LoadError> {
    let running = start(model, &[Target::of(daemon, 0)], admin_key, plan).await?;
    tokio::time::sleep(plan.kill_after).await;
    let killed = daemon.kill();
    let model = running.finish(false).await?;
    Ok((model, killed))
}

/// One load connection's settings.
struct Worker {
    seed: u64,
    /// The host it talks to.
    host: usize,
    limited_creates: bool,
    stop: Arc<AtomicBool>,
}

/// One connection's loop: plan, send, record, until the connection dies with the daemon or
/// the load is stopped.
async fn work(mut client: Connection, model: Arc<Mutex<Model>>, w: Worker) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(w.seed);
    loop {
        if w.stop.load(Ordering::Relaxed) {
            return;
        }
        let (ticket, op) = lock(&model).plan(&mut rng, w.limited_creates, w.host);
        let answer = match client.call(op).await {
            Ok(reply) => Answer::Reply(reply),
            Err(Error::Daemon(e)) => Answer::Refused(e),
            // The daemon died (or the connection broke): the outcome is unknown.
            Err(_) => Answer::Lost,
        };
        let lost = matches!(answer, Answer::Lost);
        lock(&model).settle(ticket, answer);
        if lost {
            return;
        }
    }
}

fn lock(model: &Mutex<Model>) -> MutexGuard<'_, Model> {
    // A worker that panicked mid-update is re-raised by `finish`; the model is not reused then.
    model.lock().unwrap_or_else(|p| p.into_inner())
}
