//! Start-up and shutdown: the order in which the daemon claims its resources and lets go.
//!
//! Start: check the socket (a live daemon or an unsafe directory refuses the start before
//! anything is created), claim the data dir (so a second daemon fails before touching
//! anything), open the store, install signal handlers, take the sockets (passed by systemd, or bound: frames, and HTTP unless `http = false`), tell systemd
//! it is ready, then serve. Stop: tell systemd, stop accepting, let in-flight requests finish,
//! flush, remove the socket, return.

use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::authority::Authority;
use crate::clock::SystemClock;
use crate::config::{Config, Overrides};
use crate::host::lock::{self, LockError};
use crate::host::{metrics_file, notify, reload, signals};
use crate::server::activation::Activated;
use crate::server::listener::{self, BindError, BoundSocket};
use crate::state::DaemonState;
use crate::store::{Store, StoreError, StoreOptions};
use crate::{checkpointer, server, sweeper};

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The data dir is in use or unusable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The store could not be opened or flushed.
    #[error("store at {}: {source}", dir.display())]
    Store {
        /// The data dir.
        dir: std::path::PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The socket could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// A socket passed by systemd could not be used.
    #[error("cannot use the socket passed by systemd: {0}")]
    Activation(std::io::Error),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The backend the config names could not be started.
    #[error("backend = \"etcd\": {0}")]
    Backend(String),
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads `overrides`' config file.
///
/// `activated` holds the listening sockets passed by systemd, if any
/// ([`crate::server::activation::take_listeners`]).
///
/// # Errors
/// If start-up fails; see [`DaemonError`].
pub async fn run(
    config: Config,
    overrides: Overrides,
    activated: Activated,
) -> Result<(), DaemonError> {
    let shutdown = CancellationToken::new();
    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel();
    let signals = signals::install().map_err(DaemonError::Signals)?;
    tokio::spawn(signals::watch(signals, shutdown.clone(), reload_tx));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let serving = serve(config.clone(), activated, shutdown, Some(started_tx));
    tokio::pin!(serving);
    let mut running = config;
    let shared = tokio::select! {
        result = &mut serving => return result,
        shared = started_rx => shared.ok(),
    };
    loop {
        tokio::select! {
            result = &mut serving => return result,
            Some(()) = reload_rx.recv() => {
                if let Some(shared) = &shared {
                    running = reload::reload(shared, &overrides, &running);
                }
            }
        }
    }
}

/// Runs the daemon until `shutdown` fires. `started` receives the shared state once the daemon
/// serves, for reloads.
///
/// # Errors
/// If start-up fails; see [`DaemonError`].
pub(crate) async fn serve(
    config: Config,
    activated: Activated,
    shutdown: CancellationToken,
    started: Option<tokio::sync::oneshot::Sender<Arc<DaemonState>>>,
) -> Result<(), DaemonError> {
    // Before the data dir is touched: a start that the socket refuses leaves nothing behind.
    if activated.frames.is_none() {
        listener::check(&config.socket)?;
    }
    if config.http && activated.http.is_none() {
        listener::check(&config.http_socket)?;
    }
    let _lock = lock::claim(&config.data_dir)?;
    let store_err = |source| DaemonError::Store {
        dir: config.data_dir.clone(),
        source,
    };
    let options = StoreOptions {
        cache_bytes: config.cache_bytes,
        fsync: config.fsync,
    };
    let store = Store::open_with(&config.data_dir, options).map_err(store_err)?;
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(SystemClock);
    let truth = follow_backend(&config, &store, &clock).await?;
    let authority = Arc::new(Authority::new(store.clone(), clock, config.policy.clone()));
    let socket = match activated.frames {
        Some(listener) => BoundSocket::activated(listener).map_err(DaemonError::Activation)?,
        None => listener::bind(&config.socket)?,
    };
    let http_socket = match (config.http, activated.http) {
        (false, passed) => {
            if passed.is_some() {
                tracing::warn!("http = false: closing the HTTP socket systemd passed");
            }
            None
        }
        (true, Some(listener)) => {
            Some(BoundSocket::activated(listener).map_err(DaemonError::Activation)?)
        }
        (true, None) => Some(listener::bind(&config.http_socket)?),
    };
    let shared = Arc::new(DaemonState::new(
        Arc::clone(&authority),
        &config,
        nix::unistd::geteuid().as_raw(),
    ));
    if let Some(truth) = truth {
        shared.snapshots.read_from(truth);
    }
    // Not among the background tasks that end at shutdown: connections still awaiting their
    // commits need it until the runtime stops.
    tokio::spawn(store.relay_commits());
    let background = [
        tokio::spawn(sweeper::run(Arc::clone(&shared), shutdown.clone())),
        tokio::spawn(metrics_file::run(Arc::clone(&shared), shutdown.clone())),
        tokio::spawn(checkpointer::run(store.clone(), shutdown.clone())),
    ];
    if let Some(every) = notify::watchdog_interval() {
        tokio::spawn(notify::watchdog(
            Arc::clone(&authority),
            every,
            shutdown.clone(),
        ));
    }
    tracing::info!(
        socket = %config.socket.display(),
        http_socket = %http_socket.as_ref().map_or("off".into(), |_| config.http_socket.display().to_string()),
        data_dir = %config.data_dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        "keywardd ready"
    );
    notify::ready("serving");
    if let Some(started) = started {
        let _ = started.send(Arc::clone(&shared));
    }
    let refusals = Arc::clone(&shared);
    let http = async {
        if let Some(http) = &http_socket {
            server::http::run(&http.listener, Arc::clone(&shared), shutdown.clone()).await;
        }
    };
    tokio::join!(
        server::run(&socket.listener, Arc::clone(&shared), shutdown.clone()),
        http
    );
    drop(shared);
    notify::stopping();
    for task in background {
        let _ = task.await;
    }
    // The last counts of refused attempts, before the store's last checkpoint.
    refusals.refusals.flush(&store);
    drop(refusals);
    let flushed = tokio::task::spawn_blocking(move || store.close())
        .await
        .expect("flush task does not panic");
    drop(socket);
    drop(http_socket);
    flushed.map_err(store_err)?;
    tracing::info!("keywardd stopped");
    Ok(())
}

/// With `backend = "etcd"`, loads the copy of etcd into `store` and follows it from then on;
/// returns where backups read the shared records from.
///
/// # Errors
/// If etcd cannot be used, or this build has no etcd support.
async fn follow_backend(
    config: &Config,
    store: &Store,
    clock: &Arc<dyn crate::clock::Clock>,
) -> Result<Option<Arc<dyn crate::backup::SharedTruth>>, DaemonError> {
    match &config.backend {
        crate::config::Backend::Local => Ok(None),
        #[cfg(feature = "etcd")]
        crate::config::Backend::Etcd(etcd) => {
            let sweeping = crate::cluster::Sweeping {
                every: config.sweep_interval,
                grace: config.policy.slide_granularity,
            };
            crate::cluster::Cluster::start(
                etcd,
                &config.data_dir,
                store.clone(),
                Arc::clone(clock),
                sweeping,
            )
            .await
            .map(|cluster| Some(cluster.as_truth()))
            .map_err(|e| DaemonError::Backend(e.to_string()))
        }
        #[cfg(not(feature = "etcd"))]
        crate::config::Backend::Etcd(_) => {
            let _ = (store, clock);
            Err(DaemonError::Backend(
                "this keywardd was built without etcd support; build it with `cargo build \
                 --features etcd`, or install the .deb, which has it"
                    .into(),
            ))
        }
    }
}
