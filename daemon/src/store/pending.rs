//! A change's way to durability, whichever backend holds the truth: the local group commit,
//! or the replica's transaction ([`super::replica`]). The authority goes through these and
//! never asks which backend is in use.

use super::replica::{self, Capture, CommitError, Committing, Op, OwnerRule};
use super::{Store, StoreError, Ticket};

/// What makes a change durable.
#[derive(Debug)]
pub(crate) enum Pending {
    /// The local group commit's ticket.
    Local(Ticket),
    /// The replica's commit of the change's ops.
    Replica(Committing),
}

fn gone() -> CommitError {
    CommitError::Store(StoreError::Unavailable(
        "the connection to the shared store has stopped".into(),
    ))
}

impl Store {
    /// Begins a change on this thread: with a replicated backend, starts capturing its ops.
    pub(crate) fn begin_change(&self) -> Option<Capture> {
        self.replica()
            .map(|r| Capture::for_replica(std::sync::Arc::clone(r)))
    }

    /// What makes the changes made so far on this thread durable: a ticket, or the replica's
    /// commit of the ops captured, which starts now.
    pub(crate) fn pending(&self) -> Pending {
        match self.replica() {
            Some(replica) => Pending::Replica(replica.commit(Capture::take())),
            None => Pending::Local(self.ticket()),
        }
    }

    /// Blocks until `pending` is durable.
    ///
    /// # Errors
    /// If the commit failed, or a rule that spans hosts refused it.
    pub(crate) fn wait_pending(&self, pending: Pending) -> Result<(), CommitError> {
        match pending {
            Pending::Local(ticket) => self.wait(ticket).map_err(CommitError::Store),
            Pending::Replica(committing) => {
                committing.blocking_recv().unwrap_or_else(|_| Err(gone()))
            }
        }
    }

    /// Resolves once `pending` is durable, without blocking the thread.
    ///
    /// # Errors
    /// As [`Store::wait_pending`].
    pub(crate) async fn pending_durable(&self, pending: Pending) -> Result<(), CommitError> {
        match pending {
            Pending::Local(ticket) => self.durable(ticket).await.map_err(CommitError::Store),
            Pending::Replica(committing) => committing.await.unwrap_or_else(|_| Err(gone())),
        }
    }

    /// Whether verifies may be answered from this store: always with the local backend; with
    /// a replicated one, unless its copy may be stale (or, with `strict_verify`, once it has
    /// caught up with a quorum write).
    ///
    /// # Errors
    /// `Unavailable` when verifies must be refused.
    pub(crate) fn check_fresh(&self) -> Result<(), StoreError> {
        match self.replica() {
            Some(replica) => replica.fresh(),
            None => Ok(()),
        }
    }

    /// Whether a change may be made now: always with the local backend; with a replicated
    /// one, unless its copy may be stale or is being repaired.
    ///
    /// # Errors
    /// `Unavailable` when changes must be refused.
    pub(crate) fn check_settled(&self) -> Result<(), StoreError> {
        match self.replica() {
            Some(replica) => replica.settled(),
            None => Ok(()),
        }
    }

    /// How long past its expiry a session is kept before a local sweep ends it, in
    /// milliseconds: 0 with the local backend ([`super::replica::Replica::sweep_grace`]).
    pub(crate) fn sweep_grace_ms(&self) -> i64 {
        self.replica()
            .map_or(0, |r| r.sweep_grace().as_millis() as i64)
    }

    /// Whether a verify may wait on the network ([`super::replica::Replica::waits`]).
    pub(crate) fn verify_waits(&self) -> bool {
        self.replica().is_some_and(|r| r.waits())
    }

    /// Records that the change being made relied on `rule` over `owner`'s credentials, for a
    /// replica to check again against other hosts' changes.
    pub(crate) fn relied_on(&self, owner: uuid::Uuid, rule: OwnerRule) {
        replica::record(|| Op::OwnerUnchanged { owner, rule });
    }
}
