//! The audit log: every admin action and every refused admin attempt, with who asked (from
//! `SO_PEERCRED`), the admin key used, the action and its target. Never a secret.
//!
//! An action's entry is written *before* the action, as `pending`, so the action's own commit
//! makes it durable: an acknowledged admin action always has its entry, even after a crash.
//! The outcome then replaces `pending` lazily. Read-only actions are written once done, lazily
//! too.
//!
//! Refused attempts are aggregated ([`Refusals`]): any peer can send them at will, and one
//! entry each let a flood fill the disk. Attempts by one uid at one action refused with one
//! error code share an entry per [`REFUSAL_WINDOW_MS`], whose `count` grows.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use keyward_protocol::{
    codec, AuditEntry, AuditOutcome, AuditPage, ErrorCode, Op, Reply, UnixMillis, WireError,
};
use uuid::Uuid;

use crate::server::peer::Peer;
use crate::store::{AuditKey, AuditPriority, AuditRecord, Store, StoreError, StoredOutcome};

/// Most entries one `keyward audit` call asks for, as on every list; a page holds fewer when
/// more would not fit in one frame.
pub(crate) const MAX_ENTRIES: u32 = keyward_protocol::MAX_PAGE;
/// Room left in a frame for the reply's framing and its cursor.
const FRAME_HEADROOM: usize = 1024;
/// How long refused attempts by one uid at one action with one error code share an entry.
pub(crate) const REFUSAL_WINDOW_MS: UnixMillis = 10_000;
/// How often ended windows are looked for, written out and let go.
const REFRESH_MS: UnixMillis = 1_000;
/// Most windows open at once: the oldest is closed to open another.
const MAX_WINDOWS: usize = 1024;
/// Characters of a cursor (hex of an entry's key).
const CURSOR_LEN: usize = 48;

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
        Op::AdminKeyList { .. }
            | Op::Audit { .. }
            | Op::ClientShow { .. }
            | Op::ClientFind { .. }
            | Op::ClientList { .. }
            | Op::ApiTokenList { .. }
            | Op::ApiTokenShow { .. }
    )
}

/// The object an operation names before it runs.
fn target_of(op: &Op) -> Option<Uuid> {
    match op {
        Op::AdminKeyRevoke { id } | Op::BackupEnd { id, .. } => Some(*id),
        Op::ClientShow { client_id, .. }
        | Op::ClientRevokeSessions { client_id }
        | Op::SessionIssue { client_id }
        | Op::TestKeyCreate { client_id }
        | Op::ClientDelete { client_id } => Some(*client_id),
        Op::Revoke { credential_id } => Some(*credential_id),
        Op::ApiTokenShow { id } | Op::ApiTokenUpdate { id, .. } => Some(*id),
        Op::ClientUpdate { client_id, .. } => Some(*client_id),
        Op::Disable { id } | Op::Enable { id } => Some(*id),
        _ => None,
    }
}

/// The object an operation created (or, for a client found by its external id, found), from
/// its reply.
fn created_by(reply: &Reply) -> Option<Uuid> {
    match reply {
        Reply::AdminKeyCreated(k) => Some(k.id),
        Reply::Client(c) => Some(c.client_id),
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
        count: 1,
    }
}

/// An action's entry, opened by [`begin`] before the action and closed with its outcome by
/// [`OpenEntry::finish`].
pub(crate) struct OpenEntry {
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
/// too; a read's entry is written by [`OpenEntry::finish`].
pub(crate) fn begin(
    store: &Store,
    at: UnixMillis,
    peer: Peer,
    admin_key: Option<Uuid>,
    op: &Op,
) -> Result<OpenEntry, StoreError> {
    let record = entry(at, peer, admin_key, op, StoredOutcome::Pending);
    let key = if is_read_only(op) {
        None
    } else {
        Some(store.append_audit(&record, AuditPriority::Action)?)
    };
    let abandoned = matches!(
        op,
        Op::BackupEnd {
            completed: false,
            ..
        }
    );
    Ok(OpenEntry {
        key,
        record,
        abandoned,
    })
}

impl OpenEntry {
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
            Some(key) => store.update_audit(key, &self.record, AuditPriority::Action),
            None => store
                .append_audit(&self.record, AuditPriority::Action)
                .map(drop),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot record an audit outcome");
        }
    }
}

/// Refused attempts grouped by who tried what and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    uid: u32,
    /// The operation's index in [`Op::NAMES`].
    action: usize,
    code: ErrorCode,
}

/// One slot's entry for the current window.
#[derive(Debug)]
struct Window {
    key: AuditKey,
    /// The entry: its time, gid and pid are the first attempt's.
    record: AuditRecord,
    /// The count last written.
    written: u64,
}

impl Window {
    /// Writes the count, if it grew since it was last written.
    fn write(&mut self, store: &Store) {
        if self.record.count == self.written {
            return;
        }
        match store.update_audit(&self.key, &self.record, AuditPriority::Refused) {
            Ok(()) => self.written = self.record.count,
            Err(e) => tracing::error!(error = %e, "cannot update an audit entry"),
        }
    }

