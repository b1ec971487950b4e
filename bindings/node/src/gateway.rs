//! The gateway: its options (limits in camelCase, durations in milliseconds) and the handle
//! of a running one.

use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use portway::{Error, GatewayConfig};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::convert;

/// The gateway's settings and limits; each has a default. Durations are in milliseconds.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct GatewayOptions {
    /// Send `Host: localhost:{port}` upstream, for HTTP and WebSocket alike (default `true`);
    /// `false` keeps the preview host.
    pub rewrite_host: Option<bool>,
    /// The `X-Forwarded-Proto` sent upstream: `'http'` or `'https'` (default: the scheme the
    /// client used; set `'https'` when TLS ends at a load balancer in front).
    #[napi(ts_type = "'http' | 'https'")]
    pub forwarded_proto: Option<String>,
    /// The largest request head in bytes (default 32768; at least 8192).
    pub max_head_size: Option<f64>,
    /// The most headers in one request (default 100).
    pub max_headers: Option<f64>,
    /// Time a client gets to send a whole request head (default 10000).
    pub head_timeout_ms: Option<f64>,
    /// A connection with no traffic either way for this long is closed (default 60000).
    pub idle_timeout_ms: Option<f64>,
    /// A WebSocket session with no message either way for this long is closed with 1001
    /// (default 600000).
    pub ws_idle_timeout_ms: Option<f64>,
    /// Client connections open at once; beyond it, 503 (default 10000).
    pub max_connections: Option<f64>,
    /// Requests and WebSocket sessions in flight to one sandbox; beyond it, 429 (default 1000).
    pub max_connections_per_sandbox: Option<f64>,
    /// Idle keep-alive connections kept per upstream (default 256).
    pub upstream_pool_size: Option<f64>,
    /// How long an idle upstream connection stays pooled (default 90000).
    pub upstream_pool_idle_timeout_ms: Option<f64>,
    /// How long a refused connect is retried (a service still starting) before 502
    /// `PORT_NOT_LISTENING` (default 1000).
    pub connect_retry_window_ms: Option<f64>,
    /// How long one connect attempt may take before 504 `UPSTREAM_TIMEOUT` (default 5000).
    pub connect_timeout_ms: Option<f64>,
    /// How long the sandbox may take to send its response head before 504 (default 60000).
    pub response_timeout_ms: Option<f64>,
    /// The largest WebSocket message relayed, in bytes (default 16 MiB).
    pub ws_max_message_size: Option<f64>,
    /// The largest WebSocket frame relayed, in bytes (default 16 MiB).
    pub ws_max_frame_size: Option<f64>,
    /// How long `close()` lets in-flight requests finish (default 10000).
    pub shutdown_timeout_ms: Option<f64>,
}

impl GatewayOptions {
    /// The core's configuration: the defaults with these values over them. The core checks
    /// the values (`INVALID_CONFIG`); this only refuses numbers that are not whole or not
    /// durations.
    pub(crate) fn to_config(&self) -> portway::Result<GatewayConfig> {
        let bad = Error::InvalidConfig;
        let mut c = GatewayConfig::default();
        let count = |name: &str, v: Option<f64>, field: &mut usize| -> portway::Result<()> {
            if let Some(v) = v {
                *field = convert::count(name, v, bad)?;
            }
            Ok(())
        };
        count(
            "gateway.maxHeadSize",
            self.max_head_size,
            &mut c.max_head_size,
        )?;
        count("gateway.maxHeaders", self.max_headers, &mut c.max_headers)?;
        count(
            "gateway.maxConnections",
            self.max_connections,
            &mut c.max_connections,
        )?;
        count(
            "gateway.maxConnectionsPerSandbox",
            self.max_connections_per_sandbox,
            &mut c.max_connections_per_sandbox,
        )?;
        count(
            "gateway.upstreamPoolSize",
            self.upstream_pool_size,
            &mut c.upstream_pool_size,
        )?;
        count(
            "gateway.wsMaxMessageSize",
            self.ws_max_message_size,
            &mut c.ws_max_message_size,
        )?;
        count(
            "gateway.wsMaxFrameSize",
            self.ws_max_frame_size,
            &mut c.ws_max_frame_size,
        )?;
        let millis = |name: &str, v: Option<f64>, field: &mut std::time::Duration| {
            if let Some(v) = v {
                *field = convert::millis(name, v, bad)?;
            }
            Ok::<(), Error>(())
        };
        millis(
            "gateway.headTimeoutMs",
            self.head_timeout_ms,
            &mut c.head_timeout,
        )?;
        millis(
            "gateway.idleTimeoutMs",
            self.idle_timeout_ms,
            &mut c.idle_timeout,
        )?;
        millis(
            "gateway.wsIdleTimeoutMs",
            self.ws_idle_timeout_ms,
            &mut c.ws_idle_timeout,
        )?;
        millis(
            "gateway.upstreamPoolIdleTimeoutMs",
            self.upstream_pool_idle_timeout_ms,
            &mut c.upstream_pool_idle_timeout,
        )?;
        millis(
            "gateway.connectRetryWindowMs",
            self.connect_retry_window_ms,
            &mut c.connect_retry_window,
        )?;
        millis(
            "gateway.connectTimeoutMs",
            self.connect_timeout_ms,
            &mut c.connect_timeout,
        )?;
        millis(
            "gateway.responseTimeoutMs",
            self.response_timeout_ms,
            &mut c.response_timeout,
        )?;
        millis(
            "gateway.shutdownTimeoutMs",
            self.shutdown_timeout_ms,
            &mut c.shutdown_timeout,
        )?;
        if let Some(on) = self.rewrite_host {
            c.rewrite_host = on;
        }
        if let Some(proto) = &self.forwarded_proto {
            c.forwarded_proto = Some(proto.clone());
        }
        c.validate()?;
        Ok(c)
    }
}

