//! How sled's keys are made and read: the index keys, audit keys, the `meta` tree's counters.

use keyward_protocol::token::TokenHash;
use keyward_protocol::UnixMillis;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

use super::StoreError;

/// The `meta` tree's count of sweeps run.
pub(crate) const SWEEPS_RUN: &[u8] = b"sweeps_run";
/// The commit generation (see [`super::generation`]).
pub(crate) const GENERATION: &[u8] = b"generation";
/// The `meta` tree's count of credentials swept.
pub(crate) const CREDENTIALS_SWEPT: &[u8] = b"credentials_swept";

/// The key of one audit entry.
pub(crate) type AuditKey = [u8; 24];

/// An `owner_index` key: owner id ‖ credential id.
pub(super) fn owner_key(owner: Uuid, id: Uuid) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(owner.as_bytes());
    k[16..].copy_from_slice(id.as_bytes());
    k
}

/// An `expiry_index` key: expiry (big-endian ms) ‖ credential id.
pub(super) fn expiry_key(at: UnixMillis, id: Uuid) -> [u8; 24] {
    let mut k = [0u8; 24];
    // Times before the epoch sort first; they are expired in any case.
    k[..8].copy_from_slice(&u64::try_from(at).unwrap_or(0).to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

/// A fresh key for an audit entry made at `at`. Entry ids are names, not secrets, so they are
/// unique without a system call each: a random half drawn once per process, then a counter.
pub(super) fn audit_key(at: UnixMillis) -> AuditKey {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| Uuid::new_v4().as_u64_pair().0);
    expiry_key(
        at,
        Uuid::from_u64_pair(process, NEXT.fetch_add(1, Ordering::Relaxed)),
    )
}

/// A token hash read from a key or value of `tree`.
pub(crate) fn hash_from(tree: &'static str, bytes: &[u8]) -> Result<TokenHash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::corrupt(tree, format!("hash of {} bytes", bytes.len())))
}

/// An id read from a key of `tree`.
pub(super) fn uuid_from(tree: &'static str, bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::corrupt(tree, "bad id".to_owned()))
}

/// Adds `by` to the big-endian counter `name` in the `meta` tree.
pub(super) fn add_counter(meta: &sled::Tree, name: &[u8], by: u64) -> Result<(), StoreError> {
    meta.fetch_and_update(name, |old| {
        let n = old
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        Some(n.saturating_add(by).to_be_bytes().to_vec())
    })?;
    Ok(())
}

/// A big-endian counter from the `meta` tree; absent is zero.
pub(crate) fn read_u64(meta: &sled::Tree, name: &[u8]) -> Result<u64, StoreError> {
    Ok(meta
        .get(name)?
        .and_then(|b| b.as_ref().try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}
