//! In-memory counters of what the daemon does: connections, requests by operation, errors by
//! code. Lock-free, so the hot path pays one relaxed atomic add per request. Read by
//! `keyward stats`, the sd_notify STATUS line and the Prometheus metrics file.

use keyward_protocol::{ErrorCode, Op};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    connections_refused: AtomicU64,
    requests: [AtomicU64; Op::NAMES.len()],
    errors: [AtomicU64; ErrorCode::ALL.len()],
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Connections open now.
    pub connections_open: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Connections refused (over a uid's share) since start.
    pub connections_refused: u64,
    /// Requests by operation, in [`Op::NAMES`] order.
    pub requests: Vec<u64>,
    /// Failed requests by code, in [`ErrorCode::ALL`] order.
    pub errors: Vec<u64>,
    /// Audit entries dropped because the queue waiting for the disk was full. The audit log
    /// counts them; whoever takes the snapshot copies the count in.
    pub audit_dropped: u64,
}

impl Snapshot {
    /// All requests answered since start.
    pub fn requests_total(&self) -> u64 {
        self.requests.iter().sum()
    }
}

/// Marks one open connection; dropping it closes it in the counts.
#[derive(Debug)]
pub(crate) struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    /// Counts an accepted connection until the guard drops.
    pub(crate) fn connection_opened(&self) -> OpenConnection<'_> {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
        OpenConnection(self)
    }

    /// Counts a refused connection.
    pub(crate) fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    /// Counts one answered request and, if it failed, its error code.
    pub(crate) fn request(&self, op_index: usize, error: Option<ErrorCode>) {
        self.requests[op_index].fetch_add(1, Relaxed);
        if let Some(code) = error {
            let i = ErrorCode::ALL
                .iter()
                .position(|c| *c == code)
                .expect("ALL lists every code");
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            requests: self.requests.iter().map(|c| c.load(Relaxed)).collect(),
            errors: self.errors.iter().map(|c| c.load(Relaxed)).collect(),
            audit_dropped: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests and errors land in their slots; connection guards balance.
    #[test]
    fn counts() {
        let m = Metrics::default();
        {
            let _c = m.connection_opened();
            assert_eq!(m.snapshot().connections_open, 1);
        }
        m.request(Op::Ping.index(), None);
        m.request(Op::Stats.index(), Some(ErrorCode::Unavailable));
        let s = m.snapshot();
        assert_eq!((s.connections_open, s.connections_total), (0, 1));
        assert_eq!(s.requests_total(), 2);
        assert_eq!(s.errors[6], 1, "UNAVAILABLE is the seventh code");
    }
}
