//! `Sandbox`: expose, unexpose and list ports, wait for services, open WebSockets, and follow
//! the sandbox's lifecycle. Every method that touches the store or the network is awaitable.

use portway::ExposeOptions;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::Awaitable;
use crate::convert;
use crate::errors::{IntoPyNone, IntoPyResult};
use crate::records::{self, ExposedPort, ExposedPortInfo, PortActivity, SandboxActivity};
use crate::websocket::WebSocket;

/// A handle on one sandbox, from `portway.sandbox(id, upstream_host=...)`.
///
/// `id` is the sandbox id, `upstream_host` the host its services listen on. Methods that
/// write (expose, unexpose, mark running or stopped, destroy) or use the network
/// (`wait_for_port`, `ws_connect`) are awaitable; an invalid argument is raised when the
/// awaitable is awaited, as with a coroutine.
#[pyclass(module = "portway", frozen)]
pub struct Sandbox {
    inner: portway::Sandbox,
}

impl Sandbox {
    pub fn new(inner: portway::Sandbox) -> Self {
        Sandbox { inner }
    }

    fn port(&self, port: &Bound<'_, PyAny>) -> PyResult<u16> {
        convert::port(self.inner.portway().rules(), port)
    }
}

#[pymethods]
impl Sandbox {
    /// The sandbox id (lowercased when the Portway has `normalize_id` on).
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }

    /// The host the sandbox's services listen on.
    #[getter]
    fn upstream_host(&self) -> &str {
        self.inner.upstream_host()
    }

    /// Exposes `port` under `hostname` (one of the Portway's domains, optionally with a
    /// port, such as `"localhost:8787"`) and gives an `ExposedPort` with its preview URL.
    ///
    /// The token is `token` if given (8 to 16 of `[a-z0-9_]`), else the one the port
    /// already has (re-exposing keeps the URL), else a new random one. A new custom token
    /// rotates the URL. `name` labels the port in `get_exposed_ports`. Nothing checks that
    /// a service listens yet: see `wait_for_port`.
    #[pyo3(signature = (port, hostname, *, name=None, token=None))]
    fn expose_port<'py>(
        &self,
        py: Python<'py>,
        port: &Bound<'py, PyAny>,
        hostname: String,
        name: Option<String>,
        token: Option<String>,
    ) -> Awaitable<'py> {
        let sb = self.inner.clone();
        let prepared = self.port(port).map(|port| async move {
            let opts = ExposeOptions {
                hostname,
                name,
                token,
            };
            sb.expose_port(port, opts)
                .await
                .map(ExposedPort::from)
                .py_err()
        });
        crate::awaitable(py, prepared)
    }

    /// Unexposes `port`: its URL gives 404. Unexposing a port that is not exposed succeeds.
    fn unexpose_port<'py>(&self, py: Python<'py>, port: &Bound<'py, PyAny>) -> Awaitable<'py> {
        let sb = self.inner.clone();
        let prepared = self
            .port(port)
            .map(|port| async move { sb.unexpose_port(port).await.py_none() });
        crate::awaitable(py, prepared)
    }

    /// The exposed ports, sorted by port, with URLs under `hostname`: a list of
    /// `ExposedPortInfo`.
    fn get_exposed_ports<'py>(&self, py: Python<'py>, hostname: String) -> Awaitable<'py> {
        let sb = self.inner.clone();
        crate::awaitable(
            py,
            Ok(async move {
                let ports = sb.get_exposed_ports(&hostname).await.py_err()?;
                Ok(records::all::<_, ExposedPortInfo>(ports))
            }),
        )
    }

    /// Whether `port` is exposed; False for an invalid port (never an error).
    fn is_port_exposed<'py>(&self, py: Python<'py>, port: &Bound<'py, PyAny>) -> Awaitable<'py> {
        let sb = self.inner.clone();
        let port = self.port(port).ok();
        crate::awaitable(py, Ok(async move { Ok(sb.is_port_exposed(port).await) }))
    }

    /// Whether `token` is the token of `port`, compared in constant time; False for an
    /// invalid or unexposed port (never an error).
    fn validate_port_token<'py>(
        &self,
        py: Python<'py>,
        port: &Bound<'py, PyAny>,
        token: String,
    ) -> Awaitable<'py> {
        let sb = self.inner.clone();
        let port = self.port(port).ok();
        crate::awaitable(
            py,
            Ok(async move { Ok(sb.validate_port_token(port, &token).await) }),
        )
    }

    /// Waits until the service on `port` answers; raises `PortWaitTimeoutError` when it
    /// does not within `timeout`. Needs no exposure.
    ///
    /// - `mode`: `"http"` (default: ready when `GET path` answers with a status in `status`)
    ///   or `"tcp"` (ready when a TCP connect succeeds).
    /// - `path` (default `"/"`), `status` (default `(200, 399)`, lowest and highest accepted).
    /// - `timeout` (default 30.0 s), `interval` between attempts (default 0.1 s).
    #[pyo3(signature = (port, *, mode=None, path=None, status=None, timeout=None, interval=None))]
    #[allow(clippy::too_many_arguments)]
    fn wait_for_port<'py>(
        &self,
        py: Python<'py>,
        port: &Bound<'py, PyAny>,
        mode: Option<String>,
        path: Option<String>,
        status: Option<(i64, i64)>,
        timeout: Option<f64>,
        interval: Option<f64>,
    ) -> Awaitable<'py> {
        let sb = self.inner.clone();
        let prepared = (|| {
            let port = self.port(port)?;
            let opts = portway::WaitSettings {
                mode: mode
                    .as_deref()
                    .map(portway::WaitMode::named)
                    .transpose()
                    .py_err()?,
                path,
                status_min: status.map(|s| s.0),
                status_max: status.map(|s| s.1),
                timeout: timeout
                    .map(|t| convert::seconds("timeout", t))
                    .transpose()?,
                interval: interval
                    .map(|i| convert::seconds("interval", i))
                    .transpose()?,
            }
            .resolve()
            .py_err()?;
            Ok(async move { sb.wait_for_port(port, opts).await.py_none() })
        })();
        crate::awaitable(py, prepared)
    }

    /// Opens a WebSocket to the service on `port` (no exposure needed) and gives a
    /// `WebSocket`. Raises `WsConnectFailedError` (with `.status` set when the service
    /// refused the handshake with an HTTP answer).
    ///
    /// - `path`: path and query (default `"/"`).
    /// - `headers`: extra request headers, a mapping or a list of `(name, value)` pairs.
    /// - `subprotocols`: offered in order of preference; the chosen one is `ws.protocol`.
    /// - `max_message_size`: largest message sent or received, in bytes (default 16 MiB).
    /// - `connect_timeout`: for the TCP connect and the handshake (default 10.0 s).
    #[pyo3(signature = (
        port,
        *,
        path=None,
        headers=None,
        subprotocols=None,
        max_message_size=None,
        connect_timeout=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn ws_connect<'py>(
        &self,
        py: Python<'py>,
        port: &Bound<'py, PyAny>,
        path: Option<String>,
        headers: Option<&Bound<'py, PyAny>>,
        subprotocols: Option<Vec<String>>,
        max_message_size: Option<u64>,
        connect_timeout: Option<f64>,
    ) -> Awaitable<'py> {
        let headers = headers.map(header_pairs).transpose()?;
        let sb = self.inner.clone();
        let prepared = (|| {
            let port = self.port(port)?;
            let opts = portway::WsConnectSettings {
                path,
                headers,
                subprotocols,
                max_message_size,
                connect_timeout: connect_timeout
                    .map(|t| convert::seconds("connect_timeout", t))
                    .transpose()?,
            }
            .resolve()
            .py_err()?;
            Ok(async move { sb.ws_connect(port, opts).await.map(WebSocket::new).py_err() })
        })();
        crate::awaitable(py, prepared)
    }

    /// Marks the sandbox running: its URLs are served again, unchanged.
    fn mark_running<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let sb = self.inner.clone();
        crate::awaitable(py, Ok(async move { sb.mark_running().await.py_none() }))
    }

    /// Marks the sandbox stopped: its URLs give 410 `STALE_PREVIEW_URL` until it runs
    /// again (tokens are kept).
    fn mark_stopped<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let sb = self.inner.clone();
        crate::awaitable(py, Ok(async move { sb.mark_stopped().await.py_none() }))
    }

    /// Forgets the sandbox and its tokens: its URLs give 404. Destroying twice succeeds.
    fn destroy<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let sb = self.inner.clone();
        crate::awaitable(py, Ok(async move { sb.destroy().await.py_none() }))
    }

    /// What the gateways of this process saw of the sandbox, all ports together: a
    /// `SandboxActivity` (last activity as RFC 3339, open requests and sessions, requests,
    /// bytes both ways). Zeros for a sandbox no request reached.
    fn activity(&self) -> SandboxActivity {
        SandboxActivity::from(self.inner.activity())
    }

    /// The same per exposed port, sorted by port: a list of `PortActivity`.
    fn port_activity(&self) -> Vec<PortActivity> {
        records::all(self.inner.activity().ports)
    }

    /// Sets this sandbox's own `idle_after` in seconds: how long without traffic before its
    /// `idle` event. None: the gateway setting; 0: never idle. Raises `InvalidArgumentError`
    /// for a negative or too long value.
    fn set_idle_after(&self, seconds: Option<f64>) -> PyResult<()> {
        let d = seconds
            .map(|s| convert::seconds("seconds", s))
            .transpose()?;
        self.inner.set_idle_after(d).py_err()
    }

    /// This sandbox's own `idle_after` in seconds, or None (the gateway setting).
    fn idle_after(&self) -> Option<f64> {
        self.inner.idle_after().map(|d| d.as_secs_f64())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Sandbox(id={}, upstream_host={})",
            convert::repr(PyString::new(py, self.inner.id()).as_any()),
            convert::repr(PyString::new(py, self.inner.upstream_host()).as_any()),
        )
    }
}

/// Request headers from a mapping (`{"Cookie": "a=1"}`) or an iterable of pairs.
fn header_pairs(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let pairs = if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    pairs
        .try_iter()?
        .map(|pair| pair?.extract::<(String, String)>())
        .collect()
}
