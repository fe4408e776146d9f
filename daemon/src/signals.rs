//! Signal handling: SIGTERM and SIGINT start a graceful shutdown.

use futures_util::StreamExt;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio_util::sync::CancellationToken;

/// Registers the handlers. Call before the socket accepts, so an early SIGTERM is not lost.
///
/// # Errors
/// If the handlers cannot be installed.
pub(crate) fn install() -> std::io::Result<Signals> {
    Signals::new([SIGTERM, SIGINT])
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT.
pub(crate) async fn watch(mut signals: Signals, shutdown: CancellationToken) {
    if let Some(signal) = signals.next().await {
        let name = if signal == SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        };
        tracing::info!(signal = name, "shutting down");
        shutdown.cancel();
    }
}
