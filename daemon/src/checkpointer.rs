//! The journal writer: moves queued session changes (slides, sweeps) from memory to the
//! journal file and syncs it every half second, so a crash or a power loss takes at most that
//! much of the changes that nobody waits on. Acknowledged changes are synced before their reply
//! anyway, except with `fsync = false`, where this bounds their loss on power failure, as
//! sled's own background flush does for its side.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How often queued changes are written.
const WRITE_EVERY: Duration = Duration::from_millis(500);

/// Writes the journal every [`WRITE_EVERY`] until `shutdown` fires. A failure is logged once,
/// and its end once; writes are retried meanwhile.
pub(crate) async fn run(store: Store, shutdown: CancellationToken) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(WRITE_EVERY) => {}
        }
        let store = store.clone();
        let written = tokio::task::spawn_blocking(move || store.checkpoint()).await;
        match written {
            Ok(Ok(())) if failing => {
                failing = false;
                tracing::info!("writing the session journal works again");
            }
            Ok(Ok(())) => {}
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::error!(error = %e, "writing the session journal failed; retrying");
            }
            Ok(Err(_)) => {}
            Err(e) => tracing::error!(error = %e, "the journal writer panicked"),
        }
    }
}
