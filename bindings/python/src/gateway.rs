//! The gateway: its configuration and the handle of a running one.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3_async_runtimes::tokio::future_into_py;

use crate::convert;
use crate::errors::{IntoPyResult, Nothing};

/// The gateway's settings and limits. Every argument is optional (None keeps the default);
/// durations are in seconds. Raises `InvalidConfigError` for an unusable value.
///
/// - `rewrite_host` (default True): send `Host: localhost:{port}` upstream; False keeps the
///   preview host.
/// - `forwarded_proto` (default None: the client's scheme): `"http"` or `"https"`, for
///   `X-Forwarded-Proto` when TLS ends in front of the gateway.
/// - `max_head_size` (32 KiB, at least 8 KiB), `max_headers` (100): request head limits.
/// - `head_timeout` (10 s): time to send a whole request head (slow-loris).
/// - `idle_timeout` (60 s): a connection with no traffic for this long is closed.
/// - `ws_idle_timeout` (600 s): a WebSocket session with no message for this long is closed.
/// - `max_connections` (10,000): open client connections; beyond it 503.
/// - `max_connections_per_sandbox` (1,000): requests in flight to one sandbox; beyond it 429.
/// - `upstream_pool_size` (256), `upstream_pool_idle_timeout` (90 s): upstream keep-alive.
/// - `connect_retry_window` (1 s): how long a refused connect is retried before 502.
/// - `connect_timeout` (5 s), `response_timeout` (60 s): before 504.
/// - `ws_max_message_size`, `ws_max_frame_size` (16 MiB): larger WebSocket messages close
///   the session with 1009.
/// - `shutdown_timeout` (10 s): how long `GatewayHandle.close()` waits for in-flight work.
#[pyclass(module = "portway", frozen, eq)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayConfig {
    pub inner: portway::GatewayConfig,
}

