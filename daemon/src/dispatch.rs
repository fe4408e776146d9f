//! From a request to an authority call to a response, with authorization on the way.
//!
//! Host-admin operations are decided from the peer's `SO_PEERCRED`; management operations need
//! a valid admin key, whose environment then bounds what they see.
//!
//! Where a request runs:
//! - Verify and ping run inline on the connection's task: in-memory lookups for sessions.
//! - The frequent small changes (session issue, client create, logout, revoke) run inline too:
//!   they are applied in memory, and the task then awaits the group commit that makes them
//!   durable, so one event-loop thread keeps many of them in flight without a thread hop
//!   each. While a snapshot holds changes off, or the owner index is still being built after
//!   start-up, they go to the blocking pool instead.
//! - Everything else (scans, backups, admin keys) runs on the blocking pool, so a long call
//!   never stalls the reactor.

use keyward_protocol::{ErrorCode, Op, Reply, Request, Response, WireError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit;
use crate::authority::{AdminContext, Change, Denied, Fault, NewIdentity, Outcome, Uncommitted};
use crate::backup::BackupError;
use crate::host::log_limit::{self, Verdict};
use crate::server::peer::Peer;
use crate::state::DaemonState;

/// Answers ping and verify, which never wait, on the spot; hands any other request back for
/// [`answer_later`]. Verify is the hot path: answering it without building an async call's
/// state machine saves that set-up and its copies on every request.
///
/// # Errors
/// The request itself, when it is not one of these.
pub(crate) fn answer_now(
    shared: &DaemonState,
    peer: Peer,
    request: Request,
) -> Result<Response, Request> {
    let op_index = request.op.index();
    let (id, result) = match request.op {
        Op::Ping => (
            request.id,
            Ok(Reply::Pong {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
        ),
        // With `strict_verify`, a verify waits for a mark in etcd: not on the event loop.
        Op::Verify { .. } if shared.authority.store().verify_waits() => return Err(request),
        Op::Verify { .. } => return Ok(answer_verify(shared, peer, request)),
        _ => return Err(request),
    };
    Ok(finish(shared, peer, id, op_index, result))
}

/// Answers a verify.
fn answer_verify(shared: &DaemonState, peer: Peer, request: Request) -> Response {
    let op_index = request.op.index();
    let Op::Verify { token, require } = request.op else {
        unreachable!("only verifies come here");
    };
    let result = flatten(
        shared
            .authority
            .verify(&token, &require)
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
    finish(shared, peer, request.id, op_index, result)
}

/// Answers a request that may wait: a change (inline, awaiting its commit) or anything on
/// the blocking pool. (Ping and verify are answered here too, but [`answer_now`] is quicker.)
pub(crate) async fn answer_later(
    shared: &Arc<DaemonState>,
    peer: Peer,
    request: Request,
) -> Response {
    let request = match answer_now(shared, peer, request) {
        Ok(response) => return response,
        Err(request) => request,
    };
    if let Op::Verify { .. } = request.op {
        // A verify that waits for etcd (`strict_verify`): on the blocking pool, where many
        // can wait for the same mark.
        let (task, id, op_index) = (Arc::clone(shared), request.id, request.op.index());
        return tokio::task::spawn_blocking(move || answer_verify(&task, peer, request))
            .await
            .unwrap_or_else(|_| {
                let failed = WireError::new(ErrorCode::Internal, "request handler failed");
                finish(shared, peer, id, op_index, Err(failed))
            });
    }
    let Request { id, admin_key, op } = request;
    let op_index = op.index();
    let result = match op {
        // Not while the owner index is being built after start-up: a seat count would wait for
        // it, and on this thread every peer would wait.
        op if runs_inline(&op) && shared.authority.store().owner_index_ready() => {
            // Not held across the wait: the guard only keeps snapshots from seeing half a change.
            let started = shared
                .authority
                .try_change()
                .map(|change| start(shared, Some(&change), peer, admin_key.as_ref(), &op));
            match started {
                Some(started) => started.durable(shared).await,
                None => on_blocking_pool(shared, peer, admin_key, op).await,
            }
        }
        op => on_blocking_pool(shared, peer, admin_key, op).await,
    };
    finish(shared, peer, id, op_index, result)
}

/// Logs a failure the operator should see, counts the request, and builds the response.
fn finish(
    shared: &DaemonState,
    peer: Peer,
    id: u64,
    op_index: usize,
    result: Result<Reply, WireError>,
) -> Response {
    if let Err(e) = &result {
        if matches!(e.code, ErrorCode::Unavailable | ErrorCode::Internal) {
            let op = keyward_protocol::Op::NAMES[op_index];
            tracing::warn!(op, uid = peer.uid, pid = peer.pid, error = %e, "request failed");
        }
    }
    shared
        .metrics
        .request(op_index, result.as_ref().err().map(|e| e.code));
    Response { id, result }
}

/// Whether `op` runs on the connection's task: a change small and frequent enough that a
/// thread hop would cost more than the change.
fn runs_inline(op: &Op) -> bool {
    matches!(
        op,
        Op::SessionIssue { .. } | Op::ClientCreate { .. } | Op::Logout { .. } | Op::Revoke { .. }
    )
}

/// Whether `op` changes the store, and so runs under a [`Change`].
fn is_change(op: &Op) -> bool {
    matches!(
        op,
        Op::AdminKeyCreate { .. }
            | Op::AdminKeyRevoke { .. }
            | Op::ApiTokenCreate { .. }
            | Op::ClientCreate { .. }
            | Op::ClientRevokeSessions { .. }
            | Op::Logout { .. }
            | Op::Revoke { .. }
            | Op::SessionIssue { .. }
            | Op::TestKeyCreate { .. }
            | Op::ClientDelete { .. }
            | Op::ApiTokenUpdate { .. }
            | Op::ClientUpdate { .. }
            | Op::Disable { .. }
            | Op::Enable { .. }
    )
}

/// Answers a request on the blocking pool.
async fn on_blocking_pool(
    shared: &Arc<DaemonState>,
    peer: Peer,
    admin_key: Option<keyward_protocol::Secret>,
    op: Op,
) -> Result<Reply, WireError> {
    let name = op.name();
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || {
        let change = is_change(&op).then(|| shared.authority.change());
        let started = start(&shared, change.as_ref(), peer, admin_key.as_ref(), &op);
        drop(change);
        started.wait(&shared)
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(op = name, error = %e, "request handler panicked");
        Err(WireError::new(
            ErrorCode::Internal,
            "request handler failed",
        ))
    })
}

/// What an operation answered: at once, or once its change is durable.
enum Answer {
    Now(Reply),
    WhenDurable(Uncommitted<Reply>),
}

/// A request run up to its acknowledgment.
struct Started {
    answer: Result<Answer, WireError>,
    /// The audit entry awaiting the outcome.
    audit: Option<audit::OpenEntry>,
}

impl Started {
    /// Blocks until the answer may be given.
    fn wait(self, shared: &DaemonState) -> Result<Reply, WireError> {
        let result = self.answer.and_then(|answer| match answer {
            Answer::Now(reply) => Ok(reply),
            Answer::WhenDurable(uncommitted) => uncommitted.wait().map_err(fault),
        });
        audited(self.audit, shared, result)
    }

    /// Resolves once the answer may be given, without blocking the thread.
    async fn durable(self, shared: &DaemonState) -> Result<Reply, WireError> {
        let result = match self.answer {
            Ok(Answer::Now(reply)) => Ok(reply),
            Ok(Answer::WhenDurable(uncommitted)) => uncommitted.durable().await.map_err(fault),
            Err(e) => Err(e),
        };
        audited(self.audit, shared, result)
    }
}

fn audited(
    audit: Option<audit::OpenEntry>,
    shared: &DaemonState,
    result: Result<Reply, WireError>,
) -> Result<Reply, WireError> {
    if let Some(entry) = audit {
        entry.finish(shared.authority.store(), &result);
    }
    result
}

/// Authorizes `op`, writes its audit entry and runs it, up to its acknowledgment. `change`
/// is held for operations that change the store ([`is_change`]).
fn start(
    shared: &DaemonState,
    change: Option<&Change<'_>>,
    peer: Peer,
    admin_key: Option<&keyward_protocol::Secret>,
    op: &Op,
) -> Started {
    let auth = &shared.authority;
    let audited = audit::is_audited(op);
    let refused = |e: WireError| Started {
        answer: Err(e),
        audit: None,
    };
    let ctx = match authorize(shared, peer, admin_key, op) {
        Ok(ctx) => ctx,
        Err(e) => {
            if audited {
                shared
                    .refusals
                    .refused(auth.store(), auth.now_ms(), peer, op, &e);
            }
            return refused(e);
        }
    };
    // A host whose copy may be stale or wrong refuses a change before it touches the copy.
    if change.is_some() {
        if let Err(e) = auth.store().check_settled() {
            return refused(Fault::from(e).to_wire());
        }
    }
    let audit = if audited {
        match audit::begin(auth.store(), auth.now_ms(), peer, ctx.map(|c| c.key_id), op) {
            Ok(entry) => Some(entry),
            Err(e) => return refused(Fault::from(e).to_wire()),
        }
    } else {
        None
    };
    Started {
        answer: execute(shared, change, peer, ctx, op),
        audit,
    }
}

/// Decides whether `peer` may send `op`: host admin from `SO_PEERCRED`, admin keys by lookup.
/// Returns the admin key's context for operations that need one.
fn authorize(
    shared: &DaemonState,
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
fn execute(
    shared: &DaemonState,
    change: Option<&Change<'_>>,
    peer: Peer,
    ctx: Option<AdminContext>,
    op: &Op,
) -> Result<Answer, WireError> {
    let auth = &shared.authority;
    // `authorize` returned a context for every operation that needs an admin key.
    let ctx = || -> AdminContext { ctx.expect("authorized with an admin key") };
    // `start`'s callers hold a change for every operation `is_change` names.
    let change = || {
        change.ok_or_else(|| {
            tracing::error!(op = op.name(), "a change was run without holding changes");
            WireError::new(ErrorCode::Internal, "request handler failed")
        })
    };
    let now = |reply| Ok(Answer::Now(reply));
    match op {
        Op::AdminKeyCreate { label, env } => when_durable(
            change()?
                .create_admin_key(label, *env)
                .map(|r| r.map(|p| p.map(Reply::AdminKeyCreated))),
        ),
        Op::AdminKeyList {
            limit,
            after,
            order,
        } => now(flatten(
            auth.list_admin_keys(*limit, after.as_deref(), *order)
                .map(|r| r.map(Reply::AdminKeys)),
        )?),
        Op::AdminKeyRevoke { id } => revoked(change()?.revoke_admin_key(*id)),
        Op::Audit {
            since,
            limit,
            before,
            uid,
            action,
            outcome,
        } => {
            let query = audit::Query {
                since: *since,
                limit: *limit,
                before: before.as_deref(),
                uid: *uid,
                action: action.as_deref(),
                outcome: *outcome,
            };
            now(Reply::Audit(
                audit::read(auth.store(), &shared.refusals, query)
                    .map_err(|e| fault(Fault::from(e)))??,
            ))
        }
        Op::BackupBegin => now(shared
            .snapshots
            .begin(auth)
            .map(|(id, bytes)| Reply::BackupStarted { id, bytes })
            .map_err(backup_error)?),
        Op::BackupRead { id, offset } => now(shared
            .snapshots
            .read(*id, *offset)
            .map(Reply::BackupChunk)
            .map_err(backup_error)?),
        Op::BackupEnd { id, .. } => now(shared
            .snapshots
            .end(*id)
            .map(|()| Reply::BackupEnded)
            .map_err(backup_error)?),
        Op::ClientCreate {
            label,
            max_sessions,
            scopes,
            identity,
        } => when_durable(
            change()?
                .create_client(
                    ctx(),
                    label.as_deref(),
                    *max_sessions,
                    scopes,
                    NewIdentity::of(identity),
                )
                .map(|r| r.map(|p| p.map(Reply::ClientCreated))),
        ),
        Op::ClientShow {
            client_id,
            limit,
            after,
        } => now(flatten(
            auth.show_client(ctx(), *client_id, *limit, after.as_deref())
                .map(|r| r.map(Reply::Client)),
        )?),
        Op::ClientFind {
            external_id,
            limit,
            after,
        } => now(flatten(
            auth.find_client(ctx(), external_id, *limit, after.as_deref())
                .map(|r| r.map(Reply::Client)),
        )?),
        Op::ClientList {
            limit,
            after,
            order,
        } => now(flatten(
            auth.list_clients(ctx(), *limit, after.as_deref(), *order)
                .map(|r| r.map(Reply::Clients)),
        )?),
        Op::ClientRevokeSessions { client_id } => when_durable(
            change()?
                .revoke_sessions(ctx(), *client_id)
                .map(|r| r.map(|p| p.map(|count| Reply::RevokedCount { count }))),
        ),
        Op::SessionIssue { client_id } => when_durable(
            change()?
                .issue_session(ctx(), *client_id)
                .map(|r| r.map(|p| p.map(Reply::SessionIssued))),
        ),
        Op::TestKeyCreate { client_id } => when_durable(
            change()?
                .create_test_key(ctx(), *client_id)
                .map(|r| r.map(|p| p.map(Reply::TestKeyCreated))),
        ),
        Op::ApiTokenCreate {
            name,
            scopes,
            expires_in_secs,
            identity,
        } => when_durable(
            change()?
                .create_api_token(
                    ctx(),
                    name,
                    scopes,
                    expires_in_secs.map(Duration::from_secs),
                    NewIdentity::of(identity),
                )
                .map(|r| r.map(|p| p.map(Reply::ApiTokenCreated))),
        ),
        Op::Revoke { credential_id } => revoked(change()?.revoke(ctx(), *credential_id)),
        Op::ClientDelete { client_id } => when_durable(
            change()?
                .delete_client(ctx(), *client_id)
                .map(|r| r.map(|p| p.map(|count| Reply::RevokedCount { count }))),
        ),
        Op::Logout { token } => revoked(change()?.logout(token)),
        Op::Disable { id } | Op::Enable { id } => {
            let disable = matches!(op, Op::Disable { .. });
            // Admin keys are the host admins' to switch, as to create and revoke.
            let host_admin = peer.is_host_admin(shared.daemon_uid, &shared.settings.load().admins);
            when_durable(
                change()?
                    .set_disabled(ctx(), host_admin, *id, disable)
                    .map(|r| {
                        r.map(|p| {
                            p.map(|id| match disable {
                                true => Reply::Disabled { id },
                                false => Reply::Enabled { id },
                            })
                        })
                    }),
            )
        }
        Op::Stats => now(auth
            .stats()
            .map(|stats| Reply::Stats(with_runtime_counters(stats, shared)))
            .map_err(fault)?),
        Op::ApiTokenList {
            limit,
            after,
            order,
        } => now(flatten(
            auth.list_api_tokens(ctx(), *limit, after.as_deref(), *order)
                .map(|r| r.map(Reply::ApiTokens)),
        )?),
        Op::ApiTokenShow { id } => now(flatten(
            auth.show_api_token(ctx(), *id)
                .map(|r| r.map(Reply::ApiToken)),
        )?),
        Op::ApiTokenUpdate { id, update } => when_durable(
            change()?
                .update_api_token(ctx(), *id, update)
                .map(|r| r.map(|p| p.map(Reply::ApiToken))),
        ),
        Op::ClientUpdate { client_id, update } => when_durable(
            change()?
                .update_client(ctx(), *client_id, update)
                .map(|r| r.map(|p| p.map(Reply::ClientUpdated))),
        ),
        // Answered by `answer_now`, never sent here.
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
    shared: &DaemonState,
) -> keyward_protocol::Stats {
    let m = shared.metrics.snapshot();
    stats.connections_open = m.connections_open;
    stats.connections_total = m.connections_total;
    stats.connections_refused = m.connections_refused;
    stats.audit_dropped = shared.authority.store().audit_dropped();
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
fn note_bad_token(shared: &DaemonState, peer: Peer, code: ErrorCode) {
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

fn revoked(outcome: Outcome<Uncommitted<uuid::Uuid>>) -> Result<Answer, WireError> {
    when_durable(outcome.map(|r| r.map(|p| p.map(|id| Reply::Revoked { id }))))
}

fn when_durable(outcome: Outcome<Uncommitted<Reply>>) -> Result<Answer, WireError> {
    flatten(outcome).map(Answer::WhenDurable)
}

fn flatten<T>(outcome: Result<Result<T, Denied>, Fault>) -> Result<T, WireError> {
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(denied)) => Err(denied.to_wire()),
        Err(f) => Err(fault(f)),
    }
}

/// A fault as sent to the peer, logged: the operation could not be carried out.
fn fault(fault: Fault) -> WireError {
    tracing::error!(error = %fault, "operation failed");
    fault.to_wire()
}
