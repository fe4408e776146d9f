//! The etcd backend: several keywardd hosts sharing one truth in an etcd cluster.
//!
//! etcd holds the truth ([`keys`] says where); each host keeps a full copy in its own store,
//! which the authority reads and writes exactly as with the local backend. Writes are also
//! captured ([`crate::store::replica`]) and committed here as one etcd transaction per change
//! ([`commit`]), acknowledged only once etcd has committed them. Every host follows every
//! change with a watch from the revision of the snapshot it loaded ([`follow`]), and reloads
//! everything if that revision has been compacted away ([`load`]). A host that has not heard
//! from etcd within `max_staleness` refuses verifies, unless told to serve them.
//!
//! The client runs on a thread and runtime of its own, so that etcd's traffic and a reload
//! never hold up the event loop that serves verifies.

mod commit;
mod connect;
mod echo;
mod follow;
pub mod import;
mod keys;
mod lease;
mod load;
mod mark;
mod slides;
mod snapshot;
mod strict;
mod sweep;

pub use sweep::Sweeping;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward_protocol::token::TokenHash;

use crate::clock::Clock;
use crate::config::{EtcdConfig, StaleVerify};
use crate::store::replica::{Change, Committing, Gate, Replica};
use crate::store::{CredentialRecord, Store, StoreError};

use echo::Echo;
use keys::Keys;

/// Why the etcd backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// etcd could not be reached or refused the client.
    #[error("cannot use etcd at {endpoints}: {detail}")]
    Connect {
        /// The endpoints tried.
        endpoints: String,
        /// Why.
        detail: String,
    },
    /// A TLS or password file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    File {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data dir holds a single-host store, which following etcd would discard.
    #[error(
        "data dir {} holds a single-host store; keywardd with backend = \"etcd\" keeps only a \
         copy of etcd there and would discard it. Move it into etcd with `keywardd migrate \
         --to-etcd`, or point data_dir at an empty directory",
        dir.display()
    )]
    LocalData {
        /// The data dir.
        dir: std::path::PathBuf,
    },
    /// The local copy could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The etcd backend, as the store's [`Replica`].
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<Shared>,
    /// With `strict_verify`, the queue of verifies waiting for a mark.
    strict: Option<tokio::sync::mpsc::UnboundedSender<strict::Waiter>>,
}

