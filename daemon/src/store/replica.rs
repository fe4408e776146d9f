//! The storage boundary between the authority and where its truth lives.
//!
//! With the `local` backend the store is the truth: a change is durable once the group commit
//! has synced it. With a replicated backend (etcd) the store is this host's copy of a shared
//! truth: a change is applied to it at once, as locally, and is also captured here as a list
//! of [`Op`]s, which the [`Replica`] commits as one transaction; it is acknowledged only once
//! that transaction has committed. The replica applies other hosts' changes to the store as
//! they arrive, through the store's `mirror_*` calls, which capture nothing.
//!
//! Capture is per thread and per change: the authority starts it when a change begins
//! ([`Capture::for_replica`]) and takes the ops when the change is complete. Every mutation of the
//! store made meanwhile on that thread is recorded, and nothing else: verify's slides, sweeps
//! and the replica's own applies run outside any change.

// Without the `etcd` feature no replica exists to read the ops.
#![cfg_attr(not(feature = "etcd"), allow(dead_code))]
use std::cell::RefCell;

use keyward_protocol::token::TokenHash;
use uuid::Uuid;

use super::{CredentialRecord, PrincipalRecord, StoreError, StoredEnv};

/// One change to the shared truth, as the store made it locally.
#[derive(Debug, Clone)]
pub enum Op {
    /// A credential was stored or rewritten.
    PutCredential {
        /// Its token's hash.
        hash: TokenHash,
        /// The record.
        record: CredentialRecord,
        /// Whether it rewrites one that exists: a rewrite never brings back a deleted one.
        existing: bool,
    },
    /// A credential was deleted.
    DeleteCredential {
        /// Its id.
        id: Uuid,
        /// Its owner (nil for admin keys): where it is filed.
        owner: Uuid,
    },
    /// A principal was stored or rewritten.
    PutPrincipal {
        /// The record.
        record: PrincipalRecord,
        /// Whether it rewrites one that exists: an update never brings back a deleted one.
        existing: bool,
        /// The external id it held before, if it moved or went.
        released: Option<String>,
        /// Whether its external id is newly claimed (the claim must be free).
        claims: bool,
    },
    /// A principal was deleted.
    DeletePrincipal {
        /// Its id.
        id: Uuid,
        /// Its environment and external id, freed with it.
        released: Option<(StoredEnv, String)>,
    },
    /// An id was disabled (`Some(at)`) or enabled (`None`).
    Disabled {
        /// The credential or principal.
        id: Uuid,
        /// When it was disabled.
        at: Option<i64>,
    },
    /// The change was decided on the credentials `owner` held: it must not commit if
    /// another host changed them meanwhile, unless the rule still holds on a fresh look.
    OwnerUnchanged {
        /// The client.
        owner: Uuid,
        /// The rule to check again.
        rule: OwnerRule,
    },
}

/// A rule over one owner's credentials that a change relied on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerRule {
    /// Fewer than `limit` live sessions besides `except`.
    Seats {
        /// The seat limit.
        limit: u32,
        /// The new session.
        except: Uuid,
    },
    /// No test key besides `except`.
    OneTestKey {
        /// The new test key.
        except: Uuid,
    },
    /// No session left (every session was revoked).
    NoSessions,
}

/// Why a replicated commit did not happen.
#[derive(Debug)]
pub enum CommitError {
    /// The replica could not commit (unreachable, no quorum, or slower than its timeout).
    Store(StoreError),
    /// Another host's concurrent change made a rule refuse this one.
    SessionLimit(u32),
    /// A test key already exists.
    TestKeyExists,
    /// The external id was claimed by another host first.
    Conflict(String),
}

/// A commit in flight: resolves once the replica has committed it, or failed to. The commit
/// runs whether or not anyone waits for it.
pub type Committing = tokio::sync::oneshot::Receiver<Result<(), CommitError>>;

/// The ops of one change, and how far the copy had applied the truth when the change began
/// reading it.
#[derive(Debug, Default)]
pub struct Change {
    /// Every store mutation of the change, in order.
    pub ops: Vec<Op>,
    /// The replica's position ([`Replica::position`]) read before the change read anything:
    /// a rule the change checked on the copy held at least up to there, so that is what the
    /// transaction compares against. Read later, it could cover another host's change that
    /// the copy applied after the rule was checked.
    pub seen: i64,
}

/// Held shared by a change from before it touches the copy until its keys are marked in
/// flight ([`Replica::commit`]), and exclusively by the replica while it applies the truth
/// to a key: an event can then never land between a change's write to the copy and the
/// moment its keys count as in flight (when the replica starts passing such events over),
/// where it would undo the change in the copy while etcd keeps it.
pub type Gate = std::sync::Arc<parking_lot::RwLock<()>>;

/// What a change holds of the [`Gate`].
pub type GateHeld = lock_api::ArcRwLockReadGuard<parking_lot::RawRwLock, ()>;

