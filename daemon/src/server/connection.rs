//! One peer: the handshake, then frames in and responses out, each under a deadline.
//!
//! Deadlines:
//! - the handshake must complete within `handshake_timeout`;
//! - once a frame's first byte arrives, the rest must follow within `frame_timeout` (a peer that
//!   trickles bytes is closed however slowly it trickles);
//! - a connection with no request for `connection_idle_timeout` is closed;
//! - a batch of replies must be taken by the peer within `write_timeout`.
//!
//! Reading stops while replies are being written, so a peer that never reads its replies holds
//! at most one batch of them before it times out. A batch is written out whenever it reaches
//! [`WRITE_BATCH`], and after each write a buffer that grew past [`BUFFER_KEEP`] is given
//! back: a burst of small requests with large replies (7-byte `Stats` requests, 389-byte
//! replies: about 0.9 MB for one 16 KiB read) once left every connection holding its peak,
//! 500 idle connections 440 MB. Each request spends a unit of tokio's cooperative budget, so a
//! peer that never pauses still lets the other peers on the event loop have their turn.

use bytes::{Buf, BytesMut};
use keyward_protocol::frame::{self, FrameError};
use keyward_protocol::{
    ErrorCode, Hello, HelloReply, Request, Response, WireError, MAGIC, PROTOCOL_VERSION,
};
use nix::sys::socket::{recv, MsgFlags};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::time::{timeout, Instant};
use tokio_util::codec::LengthDelimitedCodec;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::dispatch::{answer_later, answer_now};
use crate::server::peer::Peer;
use crate::state::DaemonState;

/// Bytes read per `read` call; also the most unanswered request bytes buffered per connection.
const READ_CHUNK: usize = 16 * 1024;
/// Replies queued past this are written out before the next request is answered, so one read's
/// worth of requests cannot make a connection buffer a megabyte of replies.
const WRITE_BATCH: usize = 64 * 1024;
/// The most capacity a buffer keeps once written out (or, for the read buffer, once its whole
/// frames are answered); a larger one is replaced by a fresh one of [`READ_CHUNK`].
const BUFFER_KEEP: usize = 2 * READ_CHUNK;

