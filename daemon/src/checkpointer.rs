//! The checkpointer: every half second, runs [`Store::checkpoint`], which writes and syncs the
//! session journal and the audit log and commits sled if it was written.
//!
//! So a crash or a power loss takes at most that much of the changes that nobody waits on
//! (slides, sweeps, audit outcomes).
//! A checkpoint with nothing new to write writes and syncs nothing, so an idle daemon leaves
//! the disk alone.
//! Acknowledged changes are synced before their reply anyway, except with `fsync = false`,
//! where this bounds their loss on power failure, as sled's own background flush does for its
//! side.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// How often a checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Runs a checkpoint every [`CHECKPOINT_EVERY`] until `shutdown` fires. A failure is logged
/// once, and its end once; checkpoints are retried meanwhile.
pub(crate) async fn run(store: Store, shutdown: CancellationToken) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        let store = store.clone();
        let written = tokio::task::spawn_blocking(move || store.checkpoint()).await;
        match written {
            Ok(Ok(())) if failing => {
                failing = false;
                tracing::info!("the checkpoint works again");
            }
            Ok(Ok(())) => {}
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::error!(error = %e, "checkpoint failed ({}); retrying", failed_part(&e));
            }
            Ok(Err(_)) => {}
            Err(e) => tracing::error!(error = %e, "the checkpointer panicked"),
        }
    }
}

/// What a failed checkpoint was doing, as far as its error tells.
/// sled reports its own errors, and the store reports sled being reopened after one; a plain
/// I/O error may come from the session journal, the audit log or sled's log, so it names all
/// three rather than guess.
fn failed_part(error: &StoreError) -> &'static str {
    match error {
        StoreError::Sled(_) | StoreError::Reopening(_) => "committing sled",
        StoreError::Unavailable(_) => "reaching etcd",
        StoreError::Io(_) | StoreError::Damaged { .. } | StoreError::Corrupt { .. } => {
            "writing the session journal, the audit log or sled"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message names sled when sled failed, and never the session journal alone whatever
    /// failed.
    #[test]
    fn names_what_failed() {
        let sled = StoreError::Sled(sled::Error::Unsupported("test".into()));
        assert_eq!(failed_part(&sled), "committing sled");
        let reopening = StoreError::Reopening("disk full".into());
        assert_eq!(failed_part(&reopening), "committing sled");
        let io = StoreError::Io(std::io::Error::other("disk full"));
        assert_eq!(
            failed_part(&io),
            "writing the session journal, the audit log or sled"
        );
    }
}
