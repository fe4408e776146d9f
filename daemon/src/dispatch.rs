//! From a request to an authority call to a response, with authorization on the way.
//!
//! Host-admin operations are decided from the peer's `SO_PEERCRED`; management operations need
//! a valid admin key, whose environment then bounds what they see. Verify and ping run inline on
//! the connection's task (in-memory lookups for sessions); everything that flushes or scans runs on the
//! blocking pool so a disk wait never stalls the reactor.

use keyward_protocol::{ErrorCode, Op, Reply, Request, Response, WireError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit;
use crate::authority::{AdminContext, Denied, Fault, Outcome};
use crate::backup::BackupError;
use crate::log_limit::{self, Verdict};
use crate::peer::Peer;
use crate::state::Shared;

/// Answers one request.
pub(crate) async fn dispatch(shared: &Arc<Shared>, peer: Peer, request: Request) -> Response {
    let Request { id, admin_key, op } = request;
    let name = op.name();
    let op_index = op.index();
    let result = match op {
        Op::Ping => Ok(Reply::Pong {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }),
        Op::Verify { token, require } => {
            let result = flatten(
                shared
                    .authority
                    .verify(&token, require.as_ref())
                    .map(|r| r.map(Reply::Verified)),
            );
            if let Err(e) = &result {
                if matches!(
                    e.code,
                    ErrorCode::CredentialMalformed | ErrorCode::CredentialInvalid
                ) {
                    note_bad_token(shared, peer, e.code);
                }
            }
            result
        }
        op => {
            let shared = Arc::clone(shared);
            tokio::task::spawn_blocking(move || blocking(&shared, peer, admin_key, op))
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(op = name, error = %e, "request handler panicked");
                    Err(WireError::new(
                        ErrorCode::Internal,
                        "request handler failed",
                    ))
                })
        }
    };
    if let Err(e) = &result {
        if matches!(e.code, ErrorCode::Unavailable | ErrorCode::Internal) {
            tracing::warn!(op = name, uid = peer.uid, pid = peer.pid, error = %e, "request failed");
        }
    }
    shared
        .metrics
        .request(op_index, result.as_ref().err().map(|e| e.code));
    Response { id, result }
}

/// Answers a request on the blocking pool: authorize, write the audit entry, run.
fn blocking(
    shared: &Shared,
    peer: Peer,
    admin_key: Option<keyward_protocol::Secret>,
    op: Op,
) -> Result<Reply, WireError> {
    let auth = &shared.authority;
    let audited = audit::is_audited(&op);
    let ctx = match authorize(shared, peer, admin_key.as_ref(), &op) {
        Ok(ctx) => ctx,
        Err(e) => {
            if audited {
                audit::refused(auth.store(), auth.now_ms(), peer, &op, &e);
            }
            return Err(e);
        }
    };
    if !audited {
        return execute(shared, ctx, op);
    }
    if audit::is_read_only(&op) {
        let (key_id, op_copy) = (ctx.map(|c| c.key_id), op.clone());
        let result = execute(shared, ctx, op);
        audit::read_done(auth.store(), auth.now_ms(), peer, key_id, &op_copy, &result);
        return result;
    }
    // The entry goes in before the action, so the action's commit makes it durable too.
    let pending = audit::begin(
        auth.store(),
        auth.now_ms(),
        peer,
        ctx.map(|c| c.key_id),
        &op,
    )
    .map_err(|e| Fault::from(e).to_wire())?;
    let result = execute(shared, ctx, op);
    pending.finish(auth.store(), &result);
    result
}

/// Decides whether `peer` may send `op`: host admin from `SO_PEERCRED`, admin keys by lookup.
/// Returns the admin key's context for operations that need one.
fn authorize(
    shared: &Shared,
    peer: Peer,
    admin_key: Option<&keyward_protocol::Secret>,
    op: &Op,
) -> Result<Option<AdminContext>, WireError> {
    if op.needs_host_admin() {
        if !peer.is_host_admin(shared.daemon_uid, &shared.settings.load().admins) {
            if let Verdict::Log { suppressed } = shared.refused_admin_log.check(Instant::now()) {
                tracing::warn!(
                    op = op.name(),
                    uid = peer.uid,
                    gid = peer.gid,
                    pid = peer.pid,
                    suppressed,
                    "refused: not a host admin"
                );
            }
            return Err(WireError::new(
                ErrorCode::Forbidden,
                format!(
                    "only host admins may do this (uid {} is not root, the daemon's uid, or in admin_uids/admin_gids)",
                    peer.uid
                ),
            ));
        }
        if !matches!(op, Op::BackupRead { .. }) {
            tracing::info!(
                op = op.name(),
                uid = peer.uid,
                pid = peer.pid,
                "host admin action"
            );
        }
        return Ok(None);
    }
    if !op.needs_admin_key() {
        return Ok(None);
    }
    let Some(key) = admin_key else {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "this operation needs an admin key",
        ));
    };
    flatten(shared.authority.authenticate_admin(key)).map(Some)
}