/// The shared truth a store copies (etcd).
pub trait Replica: Send + Sync + std::fmt::Debug {
    /// The gate between this host's changes and the replica's applies.
    fn gate(&self) -> &Gate;
    /// Starts committing `change` as one transaction. It goes on whether or not anyone
    /// waits for the answer.
    fn commit(&self, change: Change) -> Committing;
    /// How far this host's copy has applied the truth (etcd's revision): every change up to
    /// here is in the copy.
    fn position(&self) -> i64;
    /// `Err` with the reason when this host must not decide a change now: its copy may be
    /// stale, or holds a change the truth may never have taken. Checked before a change
    /// touches the copy, so a refused change leaves nothing behind.
    ///
    /// # Errors
    /// When changes must be refused.
    fn settled(&self) -> Result<(), StoreError>;
    /// `Err` with the reason when this host's copy may be stale and verifies must be refused.
    ///
    /// # Errors
    /// When the copy is stale.
    fn fresh(&self) -> Result<(), StoreError>;
    /// Whether [`Replica::fresh`] may wait on the network (`strict_verify`): then verifies
    /// are answered off the event loop.
    fn waits(&self) -> bool;
    /// How long past its expiry a session stays in this host's copy before a local sweep
    /// ends it: the time another host's slide may take to arrive.
    fn sweep_grace(&self) -> std::time::Duration;
    /// Persists the slid expiry of session `record` (the authority calls this only for a
    /// slide of at least the slide granularity); never moves an expiry backwards, whichever
    /// host wrote last.
    fn slide(&self, hash: &TokenHash, record: &CredentialRecord);
}

thread_local! {
    static CAPTURED: RefCell<Option<Change>> = const { RefCell::new(None) };
}

/// Capture of the ops of one change on this thread; ends when dropped, and commits what was
/// captured and never handed over: the writes of a change that acknowledges nothing (a
/// sweep of expired credentials), or of one that failed midway, which the local backend
/// would also make durable at its next checkpoint.
#[derive(Debug)]
pub struct Capture {
    /// Whether this guard started the capture (a nested one leaves it running).
    outer: bool,
    replica: Option<std::sync::Arc<dyn Replica>>,
    /// The outer capture's hold on the replica's gate, released after the ops are handed
    /// over. Declared last: dropped after `drop` has committed what was left.
    _gate: Option<GateHeld>,
}

impl Capture {
    /// Starts capturing this thread's store mutations for `replica`.
    pub fn for_replica(replica: std::sync::Arc<dyn Replica>) -> Capture {
        // Only the outer capture holds the gate: a second read hold on one thread could wait
        // behind the replica's exclusive one, which waits for the first.
        let gate = (!capturing()).then(|| replica.gate().read_arc());
        let seen = replica.position();
        let mut capture = Capture::begin_at(seen);
        capture.replica = Some(replica);
        capture._gate = gate;
        capture
    }

    /// Starts capturing this thread's store mutations with no replica: what a test reads
    /// back with [`Capture::take`].
    #[cfg(test)]
    pub(crate) fn for_test() -> Capture {
        Capture::begin_at(0)
    }

    /// Starts capturing this thread's store mutations, the copy being at `seen`.
    fn begin_at(seen: i64) -> Capture {
        let outer = CAPTURED.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_some() {
                return false;
            }
            *c = Some(Change {
                ops: Vec::new(),
                seen,
            });
            true
        });
        Capture {
            outer,
            replica: None,
            _gate: None,
        }
    }

    /// The ops captured so far, leaving the capture running (with the position it began
    /// at, which is older than anything a later op relies on).
    pub fn take() -> Change {
        CAPTURED.with(|c| {
            c.borrow_mut()
                .as_mut()
                .map(|change| Change {
                    ops: std::mem::take(&mut change.ops),
                    seen: change.seen,
                })
                .unwrap_or_default()
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        let left = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
        if let (Some(replica), false) = (&self.replica, left.ops.is_empty()) {
            drop(replica.commit(left));
        }
    }
}

/// Records `op` if this thread is capturing a change.
pub(crate) fn record(op: impl FnOnce() -> Op) {
    CAPTURED.with(|c| {
        if let Some(change) = c.borrow_mut().as_mut() {
            change.ops.push(op());
        }
    });
}

/// Whether this thread is capturing a change.
pub(crate) fn capturing() -> bool {
    CAPTURED.with(|c| c.borrow().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_only_inside_a_change_and_only_on_its_thread() {
        let op = || Op::Disabled {
            id: Uuid::nil(),
            at: None,
        };
        record(op);
        assert!(!capturing());
        let capture = Capture::begin_at(0);
        record(op);
        let nested = Capture::begin_at(0);
        record(op);
        drop(nested);
        std::thread::spawn(move || record(op)).join().unwrap();
        assert_eq!(Capture::take().ops.len(), 2);
        record(op);
        drop(capture);
        assert!(!capturing());
        assert!(Capture::take().ops.is_empty());
    }
}