/// What the commit, follow and load tasks share.
struct Shared {
    keys: Keys,
    client: etcd_client::Client,
    /// This host's copy.
    store: Store,
    clock: Arc<dyn Clock>,
    config: EtcdConfig,
    /// The runtime the client's tasks run on.
    runtime: tokio::runtime::Handle,
    /// Every change up to this revision is applied to the copy.
    applied: AtomicI64,
    /// Tells waiters how far the copy has applied.
    applied_tx: tokio::sync::watch::Sender<i64>,
    /// When the watch last heard from etcd (an event or a progress notification), in
    /// microseconds since `started`: one atomic load per verify.
    heard: std::sync::atomic::AtomicU64,
    started: Instant,
    /// Set while a reload after a compaction runs: the copy is part old, part new.
    reloading: std::sync::atomic::AtomicBool,
    echo: Echo,
    leases: lease::Leases,
    /// How often and how late etcd is swept; `grace` also holds back local sweeps.
    sweeping: Sweeping,
    /// Slides waiting to be written.
    slides: slides::Slides,
    /// Held exclusively while the truth is applied to a key of the copy
    /// ([`crate::store::replica::Gate`]).
    gate: Gate,
    /// Keys being read again after a failed write: while any are, writes are refused.
    repairing: std::sync::atomic::AtomicUsize,
    /// Keys to read again, found missing while applying a change.
    missing: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.keys.prefix())
            .field("applied", &self.applied.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn heard_now(&self) {
        let now = self.started.elapsed().as_micros() as u64;
        self.heard.fetch_max(now, Ordering::AcqRel);
    }

    fn silent_for(&self) -> Duration {
        let heard = self.heard.load(Ordering::Acquire);
        self.started
            .elapsed()
            .saturating_sub(Duration::from_micros(heard))
    }

    /// Records that the copy has applied every change up to `revision`.
    fn applied_up_to(&self, revision: i64) {
        let before = self.applied.fetch_max(revision, Ordering::AcqRel);
        if revision > before {
            self.applied_tx.send_replace(revision);
            self.echo.passed(revision);
        }
    }

    /// Why this host must not decide a change now, if it must not: its copy may be stale
    /// (it has not heard from etcd within `max_staleness`, or is reloading), or holds a
    /// change etcd never took (keys are being read again after a failed write).
    fn unsettled(&self) -> Option<String> {
        if self.reloading.load(Ordering::Acquire) {
            return Some("this host is reloading its copy from etcd; retry shortly".into());
        }
        let repairing = self.repairing.load(Ordering::Acquire);
        if repairing > 0 {
            return Some(format!(
                "this host is re-reading {repairing} keys from etcd after a write that did \
                 not commit; retry shortly"
            ));
        }
        let silent = self.silent_for();
        (silent > self.config.max_staleness).then(|| {
            format!(
                "this host has not heard from etcd for {} ms; is a quorum of members up and \
                 reachable? Retry once it is",
                silent.as_millis()
            )
        })
    }

    /// Queues `keys` to be read again (by the watch, after the change it is applying).
    fn missing(&self, keys: Vec<Vec<u8>>) {
        self.missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(keys);
    }

    /// Takes the keys queued by [`Shared::missing`].
    fn take_missing(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.missing.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Waits until the copy has applied `revision`, for at most `within`.
    async fn caught_up(&self, revision: i64, within: Duration) -> bool {
        let mut rx = self.applied_tx.subscribe();
        tokio::time::timeout(within, rx.wait_for(|&r| r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Cluster {
    /// Connects to etcd, loads everything under the prefix into `store` and starts following
    /// it. Returns once the copy is complete, so the daemon serves nothing stale.
    ///
    /// # Errors
    /// If etcd cannot be reached within `etcd_timeout`, a TLS or password file cannot be
    /// read, the data dir holds a single-host store, or the copy cannot be written.
    pub async fn start(
        config: &EtcdConfig,
        data_dir: &std::path::Path,
        store: Store,
        clock: Arc<dyn Clock>,
        sweeping: Sweeping,
    ) -> Result<Arc<Cluster>, ClusterError> {
        load::check_data_dir(data_dir, &store)?;
        let runtime = spawn_runtime();
        let connecting = runtime.spawn(connect::connect(config.clone()));
        let client = connecting.await.map_err(|e| ClusterError::Connect {
            endpoints: config.endpoints.join(", "),
            detail: e.to_string(),
        })??;
        let (applied_tx, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            keys: Keys::new(&config.prefix),
            client,
            store: store.clone(),
            clock,
            config: config.clone(),
            runtime: runtime.clone(),
            applied: AtomicI64::new(0),
            applied_tx,
            heard: std::sync::atomic::AtomicU64::new(0),
            started: Instant::now(),
            reloading: std::sync::atomic::AtomicBool::new(false),
            echo: Echo::default(),
            leases: lease::Leases::default(),
            missing: std::sync::Mutex::new(Vec::new()),
            repairing: std::sync::atomic::AtomicUsize::new(0),
            slides: slides::Slides::default(),
            gate: Gate::default(),
            sweeping,
        });
        let loading = runtime.spawn({
            let shared = Arc::clone(&shared);
            async move { load::full(&shared).await }
        });
        let revision = loading.await.map_err(|e| ClusterError::Connect {
            endpoints: config.endpoints.join(", "),
            detail: e.to_string(),
        })??;
        load::mark_data_dir(data_dir)?;
        tracing::info!(
            revision,
            prefix = %config.prefix,
            "loaded the copy of etcd; following it"
        );
        runtime.spawn(follow::run(Arc::clone(&shared)));
        runtime.spawn(sweep::run(Arc::clone(&shared), sweeping));
        runtime.spawn(slides::run(Arc::clone(&shared)));
        let strict = config.strict_verify.then(|| {
            let (asks, queue) = tokio::sync::mpsc::unbounded_channel();
            runtime.spawn(strict::serve(Arc::clone(&shared), queue));
            asks
        });
        let cluster = Arc::new(Cluster { shared, strict });
        store.set_replica(Arc::clone(&cluster) as Arc<dyn Replica>);
        Ok(cluster)
    }

    /// The revision this host's copy has applied.
    pub fn applied(&self) -> i64 {
        self.shared.applied()
    }
}

impl Replica for Cluster {
    fn commit(&self, change: Change) -> Committing {
        commit::start(&self.shared, change)
    }

    fn position(&self) -> i64 {
        self.shared.applied()
    }

    fn gate(&self) -> &Gate {
        &self.shared.gate
    }

    fn settled(&self) -> Result<(), StoreError> {
        self.shared
            .unsettled()
            .map_or(Ok(()), |why| Err(StoreError::Unavailable(why)))
    }

    fn fresh(&self) -> Result<(), StoreError> {
        if let Some(asks) = &self.strict {
            // A lookup inside a change (a logout, an admin key's check) holds the gate the
            // watch needs to catch up, so it gets the staleness check only.
            if !crate::store::replica::capturing() {
                return strict::wait(asks);
            }
        }
        let shared = &self.shared;
        if shared.config.stale_verify == StaleVerify::Serve {
            return Ok(());
        }
        if shared.reloading.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "this host is reloading its copy from etcd, which compacted past it;                  verifies are refused until the copy is whole (stale_verify = \"refuse\")"
                    .into(),
            ));
        }
        let silent = shared.silent_for();
        if silent <= shared.config.max_staleness {
            return Ok(());
        }
        Err(StoreError::Unavailable(format!(
            "this host has not heard from etcd for {} ms (max_staleness is {} ms), so it may \
             have missed a revocation; verifies are refused until it hears again \
             (stale_verify = \"refuse\"). Check that etcd has a quorum and this host reaches it",
            silent.as_millis(),
            shared.config.max_staleness.as_millis()
        )))
    }

    fn waits(&self) -> bool {
        self.strict.is_some()
    }

    fn sweep_grace(&self) -> Duration {
        self.shared.sweeping.grace
    }

    fn slide(&self, _hash: &TokenHash, record: &CredentialRecord) {
        if let Some(at) = record.expires_at {
            let shared = &self.shared;
            shared.slides.queue(
                shared.keys.expiry(record.id),
                keys::encode_expiry(at, record.owner),
            );
        }
    }
}

/// A thread running a runtime for the client's tasks, for as long as the process lives.
fn spawn_runtime() -> tokio::runtime::Handle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("keyward-etcd".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the etcd client");
            tx.send(runtime.handle().clone())
                .expect("the starter waits for the handle");
            runtime.block_on(std::future::pending::<()>());
        })
        .expect("a thread for the etcd client");
    rx.recv().expect("the etcd thread sends its handle")
}
