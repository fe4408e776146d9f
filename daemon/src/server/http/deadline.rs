//! The header deadline: a request's head must arrive whole within `frame_timeout` of its first
//! byte, however slowly it trickles.
//!
//! It starts at the head's first byte, as the frame socket's does. Bytes read while a request
//! is being answered belong to its body, or to a pipelined request, and start nothing.
//!
//! The idle deadline: a connection that waits `connection_idle_timeout` for a head is closed.
//! It is kept here rather than with hyper's `header_read_timeout`, which arms a timer for every
//! request: that cost 5% of HTTP verify throughput (BENCHMARKS.md).
//!
//! The write deadline: a write that cannot make progress for `write_timeout` fails, which
//! closes the connection, so a peer that never reads its replies holds no more than hyper's
//! bounded buffers and the socket's, as on the frame socket.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// When the head being read began, if one is; how many requests are being answered; and since
/// when the connection has been waiting for a head.
///
/// Plain atomics, not a channel or a timer per request: they change on every request, and a
/// notification or a timer for each would cost more than the request's own work. The deadline
/// looks at them when its one timer fires instead.
#[derive(Debug)]
pub(crate) struct HeadClock {
    /// The clock's zero: the instants below count from it.
    base: Instant,
    /// Nanoseconds from `base` to the current head's first byte, plus one; 0 when no head is
    /// being read.
    started: AtomicU64,
    /// Nanoseconds from `base` to when the connection last became ready for a head.
    idle_since: AtomicU64,
    in_flight: AtomicUsize,
}

/// Why a connection is closed: its head came too slowly, or no head came at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// A head was still arriving `frame_timeout` after its first byte.
    SlowHead,
    /// No head began for `connection_idle_timeout`.
    Idle,
}

/// A request being answered; dropping it ends that.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<HeadClock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let clock = &self.0;
        clock.idle_since.store(clock.now(), Ordering::Relaxed);
        clock.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HeadClock {
    pub fn new() -> Arc<HeadClock> {
        Arc::new(HeadClock {
            base: Instant::now(),
            started: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Nanoseconds since `base`.
    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, nanos: u64) -> Instant {
        self.base + Duration::from_nanos(nanos)
    }

    /// Bytes arrived: between requests, they start a head.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 && self.started.load(Ordering::Relaxed) == 0
        {
            self.started.store(self.now() + 1, Ordering::Relaxed);
        }
    }

    /// A head was read whole and its request is being answered.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.started.store(0, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Resolves once a head has been arriving for longer than `head_limit`, or no head has
    /// begun for `idle_limit` while no request was being answered.
    ///
    /// It sleeps until the earliest moment either could happen and looks again then, so a
    /// head that began at `s` is caught at `s + head_limit`, whatever happened in between.
    pub async fn expired(&self, head_limit: Duration, idle_limit: Duration) -> Expired {
        loop {
            let now = Instant::now();
            let wake = match self.started.load(Ordering::Relaxed) {
                0 if self.in_flight.load(Ordering::Relaxed) == 0 => {
                    let idle = self.at(self.idle_since.load(Ordering::Relaxed)) + idle_limit;
                    if idle <= now {
                        return Expired::Idle;
                    }
                    idle.min(now + head_limit)
                }
                0 => now + head_limit,
                started => {
                    let due = self.at(started - 1) + head_limit;
                    if due <= now {
                        return Expired::SlowHead;
                    }
                    due
                }
            };
            tokio::time::sleep_until(wake).await;
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
    /// bytes start nothing; once it is answered, the idle clock runs.
    #[tokio::test]
    async fn head_clock() {
        let clock = HeadClock::new();
        let (a, mut b) = tokio::io::duplex(64);
        let mut watched = Watched::new(a, Arc::clone(&clock), Duration::from_secs(5));
        let limit = Duration::from_millis(50);
        let idle = Duration::from_secs(3600);
        b.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 3];
        watched.read_exact(&mut buf).await.unwrap();
        let expired = tokio::time::timeout(limit * 100, clock.expired(limit, idle))
            .await
            .expect("a started head expires");
        assert_eq!(expired, Expired::SlowHead);
        let in_flight = clock.request_started();
        b.write_all(b"body").await.unwrap();
        let mut buf = [0u8; 4];
        watched.read_exact(&mut buf).await.unwrap();
        assert!(
            tokio::time::timeout(limit * 20, clock.expired(limit, limit))
                .await
                .is_err()
        );
        drop(in_flight);
        let expired = tokio::time::timeout(limit * 100, clock.expired(limit, limit))
            .await
            .expect("an idle connection expires");
        assert_eq!(expired, Expired::Idle);
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
