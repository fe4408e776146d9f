//! What `stats` reports of sled's records, kept as they change so that `stats` walks nothing.
//!
//! The counts are taken once when an engine opens (one pass over `principals` and
//! `credentials`, beside the journal's replay) and then kept by every insert and removal.
//! They are not persisted: sled's multi-tree writes are not transactions, so a stored counter
//! could drift from the records after a crash between two writes, while a count taken at open
//! is exact by construction, after a crash, a restore or a reopen alike.

use std::sync::atomic::{AtomicU64, Ordering};

use super::engine::Engine;
use super::records::{self, PrincipalKind, StoredKind};
use super::StoreError;

/// The counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub clients: u64,
    pub test_keys: u64,
    pub api_tokens: u64,
    pub admin_keys: u64,
}

/// The counts, kept as records come and go.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    clients: AtomicU64,
    test_keys: AtomicU64,
    api_tokens: AtomicU64,
    admin_keys: AtomicU64,
}

impl Tally {
    /// Counts what `engine` holds. Sessions are left out: only a data dir of the older layout
    /// keeps them in sled, and opening it moves them to the session table, which counts its own.
    /// A record that does not decode is not counted (a reader of it fails on its own).
    pub fn of(engine: &Engine) -> Result<Tally, StoreError> {
        let mut tally = Tally::default();
        for entry in engine.principals.iter() {
            let (_, raw) = entry?;
            match records::decode_principal(&raw) {
                Ok(p) if p.kind == PrincipalKind::Client => tally.clients += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "a principal not counted"),
            }
        }
        for entry in engine.credentials.iter() {
            let (_, raw) = entry?;
            match records::decode_credential(&raw) {
                Ok((record, _)) => {
                    if let Some(n) = tally.of_kind(record.kind) {
                        *n += 1;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "a credential not counted"),
            }
        }
        Ok(tally)
    }

    fn of_kind(&mut self, kind: StoredKind) -> Option<&mut u64> {
        match kind {
            StoredKind::Session => None,
            StoredKind::TestKey => Some(&mut self.test_keys),
            StoredKind::ApiToken => Some(&mut self.api_tokens),
            StoredKind::AdminKey => Some(&mut self.admin_keys),
        }
    }
}

impl Counts {
    /// Replaces every count (at open, and when the engine is reopened).
    pub fn set(&self, tally: Tally) {
        self.clients.store(tally.clients, Ordering::Relaxed);
        self.test_keys.store(tally.test_keys, Ordering::Relaxed);
        self.api_tokens.store(tally.api_tokens, Ordering::Relaxed);
        self.admin_keys.store(tally.admin_keys, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn get(&self) -> Tally {
        Tally {
            clients: read(&self.clients),
            test_keys: read(&self.test_keys),
            api_tokens: read(&self.api_tokens),
            admin_keys: read(&self.admin_keys),
        }
    }

    /// A sled credential of `kind` was stored (`added`) or removed.
    pub fn credential(&self, kind: StoredKind, added: bool) {
        let counter = match kind {
            StoredKind::Session => return,
            StoredKind::TestKey => &self.test_keys,
            StoredKind::ApiToken => &self.api_tokens,
            StoredKind::AdminKey => &self.admin_keys,
        };
        step(counter, added);
    }

    /// A principal of `kind` was stored (`added`) or removed.
    pub fn principal(&self, kind: PrincipalKind, added: bool) {
        if kind == PrincipalKind::Client {
            step(&self.clients, added);
        }
    }
}

/// One up or one down. Wrapping, so a removal counted before its insert (the two race only
/// in principle: nobody knows a credential's id before its insert returns) evens out.
fn step(counter: &AtomicU64, up: bool) {
    if up {
        counter.fetch_add(1, Ordering::Relaxed);
    } else {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A counter's value, with a transient wrap below zero read as zero.
fn read(counter: &AtomicU64) -> u64 {
    let n = counter.load(Ordering::Relaxed);
    if i64::try_from(n).is_ok() {
        n
    } else {
        0
    }
}
