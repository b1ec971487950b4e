//! The gateway's limits, and what holds them while a request lives: the admit phase
//! ([`SandboxLimits::admit`], the per-sandbox limit behind `429 SANDBOX_CONNECTION_LIMIT`)
//! and the permit it gives, a body that holds that permit, and the open-connection guard.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::metrics::Metrics;

/// Counts one client connection as open until the last clone is dropped (a WebSocket relay
/// keeps a clone after hyper hands the socket over).
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    metrics: Arc<Metrics>,
}

impl ConnectionGuard {
    pub fn new(metrics: Arc<Metrics>) -> Arc<ConnectionGuard> {
        metrics.connection_opened();
        Arc::new(ConnectionGuard { metrics })
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.connection_closed();
    }
}

/// Requests and WebSocket sessions in flight, per sandbox.
#[derive(Debug)]
pub(crate) struct SandboxLimits {
    max: usize,
    counts: Mutex<HashMap<Arc<str>, usize>>,
}

impl SandboxLimits {
    pub fn new(max: usize) -> Arc<SandboxLimits> {
        Arc::new(SandboxLimits {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A permit for one more request to `sandbox`, or `None` at the limit.
    pub fn admit(self: &Arc<Self>, sandbox: &Arc<str>) -> Option<SandboxPermit> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(sandbox.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SandboxPermit {
            limits: self.clone(),
            sandbox: sandbox.clone(),
        })
    }
}

/// One request or session in flight to a sandbox; released on drop.
#[derive(Debug)]
pub(crate) struct SandboxPermit {
    limits: Arc<SandboxLimits>,
    sandbox: Arc<str>,
}

impl Drop for SandboxPermit {
    fn drop(&mut self) {
        let mut counts = self
            .limits
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.sandbox) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.sandbox);
            }
        }
    }
}

pin_project! {
    /// A response body that keeps its sandbox permit until the body is finished or dropped.
    pub(crate) struct Guarded<B> {
        #[pin]
        inner: B,
        permit: Option<SandboxPermit>,
    }
}

impl<B> Guarded<B> {
    pub fn new(inner: B, permit: SandboxPermit) -> Guarded<B> {
        Guarded {
            inner,
            permit: Some(permit),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Guarded<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        if matches!(res, Poll::Ready(None | Some(Err(_)))) {
            this.permit.take();
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
