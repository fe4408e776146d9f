//! One cycle's load: several connections issuing, verifying and revoking at once until the
//! daemon is SIGKILLed under them at a random moment.

use keyward_client::{Error, Secret};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::daemon::Daemon;
use crate::model::Model;
use crate::ops::Answer;
use crate::transport::{Connection, Transport};

/// How long the workers may take to notice the daemon is gone. They notice at once (the
/// socket closes with the process); this only bounds a bug.
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
    let mut clients = Vec::with_capacity(plan.worker_seeds.len());
    for index in 0..plan.worker_seeds.len() {
        let client = plan
            .transport
            .connect(index, &daemon.socket, &daemon.http_socket(), admin_key)
            .await
            .map_err(LoadError::Connect)?;
        clients.push(client);
    }
    let mut switcher = keyward_client::Client::connect(&daemon.socket)
        .await
        .map_err(LoadError::Connect)?;
    switcher.set_admin_key(admin_key.clone());
    let switch_seed = plan
        .worker_seeds
        .iter()
        .fold(0x5157_u64, |a, s| a ^ s.rotate_left(7));
    // The updater sends its updates over the run's transport (with `mixed`, frames or HTTP by
    // the seed) and verifies their effect over frames.
    let update_seed = switch_seed.rotate_left(13) ^ 0x00b0_da7e;
    let updater = plan
        .transport
        .connect(
            (update_seed & 1) as usize,
            &daemon.socket,
            &daemon.http_socket(),
            admin_key,
        )
        .await
        .map_err(LoadError::Connect)?;
    let mut prober = keyward_client::Client::connect(&daemon.socket)
        .await
        .map_err(LoadError::Connect)?;
    prober.set_admin_key(admin_key.clone());
    let shared = Arc::new(Mutex::new(model));
    let mut workers: Vec<_> = clients
        .into_iter()
        .zip(&plan.worker_seeds)
        .map(|(client, &seed)| {
            tokio::spawn(work(
                client,
                Arc::clone(&shared),
                seed,
                plan.limited_creates,
            ))
        })
        .collect();
    workers.push(tokio::spawn(crate::switches::work(
        switcher,
        Arc::clone(&shared),
        switch_seed,
    )));
    workers.push(tokio::spawn(crate::updates::work(
        updater,
        prober,
        Arc::clone(&shared),
        update_seed,
    )));
    tokio::time::sleep(plan.kill_after).await;
    let killed = daemon.kill();
    for worker in workers {
        match tokio::time::timeout(DRAIN_DEADLINE, worker).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(LoadError::Stuck),
        }
    }
    let model = Arc::try_unwrap(shared)
        .expect("every worker has finished")
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok((model, killed))
}

/// One connection's loop: plan, send, record, until the connection dies with the daemon.
async fn work(mut client: Connection, model: Arc<Mutex<Model>>, seed: u64, limited_creates: bool) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    loop {
        let (ticket, op) = lock(&model).plan(&mut rng, limited_creates);
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
    // A worker that panicked mid-update is re-raised by `run`; the model is not reused then.
    model.lock().unwrap_or_else(|p| p.into_inner())
}