#[pymethods]
impl GatewayConfig {
    #[new]
    #[pyo3(signature = (
        *,
        rewrite_host=None,
        forwarded_proto=None,
        max_head_size=None,
        max_headers=None,
        head_timeout=None,
        idle_timeout=None,
        ws_idle_timeout=None,
        max_connections=None,
        max_connections_per_sandbox=None,
        upstream_pool_size=None,
        upstream_pool_idle_timeout=None,
        connect_retry_window=None,
        connect_timeout=None,
        response_timeout=None,
        ws_max_message_size=None,
        ws_max_frame_size=None,
        shutdown_timeout=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        rewrite_host: Option<bool>,
        forwarded_proto: Option<String>,
        max_head_size: Option<usize>,
        max_headers: Option<usize>,
        head_timeout: Option<f64>,
        idle_timeout: Option<f64>,
        ws_idle_timeout: Option<f64>,
        max_connections: Option<usize>,
        max_connections_per_sandbox: Option<usize>,
        upstream_pool_size: Option<usize>,
        upstream_pool_idle_timeout: Option<f64>,
        connect_retry_window: Option<f64>,
        connect_timeout: Option<f64>,
        response_timeout: Option<f64>,
        ws_max_message_size: Option<usize>,
        ws_max_frame_size: Option<usize>,
        shutdown_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let mut c = portway::GatewayConfig::default();
        let secs = |name: &str, v: Option<f64>, slot: &mut std::time::Duration| -> PyResult<()> {
            if let Some(v) = v {
                *slot = convert::config_seconds(name, v)?;
            }
            Ok(())
        };
        secs("head_timeout", head_timeout, &mut c.head_timeout)?;
        secs("idle_timeout", idle_timeout, &mut c.idle_timeout)?;
        secs("ws_idle_timeout", ws_idle_timeout, &mut c.ws_idle_timeout)?;
        secs(
            "upstream_pool_idle_timeout",
            upstream_pool_idle_timeout,
            &mut c.upstream_pool_idle_timeout,
        )?;
        secs(
            "connect_retry_window",
            connect_retry_window,
            &mut c.connect_retry_window,
        )?;
        secs("connect_timeout", connect_timeout, &mut c.connect_timeout)?;
        secs(
            "response_timeout",
            response_timeout,
            &mut c.response_timeout,
        )?;
        secs(
            "shutdown_timeout",
            shutdown_timeout,
            &mut c.shutdown_timeout,
        )?;
        if let Some(v) = rewrite_host {
            c.rewrite_host = v;
        }
        if forwarded_proto.is_some() {
            c.forwarded_proto = forwarded_proto;
        }
        let sizes = [
            (max_head_size, &mut c.max_head_size),
            (max_headers, &mut c.max_headers),
            (max_connections, &mut c.max_connections),
            (
                max_connections_per_sandbox,
                &mut c.max_connections_per_sandbox,
            ),
            (upstream_pool_size, &mut c.upstream_pool_size),
            (ws_max_message_size, &mut c.ws_max_message_size),
            (ws_max_frame_size, &mut c.ws_max_frame_size),
        ];
        for (value, slot) in sizes {
            if let Some(v) = value {
                *slot = v;
            }
        }
        c.validate().py_err()?;
        Ok(GatewayConfig { inner: c })
    }

    /// Whether the Host header is rewritten to `localhost:{port}` upstream.
    #[getter]
    fn rewrite_host(&self) -> bool {
        self.inner.rewrite_host
    }

    /// The fixed `X-Forwarded-Proto`, or None for the client's scheme.
    #[getter]
    fn forwarded_proto(&self) -> Option<String> {
        self.inner.forwarded_proto.clone()
    }

    /// The largest request head, in bytes.
    #[getter]
    fn max_head_size(&self) -> usize {
        self.inner.max_head_size
    }

    /// The most headers in one request.
    #[getter]
    fn max_headers(&self) -> usize {
        self.inner.max_headers
    }

    /// Client connections open at once.
    #[getter]
    fn max_connections(&self) -> usize {
        self.inner.max_connections
    }

    /// Requests and WebSocket sessions in flight to one sandbox.
    #[getter]
    fn max_connections_per_sandbox(&self) -> usize {
        self.inner.max_connections_per_sandbox
    }

    /// Idle keep-alive connections kept per upstream.
    #[getter]
    fn upstream_pool_size(&self) -> usize {
        self.inner.upstream_pool_size
    }

    /// The largest WebSocket message relayed, in bytes.
    #[getter]
    fn ws_max_message_size(&self) -> usize {
        self.inner.ws_max_message_size
    }

    /// The largest WebSocket frame relayed, in bytes.
    #[getter]
    fn ws_max_frame_size(&self) -> usize {
        self.inner.ws_max_frame_size
    }

    /// Time a client gets to send a whole request head, in seconds.
    #[getter]
    fn head_timeout(&self) -> f64 {
        self.inner.head_timeout.as_secs_f64()
    }

    /// A connection with no traffic for this many seconds is closed.
    #[getter]
    fn idle_timeout(&self) -> f64 {
        self.inner.idle_timeout.as_secs_f64()
    }

    /// A WebSocket session with no message for this many seconds is closed.
    #[getter]
    fn ws_idle_timeout(&self) -> f64 {
        self.inner.ws_idle_timeout.as_secs_f64()
    }

    /// How long an idle upstream connection stays pooled, in seconds.
    #[getter]
    fn upstream_pool_idle_timeout(&self) -> f64 {
        self.inner.upstream_pool_idle_timeout.as_secs_f64()
    }

    /// How long a refused upstream connect is retried before 502, in seconds.
    #[getter]
    fn connect_retry_window(&self) -> f64 {
        self.inner.connect_retry_window.as_secs_f64()
    }

    /// How long one upstream connect attempt may take before 504, in seconds.
    #[getter]
    fn connect_timeout(&self) -> f64 {
        self.inner.connect_timeout.as_secs_f64()
    }

    /// How long the sandbox may take to send its response head before 504, in seconds.
    #[getter]
    fn response_timeout(&self) -> f64 {
        self.inner.response_timeout.as_secs_f64()
    }

    /// How long `GatewayHandle.close()` waits for in-flight work, in seconds.
    #[getter]
    fn shutdown_timeout(&self) -> f64 {
        self.inner.shutdown_timeout.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "GatewayConfig(rewrite_host={}, forwarded_proto={}, max_head_size={}, \
             max_headers={}, head_timeout={:?}, idle_timeout={:?}, ws_idle_timeout={:?}, \
             max_connections={}, max_connections_per_sandbox={}, upstream_pool_size={}, \
             upstream_pool_idle_timeout={:?}, connect_retry_window={:?}, connect_timeout={:?}, \
             response_timeout={:?}, ws_max_message_size={}, ws_max_frame_size={}, \
             shutdown_timeout={:?})",
            if c.rewrite_host { "True" } else { "False" },
            c.forwarded_proto
                .as_deref()
                .map_or_else(|| "None".to_owned(), |p| format!("'{p}'")),
            c.max_head_size,
            c.max_headers,
            c.head_timeout.as_secs_f64(),
            c.idle_timeout.as_secs_f64(),
            c.ws_idle_timeout.as_secs_f64(),
            c.max_connections,
            c.max_connections_per_sandbox,
            c.upstream_pool_size,
            c.upstream_pool_idle_timeout.as_secs_f64(),
            c.connect_retry_window.as_secs_f64(),
            c.connect_timeout.as_secs_f64(),
            c.response_timeout.as_secs_f64(),
            c.ws_max_message_size,
            c.ws_max_frame_size,
            c.shutdown_timeout.as_secs_f64(),
        )
    }
}

