//! The authority: issue, verify and revoke rules over the store and the clock.
//!
//! Every method is synchronous and returns [`Outcome`]: the outer `Result` is a [`Fault`] (the
//! operation could not be carried out: storage or the random source failed), the inner one a
//! [`Denied`] (the caller asked for something the rules refuse). Callers branch on `Denied`;
//! they report `Fault`s.
//!
//! Changes are made through a [`Change`], which holds snapshots off while it lives, and come
//! back [`Uncommitted`]: applied in memory, and acknowledged only once the group commit has
//! made them durable ([`Uncommitted::wait`] blocks for that, [`Uncommitted::durable`] awaits
//! it).
//! Revocations delete the credential's record before anything else, so it stops verifying at
//! once on every connection.
//! Seat checks and the writes they guard run under one lock so concurrent issues cannot
//! overfill a client.

mod disable;
mod expiry;
mod issue;
mod page;
mod query;
mod revoke;
mod sweep;
mod update;
mod verify;

pub use issue::NewIdentity;
pub use sweep::{Expired, SweepReport};

use keyward_protocol::token::{MalformedToken, RandomError};
use keyward_protocol::{Env, ErrorCode, WireError};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, TryLockError};
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::Policy;
use crate::store::replica::{Capture, CommitError};
use crate::store::{Pending, Store, StoreError};

/// The result of an authority call: a fault, a refusal, or the value.
pub type Outcome<T> = Result<Result<T, Denied>, Fault>;

/// The rules refused the request. Each variant maps to one wire [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The token is not well formed; no lookup was made.
    #[error("{0}")]
    Malformed(#[from] MalformedToken),
    /// The credential is unknown, revoked or expired.
    #[error("{0}")]
    Invalid(&'static str),
    /// The credential, or the client or API token it belongs to, is disabled.
    #[error("{0}")]
    Disabled(&'static str),
    /// The credential is valid but not of a kind or environment the verifier accepts.
    #[error("{0}")]
    Requirement(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The client holds as many live sessions as it may.
    #[error(
        "the client already holds {limit} live {}, its limit; revoke one or let one expire",
        if *limit == 1 { "session" } else { "sessions" }
    )]
    SessionLimit {
        /// The limit in force.
        limit: u32,
    },
    /// No such object in the caller's environment.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// An argument is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The external id given is held by another principal of the environment.
    #[error(
        "the external id {0:?} is already held by another client or API token in this \
         environment; pick another, or find the client holding it with \
         `keyward client show --external-id`"
    )]
    Conflict(String),
}

impl Denied {
    /// The wire code callers branch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Denied::Malformed(_) => ErrorCode::CredentialMalformed,
            Denied::Invalid(_) | Denied::Requirement(_) => ErrorCode::CredentialInvalid,
            Denied::Disabled(_) => ErrorCode::CredentialDisabled,
            Denied::Forbidden(_) => ErrorCode::Forbidden,
            Denied::SessionLimit { .. } => ErrorCode::SessionLimit,
            Denied::NotFound(_) => ErrorCode::NotFound,
            Denied::BadRequest(_) => ErrorCode::BadRequest,
            Denied::Conflict(_) => ErrorCode::Conflict,
        }
    }

    /// The error as sent to the peer.
    pub fn to_wire(&self) -> WireError {
        WireError::new(self.code(), self.to_string())
    }
}

/// The operation could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Applied here, then refused by the shared truth: another host's concurrent change made
    /// the rules refuse it (a replicated backend only).
    #[error("{0}")]
    Refused(Denied),
}

impl From<CommitError> for Fault {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Store(e) => Fault::Store(e),
            CommitError::SessionLimit(limit) => Fault::Refused(Denied::SessionLimit { limit }),
            CommitError::TestKeyExists => Fault::Refused(Denied::BadRequest(
                "client already has a test key (issued on another host); revoke it first".into(),
            )),
            CommitError::Conflict(id) => Fault::Refused(Denied::Conflict(id)),
        }
    }
}

impl Fault {
    /// The error as sent to the peer: storage trouble may pass, corruption is internal.
    pub fn to_wire(&self) -> WireError {
        let code = match self {
            Fault::Store(StoreError::Corrupt { .. } | StoreError::Damaged { .. }) => {
                ErrorCode::Internal
            }
            Fault::Store(
                StoreError::Sled(_)
                | StoreError::Io(_)
                | StoreError::Reopening(_)
                | StoreError::Unavailable(_),
            )
            | Fault::Random(_) => ErrorCode::Unavailable,
            Fault::Refused(denied) => return denied.to_wire(),
        };
        WireError::new(code, self.to_string())
    }
}

/// A caller authenticated by an admin key: what it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminContext {
    /// The admin key's id.
    pub key_id: Uuid,
    /// The only environment it sees.
    pub env: Env,
}

