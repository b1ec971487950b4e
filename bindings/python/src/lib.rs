//! `portway._native`: the PyO3 facade over the `portway` crate. One file per core concept,
//! no logic of its own: conversions between Python values and the core's types.
//!
//! Everything that does I/O runs on one multi-thread tokio runtime that this module owns,
//! and reaches Python as an asyncio awaitable (cancelling it drops the Rust future).

mod convert;
mod errors;
mod gateway;
mod portway;
mod preview_url;
mod records;
mod sandbox;
mod websocket;

use std::future::Future;
use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// The runtime every awaitable of this module runs on: the gateway, the WebSockets, the
/// store writes. Built on first import and kept for the life of the process.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn runtime() -> PyResult<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("portway")
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs a prepared future on the runtime as an asyncio awaitable. An argument found invalid
/// while preparing is raised by the awaitable too, as a coroutine would raise it.
pub(crate) fn awaitable<'py, F, T>(
    py: Python<'py>,
    prepared: PyResult<F>,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    match prepared {
        Ok(fut) => pyo3_async_runtimes::tokio::future_into_py(py, fut),
        Err(err) => pyo3_async_runtimes::tokio::future_into_py(py, async move { Err::<T, _>(err) }),
    }
}

/// Portway: preview URLs, exposed ports and an HTTP/WebSocket gateway for sandboxes.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Already set only if the module is initialised twice in one process; the runtime is the
    // same one either way.
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime()?);
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(preview_url::build_preview_url, m)?)?;
    m.add_function(wrap_pyfunction!(preview_url::parse_preview_host, m)?)?;
    m.add_function(wrap_pyfunction!(preview_url::validate_port, m)?)?;
    m.add_function(wrap_pyfunction!(preview_url::validate_sandbox_id, m)?)?;
    m.add_function(wrap_pyfunction!(preview_url::validate_token, m)?)?;
    m.add_function(wrap_pyfunction!(preview_url::generate_token, m)?)?;
    m.add_class::<portway::Portway>()?;
    m.add_class::<sandbox::Sandbox>()?;
    m.add_class::<gateway::GatewayConfig>()?;
    m.add_class::<gateway::GatewayHandle>()?;
    m.add_class::<websocket::WebSocket>()?;
    m.add_class::<records::Route>()?;
    m.add_class::<records::ExposedPort>()?;
    m.add_class::<records::ExposedPortInfo>()?;
    m.add_class::<records::Resolution>()?;
    m.add_class::<records::SandboxInfo>()?;
    Ok(())
}
