//! What the gateway watches as bytes move, for its timeouts and its answers: when a client
//! connection last moved a byte ([`Activity`], through a [`Tracked`] stream), behind the idle
//! timeouts, and whether a client's request body failed ([`Watched`]), so that a malformed
//! body is answered 400 rather than blamed on the sandbox.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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

pin_project! {
    /// A request body that records whether the client's stream failed (a malformed chunk, a
    /// connection cut mid-body), so the gateway can answer 400 rather than blame the sandbox.
    pub(crate) struct Watched<B> {
        #[pin]
        inner: B,
        failed: Arc<std::sync::atomic::AtomicBool>,
    }
}

impl<B> Watched<B> {
    pub fn new(inner: B) -> (Watched<B>, Arc<std::sync::atomic::AtomicBool>) {
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            Watched {
                inner,
                failed: failed.clone(),
            },
            failed,
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
        if matches!(res, Poll::Ready(Some(Err(_)))) {
            this.failed.store(true, Relaxed);
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
