//! The host around the daemon: systemd, the OS and the operator's tools.
//!
//! Readiness and the watchdog (`notify`), signals (`signals`) and the reload they trigger
//! (`reload`), logging ([`logging`], `log_limit`), counters and the metrics file
//! ([`metrics`], `metrics_file`), the allocator ([`memory`]) and the data dir's lock
//! (`lock`).
//! Nothing here holds a credential rule.
//! The daemon's state is read here only to report on it (the watchdog probes the store, the
//! metrics file renders the counters) and changed only to put a reloaded config into force.

pub(crate) mod lock;
pub(crate) mod log_limit;
pub mod logging;
pub mod memory;
pub mod metrics;
pub(crate) mod metrics_file;
pub(crate) mod notify;
pub(crate) mod reload;
pub(crate) mod signals;
