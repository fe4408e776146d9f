//! The audit log: every admin action and every refused admin attempt, with who asked (from
//! `SO_PEERCRED`), the admin key used, the action and its target. Never a secret.
//!
//! An action's entry is written *before* the action, as `pending`, so the action's own commit
//! makes it durable: an acknowledged admin action always has its entry, even after a crash.
//! The outcome then replaces `pending` lazily. Read-only actions and refused attempts are
//! written once done, lazily too.

use keyward_protocol::{AuditEntry, Op, Reply, UnixMillis, WireError};
use uuid::Uuid;

use crate::peer::Peer;
use crate::store::{AuditKey, AuditRecord, Store, StoreError, StoredOutcome};

/// Most entries one `keyward audit` call returns (they must fit one frame).
pub(crate) const MAX_ENTRIES: u32 = 300;

/// Whether an operation is audited: everything that needs host-admin rights or an admin key,
/// except the chunk reads of a backup (its begin and end are audited).
pub(crate) fn is_audited(op: &Op) -> bool {
    (op.needs_host_admin() || op.needs_admin_key()) && !matches!(op, Op::BackupRead { .. })
}

/// Whether an operation only reads: its entry is written once it is done, since there is no
/// change whose commit must carry it.
fn is_read_only(op: &Op) -> bool {
    matches!(
        op,
        Op::AdminKeyList | Op::Audit { .. } | Op::ClientShow { .. } | Op::ClientList
    )
}

/// The object an operation names before it runs.
fn target_of(op: &Op) -> Option<Uuid> {
    match op {
        Op::AdminKeyRevoke { id } | Op::BackupEnd { id, .. } => Some(*id),
        Op::ClientShow { client_id }
        | Op::ClientRevokeSessions { client_id }
        | Op::SessionIssue { client_id }
        | Op::TestKeyCreate { client_id } => Some(*client_id),
        Op::Revoke { credential_id } => Some(*credential_id),
        _ => None,
    }
}

/// The object an operation created, from its reply.
fn created_by(reply: &Reply) -> Option<Uuid> {
    match reply {
        Reply::AdminKeyCreated(k) => Some(k.id),
        Reply::ClientCreated(c) => Some(c.client_id),
        Reply::ApiTokenCreated(t) => Some(t.principal_id),
        Reply::BackupStarted { id, .. } => Some(*id),
        _ => None,
    }
}

/// A new entry for `op` by `peer`.
fn entry(
    at: UnixMillis,
    peer: Peer,
    admin_key: Option<Uuid>,
    op: &Op,
    outcome: StoredOutcome,
) -> AuditRecord {
    AuditRecord {
        at,
        uid: peer.uid,
        gid: peer.gid,
        pid: peer.pid,
        admin_key,
        action: op.name().to_owned(),
        target: target_of(op),
        outcome,
    }
}

/// An action's entry, awaiting the action's outcome.
pub(crate) struct Pending {
    /// Where a change's entry was written, before the change; `None` for a read, whose entry
    /// is written once it is done.
    key: Option<AuditKey>,
    record: AuditRecord,
    /// The end of a backup whose client says its file was not written: the daemon's side
    /// succeeded, the backup did not, so the entry must not read `ok`.
    abandoned: bool,
}

/// The outcome recorded for a backup that failed on the client's side.
pub(crate) const ABANDONED: &str = "ABANDONED";

/// Records that `peer` (with `admin_key`, if any) is about to do `op`.
///
/// A change's entry is written now, as `pending`, so the change's own commit makes it durable
/// too; a read's entry is written by [`Pending::finish`].
pub(crate) fn begin(
    store: &Store,
    at: UnixMillis,
    peer: Peer,
    admin_key: Option<Uuid>,
    op: &Op,
) -> Result<Pending, StoreError> {
    let record = entry(at, peer, admin_key, op, StoredOutcome::Pending);
    let key = if is_read_only(op) {
        None
    } else {
        Some(store.append_audit(&record)?)
    };
    let abandoned = matches!(
        op,
        Op::BackupEnd {
            completed: false,
            ..
        }
    );
    Ok(Pending {
        key,
        record,
        abandoned,
    })
}

impl Pending {
    /// Records the outcome. A failure here is logged, not returned: the action has already
    /// happened.
    pub fn finish(mut self, store: &Store, result: &Result<Reply, WireError>) {
        self.record.outcome = match result {
            Ok(reply) => {
                self.record.target = self.record.target.or(created_by(reply));
                if self.abandoned {
                    StoredOutcome::Failed(ABANDONED.to_owned())
                } else {
                    StoredOutcome::Ok
                }
            }
            Err(e) => StoredOutcome::Failed(e.code.as_str().to_owned()),
        };
        let written = match &self.key {
            Some(key) => store.update_audit(key, &self.record),
            None => store.append_audit(&self.record).map(drop),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot record an audit outcome");
        }
    }
}

/// Records a refused attempt (not a host admin, or a bad admin key).
pub(crate) fn refused(store: &Store, at: UnixMillis, peer: Peer, op: &Op, error: &WireError) {
    let outcome = StoredOutcome::Failed(error.code.as_str().to_owned());
    let record = entry(at, peer, None, op, outcome);
    if let Err(e) = store.append_audit(&record) {
        tracing::error!(error = %e, "cannot write an audit entry");
    }
}

/// Entries for `keyward audit`.
pub(crate) fn read(
    store: &Store,
    since: UnixMillis,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    let limit = limit.clamp(1, MAX_ENTRIES) as usize;
    Ok(store
        .audit_since(since, limit)?
        .into_iter()
        .map(|r| AuditEntry {
            at: r.at,
            uid: r.uid,
            gid: r.gid,
            pid: r.pid,
            admin_key_id: r.admin_key,
            action: r.action,
            target: r.target,
            outcome: match r.outcome {
                StoredOutcome::Pending => "pending".to_owned(),
                StoredOutcome::Ok => "ok".to_owned(),
                StoredOutcome::Failed(code) => code,
            },
        })
        .collect())
}
