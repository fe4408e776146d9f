//! Start-up and shutdown: the order in which the daemon claims its resources and lets go.
//!
//! Start: claim the data dir (so a second daemon fails before touching anything), open the
//! store, install signal handlers, bind the socket, then serve. Stop: stop accepting, let
//! in-flight requests finish, flush, remove the socket, return.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use crate::authority::Authority;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::dispatch::Shared;
use crate::listener::{self, BindError};
use crate::lock::{self, LockError};
use crate::store::{Store, StoreError};
use crate::{server, signals, sweeper};

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
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Runs the daemon until SIGTERM or SIGINT.
///
/// # Errors
/// If start-up fails; see [`DaemonError`].
pub async fn run(config: Config) -> Result<(), DaemonError> {
    let shutdown = CancellationToken::new();
    let signals = signals::install().map_err(DaemonError::Signals)?;
    tokio::spawn(signals::watch(signals, shutdown.clone()));
    serve(config, shutdown).await
}

/// Runs the daemon until `shutdown` fires. Used by [`run`] and by tests that stop it themselves.
///
/// # Errors
/// If start-up fails; see [`DaemonError`].
pub async fn serve(config: Config, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let _lock = lock::claim(&config.data_dir)?;
    let store_err = |source| DaemonError::Store {
        dir: config.data_dir.clone(),
        source,
    };
    let store = Store::open(&config.data_dir).map_err(store_err)?;
    let authority = Arc::new(Authority::new(
        store.clone(),
        Arc::new(SystemClock),
        config.policy.clone(),
    ));
    let socket = listener::bind(&config.socket)?;
    tracing::info!(
        socket = %config.socket.display(),
        data_dir = %config.data_dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        "keywardd ready"
    );
    let shared = Arc::new(Shared::new(
        Arc::clone(&authority),
        config.admins.clone(),
        nix::unistd::geteuid().as_raw(),
    ));
    let sweeper = tokio::spawn(sweeper::run(
        Arc::clone(&authority),
        config.sweep_interval,
        shutdown.clone(),
    ));
    server::run(&socket.listener, shared, config.limits.clone(), shutdown).await;
    let _ = sweeper.await;
    let flushed = tokio::task::spawn_blocking(move || store.flush())
        .await
        .expect("flush task does not panic");
    drop(socket);
    flushed.map_err(store_err)?;
    tracing::info!("keywardd stopped");
    Ok(())
}
