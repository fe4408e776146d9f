//! What the run reports: each violation of an invariant, and the closing summary.

use keyward_client::CredentialKind;
use serde::Serialize;
use uuid::Uuid;

/// One broken promise, with enough to find it again: cycle, credential, what was acknowledged
/// and what the daemon answered.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    /// The cycle whose check (or load) found it.
    pub cycle: u32,
    /// With `--cluster`, the host whose check found it (`None` in the load).
    pub host: Option<usize>,
    /// Which invariant: `lost`, `resurrected`, `seat count`, `phantom`, `start`, ...
    pub what: &'static str,
    /// The credential concerned, if one is.
    pub credential: Option<(Uuid, CredentialKind)>,
    /// What the daemon had acknowledged, and so promised.
    pub acked: String,
    /// What it showed instead.
    pub observed: String,
}

impl Violation {
    /// One line for stdout, naming the seed so the run can be replayed.
    pub(crate) fn render(&self, seed: u64) -> String {
        let subject = match self.credential {
            Some((id, kind)) => format!(" {kind} {id}"),
            None => String::new(),
        };
        let host = self
            .host
            .map_or_else(String::new, |h| format!(" check of host {h}"));
        format!(
            "VIOLATION seed={seed} cycle={}{host}: {}{subject}: acked: {}; observed: {}",
            self.cycle, self.what, self.acked, self.observed
        )
    }
}

/// The run's totals. With `--json` it is the last line of stdout, fields in this order.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Summary {
    /// Cycles completed (kill, restart, check).
    pub cycles: u32,
    /// Acknowledged operations whose outcome a check could decide, summed over cycles.
    pub acked_checked: u64,
    /// Violations found.
    pub violations: u64,
}

impl Summary {
    /// Prints the closing line: JSON, or words.
    pub(crate) fn print(&self, json: bool) {
        if json {
            // A struct of three integers always serialises.
            println!(
                "{}",
                serde_json::to_string(self).expect("summary serialises")
            );
        } else {
            println!(
                "cycles {}, acknowledged outcomes checked {}, violations {}",
                self.cycles, self.acked_checked, self.violations
            );
        }
    }
}

/// What the run did, for the closing lines on stderr: how much was exercised, not judged.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tally {
    /// Load operations the daemon acknowledged.
    pub acked: u64,
    /// Load operations it refused (a full client, an expired token, ...).
    pub refused: u64,
    /// Load operations cut off by the kill.
    pub lost: u64,
    /// Of the acknowledged, creations and revocations (the rest are verifies).
    pub acked_changes: u64,
    /// Of those cut off, creations and revocations.
    pub lost_changes: u64,
    /// Post-restart observations that had to find the credential live.
    pub must_live: u64,
    /// Post-restart observations that had to find it dead.
    pub must_die: u64,
    /// Seat-limit probes.
    pub probes: u64,
    /// Credentials of lost issues found after a restart and revoked.
    pub ghosts: u64,
    /// Deleted clients a check after a restart found gone, as it had to.
    pub deleted_gone: u64,
    /// Client and API-token updates acknowledged (also counted in `acked_changes`).
    pub updates: u64,
    /// Updates cut off by the kill, and of those, how many a check found applied.
    pub updates_cut: (u64, u64),
    /// With `--cluster`: operations answered `UNAVAILABLE` (counted as cut off too).
    pub unavailable: u64,
    /// With `--cluster`: keywardd hosts and etcd members killed.
    pub kills: (u64, u64),
    /// With `--cluster`: the slowest barrier, in milliseconds (how long a host took to show a
    /// change another had just acknowledged).
    pub slowest_barrier_ms: u64,
}

impl Tally {
    /// Prints the tally to stderr.
    pub(crate) fn print(&self) {
        eprintln!(
            "keyward-crashtest: load: {} acknowledged ({} creations or revocations), {} \
             refused, {} cut off by the kill ({} creations or revocations); after restarts: {} \
             had to verify, {} had to fail, {} seat probes, {} ghosts of cut-off issues revoked, {} deleted clients found \
             gone; {} updates acknowledged, {} cut off by the kill ({} found applied after \
             the restart)",
            self.acked,
            self.acked_changes,
            self.refused,
            self.lost,
            self.lost_changes,
            self.must_live,
            self.must_die,
            self.probes,
            self.ghosts,
            self.deleted_gone,
            self.updates,
            self.updates_cut.0,
            self.updates_cut.1
        );
        if self.kills != (0, 0) {
            eprintln!(
                "keyward-crashtest: cluster: kills of a keywardd host {}, of an etcd member {}; \
                 {} operations answered UNAVAILABLE; slowest barrier {} ms",
                self.kills.0, self.kills.1, self.unavailable, self.slowest_barrier_ms
            );
        }
    }
}