/// A running gateway. Like an `http.Server`, it keeps the process alive while it listens,
/// unless `unref()`'d; `close()` (or `await using`) stops it, and so does garbage collection
/// of a handle nobody holds any more.
///
/// @example
/// await using gateway = await portway.serve({ listen: '127.0.0.1:0' })
/// console.log(`gateway on http://${gateway.localAddr}/`)
#[napi]
pub struct GatewayHandle {
    inner: Arc<portway::GatewayHandle>,
    /// While set, a pending napi future holds the event loop open; dropping it lets go.
    keep_alive: Option<DropGuard>,
    closed: bool,
}

impl GatewayHandle {
    pub(crate) fn new(env: &Env, inner: portway::GatewayHandle) -> Result<GatewayHandle> {
        let mut handle = GatewayHandle {
            inner: Arc::new(inner),
            keep_alive: None,
            closed: false,
        };
        handle.hold(env)?;
        Ok(handle)
    }

    fn hold(&mut self, env: &Env) -> Result<()> {
        if self.keep_alive.is_none() && !self.closed {
            let released = CancellationToken::new();
            let wait = released.clone();
            env.spawn_future(async move {
                wait.cancelled().await;
                Ok(())
            })?;
            self.keep_alive = Some(released.drop_guard());
        }
        Ok(())
    }
}

#[napi]
impl GatewayHandle {
    /// The address the gateway listens on, such as `'127.0.0.1:49152'`.
    #[napi(getter)]
    pub fn local_addr(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// The port the gateway listens on (the one the OS chose for port 0).
    #[napi(getter)]
    pub fn port(&self) -> u16 {
        self.inner.local_addr().port()
    }

    /// Shuts down gracefully: stops accepting, lets in-flight requests finish (up to the
    /// `shutdownTimeoutMs` option), asks WebSocket sessions to close, then closes the rest.
    /// Calling it again is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&mut self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.keep_alive = None;
        self.closed = true;
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move {
                inner.close().await;
                Ok(())
            },
            |_, ()| Ok(()),
        )
    }

    /// `close()`, waiting at most `deadlineMs` for in-flight work before closing it.
    ///
    /// @throws {PortwayError} `INVALID_ARGUMENT` for a deadline that is not a number of
    /// milliseconds of at least 0.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(
        &mut self,
        env: &'env Env,
        deadline_ms: f64,
    ) -> Result<PromiseRaw<'env, ()>> {
        let deadline = match convert::millis("deadlineMs", deadline_ms, Error::InvalidArgument) {
            Ok(d) => d,
            Err(e) => return crate::rejected(env, e),
        };
        self.keep_alive = None;
        self.closed = true;
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move {
                inner.shutdown(deadline).await;
                Ok(())
            },
            |_, ()| Ok(()),
        )
    }

    /// Every counter (requests by status, upstream latency, open connections, WebSocket
    /// sessions) in the Prometheus text format.
    #[napi]
    pub fn metrics(&self) -> String {
        self.inner.gateway().metrics().render()
    }

    /// Lets the process exit while the gateway still listens (like `server.unref()`).
    #[napi]
    pub fn unref(&mut self) {
        self.keep_alive = None;
    }

    /// Keeps the process alive while the gateway listens again, after `unref()`.
    #[napi(js_name = "ref")]
    pub fn hold_process(&mut self, env: Env) -> Result<()> {
        self.hold(&env)
    }

    /// `close()`, for `await using gateway = await portway.serve(...)`.
    #[napi(well_known_symbol = "asyncDispose", ts_return_type = "Promise<void>")]
    pub fn async_dispose<'env>(&mut self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.close(env)
    }
}