/// Runs an authorized operation.
fn execute(shared: &Shared, ctx: Option<AdminContext>, op: Op) -> Result<Reply, WireError> {
    let auth = &shared.authority;
    // `authorize` returned a context for every operation that needs an admin key.
    let ctx = || -> AdminContext { ctx.expect("authorized with an admin key") };
    match op {
        Op::AdminKeyCreate { label, env } => flatten(
            auth.create_admin_key(&label, env)
                .map(|r| r.map(Reply::AdminKeyCreated)),
        ),
        Op::AdminKeyList => auth
            .list_admin_keys()
            .map(Reply::AdminKeys)
            .map_err(|f| f.to_wire()),
        Op::AdminKeyRevoke { id } => revoked(auth.revoke_admin_key(id)),
        Op::Audit { since, limit } => audit::read(auth.store(), since.unwrap_or(0), limit)
            .map(Reply::Audit)
            .map_err(|e| Fault::from(e).to_wire()),
        Op::BackupBegin => shared
            .snapshots
            .begin(auth)
            .map(|(id, bytes)| Reply::BackupStarted { id, bytes })
            .map_err(backup_error),
        Op::BackupRead { id, offset } => shared
            .snapshots
            .read(id, offset)
            .map(Reply::BackupChunk)
            .map_err(backup_error),
        Op::BackupEnd { id } => shared
            .snapshots
            .end(id)
            .map(|()| Reply::BackupEnded)
            .map_err(backup_error),
        Op::ClientCreate {
            label,
            max_sessions,
            scopes,
        } => flatten(
            auth.create_client(ctx(), label.as_deref(), max_sessions, &scopes)
                .map(|r| r.map(Reply::ClientCreated)),
        ),
        Op::ClientShow { client_id } => flatten(
            auth.show_client(ctx(), client_id)
                .map(|r| r.map(Reply::Client)),
        ),
        Op::ClientList => auth
            .list_clients(ctx())
            .map(Reply::Clients)
            .map_err(|f| f.to_wire()),
        Op::ClientRevokeSessions { client_id } => flatten(
            auth.revoke_sessions(ctx(), client_id)
                .map(|r| r.map(|count| Reply::RevokedCount { count })),
        ),
        Op::SessionIssue { client_id } => flatten(
            auth.issue_session(ctx(), client_id)
                .map(|r| r.map(Reply::SessionIssued)),
        ),
        Op::TestKeyCreate { client_id } => flatten(
            auth.create_test_key(ctx(), client_id)
                .map(|r| r.map(Reply::TestKeyCreated)),
        ),
        Op::ApiTokenCreate {
            name,
            scopes,
            expires_in_secs,
        } => flatten(
            auth.create_api_token(
                ctx(),
                &name,
                &scopes,
                expires_in_secs.map(Duration::from_secs),
            )
            .map(|r| r.map(Reply::ApiTokenCreated)),
        ),
        Op::Revoke { credential_id } => revoked(auth.revoke(ctx(), credential_id)),
        Op::Logout { token } => revoked(auth.logout(&token)),
        Op::Stats => auth
            .stats()
            .map(|stats| Reply::Stats(with_runtime_counters(stats, shared)))
            .map_err(|f| f.to_wire()),
        // Answered inline by `dispatch`, never sent here.
        Op::Ping | Op::Verify { .. } => unreachable!("answered inline"),
    }
}

fn backup_error(e: BackupError) -> WireError {
    match e {
        BackupError::Unknown => WireError::new(ErrorCode::NotFound, e.to_string()),
        BackupError::Store(s) => Fault::from(s).to_wire(),
        BackupError::Io(_) => WireError::new(ErrorCode::Unavailable, e.to_string()),
    }
}

/// Adds the daemon's in-memory counters to the store's counts.
fn with_runtime_counters(
    mut stats: keyward_protocol::Stats,
    shared: &Shared,
) -> keyward_protocol::Stats {
    let m = shared.metrics.snapshot();
    stats.connections_open = m.connections_open;
    stats.connections_total = m.connections_total;
    stats.connections_refused = m.connections_refused;
    stats.requests = Op::NAMES
        .iter()
        .zip(&m.requests)
        .map(|(name, n)| ((*name).to_owned(), *n))
        .collect();
    stats.errors = ErrorCode::ALL
        .iter()
        .zip(&m.errors)
        .map(|(code, n)| (code.as_str().to_owned(), *n))
        .collect();
    stats.uptime_secs = shared.started.elapsed().as_secs();
    stats
}

/// Logs a failed verify at a bounded rate; a flood of bad tokens costs one line per window.
fn note_bad_token(shared: &Shared, peer: Peer, code: ErrorCode) {
    if let Verdict::Log { suppressed } = shared.bad_token_log.check(Instant::now()) {
        tracing::info!(
            code = code.as_str(),
            uid = peer.uid,
            pid = peer.pid,
            suppressed,
            "verify failed (further failures within {}s are counted, not logged)",
            log_limit::WINDOW.as_secs()
        );
    }
}

fn revoked(outcome: Outcome<uuid::Uuid>) -> Result<Reply, WireError> {
    flatten(outcome.map(|r| r.map(|id| Reply::Revoked { id })))
}

fn flatten<T>(outcome: Result<Result<T, Denied>, Fault>) -> Result<T, WireError> {
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(denied)) => Err(denied.to_wire()),
        Err(fault) => {
            tracing::error!(error = %fault, "operation failed");
            Err(fault.to_wire())
        }
    }
}
