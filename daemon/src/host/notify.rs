//! systemd integration: readiness, stopping and status notifications, and a watchdog that
//! proves liveness by completing a store read. Every call is a no-op outside systemd (no
//! `$NOTIFY_SOCKET`).

use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::authority::Authority;

fn send(states: &[NotifyState]) {
    // A lost notification must not take the daemon down; systemd's timeouts will say so.
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// `READY=1` with a status line: the store is open and the socket accepts.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `RELOADING=1`, then `READY=1` once done: systemd shows the reload as in progress.
pub(crate) fn reloading() {
    send(&[NotifyState::Reloading]);
}

/// `STOPPING=1`.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// `STATUS=...`.
pub(crate) fn status(line: &str) {
    send(&[NotifyState::Status(line)]);
}

/// The watchdog interval systemd asked for (`$WATCHDOG_USEC`, for this pid), if any.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// Sends `WATCHDOG=1` at half the interval, but only after a store read completes within the
/// interval: a free-running timer would keep a wedged daemon alive.
pub(crate) async fn watchdog(
    authority: Arc<Authority>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every / 2);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let auth = Arc::clone(&authority);
        let probe = tokio::task::spawn_blocking(move || auth.probe());
        match tokio::time::timeout(every, probe).await {
            Ok(Ok(Ok(()))) => send(&[NotifyState::Watchdog]),
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "watchdog probe failed; not petting"),
            Ok(Err(e)) => tracing::error!(error = %e, "watchdog probe panicked; not petting"),
            Err(_) => tracing::error!("watchdog probe timed out; not petting"),
        }
    }
}
