//! Signal handling: SIGTERM and SIGINT start a graceful shutdown; SIGHUP reloads the config.
//!
//! The daemon's one place for signals, through `signal-hook`: nothing else in it installs a
//! handler, and it does not use tokio's own signal support.

use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Registers the handlers. Call before the socket accepts, so an early signal is not lost.
///
/// # Errors
/// If the handlers cannot be installed.
pub(crate) fn install() -> std::io::Result<Signals> {
    Signals::new([SIGTERM, SIGINT, SIGHUP])
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT; forwards each SIGHUP to `reload`.
pub(crate) async fn watch(
    mut signals: Signals,
    shutdown: CancellationToken,
    reload: mpsc::UnboundedSender<()>,
) {
    while let Some(signal) = signals.next().await {
        if signal == SIGHUP {
            let _ = reload.send(());
            continue;
        }
        let name = if signal == SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        };
        tracing::info!(signal = name, "shutting down");
        shutdown.cancel();
        return;
    }
}
