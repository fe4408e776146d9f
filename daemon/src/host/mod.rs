//! The host around the daemon: systemd, the OS and the operator's tools.
//!
//! Readiness and the watchdog (`notify`), signals (`signals`) and the reload they trigger
//! (`reload`), logging ([`logging`], `log_limit`), counters and the metrics file
//! ([`metrics`], `metrics_file`), the allocator ([`memory`]) and the data dir's lock
//! (`lock`).
//! Nothing here knows the credential rules; the daemon's other parts call in, never the
//! reverse, except that the watchdog and the metrics file read the shared state.

pub(crate) mod lock;
pub(crate) mod log_limit;
pub mod logging;
pub mod memory;
pub mod metrics;
pub(crate) mod metrics_file;
pub(crate) mod notify;
pub(crate) mod reload;
pub(crate) mod signals;
