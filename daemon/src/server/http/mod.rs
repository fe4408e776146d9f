//! The HTTP/JSON API on its own Unix socket (`http.sock`): HTTP/1.1 with keep-alive, served by
//! hyper 1 with axum's router, under the same rules as the frame socket.
//!
//! Who is asking comes from `SO_PEERCRED`, put into each request's extensions by the
//! connection, never from the request; HTTP and frame connections share the per-uid share and
//! the admin reserve ([`crate::server::admit`]).
//! `routes` is the route table, `json` turns bodies into `Op`s, `errors` maps codes to
//! statuses, `forward_auth` answers nginx's and Caddy's auth subrequests, `openapi` serves the
//! committed description.
//!
//! Limits: a request's head must arrive whole within `frame_timeout` of its first byte
//! (`deadline`), and within `connection_idle_timeout` of the connection being ready for it,
//! which closes an idle keep-alive connection (`deadline` too); a body must
//! follow its head within `frame_timeout` too, and is at most [`MAX_BODY`] bytes, refused with
//! 413 from its `Content-Length` before any of it is read; a reply the peer takes no byte of
//! for `write_timeout` closes the connection (`deadline`).
//! Nothing here logs a request's headers or body: `Authorization` carries an admin key.

mod deadline;
mod errors;
mod forward_auth;
mod json;
#[cfg(test)]
mod json_props;
pub(crate) mod openapi;
mod routes;

use axum::extract::Request;
use axum::http::header;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use keyward_protocol::ErrorCode;
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::{admit, Admitted, ACCEPT_BACKOFF};
use crate::state::DaemonState;
use deadline::{HeadClock, Watched};
use errors::ApiError;

/// The largest request body accepted: the frame protocol's 64 KiB.
pub(crate) const MAX_BODY: usize = keyward_protocol::MAX_FRAME_LEN;

/// hyper's read buffer, which bounds a request's head: every route's headers fit in far less.
const MAX_HEAD: usize = 16 * 1024;

/// Serves the HTTP API on `listener` until `shutdown` fires, then lets in-flight requests
/// finish.
pub(crate) async fn run(
    listener: &UnixListener,
    shared: Arc<DaemonState>,
    shutdown: CancellationToken,
) {
    let router = routes::router(Arc::clone(&shared));
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // A slot is taken after `accept()` here, not before as on the frame socket: a slot held
        // while waiting would be one that neither socket could use. At the limit, one accepted
        // peer waits here and the rest in the kernel's backlog, as on the frame socket.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = shared.connections.take() => slot,
        };
        let Some(admitted) = admit(&shared, &stream, permit) else {
            continue;
        };
        let Admitted { peer, slots } = match admitted {
            Ok(admitted) => admitted,
            Err((peer, why)) => {
                tracing::debug!(
                    uid = peer.uid,
                    pid = peer.pid,
                    why,
                    "http connection refused"
                );
                refuse(&stream, &why);
                continue;
            }
        };
        let limits = shared.settings.load().limits.clone();
        let frame_timeout = limits.frame_timeout;
        let router = router.clone();
        let clock = HeadClock::new();
        let requests = Arc::clone(&clock);
        let fast = Arc::clone(&shared);
        let service = tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            let in_flight = requests.request_started();
            let router = router.clone();
            let shared = Arc::clone(&fast);
            async move {
                if let Some(response) = refuse_large(&request) {
                    return Ok(response);
                }
                let response = if is(&request, &axum::http::Method::POST, "/v1/verify") {
                    let body = axum::body::Body::new(request.into_body());
                    Ok(routes::verify_direct(&shared, peer, frame_timeout, body).await)
                } else if is(&request, &axum::http::Method::GET, "/v1/auth") {
                    Ok(forward_auth::answer(&shared, peer, request.headers()).await)
                } else {
                    request.extensions_mut().insert(peer);
                    request
                        .extensions_mut()
                        .insert(routes::BodyDeadline(frame_timeout));
                    router.oneshot(request.map(axum::body::Body::new)).await
                };
                drop(in_flight);
                response
            }
        });
        let shared = Arc::clone(&shared);
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _open = shared.metrics.connection_opened();
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                // The idle timeout is the clock's (`deadline`), not a timer per request.
                .header_read_timeout(None)
                .keep_alive(true)
                // One buffer and one `write` per reply: cheaper than `writev` for small replies.
                .writev(false)
                .max_buf_size(MAX_HEAD);
            let io = TokioIo::new(Watched::new(
                stream,
                Arc::clone(&clock),
                limits.write_timeout,
            ));
            let connection = builder.serve_connection(io, TowerToHyperService::new(service));
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                why = clock.expired(limits.frame_timeout, limits.connection_idle_timeout) => {
                    tracing::debug!(uid = peer.uid, pid = peer.pid, ?why, "http connection closed");
                    Ok(())
                }
                _ = shutdown.cancelled() => {
                    // In-flight requests finish; a head still trickling in does not hold up
                    // the stop for longer than its own deadline.
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        result = connection.as_mut() => result,
                        _ = clock.expired(limits.frame_timeout, limits.connection_idle_timeout) => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(uid = peer.uid, pid = peer.pid, error = %e, "http connection closed");
            }
            drop(slots);
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Whether `request` is `method path`: the two hot routes, `POST /v1/verify` and
/// `GET /v1/auth`, skip the router's matching and extractors (BENCHMARKS.md); the router's own
/// routes for them call the same functions.
fn is<B>(request: &Request<B>, method: &axum::http::Method, path: &str) -> bool {
    request.method() == method && request.uri().path() == path
}

/// A 413 for a body whose `Content-Length` is over [`MAX_BODY`], before any of it is read.
fn refuse_large<B>(request: &Request<B>) -> Option<axum::response::Response> {
    let length = request.headers().get(header::CONTENT_LENGTH)?;
    let length: u64 = length.to_str().ok()?.trim().parse().ok()?;
    (length > MAX_BODY as u64).then(|| ApiError::TooLarge(routes::too_large()).into_response())
}

/// Tells a refused peer why, as a 503, without waiting for it, and closes.
fn refuse(stream: &UnixStream, why: &str) {
    let body = keyward_protocol::json::render_error(ErrorCode::Unavailable.as_str(), why);
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        errors::RETRY_AFTER_SECS,
        body.len()
    );
    // Best effort: a fresh socket's send buffer takes this small response without blocking.
    let _ = stream.try_write(response.as_bytes());
}
