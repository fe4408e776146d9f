//! Backups when the store is a copy of a shared truth (`backend = "etcd"`).
//!
//! The copy is not a snapshot: other hosts' changes reach it one by one, and holding this
//! host's changes off would not stop theirs. So the shared records are read from the truth
//! itself at one moment (one etcd revision) into a scratch store, and the backup is written
//! from that store, in the same format, so that a restore works the same whichever backend
//! made it. What each host keeps for itself (the audit log, usage counts, sweep counters)
//! comes from this host's own store, as it stands while the backup is written.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::store::{Store, StoreError, TreeId};

/// A shared truth that a backup can read at one moment.
pub(crate) trait SharedTruth: Send + Sync + std::fmt::Debug {
    /// Loads every shared record, as of one moment, into `into`, an empty store; returns
    /// that moment (an etcd revision), for the log.
    ///
    /// # Errors
    /// If the truth cannot be read, or `into` written.
    fn load_into(&self, into: &Store) -> Result<i64, StoreError>;
}

/// The trees that hold shared records: read from the truth.
const SHARED: [TreeId; 6] = [
    TreeId::Credentials,
    TreeId::CredentialIds,
    TreeId::Principals,
    TreeId::OwnerIndex,
    TreeId::ExpiryIndex,
    TreeId::Disabled,
];

fn shared(tree: u8) -> bool {
    SHARED.iter().any(|t| *t as u8 == tree)
}

/// Hands `sink` the shared trees as `truth` holds them at one moment, loaded through a scratch
/// store in `scratch` (deleted afterwards), then this host's own trees from `host`.
///
/// # Errors
/// If the truth cannot be read, or a store read or written.
pub(super) fn export(
    truth: &dyn SharedTruth,
    scratch: &Path,
    host: &Store,
    mut sink: impl FnMut(u8, &[u8], &[u8]) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let loaded = load(truth, scratch).and_then(|(store, revision)| {
        store.export(|tree, key, value| {
            if shared(tree) {
                sink(tree, key, value)
            } else {
                Ok(())
            }
        })?;
        store.close()?;
        Ok(revision)
    });
    let _ = std::fs::remove_dir_all(scratch);
    let revision = loaded?;
    tracing::info!(revision, "a backup read etcd at one revision");
    host.export(|tree, key, value| {
        if shared(tree) {
            Ok(())
        } else {
            sink(tree, key, value)
        }
    })?;
    Ok(())
}

fn load(truth: &dyn SharedTruth, scratch: &Path) -> Result<(Store, i64), StoreError> {
    // The store opens its journal and sled side by side: the directory must exist first.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(scratch)
        .map_err(StoreError::Io)?;
    let store = Store::open(scratch)?;
    let revision = truth.load_into(&store)?;
    Ok((store, revision))
}
