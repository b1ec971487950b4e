//! The records the API returns: typed, immutable, comparable, with a readable `repr`.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;

/// `Name(field=repr(value), ...)`, the way a dataclass shows itself.
fn show(name: &str, fields: &[(&str, Bound<'_, PyAny>)]) -> PyResult<String> {
    let mut out = format!("{name}(");
    for (i, (field, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(field);
        out.push('=');
        out.push_str(&value.repr()?.to_string());
    }
    out.push(')');
    Ok(out)
}

fn any<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> PyResult<Bound<'py, PyAny>> {
    value.into_bound_py_any(py)
}

/// Where a preview host points: a port of a sandbox and the token that guards it.
///
/// Returned by `parse_preview_host`; `Route(port, sandbox_id, token)` builds one to compare.
#[pyclass(module = "portway", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The exposed port.
    pub port: u16,
    /// The sandbox id.
    pub sandbox_id: String,
    /// The token of the exposed port.
    pub token: String,
}

#[pymethods]
impl Route {
    #[new]
    fn new(port: u16, sandbox_id: String, token: String) -> Self {
        Route {
            port,
            sandbox_id,
            token,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        show(
            "Route",
            &[
                ("port", any(py, self.port)?),
                ("sandbox_id", any(py, &self.sandbox_id)?),
                ("token", any(py, &self.token)?),
            ],
        )
    }
}

impl From<portway::Route> for Route {
    fn from(r: portway::Route) -> Self {
        Route {
            port: r.port,
            sandbox_id: r.sandbox_id,
            token: r.token,
        }
    }
}

/// What `Sandbox.expose_port` returns: the port, its preview URL and its name.
#[pyclass(module = "portway", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExposedPort {
    /// The port.
    pub port: u16,
    /// Its preview URL, such as `https://8080-my-box-abc123def456ghi7.example.com/`.
    pub url: String,
    /// Its name, or None.
    pub name: Option<String>,
}

#[pymethods]
impl ExposedPort {
    #[new]
    #[pyo3(signature = (port, url, name=None))]
    fn new(port: u16, url: String, name: Option<String>) -> Self {
        ExposedPort { port, url, name }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        show(
            "ExposedPort",
            &[
                ("port", any(py, self.port)?),
                ("url", any(py, &self.url)?),
                ("name", any(py, &self.name)?),
            ],
        )
    }
}

impl From<portway::ExposedPort> for ExposedPort {
    fn from(e: portway::ExposedPort) -> Self {
        ExposedPort {
            port: e.port,
            url: e.url,
            name: e.name,
        }
    }
}

/// One entry of `Sandbox.get_exposed_ports`: port, URL, name, and `status`, which is
/// `"active"` while the sandbox runs and `"inactive"` while it is stopped.
#[pyclass(module = "portway", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExposedPortInfo {
    /// The port.
    pub port: u16,
    /// Its preview URL.
    pub url: String,
    /// Its name, or None.
    pub name: Option<String>,
    /// `"active"` or `"inactive"`.
    pub status: String,
}

#[pymethods]
impl ExposedPortInfo {
    #[new]
    #[pyo3(signature = (port, url, name, status))]
    fn new(port: u16, url: String, name: Option<String>, status: String) -> Self {
        ExposedPortInfo {
            port,
            url,
            name,
            status,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        show(
            "ExposedPortInfo",
            &[
                ("port", any(py, self.port)?),
                ("url", any(py, &self.url)?),
                ("name", any(py, &self.name)?),
                ("status", any(py, &self.status)?),
            ],
        )
    }
}

impl From<portway::ExposedPortInfo> for ExposedPortInfo {
    fn from(e: portway::ExposedPortInfo) -> Self {
        ExposedPortInfo {
            port: e.port,
            url: e.url,
            name: e.name,
            status: e.status.as_str().to_owned(),
        }
    }
}

/// What the gateway does with a request for a host (`Portway.resolve`).
///
/// `kind` is `"not_preview"` (not a preview host of this Portway: 404 `NOT_FOUND`),
/// `"denied"` (unknown sandbox, unexposed port, wrong token: 404 `INVALID_TOKEN`),
/// `"stale"` (the right token for a stopped sandbox: 410; `sandbox_id` and `port` are set) or
/// `"upstream"` (forwarded to `upstream_host:port`; all fields are set).
#[pyclass(module = "portway", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resolution {
    /// `"not_preview"`, `"denied"`, `"stale"` or `"upstream"`.
    pub kind: String,
    /// The sandbox id (stale and upstream), else None.
    pub sandbox_id: Option<String>,
    /// The port (stale and upstream), else None.
    pub port: Option<u16>,
    /// The host the request goes to (upstream), else None.
    pub upstream_host: Option<String>,
}

#[pymethods]
impl Resolution {
    #[new]
    #[pyo3(signature = (kind, sandbox_id=None, port=None, upstream_host=None))]
    fn new(
        kind: String,
        sandbox_id: Option<String>,
        port: Option<u16>,
        upstream_host: Option<String>,
    ) -> Self {
        Resolution {
            kind,
            sandbox_id,
            port,
            upstream_host,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        show(
            "Resolution",
            &[
                ("kind", any(py, &self.kind)?),
                ("sandbox_id", any(py, &self.sandbox_id)?),
                ("port", any(py, self.port)?),
                ("upstream_host", any(py, &self.upstream_host)?),
            ],
        )
    }
}

impl From<portway::Resolution> for Resolution {
    fn from(r: portway::Resolution) -> Self {
        let (kind, sandbox_id, port, upstream_host) = match r {
            portway::Resolution::NotPreview => ("not_preview", None, None, None),
            portway::Resolution::Denied => ("denied", None, None, None),
            portway::Resolution::Stale { sandbox_id, port } => {
                ("stale", Some(sandbox_id), Some(port), None)
            }
            portway::Resolution::Upstream(u) => (
                "upstream",
                Some(u.sandbox_id().to_owned()),
                Some(u.port()),
                Some(u.host().to_owned()),
            ),
        };
        Resolution {
            kind: kind.to_owned(),
            sandbox_id,
            port,
            upstream_host,
        }
    }
}

/// A sandbox as the registry knows it (`Portway.get_sandbox`, `Portway.sandboxes`).
#[pyclass(module = "portway", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxInfo {
    /// The sandbox id.
    pub id: String,
    /// The host its services listen on.
    pub upstream_host: String,
    /// `"running"` or `"stopped"`.
    pub status: String,
    /// How many ports it has exposed.
    pub exposed_ports: usize,
}

#[pymethods]
impl SandboxInfo {
    #[new]
    fn new(id: String, upstream_host: String, status: String, exposed_ports: usize) -> Self {
        SandboxInfo {
            id,
            upstream_host,
            status,
            exposed_ports,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        show(
            "SandboxInfo",
            &[
                ("id", any(py, &self.id)?),
                ("upstream_host", any(py, &self.upstream_host)?),
                ("status", any(py, &self.status)?),
                ("exposed_ports", any(py, self.exposed_ports)?),
            ],
        )
    }
}

impl From<portway::SandboxInfo> for SandboxInfo {
    fn from(s: portway::SandboxInfo) -> Self {
        SandboxInfo {
            id: s.id,
            upstream_host: s.upstream_host,
            status: s.status.as_str().to_owned(),
            exposed_ports: s.exposed_ports,
        }
    }
}