    fn ended(&self, at: UnixMillis) -> bool {
        // A clock that went back ends the window too.
        at < self.record.at || at - self.record.at >= REFUSAL_WINDOW_MS
    }
}

#[derive(Debug, Default)]
struct Windows {
    open: HashMap<Slot, Window>,
    /// When counts were last written.
    refreshed: UnixMillis,
}

/// Aggregates refused attempts: at most one entry per uid, action and error code per
/// [`REFUSAL_WINDOW_MS`], in the log and in what is queued for it. The first attempt of a
/// window appends its entry; later ones only count. The count is written once the window has
/// ended (noticed by a later refused attempt, within [`REFRESH_MS`]) and by
/// [`Refusals::flush`]: so a window costs two records, however many attempts it counts.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    windows: Mutex<Windows>,
}

impl Refusals {
    fn lock(&self) -> MutexGuard<'_, Windows> {
        // Every critical section leaves the map consistent before it can panic.
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a refused attempt (not a host admin, or a bad admin key).
    pub(crate) fn refused(
        &self,
        store: &Store,
        at: UnixMillis,
        peer: Peer,
        op: &Op,
        error: &WireError,
    ) {
        let slot = Slot {
            uid: peer.uid,
            action: op.index(),
            code: error.code,
        };
        let mut windows = self.lock();
        if at < windows.refreshed || at - windows.refreshed >= REFRESH_MS {
            windows.refreshed = at;
            windows.open.retain(|_, w| {
                let ended = w.ended(at);
                if ended {
                    w.write(store);
                }
                !ended
            });
        }
        match windows.open.get_mut(&slot) {
            Some(w) if !w.ended(at) => {
                w.record.count += 1;
                return;
            }
            Some(w) => w.write(store),
            None => {}
        }
        windows.open.remove(&slot);
        if windows.open.len() >= MAX_WINDOWS {
            let oldest = windows
                .open
                .iter()
                .min_by_key(|(_, w)| w.record.at)
                .map(|(s, _)| *s);
            if let Some(mut w) = oldest.and_then(|s| windows.open.remove(&s)) {
                w.write(store);
            }
        }
        let outcome = StoredOutcome::Failed(error.code.as_str().to_owned());
        let record = entry(at, peer, None, op, outcome);
        match store.append_audit(&record, AuditPriority::Refused) {
            Ok(key) => {
                windows.open.insert(
                    slot,
                    Window {
                        key,
                        record,
                        written: 1,
                    },
                );
            }
            Err(e) => tracing::error!(error = %e, "cannot write an audit entry"),
        }
    }

    /// Writes every open window's count: before a read, so it sees exact counts, and from
    /// the sweeper and at shutdown, so a count is not left only in memory.
    pub(crate) fn flush(&self, store: &Store) {
        for w in self.lock().open.values_mut() {
            w.write(store);
        }
    }
}

/// An audit read's selection, from [`Op::Audit`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    pub since: Option<UnixMillis>,
    pub limit: u32,
    pub before: Option<&'a str>,
    pub uid: Option<u32>,
    pub action: Option<&'a str>,
    pub outcome: Option<AuditOutcome>,
}