/// A running gateway, from `await portway.serve(addr)`.
///
/// `local_addr` is the address it listens on (`"127.0.0.1:49152"`), `port` its port.
/// `await close()` shuts it down gracefully (in-flight requests finish, up to the configured
/// `shutdown_timeout`); `await shutdown(deadline)` does the same with a deadline in seconds.
/// Usable as `async with await portway.serve(...) as gateway:` (closed on exit). A handle
/// that is garbage collected without being closed stops its gateway at once.
#[pyclass(module = "portway", frozen)]
pub struct GatewayHandle {
    inner: Arc<portway::GatewayHandle>,
}

impl GatewayHandle {
    pub fn new(inner: portway::GatewayHandle) -> Self {
        GatewayHandle {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl GatewayHandle {
    /// The address the gateway listens on, as `"ip:port"` (`"[::1]:port"` for IPv6).
    #[getter]
    fn local_addr(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// The port the gateway listens on (the one the OS chose for port 0).
    #[getter]
    fn port(&self) -> u16 {
        self.inner.local_addr().port()
    }

    /// Shuts down gracefully: stops accepting, lets in-flight requests finish and asks
    /// WebSocket sessions to close (1001), up to the configured `shutdown_timeout`, then
    /// closes the rest. Closing again is harmless. Awaitable.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.inner.clone();
        future_into_py(py, async move {
            handle.close().await;
            Ok(Nothing)
        })
    }

    /// Like `close()`, waiting at most `deadline` seconds for in-flight work. Awaitable.
    fn shutdown<'py>(&self, py: Python<'py>, deadline: f64) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.inner.clone();
        let prepared = convert::seconds("deadline", deadline).map(|deadline| async move {
            handle.shutdown(deadline).await;
            Ok(Nothing)
        });
        crate::awaitable(py, prepared)
    }

    /// The gateway's counters in Prometheus text format (requests by status, upstream
    /// latency, open connections, WebSocket sessions).
    fn metrics(&self) -> String {
        self.inner.gateway().metrics().render()
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        future_into_py(py, async move { Ok(slf) })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        exc_type: &Bound<'py, PyAny>,
        exc_value: &Bound<'py, PyAny>,
        traceback: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (exc_type, exc_value, traceback);
        self.close(py)
    }

    fn __repr__(&self) -> String {
        format!("GatewayHandle(local_addr='{}')", self.inner.local_addr())
    }
}