/// The credential rules, over a store and a clock.
pub struct Authority {
    store: Store,
    clock: Arc<dyn Clock>,
    policy: RwLock<Policy>,
    /// Serialises check-then-write sequences (seat counts, the one-test-key rule).
    writes: Mutex<()>,
    /// Held shared by every change, exclusively by a snapshot: a backup sees no half-made
    /// change. (Verify's lazily persisted slides are not changes in this sense.)
    freeze: RwLock<()>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("policy", &self.policy())
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// An authority over `store`, reading time from `clock`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, policy: Policy) -> Self {
        Authority {
            store,
            clock,
            policy: RwLock::new(policy),
            writes: Mutex::new(()),
            freeze: RwLock::new(()),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the policy; credentials already issued keep the expiry they were given.
    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The authority's clock, for records made beside it (audit entries, backups).
    pub fn now_ms(&self) -> i64 {
        self.clock.now()
    }

    fn lock_writes(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`; a panic elsewhere cannot leave it inconsistent.
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Permission to make changes; blocks while a snapshot is being taken.
    pub fn change(&self) -> Change<'_> {
        Change {
            authority: self,
            _held: self.freeze.read().unwrap_or_else(|p| p.into_inner()),
            _capture: self.capture(),
        }
    }

    fn capture(&self) -> Option<Capture> {
        self.store.begin_change()
    }

    /// Permission to make changes, or `None` while a snapshot is being taken or waits to be:
    /// for callers that must not block (an event-loop thread).
    pub fn try_change(&self) -> Option<Change<'_>> {
        let held = match self.freeze.try_read() {
            Ok(held) => held,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(Change {
            authority: self,
            _held: held,
            _capture: self.capture(),
        })
    }

    /// Runs `f` with every change held off: for consistent snapshots.
    pub fn frozen<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        let _frozen = self.freeze.write().unwrap_or_else(|p| p.into_inner());
        f(&self.store)
    }
}

/// Permission to change the store, held for the length of one change: a snapshot waits until
/// no change is half made. The authority's mutating methods live here.
pub struct Change<'a> {
    authority: &'a Authority,
    _held: RwLockReadGuard<'a, ()>,
    /// Set with a replicated backend: the ops made so far go to the replica.
    _capture: Option<Capture>,
}

impl Deref for Change<'_> {
    type Target = Authority;

    fn deref(&self) -> &Authority {
        self.authority
    }
}

impl Change<'_> {
    /// Wraps a change's result in an [`Uncommitted`], to be acknowledged once everything
    /// written so far is durable. Takes a ticket; does not wait.
    /// With a replicated backend, the change's ops are committed to the replica instead, as
    /// one transaction, and it is acknowledged once that has committed.
    fn once_durable<T>(&self, value: T) -> Outcome<Uncommitted<T>> {
        Ok(Ok(Uncommitted {
            value,
            pending: self.store.pending(),
            store: self.store.clone(),
        }))
    }
}

/// A change applied in memory, not yet committed to disk: its result may be acknowledged only
/// once the group commit has made it durable.
#[must_use = "a change may be acknowledged only once it is durable"]
#[derive(Debug)]
pub struct Uncommitted<T> {
    value: T,
    pending: Pending,
    store: Store,
}

impl<T> Uncommitted<T> {
    /// Applies `f` to the result, keeping it uncommitted.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Uncommitted<U> {
        Uncommitted {
            value: f(self.value),
            pending: self.pending,
            store: self.store,
        }
    }

    /// Blocks until the change is durable, then gives its result.
    ///
    /// # Errors
    /// If the commit meant to make it durable failed.
    pub fn wait(self) -> Result<T, Fault> {
        self.store.wait_pending(self.pending)?;
        Ok(self.value)
    }

    /// Resolves once the change is durable, without blocking the thread.
    ///
    /// # Errors
    /// As [`Uncommitted::wait`].
    pub async fn durable(self) -> Result<T, Fault> {
        self.store.pending_durable(self.pending).await?;
        Ok(self.value)
    }
}

/// The blocking form of acknowledgment, for callers that may block: tests and tools.
pub trait Acknowledge<T> {
    /// Waits until the outcome's change is durable.
    ///
    /// # Errors
    /// As [`Uncommitted::wait`].
    fn acknowledged(self) -> Outcome<T>;
}

impl<T> Acknowledge<T> for Outcome<Uncommitted<T>> {
    fn acknowledged(self) -> Outcome<T> {
        match self {
            Ok(Ok(uncommitted)) => uncommitted.wait().map(Ok),
            Ok(Err(denied)) => Ok(Err(denied)),
            Err(fault) => Err(fault),
        }
    }
}

/// Returns early from an [`Outcome`]-returning function with a refusal.
macro_rules! refuse {
    ($denied:expr) => {
        return Ok(Err($denied))
    };
}
pub(crate) use refuse;

/// Unwraps an inner `Result<T, Denied>`, returning early with the refusal.
macro_rules! allowed {
    ($outcome:expr) => {
        match $outcome {
            Ok(v) => v,
            Err(d) => return Ok(Err(d)),
        }
    };
}
pub(crate) use allowed;

/// An authority on a fresh store in `dir` under `clock`, and the context of a live admin key
/// created in it: the set-up that the rule tests and the sweeper's tests share.
#[cfg(test)]
pub(crate) fn test_authority(
    dir: &std::path::Path,
    clock: &crate::clock::ManualClock,
    policy: Policy,
    options: crate::store::StoreOptions,
) -> (Authority, AdminContext) {
    let store = Store::open_with(dir, options).unwrap();
    let auth = Authority::new(store, Arc::new(clock.clone()), policy);
    let key = auth
        .change()
        .create_admin_key("backend", Env::Live)
        .acknowledged()
        .unwrap()
        .unwrap();
    let admin = auth.authenticate_admin(&key.secret).unwrap().unwrap();
    (auth, admin)
}

#[cfg(test)]
mod tests;
