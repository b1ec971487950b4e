//! `Portway`: configuration, the store of exposures, sandboxes, and the gateway.

use std::path::PathBuf;

use portway::Error;
use pyo3::prelude::*;

use crate::Awaitable;
use crate::convert;
use crate::errors::{IntoPyResult, to_py};
use crate::gateway::{GatewayConfig, GatewayHandle};
use crate::lifecycle::{EventStream, PyWakeHook};
use crate::records::{self, Resolution, Route, SandboxInfo};
use crate::sandbox::Sandbox;

/// One Portway: its rules, its store of exposed ports, and the gateway that serves them.
///
/// - `domains`: the preview domains the gateway routes and `expose_port` accepts (default
///   `["localhost"]`).
/// - `store`: `":memory:"` (default), a `redis://` URL of a Redis that several processes
///   share, or a path to an SQLite file that keeps exposures
///   across restarts (a `str` or `os.PathLike`).
/// - `reserved_ports` (default `[3000]`), `reserved_sandbox_ids` (default `www api admin
///   root system cloudflare workers`), `custom_domain_suffixes` (default `["workers.dev"]`),
///   `normalize_id` (default False: uppercase ids are refused, not lowercased),
///   `min_token_length` (default 8, 1 to 16).
/// - `gateway`: a `GatewayConfig` with the gateway's limits.
///
/// The constructor is synchronous (it opens the store); everything that does I/O later is
/// async. Raises `InvalidConfigError` (or `StoreError`) for an unusable configuration.
///
/// >>> portway = Portway(domains=["localhost"])
/// >>> portway.build_preview_url(8080, "my-box", "token123", "localhost:8787")
/// 'http://8080-my-box-token123.localhost:8787/'
#[pyclass(module = "portway", frozen)]
pub struct Portway {
    inner: portway::Portway,
}

