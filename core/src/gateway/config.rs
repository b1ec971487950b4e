//! The gateway's settings and limits, with defaults chosen for a preview proxy on one host.

use std::time::Duration;

use crate::error::{Error, Result};

/// The smallest request-head limit hyper accepts.
pub const MIN_MAX_HEAD_SIZE: usize = 8192;

/// How the gateway forwards and what it tolerates. Every field has a default; change the
/// ones you need.
///
/// ```
/// use std::time::Duration;
/// let config = portway::GatewayConfig {
///     max_connections: 20_000,
///     idle_timeout: Duration::from_secs(120),
///     ..Default::default()
/// };
/// config.validate()?;
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Send `Host: localhost:{port}` upstream (default, for HTTP and WebSocket alike, which
    /// dev servers' host checks and hot reload expect). Off: keep the preview host.
    pub rewrite_host: bool,
    /// The `X-Forwarded-Proto` sent upstream: `None` (default) for the scheme the client used
    /// to reach this listener (`http`), or a fixed value such as `"https"` when TLS ends at a
    /// load balancer in front of the gateway.
    pub forwarded_proto: Option<String>,
    /// The largest request head (request line and headers) in bytes. Default 32 KiB, like
    /// nginx's four 8 KiB header buffers; at least 8 KiB.
    pub max_head_size: usize,
    /// The most headers in one request. Default 100.
    pub max_headers: usize,
    /// Time a client gets to send a whole request head (slow-loris). Default 10 s.
    pub head_timeout: Duration,
    /// A connection on which no byte moves in either direction for this long is closed.
    /// Default 60 s (nginx's `proxy_read_timeout`); streams that may pause longer (SSE without
    /// heartbeats, long polls) need more.
    pub idle_timeout: Duration,
    /// A WebSocket session with no message either way for this long is closed with 1001.
    /// Default 10 min; pings count as traffic.
    pub ws_idle_timeout: Duration,
    /// Client connections open at once (HTTP and WebSocket). Beyond it new connections get
    /// 503 `TOO_MANY_CONNECTIONS` and are closed. Default 10,000.
    pub max_connections: usize,
    /// Requests and WebSocket sessions in flight to one sandbox at once. Beyond it: 429
    /// `SANDBOX_CONNECTION_LIMIT`, so one busy sandbox cannot starve the others. Default 1,000.
    pub max_connections_per_sandbox: usize,
    /// Idle keep-alive connections kept per upstream `host:port`. Default 256.
    pub upstream_pool_size: usize,
    /// How long an idle upstream connection stays in the pool. Default 90 s.
    pub upstream_pool_idle_timeout: Duration,
    /// How long to keep retrying a refused connect (a service still starting) before 502
    /// `PORT_NOT_LISTENING`. Default 1 s.
    pub connect_retry_window: Duration,
    /// How long one connect attempt may take before 504 `UPSTREAM_TIMEOUT`. Default 5 s.
    pub connect_timeout: Duration,
    /// How long the sandbox may take to send its response head before 504
    /// `UPSTREAM_TIMEOUT`. Default 60 s.
    pub response_timeout: Duration,
    /// The largest WebSocket message relayed, in bytes; bigger ones close the session with
    /// 1009. Default 16 MiB.
    pub ws_max_message_size: usize,
    /// The largest WebSocket frame relayed. Default 16 MiB.
    pub ws_max_frame_size: usize,
    /// How long graceful shutdown waits for in-flight work when no deadline is given.
    /// Default 10 s.
    pub shutdown_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            rewrite_host: true,
            forwarded_proto: None,
            max_head_size: 32 * 1024,
            max_headers: 100,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ws_idle_timeout: Duration::from_secs(600),
            max_connections: 10_000,
            max_connections_per_sandbox: 1_000,
            upstream_pool_size: 256,
            upstream_pool_idle_timeout: Duration::from_secs(90),
            connect_retry_window: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            ws_max_message_size: 16 << 20,
            ws_max_frame_size: 16 << 20,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl GatewayConfig {
    /// Checks that every value is usable.
    ///
    /// ```
    /// let bad = portway::GatewayConfig { max_head_size: 100, ..Default::default() };
    /// assert_eq!(bad.validate().unwrap_err().code().as_str(), "INVALID_CONFIG");
    /// ```
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.max_head_size < MIN_MAX_HEAD_SIZE {
            return bad(format!(
                "max_head_size must be at least {MIN_MAX_HEAD_SIZE} bytes (got {})",
                self.max_head_size
            ));
        }
        if self.max_headers == 0 {
            return bad("max_headers must be at least 1".into());
        }
        if self.max_connections == 0 || self.max_connections_per_sandbox == 0 {
            return bad(
                "max_connections and max_connections_per_sandbox must be at least 1".into(),
            );
        }
        if self.ws_max_message_size == 0 || self.ws_max_frame_size == 0 {
            return bad("ws_max_message_size and ws_max_frame_size must be at least 1".into());
        }
        for (name, d) in [
            ("head_timeout", self.head_timeout),
            ("idle_timeout", self.idle_timeout),
            ("ws_idle_timeout", self.ws_idle_timeout),
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be more than zero"));
            }
        }
        if let Some(p) = &self.forwarded_proto
            && p != "http"
            && p != "https"
        {
            return bad(format!(
                "forwarded_proto must be \"http\" or \"https\" (got {p:?})"
            ));
        }
        Ok(())
    }
}
