//! The expiry timer: sweeps expired credentials every `sweep_interval` on the blocking pool.

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::authority::Authority;

/// Runs sweeps until `shutdown` fires.
pub(crate) async fn run(
    authority: Arc<Authority>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    // A slow sweep should not be followed by a burst of catch-up sweeps.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let auth = Arc::clone(&authority);
        match tokio::task::spawn_blocking(move || auth.sweep()).await {
            Ok(Ok(report)) if report.swept > 0 => {
                tracing::info!(swept = report.swept, moved = report.moved, "sweep");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "sweep failed"),
            Err(e) => tracing::error!(error = %e, "sweep panicked"),
        }
    }
}
