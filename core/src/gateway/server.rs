//! The gateway's own listener: accept, limits, idle and head timeouts, graceful shutdown.
//!
//! A failed accept (out of file descriptors, most often) is counted
//! (`portway_accept_failures_total`) and logged at most once a second with the number of
//! failures left out since the last line; when descriptors run out (`EMFILE`, `ENFILE`)
//! the loop backs off, from 10 ms doubling up to 1 s while the failures last, instead of
//! spinning on a listener that stays readable.

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

use super::activity::{Activity, Tracked};
use super::framing::{BothLengths, FramingLog, HeadScanner, Scanned};
use super::limits::ClientSlot;
use super::refusal::GatewayRefusal;
use super::{Gateway, proxy_protocol};
use crate::error::{Error, Result};
use crate::throttle::Throttle;

/// At most one line a second about failed accepts.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(1);
/// The first pause after running out of descriptors, doubled while it lasts, up to
/// [`MAX_ACCEPT_BACKOFF`].
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Whether an accept failed for want of file descriptors (`EMFILE`, `ENFILE`; the same
/// numbers on Linux, macOS and the BSDs), or of memory for the socket (`ENOBUFS`, `ENOMEM`).
fn out_of_resources(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        const ENOMEM: i32 = 12;
        const ENFILE: i32 = 23;
        const EMFILE: i32 = 24;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        const ENOBUFS: i32 = 105;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        const ENOBUFS: i32 = 55;
        matches!(e.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
    }
    #[cfg(not(unix))]
    {
        e.kind() == std::io::ErrorKind::OutOfMemory
    }
}

/// How long to pause after a failed accept: doubling while descriptors stay out (from
/// [`MIN_ACCEPT_BACKOFF`] to [`MAX_ACCEPT_BACKOFF`]), a millisecond otherwise (a connection
/// reset before it was accepted is no reason to wait).
fn accept_backoff(e: &std::io::Error, last: Option<Duration>) -> Duration {
    if !out_of_resources(e) {
        return Duration::from_millis(1);
    }
    match last {
        Some(d) if d >= MIN_ACCEPT_BACKOFF => (d * 2).min(MAX_ACCEPT_BACKOFF),
        _ => MIN_ACCEPT_BACKOFF,
    }
}
use crate::upstream_policy::ListenerRegistration;

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
    /// The listener's place among Portway's own addresses, which no exposure may reach.
    _own: ListenerRegistration,
}

impl GatewayHandle {
    pub(crate) async fn bind(gateway: Gateway, addr: &str) -> Result<GatewayHandle> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Gateway(format!("cannot listen on {addr}: {e}")))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::Gateway(format!("cannot read the listening address: {e}")))?;
        let own = gateway.inner.registry.listeners.register(local_addr);
        let stop_accepting = CancellationToken::new();
        let accept_loop = tokio::spawn(accept(listener, gateway.clone(), stop_accepting.clone()));
        tracing::info!(%local_addr, "gateway listening");
        Ok(GatewayHandle {
            gateway,
            local_addr,
            stop_accepting,
            accept_loop: Mutex::new(Some(accept_loop)),
            _own: own,
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
    let mut failures = Throttle::new(ACCEPT_LOG_EVERY);
    let mut backoff = None;
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            _ = inner.kill.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: the
                    // listener itself is fine. Logged sparingly; paused so EMFILE does
                    // not spin.
                    inner.metrics.accept_failed();
                    if let Some(suppressed) = failures.hit() {
                        tracing::warn!(error = %e, suppressed, "accept failed");
                    }
                    let pause = accept_backoff(&e, backoff);
                    backoff = Some(pause);
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = inner.kill.cancelled() => break,
                        _ = sleep(pause) => {}
                    }
                    continue;
                }
            },
        };
        backoff = None;
        if inner.metrics.snapshot().open_connections >= config.max_connections as i64 {
            inner.metrics.connection_refused();
            let refusal = GatewayRefusal::over_connection_limit();
            inner.tasks.spawn(refuse_connection(stream, refusal));
            continue;
        }
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        inner.tasks.spawn(async move {
            let mut stream = stream;
            // The client is known once a trusted proxy's PROXY header is read; its address
            // is the one the per-client limit counts.
            let Some(client) = gateway.client_of(&mut stream, peer).await else {
                return;
            };
            let slot = match &gateway.inner.client_connections {
                None => None,
                Some(table) => match table.open(client.ip()) {
                    Some(slot) => Some(slot),
                    None => {
                        gateway.inner.metrics.client_connection_refused();
                        let refusal = GatewayRefusal::client_at_connection_limit();
                        return refuse_connection(stream, refusal).await;
                    }
                },
            };
            serve_connection(gateway, stream, client, slot).await
        });
    }
}

/// Answers a connection over a limit with a canned answer (503 `TOO_MANY_CONNECTIONS`, 429
/// `CLIENT_CONNECTION_LIMIT`) and closes it, without reading it.
async fn refuse_connection(mut stream: TcpStream, refusal: GatewayRefusal) {
    let (head, body) = refusal.raw();
    let _ = timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

impl Gateway {
    /// The client a connection from `peer` is for: `peer` itself, or, with `proxy_protocol`
    /// on and `peer` a trusted proxy, the address its PROXY header names (read within the
    /// head timeout). `None` when that header is missing or malformed: the connection is
    /// then closed.
    async fn client_of(&self, stream: &mut TcpStream, peer: SocketAddr) -> Option<SocketAddr> {
        let config = &self.inner.config;
        if !config.proxy_protocol || !config.trusted_proxies.contains(peer.ip()) {
            return Some(peer);
        }
        match timeout(config.head_timeout, proxy_protocol::read_header(stream)).await {
            Ok(Ok(client)) => Some(client.unwrap_or(peer)),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "PROXY header refused; connection closed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "no PROXY header in time; connection closed");
                None
            }
        }
    }

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
        serve_connection(self.clone(), io, peer, None).await
    }
}

/// Serves one connection; `slot` is its client address's share of
/// `max_connections_per_client`, held until it closes (the gateway's own listener takes it).
async fn serve_connection<IO>(
    gateway: Gateway,
    stream: IO,
    peer: SocketAddr,
    slot: Option<ClientSlot>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &gateway.inner.config;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.head_timeout)
        .max_header_size(config.max_head_size)
        .max_headers(config.max_headers)
        .keep_alive(true);
    let guard = gateway.connection_guard(slot);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn running_out_of_descriptors_backs_off_doubling_up_to_a_second() {
        let emfile = std::io::Error::from_raw_os_error(24);
        let enfile = std::io::Error::from_raw_os_error(23);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        let mut pauses = Vec::new();
        let mut last = None;
        for _ in 0..10 {
            let pause = accept_backoff(&emfile, last);
            pauses.push(pause.as_millis());
            last = Some(pause);
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert_eq!(accept_backoff(&enfile, None), MIN_ACCEPT_BACKOFF);
        assert_eq!(accept_backoff(&reset, last), Duration::from_millis(1));
        // After another failure, running out again starts from the bottom.
        assert_eq!(
            accept_backoff(&emfile, Some(Duration::from_millis(1))),
            MIN_ACCEPT_BACKOFF
        );
    }
}