#[pymethods]
impl Portway {
    #[new]
    #[pyo3(signature = (
        domains=None,
        store=None,
        *,
        reserved_ports=None,
        reserved_sandbox_ids=None,
        custom_domain_suffixes=None,
        normalize_id=None,
        min_token_length=None,
        gateway=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        domains: Option<Vec<String>>,
        store: Option<PathBuf>,
        reserved_ports: Option<Vec<i64>>,
        reserved_sandbox_ids: Option<Vec<String>>,
        custom_domain_suffixes: Option<Vec<String>>,
        normalize_id: Option<bool>,
        min_token_length: Option<i64>,
        gateway: Option<PyRef<'_, GatewayConfig>>,
    ) -> PyResult<Self> {
        let store = store
            .map(|path| {
                path.to_str().map(str::to_owned).ok_or_else(|| {
                    to_py(Error::InvalidConfig(format!(
                        "the store path {} is not valid UTF-8",
                        path.display()
                    )))
                })
            })
            .transpose()?;
        let settings = portway::PortwaySettings {
            domains,
            store,
            reserved_ports,
            reserved_sandbox_ids,
            custom_domain_suffixes,
            normalize_id,
            min_token_length,
            gateway: gateway.map(|g| g.inner.clone()),
        };
        Ok(Portway {
            inner: settings.build().py_err()?,
        })
    }

    /// A handle on a sandbox whose services listen on `upstream_host` (an IP address or a
    /// host name, without a port). Validates the id (lowercasing it when `normalize_id` is
    /// on) and the host; stores nothing until the first write.
    #[pyo3(signature = (id, upstream_host="127.0.0.1"))]
    fn sandbox(&self, id: &str, upstream_host: &str) -> PyResult<Sandbox> {
        self.inner
            .sandbox(id, upstream_host)
            .map(Sandbox::new)
            .py_err()
    }

    /// Starts the gateway on `addr` (default `"127.0.0.1:8080"`; port 0 for any free port).
    /// Awaitable: gives a `GatewayHandle`. Raises `GatewayError` when it cannot listen.
    ///
    /// `wake`: an async function that starts a stopped sandbox when a request arrives for
    /// it (`async def wake(request: WakeRequest) -> None`), awaited on the running event
    /// loop, once per sandbox however many requests wait. Returning means the start is under
    /// way (the gateway then waits for the port and marks the sandbox running); raising, or
    /// returning False, fails the wake (503 `SANDBOX_WAKE_FAILED` with the reason). Without
    /// it a stopped sandbox's URLs give 410. Must be called with a running event loop when
    /// `wake` is given; a callable that is not async raises TypeError.
    #[pyo3(signature = (addr=None, *, wake=None))]
    fn serve<'py>(
        &self,
        py: Python<'py>,
        addr: Option<String>,
        wake: Option<Bound<'py, PyAny>>,
    ) -> Awaitable<'py> {
        let addr = addr.unwrap_or_else(|| portway::DEFAULT_LISTEN.to_owned());
        let portway = self.inner.clone();
        let hooks = match wake {
            None => Ok(portway::GatewayHooks::new()),
            Some(callable) => {
                PyWakeHook::new(py, callable).map(|hook| portway::GatewayHooks::new().wake(hook))
            }
        };
        let prepared = hooks.map(|hooks| async move {
            portway
                .serve_with(&addr, hooks)
                .await
                .map(GatewayHandle::new)
                .py_err()
        });
        crate::awaitable(py, prepared)
    }

    /// The lifecycle events from now on (`idle`, `exposed`, `unexposed`, `running`,
    /// `stopped`, `destroyed`), as an `EventStream`: `async for event in portway.events()`.
    fn events(&self) -> EventStream {
        EventStream::new(self.inner.events())
    }

    /// What the gateway does with a request for `host` (its Host header): a `Resolution`.
    fn resolve(&self, host: &str) -> Resolution {
        self.inner.resolve(host).into()
    }

    /// The sandbox as stored (`SandboxInfo`), or None if it does not exist.
    fn get_sandbox(&self, id: &str) -> Option<SandboxInfo> {
        self.inner.get_sandbox(id).map(SandboxInfo::from)
    }

    /// Every stored sandbox, sorted by id.
    fn sandboxes(&self) -> Vec<SandboxInfo> {
        records::all(self.inner.sandboxes())
    }

    /// Checks a port with this Portway's rules and returns it; raises `InvalidPortError`.
    fn validate_port(&self, port: &Bound<'_, PyAny>) -> PyResult<u16> {
        convert::port(self.inner.rules(), port)
    }

    /// Checks a sandbox id with this Portway's rules and returns it as stored (lowercased
    /// when `normalize_id` is on); raises `InvalidSandboxIdError`.
    fn validate_sandbox_id(&self, sandbox_id: &str) -> PyResult<String> {
        self.inner.rules().validate_sandbox_id(sandbox_id).py_err()
    }

    /// Checks a custom token with this Portway's rules and returns it; raises
    /// `InvalidTokenFormatError`.
    fn validate_token(&self, token: &str) -> PyResult<String> {
        self.inner.rules().validate_token(token).py_err()
    }

    /// Builds a preview URL with this Portway's rules (any host name: the domain list is
    /// checked by `expose_port`, not here).
    fn build_preview_url(
        &self,
        port: &Bound<'_, PyAny>,
        sandbox_id: &str,
        token: &str,
        hostname: &str,
    ) -> PyResult<String> {
        let rules = self.inner.rules();
        let port = convert::port(rules, port)?;
        rules
            .build_preview_url(port, sandbox_id, token, hostname)
            .py_err()
    }

    /// Parses a host into a `Route` if it is a preview host under one of this Portway's
    /// domains; None otherwise.
    fn parse_preview_host(&self, host: &str) -> Option<Route> {
        self.inner.parse_preview_host(host).map(Route::from)
    }

    /// The preview domains, normalised (lowercase, punycode, no port).
    #[getter]
    fn domains(&self) -> Vec<String> {
        self.inner.rules().domains().to_vec()
    }

    fn __repr__(&self) -> String {
        let domains: Vec<String> = self
            .inner
            .rules()
            .domains()
            .iter()
            .map(|d| format!("'{d}'"))
            .collect();
        format!("Portway(domains=[{}])", domains.join(", "))
    }
}
