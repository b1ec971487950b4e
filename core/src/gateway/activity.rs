//! What the gateway watches as bytes move, for its timeouts and its answers: when a client
//! connection last moved a byte ([`Activity`], through a [`Tracked`] stream), behind the idle
//! timeouts, and how a client's request body went ([`Watched`]): whether it failed, so that a
//! malformed body is answered 400 rather than blamed on the sandbox, and whether it went out
//! whole, so that its upstream connection is reused only then.

use crate::lifecycle::PortCounters;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicU8, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When a connection last moved a byte, as milliseconds since a base instant. While a
/// request waits for the sandbox's response head the connection is not idle: the response
/// timeout governs that wait.
#[derive(Debug)]
pub(crate) struct Activity {
    base: Instant,
    last_ms: AtomicU64,
    awaiting_head: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            awaiting_head: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        self.last_ms
            .store(self.base.elapsed().as_millis() as u64, Relaxed);
    }

    /// The instant at which the connection becomes idle for `timeout`.
    pub fn idle_deadline(&self, timeout: Duration) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Relaxed)) + timeout
    }

    /// Marks a request as waiting for its response head until the guard is dropped.
    pub fn awaiting_head(self: &Arc<Self>) -> AwaitingHead {
        self.awaiting_head.fetch_add(1, Relaxed);
        AwaitingHead(self.clone())
    }

    /// Whether the connection has been idle for `timeout`, with no request waiting.
    pub fn is_idle(&self, timeout: Duration) -> bool {
        self.awaiting_head.load(Relaxed) == 0 && self.idle_deadline(timeout) <= Instant::now()
    }
}

/// See [`Activity::awaiting_head`].
pub(crate) struct AwaitingHead(Arc<Activity>);

impl Drop for AwaitingHead {
    fn drop(&mut self) {
        self.0.awaiting_head.fetch_sub(1, Relaxed);
        self.0.touch();
    }
}

pin_project! {
    /// A stream that records its activity.
    #[derive(Debug)]
    pub(crate) struct Tracked<T> {
        #[pin]
        inner: T,
        activity: Arc<Activity>,
    }
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Tracked<T> {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let res = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        res
    }
}

impl<T: AsyncWrite> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let res = this.inner.poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let res = this.inner.poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

/// How a request body went, as [`Watched`] saw it: shared with the gateway (a body that
/// failed is the client's fault: 400) and with the lease of the upstream connection it went
/// out on (only a connection whose request body was handed over whole may be reused).
#[derive(Debug, Default)]
pub(crate) struct BodyState(AtomicU8);

/// The body's last frame was handed on.
const ENDED: u8 = 1;
/// The client's stream failed.
const FAILED: u8 = 2;

impl BodyState {
    fn set(&self, bit: u8) {
        if self.0.load(Relaxed) & bit == 0 {
            self.0.fetch_or(bit, Release);
        }
    }

    /// Whether the client's stream failed (a malformed chunk, a connection cut mid-body).
    pub fn failed(&self) -> bool {
        self.0.load(Acquire) & FAILED != 0
    }

    /// Whether the body was handed on to its end, without failing.
    pub fn complete(&self) -> bool {
        self.0.load(Acquire) == ENDED
    }
}

pin_project! {
    /// A request body that records how it went ([`BodyState`]): whether the client's stream
    /// failed, so the gateway can answer 400 rather than blame the sandbox, and whether it was
    /// handed on to its end (its last frame read, or nothing to read at all), so that its
    /// upstream connection is reused only after a whole request.
    pub(crate) struct Watched<B> {
        #[pin]
        inner: B,
        state: Arc<BodyState>,
        // The port whose received bytes it counts.
        counters: Arc<PortCounters>,
    }
}

impl<B: Body> Watched<B> {
    pub fn new(inner: B, counters: Arc<PortCounters>) -> (Watched<B>, Arc<BodyState>) {
        let state = Arc::new(BodyState::default());
        if inner.is_end_stream() {
            state.set(ENDED);
        }
        (
            Watched {
                inner,
                state: state.clone(),
                counters,
            },
            state,
        )
    }
}

impl<B: Body<Data = Bytes>> Body for Watched<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        match &res {
            Poll::Ready(Some(Err(_))) => this.state.set(FAILED),
            // Trailers are a body's last frame.
            Poll::Ready(None) => this.state.set(ENDED),
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => this.state.set(ENDED),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.counters.received(data.len());
                }
            }
            _ => {}
        }
        res
    }

    /// hyper asks this before the first frame and after each data frame, and stops reading a
    /// body that says it has ended: that is its end as well.
    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.state.set(ENDED);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
