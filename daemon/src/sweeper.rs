//! The expiry timer: sweeps expired credentials every `sweep_interval` on the blocking pool,
//! and prunes audit entries past their retention.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

/// Runs sweeps until `shutdown` fires, re-reading the interval after each one so a reload
/// takes effect from the next wait.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let interval = shared.settings.load().sweep_interval;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let auth = Arc::clone(&shared.authority);
        let retention = shared.settings.load().audit_retention;
        let swept = tokio::task::spawn_blocking(move || {
            if let Err(e) = auth.prune_audit(retention) {
                tracing::error!(error = %e, "pruning the audit log failed");
            }
            let report = auth.change().sweep();
            // A sweep frees what expired; hand it back rather than keep it resident.
            crate::memory::trim();
            report
        });
        match swept.await {
            Ok(Ok(report)) if report.swept > 0 => {
                tracing::info!(swept = report.swept, moved = report.moved, "sweep");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "sweep failed"),
            Err(e) => tracing::error!(error = %e, "sweep panicked"),
        }
    }
}
