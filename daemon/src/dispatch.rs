//! From a request to an authority call to a response, with authorization on the way.
//!
//! Host-admin operations are decided from the peer's `SO_PEERCRED`; management operations need
//! a valid admin key, whose environment then bounds what they see. Verify and ping run inline on
//! the connection's task (cheap sled reads); everything that flushes or scans runs on the
//! blocking pool so a disk wait never stalls the reactor.

use keyward_protocol::{ErrorCode, Op, Reply, Request, Response, WireError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::authority::{AdminContext, Denied, Fault, Outcome};
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

fn blocking(
    shared: &Shared,
    peer: Peer,
    admin_key: Option<keyward_protocol::Secret>,
    op: Op,
) -> Result<Reply, WireError> {
    let auth = &shared.authority;
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
                    "only host admins manage admin keys (uid {} is not root, the daemon's uid, or in admin_uids/admin_gids)",
                    peer.uid
                ),
            ));
        }
        tracing::info!(
            op = op.name(),
            uid = peer.uid,
            pid = peer.pid,
            "host admin action"
        );
        return match op {
            Op::AdminKeyCreate { label, env } => flatten(
                auth.create_admin_key(&label, env)
                    .map(|r| r.map(Reply::AdminKeyCreated)),
            ),
            Op::AdminKeyList => auth
                .list_admin_keys()
                .map(Reply::AdminKeys)
                .map_err(|f| f.to_wire()),
            Op::AdminKeyRevoke { id } => revoked(auth.revoke_admin_key(id)),
            _ => unreachable!("needs_host_admin covers exactly the admin-key operations"),
        };
    }
    let ctx = if op.needs_admin_key() {
        let Some(key) = admin_key else {
            return Err(WireError::new(
                ErrorCode::Forbidden,
                "this operation needs an admin key",
            ));
        };
        Some(flatten(auth.authenticate_admin(&key))?)
    } else {
        None
    };
    // `needs_admin_key` is true for every arm below that uses `ctx`.
    let ctx = || -> AdminContext { ctx.expect("admin key checked above") };
    match op {
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
        Op::Ping
        | Op::Verify { .. }
        | Op::AdminKeyCreate { .. }
        | Op::AdminKeyList
        | Op::AdminKeyRevoke { .. } => {
            unreachable!("handled before")
        }
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
