//! The upstream connection pool: idle keep-alive HTTP/1.1 connections per sandbox
//! `host:port`, taken for one request and given back when that exchange is over.
//!
//! A connection is reusable only once both halves of its exchange are complete and nothing
//! is left unread: the response body read to its end (a response without a body, to HEAD or
//! with 204 or 304, is complete at its head) *and* the request body handed over whole
//! ([`BodyState`], kept by the request body's wrapper). A sandbox may answer before it has
//! read the request body; if the response ends first, the connection is not pooled: hyper
//! finishes sending the body on it and then closes it. A body that broke off (a client that
//! gave up midway) leaves a half-written request on its connection, which is closed.
//!
//! A connection is taken from the pool only if hyper says it is ready for a new request
//! now (`SendRequest::is_ready`: the last bytes written and the last response read); a
//! request never waits on a busy connection. One that is not ready yet stays in the pool for
//! a later request, and this one goes to the next ready connection or a new one.
//!
//! Lighter than hyper-util's general client: no URI to build or hash per request, and a
//! connection goes back to the pool from the response body itself at its end, not from a
//! task spawned per request to wait for that.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::Body;
use super::activity::BodyState;
use crate::connect::{ConnectError, UpstreamGuard, connect};

type Key = (Arc<str>, u16);

/// Why a request could not be forwarded.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection to the sandbox service.
    Connect(ConnectError),
    /// The connection failed or the answer was not HTTP.
    Upstream(hyper::Error),
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

#[derive(Debug)]
pub(crate) struct UpstreamPool {
    max_idle: usize,
    idle_timeout: Duration,
    retry_window: Duration,
    connect_timeout: Duration,
    /// The upstream address policy and Portway's own listeners, checked on every connect.
    guard: UpstreamGuard,
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    /// Whether the task that closes connections idle for too long runs.
    sweeping: std::sync::atomic::AtomicBool,
}

impl UpstreamPool {
    pub fn new(
        max_idle: usize,
        idle_timeout: Duration,
        retry_window: Duration,
        connect_timeout: Duration,
        guard: UpstreamGuard,
    ) -> Arc<UpstreamPool> {
        Arc::new(UpstreamPool {
            max_idle,
            idle_timeout,
            retry_window,
            connect_timeout,
            guard,
            idle: Mutex::new(HashMap::new()),
            sweeping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection to `host:port` that is open and ready for a request now, if there
    /// is one, the most recently used first. Closed and expired ones are dropped on the way;
    /// one not ready yet (still writing the end of its last request) is left for later.
    fn take_idle(&self, host: &Arc<str>, port: u16) -> Option<SendRequest<Body>> {
        let mut idle = self.lock();
        let list = idle.get_mut(&(host.clone(), port))?;
        let fresh_after = Instant::now().checked_sub(self.idle_timeout);
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            let c = &list[i];
            if c.sender.is_closed() || fresh_after.is_some_and(|t| c.since <= t) {
                list.swap_remove(i);
            } else if c.sender.is_ready() {
                // What `swap_remove` moves to `i` was looked at already.
                return Some(list.swap_remove(i).sender);
            }
        }
        None
    }

    fn give_back(self: &Arc<Self>, key: Key, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = self.lock();
            let list = idle.entry(key).or_default();
            if list.len() >= self.max_idle {
                return;
            }
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
        if !self
            .sweeping
            .swap(true, std::sync::atomic::Ordering::Relaxed)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(sweep(Arc::downgrade(self), self.idle_timeout));
        }
    }

    async fn open(&self, host: &str, port: u16) -> Result<SendRequest<Body>, SendError> {
        let stream = connect(
            host,
            port,
            self.retry_window,
            self.connect_timeout,
            Some(&self.guard),
        )
        .await
        .map_err(SendError::Connect)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Upstream)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends `req` to `host:port` on an idle connection ready for it, or a new one; `body` is
    /// how `req`'s body goes, for the lease. A request that an idle connection could not take
    /// (closed by the sandbox meanwhile) is sent on another one, never waits for one.
    pub async fn send(
        self: &Arc<Self>,
        host: &Arc<str>,
        port: u16,
        mut req: Request<Body>,
        body: Arc<BodyState>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        while let Some(mut sender) = self.take_idle(host, port) {
            // Ready now, so this does not wait for the connection; a connection that closed
            // meanwhile gives the request back.
            match sender.try_send_request(req).await {
                Ok(res) => return Ok((res, self.lease(host, port, sender, body))),
                Err(mut e) => match e.take_message() {
                    Some(back) => req = back,
                    None => return Err(SendError::Upstream(e.into_error())),
                },
            }
        }
        let mut sender = self.open(host, port).await?;
        let res = sender
            .send_request(req)
            .await
            .map_err(SendError::Upstream)?;
        Ok((res, self.lease(host, port, sender, body)))
    }

    fn lease(
        self: &Arc<Self>,
        host: &Arc<str>,
        port: u16,
        sender: SendRequest<Body>,
        body: Arc<BodyState>,
    ) -> Lease {
        Lease {
            pool: self.clone(),
            key: Some((host.clone(), port)),
            sender: Some(sender),
            request: body,
        }
    }
}

/// Closes the connections that have been idle longer than the timeout, until the pool is gone.
async fn sweep(pool: Weak<UpstreamPool>, idle_timeout: Duration) {
    let every = idle_timeout.clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        let Some(pool) = pool.upgrade() else { return };
        let Some(limit) = Instant::now().checked_sub(idle_timeout) else {
            continue;
        };
        pool.lock().retain(|_, list| {
            list.retain(|c| c.since > limit && !c.sender.is_closed());
            !list.is_empty()
        });
    }
}

/// A connection in use by one exchange; back to the pool when the response body was read to
/// its end and the request body had been handed over whole, closed otherwise (after hyper
/// has finished writing the request body, if it still is).
#[derive(Debug)]
pub(crate) struct Lease {
    pool: Arc<UpstreamPool>,
    key: Option<Key>,
    sender: Option<SendRequest<Body>>,
    /// How the request body went.
    request: Arc<BodyState>,
}

impl Lease {
    /// Ends the lease; `finished` says whether the response body was read to its end.
    fn release(&mut self, finished: bool) {
        let reusable = finished && self.request.complete();
        if let (true, Some(key), Some(sender)) = (reusable, self.key.take(), self.sender.take()) {
            self.pool.give_back(key, sender);
        }
        self.sender = None;
    }
}

pin_project! {
    /// A sandbox's response body that gives its connection back at its end.
    pub(crate) struct Pooled {
        #[pin]
        inner: Incoming,
        lease: Lease,
    }

    impl PinnedDrop for Pooled {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let finished = http_body::Body::is_end_stream(&*this.inner);
            this.lease.release(finished);
        }
    }
}

impl Pooled {
    pub fn new(inner: Incoming, lease: Lease) -> Pooled {
        Pooled { inner, lease }
    }
}

impl http_body::Body for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        match &res {
            Poll::Ready(None) => this.lease.release(true),
            Poll::Ready(Some(Err(_))) => this.lease.release(false),
            _ => {}
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
