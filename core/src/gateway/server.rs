//! The gateway's own listener: accept, limits, idle and head timeouts, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::activity::{Activity, Tracked};
use super::framing::{BothLengths, FramingLog, HeadScanner, Scanned};
use super::refusal::GatewayRefusal;
use crate::error::{Error, Result};

/// A running gateway. Closing it (or dropping it) stops it: [`GatewayHandle::shutdown`]
/// stops accepting, lets in-flight requests finish up to a deadline, then closes the rest;
/// dropping it closes everything at once.
///
/// ```
/// # async fn demo() -> portway::Result<()> {
/// let portway = portway::Portway::builder().build()?;
/// let gateway = portway.serve("127.0.0.1:0").await?;
/// println!("serving on {}", gateway.local_addr());
/// gateway.shutdown(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GatewayHandle {
    gateway: Gateway,
    local_addr: SocketAddr,
    stop_accepting: CancellationToken,
    accept_loop: Mutex<Option<JoinHandle<()>>>,
}

impl GatewayHandle {
    pub(crate) async fn bind(gateway: Gateway, addr: &str) -> Result<GatewayHandle> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Gateway(format!("cannot listen on {addr}: {e}")))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::Gateway(format!("cannot read the listening address: {e}")))?;
        let stop_accepting = CancellationToken::new();
        let accept_loop = tokio::spawn(accept(listener, gateway.clone(), stop_accepting.clone()));
        tracing::info!(%local_addr, "gateway listening");
        Ok(GatewayHandle {
            gateway,
            local_addr,
            stop_accepting,
            accept_loop: Mutex::new(Some(accept_loop)),
        })
    }

    /// The address the gateway listens on (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The gateway behind this listener: its configuration and counters.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Shuts down gracefully: stops accepting, asks open connections to finish their
    /// in-flight request and WebSocket sessions to close (1001), waits up to `deadline`,
    /// then closes whatever is left. Calling it again (or after `close`) is harmless.
    pub async fn shutdown(&self, deadline: Duration) {
        self.stop_accepting.cancel();
        let accept_loop = self
            .accept_loop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = accept_loop {
            let _ = task.await;
        }
        let inner = &self.gateway.inner;
        inner.graceful.cancel();
        inner.tasks.close();
        if timeout(deadline, inner.tasks.wait()).await.is_err() {
            inner.kill.cancel();
            inner.tasks.wait().await;
        }
        tracing::info!(local_addr = %self.local_addr, "gateway stopped");
    }

    /// [`GatewayHandle::shutdown`] with the configured `shutdown_timeout`.
    pub async fn close(&self) {
        self.shutdown(self.gateway.inner.config.shutdown_timeout)
            .await;
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.stop_accepting.cancel();
        self.gateway.inner.kill.cancel();
    }
}

async fn accept(listener: TcpListener, gateway: Gateway, stop: CancellationToken) {
    let inner = &gateway.inner;
    let config = &inner.config;
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            _ = inner.kill.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: the
                    // listener itself is fine. Pause a little so EMFILE does not spin.
                    tracing::warn!(error = %e, "accept failed");
                    sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if inner.metrics.snapshot().open_connections >= config.max_connections as i64 {
            inner.metrics.connection_refused();
            inner.tasks.spawn(refuse_connection(stream));
            continue;
        }
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        inner
            .tasks
            .spawn(async move { gateway.serve_connection(stream, peer).await });
    }
}

/// Answers a connection over the limit with a canned 503 and closes it, without reading it.
async fn refuse_connection(mut stream: TcpStream) {
    let (head, body) = GatewayRefusal::over_connection_limit().raw();
    let _ = timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

impl Gateway {
    /// Serves one client connection of any kind (a TCP stream accepted by the host
    /// application, a TLS stream it terminated, a Unix socket) with the gateway's limits and
    /// timeouts, until the client is done. `peer` is the client's address, for
    /// `X-Forwarded-For`. The gateway's own listener uses this for every connection.
    ///
    /// ```no_run
    /// # async fn demo(gateway: portway::Gateway) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
    /// loop {
    ///     let (tcp, peer) = listener.accept().await?;
    ///     // let tls = acceptor.accept(tcp).await?;  // terminate TLS here if you like
    ///     let gateway = gateway.clone();
    ///     tokio::spawn(async move { gateway.serve_connection(tcp, peer).await });
    /// }
    /// # }
    /// ```
    pub async fn serve_connection<IO>(&self, io: IO, peer: SocketAddr)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        serve_connection(self.clone(), io, peer).await
    }
}

async fn serve_connection<IO>(gateway: Gateway, stream: IO, peer: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &gateway.inner.config;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.head_timeout)
        .max_header_size(config.max_head_size)
        .max_headers(config.max_headers)
        .keep_alive(true);
    let guard = gateway.connection_guard();
    let activity = Activity::new();
    let framing = FramingLog::new();
    let scanner = HeadScanner::new(config.max_head_size, config.max_headers, framing.clone());
    let io = TokioIo::new(Tracked::new(
        Scanned::new(stream, scanner),
        activity.clone(),
    ));
    let service_gateway = gateway.clone();
    let service_activity = activity.clone();
    let service = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        let gateway = service_gateway.clone();
        let waiting = service_activity.awaiting_head();
        // hyper removed this request's Content-Length: mark it for the refusal phase.
        if framing.next_request_has_both_lengths() {
            req.extensions_mut().insert(BothLengths);
        }
        async move {
            let res = gateway.handle_from(req, Some(peer)).await;
            drop(waiting);
            Ok::<_, Infallible>(res)
        }
    });
    let inner = &gateway.inner;
    let conn = http.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let idle = inner.config.idle_timeout;
    let mut draining = false;
    let mut check_idle_at = activity.idle_deadline(idle);
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = inner.graceful.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = inner.kill.cancelled() => break,
            _ = sleep_until(check_idle_at) => {
                if activity.is_idle(idle) {
                    tracing::debug!(%peer, "idle timeout");
                    break;
                }
                // Traffic moved the deadline, or a request is waiting for its response head.
                let (deadline, now) = (activity.idle_deadline(idle), Instant::now());
                check_idle_at = if deadline > now { deadline } else { now + idle };
            }
        }
    }
    drop(guard);
}
