//! [`DaemonState`], what every connection and background task shares, and [`Settings`], the
//! part of it a reload replaces.

use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::authority::Authority;
use crate::backup::Snapshots;
use crate::config::{Admins, Config, Limits};
use crate::host::log_limit::{self, LogLimit};
use crate::host::metrics::Metrics;
use crate::server::connection_slots::ConnectionSlots;
use crate::server::uid_slots::UidSlots;

/// The settings SIGHUP can change without dropping a connection.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub admins: Admins,
    pub limits: Limits,
    pub sweep_interval: Duration,
    pub metrics_file: Option<PathBuf>,
    pub metrics_interval: Duration,
    pub audit_retention: Duration,
    pub audit_max_bytes: u64,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Settings {
            admins: config.admins.clone(),
            limits: config.limits.clone(),
            sweep_interval: config.sweep_interval,
            metrics_file: config.metrics_file.clone(),
            metrics_interval: config.metrics_interval,
            audit_retention: config.audit_retention,
            audit_max_bytes: config.audit_max_bytes,
        }
    }
}

/// The daemon's state that every connection and background task holds (behind an `Arc`):
/// the authority, the settings in force, counters, log limits and connection slots.
#[derive(Debug)]
pub(crate) struct DaemonState {
    pub authority: Arc<Authority>,
    pub settings: ArcSwap<Settings>,
    pub daemon_uid: u32,
    pub metrics: Metrics,
    /// Limits log lines about bad tokens, which any peer can send at will.
    pub bad_token_log: LogLimit,
    /// Limits log lines about refused host-admin attempts.
    pub refused_admin_log: LogLimit,
    /// Aggregates the audit entries of refused attempts.
    pub refusals: crate::audit::Refusals,
    /// One slot per connection served at once, some reserved for host admins.
    pub connections: ConnectionSlots,
    pub per_uid: Arc<UidSlots>,
    pub started: Instant,
    /// Backups being read.
    pub snapshots: Snapshots,
    /// Set once the server stops accepting: connections look at it after each batch of
    /// replies, where the shutdown token's own check would take a lock per request.
    stopping: AtomicBool,
}

impl DaemonState {
    pub fn new(authority: Arc<Authority>, config: &Config, daemon_uid: u32) -> Self {
        DaemonState {
            authority,
            settings: ArcSwap::from_pointee(Settings::from_config(config)),
            daemon_uid,
            metrics: Metrics::default(),
            bad_token_log: LogLimit::new(log_limit::WINDOW),
            refused_admin_log: LogLimit::new(log_limit::WINDOW),
            refusals: crate::audit::Refusals::default(),
            connections: ConnectionSlots::new(&config.limits),
            per_uid: UidSlots::new(config.limits.max_connections_per_uid),
            started: Instant::now(),
            snapshots: Snapshots::new(&config.data_dir),
            stopping: AtomicBool::new(false),
        }
    }

    /// Tells every connection to finish once its current batch of replies is written.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether [`DaemonState::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Puts a reloaded configuration into force. Open connections keep the deadlines they
    /// started with; new ones get the new ones.
    pub fn apply(&self, config: &Config) {
        self.authority.set_policy(config.policy.clone());
        self.per_uid
            .set_share(config.limits.max_connections_per_uid);
        self.connections.resize(&config.limits);
        self.settings.store(Arc::new(Settings::from_config(config)));
    }
}