/// The cursor of the entry under `key`: its key in hex.
fn cursor_of(key: &AuditKey) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key a cursor names.
fn parse_cursor(cursor: &str) -> Result<AuditKey, WireError> {
    let bad = || {
        WireError::new(
            ErrorCode::BadRequest,
            "not an audit cursor: pass --before the \"next\" value of an earlier \
             `keyward audit --json` page (48 hex digits)",
        )
    };
    if cursor.len() != CURSOR_LEN
        || !cursor
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad());
    }
    let mut key = [0u8; 24];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&cursor[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// Whether a stored outcome is of the kind `want`: `refused` is every outcome but `ok` and
/// `pending` (refused attempts and actions that failed).
fn outcome_is(outcome: &StoredOutcome, want: AuditOutcome) -> bool {
    match want {
        AuditOutcome::Ok => *outcome == StoredOutcome::Ok,
        AuditOutcome::Refused => matches!(outcome, StoredOutcome::Failed(_)),
    }
}

/// A page of entries for `keyward audit`, after the open windows' counts are written.
///
/// # Errors
/// The outer error if the log cannot be read; the inner one (`BAD_REQUEST`) for a bad cursor
/// or an unknown action.
pub(crate) fn read(
    store: &Store,
    refusals: &Refusals,
    query: Query<'_>,
) -> Result<Result<AuditPage, WireError>, StoreError> {
    let before = match query.before.map(parse_cursor).transpose() {
        Ok(before) => before,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(action) = query.action {
        if !Op::NAMES.contains(&action) {
            let shown: String = action.chars().take(40).collect();
            return Ok(Err(WireError::new(
                ErrorCode::BadRequest,
                format!(
                    "unknown action {shown:?}: actions are {}",
                    Op::NAMES.join(", ")
                ),
            )));
        }
    }
    refusals.flush(store);
    let limit = query.limit.clamp(1, MAX_ENTRIES) as usize;
    let (found, more) =
        store.audit_page(query.since.unwrap_or(0), before.as_ref(), limit, |r| {
            query.uid.is_none_or(|uid| r.uid == uid)
                && query.action.is_none_or(|a| r.action == a)
                && query.outcome.is_none_or(|o| outcome_is(&r.outcome, o))
        })?;
    let mut found: Vec<(AuditKey, AuditEntry)> = found
        .into_iter()
        .map(|(key, r)| {
            let entry = AuditEntry {
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
                count: r.count,
            };
            (key, entry)
        })
        .collect();
    // Entries are oldest first; a page that would outgrow a frame gives up its oldest ones,
    // and its cursor then points past the oldest it kept.
    let budget = keyward_protocol::MAX_FRAME_LEN - FRAME_HEADROOM;
    let (mut bytes, mut keep) = (0, found.len());
    for (i, (_, entry)) in found.iter().enumerate().rev() {
        bytes += codec::encode(entry).map_or(budget, |b| b.len());
        if bytes > budget && keep < found.len() {
            break;
        }
        keep = i;
    }
    let trimmed = keep > 0;
    let found = found.split_off(keep);
    let next = if more || trimmed {
        found.first().map(|(key, _)| cursor_of(key))
    } else {
        None
    };
    let entries = found.into_iter().map(|(_, entry)| entry).collect();
    Ok(Ok(AuditPage { entries, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cursor round-trips, and anything else is BAD_REQUEST.
    #[test]
    fn cursors_are_validated() {
        let key: AuditKey = std::array::from_fn(|i| i as u8 * 7);
        assert_eq!(parse_cursor(&cursor_of(&key)).unwrap(), key);
        let (short, long, upper) = ("0".repeat(47), "0".repeat(49), "A".repeat(48));
        let multibyte = "é".repeat(24);
        for bad in ["", "zz", &short, &long, &upper, &multibyte] {
            let code = parse_cursor(bad).unwrap_err().code;
            assert_eq!(code, ErrorCode::BadRequest, "{bad}");
        }
    }

    fn query(uid: Option<u32>, outcome: Option<AuditOutcome>) -> Query<'static> {
        Query {
            since: None,
            limit: MAX_ENTRIES,
            before: None,
            uid,
            action: None,
            outcome,
        }
    }

    /// Refused attempts by one uid at one action with one code share one entry per window,
    /// whose count a read sees exactly; another uid, another code or the next window gets its
    /// own; and the filters select by uid and outcome.
    #[test]
    fn refused_attempts_are_aggregated_per_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let refusals = Refusals::default();
        let forbidden = WireError::new(ErrorCode::Forbidden, "no");
        let op = Op::AdminKeyList {
            limit: 1,
            after: None,
            order: keyward_protocol::ListOrder::Id,
        };
        let nobody = Peer {
            uid: 65534,
            gid: 65534,
            pid: 7,
        };
        let t0 = 1_000_000;
        for i in 0..1000 {
            refusals.refused(&store, t0 + i * 5, nobody, &op, &forbidden);
        }
        let records = || {
            let mut n = 0;
            store
                .export(|tree, _, _| {
                    n += u64::from(tree == 7);
                    Ok(())
                })
                .unwrap();
            n
        };
        assert_eq!(records(), 1, "an open window's count is not rewritten");
        refusals.refused(
            &store,
            t0 + 10,
            Peer {
                uid: 1000,
                ..nobody
            },
            &op,
            &forbidden,
        );
        let invalid = WireError::new(ErrorCode::CredentialInvalid, "no");
        refusals.refused(&store, t0 + 20, nobody, &op, &invalid);
        refusals.refused(&store, t0 + REFUSAL_WINDOW_MS, nobody, &op, &forbidden);
        let begun = begin(&store, t0 + 30, Peer { uid: 0, ..nobody }, None, &op).unwrap();
        begun.finish(
            &store,
            &Ok(Reply::AdminKeys(keyward_protocol::AdminKeyPage {
                admin_keys: Vec::new(),
                next: None,
            })),
        );

        let page = read(
            &store,
            &refusals,
            query(Some(65534), Some(AuditOutcome::Refused)),
        )
        .unwrap()
        .unwrap();
        let seen: Vec<(&str, u64)> = page
            .entries
            .iter()
            .map(|e| (e.outcome.as_str(), e.count))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("FORBIDDEN", 1000),
                ("CREDENTIAL_INVALID", 1),
                ("FORBIDDEN", 1)
            ]
        );
        let all = read(&store, &refusals, query(None, None)).unwrap().unwrap();
        assert_eq!(all.entries.len(), 5);
        assert_eq!(records(), 6, "five entries and the ended window's count");
        let ok = read(&store, &refusals, query(None, Some(AuditOutcome::Ok)))
            .unwrap()
            .unwrap();
        assert_eq!(ok.entries.len(), 1);
        assert_eq!((ok.entries[0].uid, ok.entries[0].count), (0, 1));
        let bad = Query {
            action: Some("no_such_action"),
            ..query(None, None)
        };
        let err = read(&store, &refusals, bad).unwrap().unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
    }
}
