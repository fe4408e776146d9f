//! The socket side: from a listening socket to a served peer.
//!
//! `listener` binds the socket (or [`activation`] takes the one systemd passed), this file
//! holds the accept loop, `peer` says who connected (`SO_PEERCRED`), and `connection`
//! serves one peer under deadlines.
//! `connection_slots` and `uid_slots` bound how many peers are served at once, in all and
//! per uid, frames and HTTP together ([`admit`]); `http` serves the HTTP/JSON API.
//!
//! The accept loop: a connection limit, one task per peer, and a graceful stop.
//! A connection slot is taken *before* `accept()`, so at the limit new peers wait in the
//! kernel's backlog instead of costing the daemon memory; `admin_reserved_connections` of the
//! slots are kept for host admins (`connection_slots`).
//! Errors on one connection are logged inside its task and never reach this loop.
//! Each uid may hold at most `max_connections_per_uid` of them, so one local user cannot starve
//! the others.

pub mod activation;
pub(crate) mod connection;
pub(crate) mod connection_slots;
pub(crate) mod http;
pub(crate) mod listener;
pub(crate) mod peer;
pub(crate) mod uid_slots;

use bytes::BytesMut;
use keyward_protocol::frame;
use keyward_protocol::{ErrorCode, HelloReply, WireError};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::state::DaemonState;
use connection::{Connection, ConnectionError};
use peer::Peer;

/// Pause after an `accept` failure such as EMFILE, so the loop does not spin while descriptors
/// are exhausted.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `listener` until `shutdown` fires, then waits for in-flight requests to finish.
pub(crate) async fn run(
    listener: &UnixListener,
    shared: Arc<DaemonState>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = shared.connections.take() => slot,
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(admitted) = admit(&shared, &stream, permit) else {
            continue;
        };
        let Admitted { peer, slots } = match admitted {
            Ok(admitted) => admitted,
            Err((peer, why)) => {
                refuse(&stream, peer, why);
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let shutdown = shutdown.clone();
        let limits = shared.settings.load().limits.clone();
        tracker.spawn(async move {
            let _open = shared.metrics.connection_opened();
            let result = Connection::new(stream, peer, limits)
                .serve(Arc::clone(&shared), shutdown)
                .await;
            match result {
                Ok(()) => {}
                // A peer hanging up mid-write is how clients end; not worth a warning.
                Err(ConnectionError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    tracing::debug!(uid = peer.uid, pid = peer.pid, error = %e, "connection closed")
                }
            }
            drop(slots);
        });
    }
    // Busy connections see this after their current batch; idle ones see `shutdown` itself.
    shared.stop();
    tracker.close();
    tracker.wait().await;
}

/// A peer let in, and the slots it holds until its connection closes.
pub(crate) struct Admitted {
    pub peer: Peer,
    /// Held for their drop.
    pub slots: (connection_slots::Slot, uid_slots::UidSlot),
}

/// Applies the connection limits to an accepted peer, the same for frames and HTTP: its uid's
/// share, and the slots reserved for host admins. `None` means the peer's credentials could
/// not be read (logged, and the stream should be dropped); `Err` holds the peer and why it is
/// refused, for the caller to tell it in its own protocol.
pub(crate) fn admit(
    shared: &DaemonState,
    stream: &UnixStream,
    permit: connection_slots::Slot,
) -> Option<Result<Admitted, (Peer, String)>> {
    let peer = match Peer::of(stream) {
        Ok(peer) => peer,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read peer credentials; closing");
            return None;
        }
    };
    let Some(uid_slot) = shared.per_uid.take(peer.uid) else {
        shared.metrics.connection_refused();
        let why = format!(
            "too many connections from uid {} (limit {})",
            peer.uid,
            shared.per_uid.share()
        );
        return Some(Err((peer, why)));
    };
    let host_admin = peer.is_host_admin(shared.daemon_uid, &shared.settings.load().admins);
    let Some(permit) = shared.connections.keep(permit, host_admin) else {
        shared.metrics.connection_refused();
        let why = "every connection slot is taken; the few left are reserved for host admins";
        return Some(Err((peer, why.to_owned())));
    };
    Some(Ok(Admitted {
        peer,
        slots: (permit, uid_slot),
    }))
}

/// Tells a peer why it is refused (a uid over its share, or no slot it may use), without
/// waiting for it, and closes.
fn refuse(stream: &UnixStream, peer: Peer, why: String) {
    tracing::debug!(uid = peer.uid, pid = peer.pid, why, "connection refused");
    let reply = HelloReply::Refused(WireError::new(ErrorCode::Unavailable, why));
    let mut buf = BytesMut::new();
    if frame::write_message(&reply, &mut buf).is_ok() {
        // Best effort: a fresh socket's send buffer takes this small frame without blocking.
        let _ = stream.try_write(&buf);
    }
}
