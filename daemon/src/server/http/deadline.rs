//! The header deadline: a request's head must arrive whole within `frame_timeout` of its first
//! byte, however slowly it trickles.
//!
//! hyper's own `header_read_timeout` starts when a connection becomes ready for the next head,
//! idle or not, so it serves as the idle timeout (`connection_idle_timeout`); this one starts
//! at the head's first byte, as the frame socket's does. Bytes read while a request is being
//! answered belong to its body, or to a pipelined request, and start nothing.
//!
//! The write deadline: a write that cannot make progress for `write_timeout` fails, which
//! closes the connection, so a peer that never reads its replies holds no more than hyper's
//! bounded buffers and the socket's, as on the frame socket.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// When the head being read began, if one is; and how many requests are being answered.
#[derive(Debug)]
pub(crate) struct HeadClock {
    started: watch::Sender<Option<Instant>>,
    in_flight: AtomicUsize,
}

/// A request being answered; dropping it ends that.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<HeadClock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HeadClock {
    pub fn new() -> Arc<HeadClock> {
        Arc::new(HeadClock {
            started: watch::Sender::new(None),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Bytes arrived: between requests, they start a head.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            self.started.send_if_modified(|started| {
                let first = started.is_none();
                if first {
                    *started = Some(Instant::now());
                }
                first
            });
        }
    }

    /// A head was read whole and its request is being answered.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.started
            .send_if_modified(|started| started.take().is_some());
        InFlight(Arc::clone(self))
    }

    /// Resolves once a head has been arriving for longer than `limit`.
    pub async fn expired(&self, limit: Duration) {
        let mut started = self.started.subscribe();
        loop {
            let since = *started.borrow_and_update();
            match since {
                None => {
                    // The sender lives as long as `self`.
                    let _ = started.changed().await;
                }
                Some(since) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(since + limit) => {
                            if *started.borrow() == Some(since) {
                                return;
                            }
                        }
                        _ = started.changed() => {}
                    }
                }
            }
        }
    }
}

/// A stream that tells its [`HeadClock`] when bytes arrive, and fails a write that cannot make
/// progress for `write_timeout`.
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    clock: Arc<HeadClock>,
    write_timeout: Duration,
    /// Since when writes have been blocked, as the deadline it gives; none while they progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, clock: Arc<HeadClock>, write_timeout: Duration) -> Watched<S> {
        Watched {
            inner,
            clock,
            write_timeout,
            stalled: None,
        }
    }

    /// A write's outcome under the write deadline: progress clears it, a block starts it (or
    /// keeps it running), and a block past it is an error.
    fn deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timeout = self.write_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer took no reply bytes within write_timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.deadline(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.deadline(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.deadline(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A head's first byte starts the clock; a request in flight stops it, and its body's
    /// bytes start nothing.
    #[tokio::test]
    async fn head_clock() {
        let clock = HeadClock::new();
        let (a, mut b) = tokio::io::duplex(64);
        let mut watched = Watched::new(a, Arc::clone(&clock), Duration::from_secs(5));
        let limit = Duration::from_millis(50);
        b.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 3];
        watched.read_exact(&mut buf).await.unwrap();
        tokio::time::timeout(limit * 100, clock.expired(limit))
            .await
            .expect("a started head expires");
        let in_flight = clock.request_started();
        b.write_all(b"body").await.unwrap();
        let mut buf = [0u8; 4];
        watched.read_exact(&mut buf).await.unwrap();
        assert!(tokio::time::timeout(limit * 20, clock.expired(limit))
            .await
            .is_err());
        drop(in_flight);
    }

    /// A write the peer does not take fails after `write_timeout`; one it takes clears it.
    #[tokio::test]
    async fn write_deadline() {
        let (a, mut b) = tokio::io::duplex(8);
        let limit = Duration::from_millis(50);
        let mut watched = Watched::new(a, HeadClock::new(), limit);
        watched.write_all(b"12345678").await.unwrap();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            b.read_exact(&mut buf).await.unwrap();
            b
        });
        watched.write_all(&[0u8; 16]).await.unwrap();
        let _b = reader.await.unwrap();
        let err = tokio::time::timeout(limit * 100, watched.write_all(&[0u8; 64]))
            .await
            .expect("a blocked write fails in time")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