/// `at + after`, or a time too far off to matter if that overflows: the config bounds every
/// deadline, and this keeps one that slipped past them from panicking a connection.
fn later(at: Instant, after: std::time::Duration) -> Instant {
    at.checked_add(after)
        .unwrap_or_else(|| at + std::time::Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Why a connection ended early. Logged at debug level: these are the peer's problems.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake not completed in time")]
    HandshakeTimeout,
    #[error("frame not completed in time")]
    FrameTimeout,
    #[error("idle for too long")]
    Idle,
    #[error("peer did not take its replies in time")]
    WriteTimeout,
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// One connection's state.
pub(crate) struct Connection {
    stream: UnixStream,
    peer: Peer,
    framing: LengthDelimitedCodec,
    read_buf: BytesMut,
    /// Where each `read` lands before it joins `read_buf`.
    scratch: Box<[u8]>,
    write_buf: BytesMut,
    limits: Limits,
    /// When the incomplete frame now in `read_buf` was first seen; `None` while it is empty.
    frame_started: Option<Instant>,
}

impl Connection {
    pub fn new(stream: UnixStream, peer: Peer, limits: Limits) -> Self {
        Connection {
            stream,
            peer,
            framing: frame::codec(),
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            write_buf: BytesMut::with_capacity(READ_CHUNK),
            limits,
            frame_started: None,
        }
    }

    /// Serves the peer until it leaves, misbehaves, or `shutdown` fires between requests.
    pub async fn serve(
        mut self,
        shared: Arc<DaemonState>,
        shutdown: CancellationToken,
    ) -> Result<(), ConnectionError> {
        if !self.handshake().await? {
            return Ok(());
        }
        // One shutdown waiter and one timer for the connection's life, rather than a fresh
        // registration of each per request: both showed in the verify profile.
        let cancelled = shutdown.clone().cancelled_owned();
        tokio::pin!(cancelled);
        let timer = tokio::time::sleep(self.limits.connection_idle_timeout);
        tokio::pin!(timer);
        // When the connection last had a request answered: the idle deadline counts from
        // here, never from a wake-up that brought nothing, or an early timer would push it on
        // for ever.
        let mut active_at = Instant::now();
        loop {
            // Answer every whole frame already buffered, then write the batch in one go.
            let mut answered = 0usize;
            loop {
                match frame::read_message::<Request>(&mut self.framing, &mut self.read_buf) {
                    Ok(Some(request)) => {
                        // Socket readiness and `try_io` take nothing from tokio's cooperative
                        // budget, so without this a peer that always has another request
                        // ready would hold the event loop and starve every other peer. Once
                        // the task's budget (128) is spent this yields.
                        tokio::task::coop::consume_budget().await;
                        let id = request.id;
                        let response = match answer_now(&shared, self.peer, request) {
                            Ok(response) => response,
                            Err(request) => answer_later(&shared, self.peer, request).await,
                        };
                        if self.queue(&response).is_err() {
                            // A reply too big for one frame (a huge listing) becomes an error
                            // rather than a dropped connection.
                            self.queue(&Response {
                                id,
                                result: Err(WireError::new(
                                    ErrorCode::Internal,
                                    "the reply exceeds the frame size limit",
                                )),
                            })?;
                        }
                        answered += 1;
                        if self.write_buf.len() >= WRITE_BATCH {
                            self.write_queued().await?;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return self.refuse(e).await,
                }
            }
            if answered > 0 {
                self.write_queued().await?;
                self.shrink_read_buf();
                // Whatever is left began after the last whole frame, so it is a new frame:
                // its deadline runs from now, not from the first partial frame of a peer
                // whose reads keep ending mid-frame.
                self.frame_started = None;
            }
            // A flag rather than `shutdown.is_cancelled()`, which takes a lock: this runs once
            // per request.
            if shared.stopping() {
                return Ok(());
            }
            // One clock read per request. A frame's start is stamped when it is first seen
            // incomplete here, which is at most one batch of answers after its first byte.
            let now = Instant::now();
            if answered > 0 {
                active_at = now;
            }
            let deadline = if self.read_buf.is_empty() {
                self.frame_started = None;
                later(active_at, self.limits.connection_idle_timeout)
            } else {
                later(
                    *self.frame_started.get_or_insert(now),
                    self.limits.frame_timeout,
                )
            };
            // Checked here as well as by the timer: a peer whose bytes trickle in fast enough
            // always has the read branch ready, and the timer below is polled only when it is
            // not.
            if now >= deadline {
                return Err(ConnectionError::FrameTimeout);
            }
            // The timer may run early (an idle deadline that has since moved on), never late:
            // it is moved earlier at once, and later only when it fires.
            if timer.deadline() > deadline {
                timer.as_mut().reset(deadline);
            }
            // Reading first: when a request has arrived, which is why this task was woken, the
            // other branches are not polled at all (each poll costs a lock or a registration).
            tokio::select! {
                biased;
                read = self.read_more() => match read {
                    Ok(true) => {}
                    Ok(false) => return self.eof(),
                    Err(e) => return Err(e.into()),
                },
                () = &mut cancelled, if self.read_buf.is_empty() => return Ok(()),
                () = &mut timer => {
                    if Instant::now() < deadline {
                        timer.as_mut().reset(deadline);
                    } else if self.read_buf.is_empty() {
                        return Err(ConnectionError::Idle);
                    } else {
                        return Err(ConnectionError::FrameTimeout);
                    }
                }
            }
        }
    }

    /// Reads and answers the hello. Returns `false` if the peer was refused.
    async fn handshake(&mut self) -> Result<bool, ConnectionError> {
        let hello = timeout(self.limits.handshake_timeout, async {
            loop {
                match frame::read_message::<Hello>(&mut self.framing, &mut self.read_buf) {
                    Ok(Some(hello)) => return Ok(Some(hello)),
                    Ok(None) => {}
                    Err(e) => return Err(e),
                }
                match self.read_more().await {
                    Ok(true) => {}
                    Ok(false) => return Ok(None),
                    Err(e) => return Err(FrameError::Framing(e)),
                }
            }
        })
        .await
        .map_err(|_| ConnectionError::HandshakeTimeout)?;
        let refusal = match hello {
            Ok(None) => return Ok(false),
            Ok(Some(h)) if h.magic != MAGIC => "not a keyward client (bad magic)".to_owned(),
            Ok(Some(h)) if h.version != PROTOCOL_VERSION => format!(
                "protocol version {} is not supported; this daemon speaks {PROTOCOL_VERSION}",
                h.version
            ),
            Ok(Some(_)) => {
                let accepted = HelloReply::Accepted {
                    version: PROTOCOL_VERSION,
                    server: env!("CARGO_PKG_VERSION").to_owned(),
                };
                self.queue(&accepted)?;
                self.write_queued().await?;
                return Ok(true);
            }
            Err(e) => format!("invalid handshake: {e}"),
        };
        self.queue(&HelloReply::Refused(WireError::new(
            ErrorCode::BadRequest,
            refusal.clone(),
        )))?;
        // Best effort: the peer may already be gone.
        let _ = self.write_queued().await;
        Err(ConnectionError::Protocol(refusal))
    }

    /// Reads more bytes. Returns `false` on end of stream.
    ///
    /// A read that returns less than it asked for has drained the socket, so it also clears
    /// the socket's read readiness: the next call then waits in epoll instead of making a
    /// `read` that can only fail with `EAGAIN`. That saves one of the three system calls of a
    /// request-response round trip. The readiness is captured before the read, so data that
    /// arrives after it re-arms the socket and nothing is missed.
    async fn read_more(&mut self) -> std::io::Result<bool> {
        let n = loop {
            self.stream.readable().await?;
            let mut got = None;
            let read = self.stream.try_io(Interest::READABLE, || {
                // `recv` rather than `read`: the socket call skips the file layer's checks.
                let n = recv(
                    self.stream.as_raw_fd(),
                    &mut self.scratch,
                    MsgFlags::empty(),
                )?;
                got = Some(n);
                if n > 0 && n < self.scratch.len() {
                    Err(std::io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (read, got) {
                (_, Some(n)) => break n,
                (Err(e), None) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                (Err(e), None) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                (Err(e), None) => return Err(e),
                (Ok(()), None) => unreachable!("the read ran"),
            }
        };
        self.read_buf.extend_from_slice(&self.scratch[..n]);
        Ok(n > 0)
    }

    fn eof(&self) -> Result<(), ConnectionError> {
        if self.read_buf.is_empty() {
            Ok(())
        } else {
            Err(ConnectionError::Protocol(
                "connection closed mid-frame".into(),
            ))
        }
    }

    /// Answers an undecodable or oversized frame with BAD_REQUEST, then closes: after a bad
    /// frame the byte stream cannot be trusted to be in step.
    async fn refuse(&mut self, error: FrameError) -> Result<(), ConnectionError> {
        let message = match &error {
            FrameError::Framing(_) => format!(
                "frame rejected: its length prefix exceeds the {} byte limit",
                keyward_protocol::MAX_FRAME_LEN
            ),
            FrameError::Body(e) => format!("request rejected: {e}"),
        };
        let response = Response {
            id: 0,
            result: Err(WireError::new(ErrorCode::BadRequest, message.clone())),
        };
        self.queue(&response)?;
        let _ = self.write_queued().await;
        Err(ConnectionError::Protocol(message))
    }

    /// Gives back a read buffer that grew past [`BUFFER_KEEP`] (a large frame, or a burst),
    /// keeping the partial frame it may hold.
    fn shrink_read_buf(&mut self) {
        if self.read_buf.capacity() > BUFFER_KEEP && self.read_buf.len() <= READ_CHUNK {
            let mut fresh = BytesMut::with_capacity(READ_CHUNK);
            fresh.extend_from_slice(&self.read_buf);
            self.read_buf = fresh;
        }
    }

    /// Empties the written-out write buffer, giving it back if it grew past [`BUFFER_KEEP`].
    fn reset_write_buf(&mut self) {
        if self.write_buf.capacity() > BUFFER_KEEP {
            self.write_buf = BytesMut::with_capacity(READ_CHUNK);
        } else {
            self.write_buf.clear();
        }
    }

    fn queue<T: serde::Serialize>(&mut self, message: &T) -> Result<(), ConnectionError> {
        frame::write_message(message, &mut self.write_buf)
            .map_err(|e| ConnectionError::Protocol(e.to_string()))
    }

    async fn write_queued(&mut self) -> Result<(), ConnectionError> {
        // Nearly always the socket takes the whole batch at once; only a peer that is slow to
        // read needs the deadline (and its timer).
        match self.stream.try_write(&self.write_buf) {
            Ok(n) if n == self.write_buf.len() => {
                self.reset_write_buf();
                return Ok(());
            }
            Ok(n) => self.write_buf.advance(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        timeout(
            self.limits.write_timeout,
            self.stream.write_all(&self.write_buf),
        )
        .await
        .map_err(|_| ConnectionError::WriteTimeout)??;
        self.reset_write_buf();
        Ok(())
    }
}
