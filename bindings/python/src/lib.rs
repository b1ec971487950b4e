//! `portway._native`: the PyO3 facade over the `portway` crate. One file per core concept,
//! no logic of its own: conversions between Python values and the core's types.
//!
//! Everything that does I/O runs on the core's shared multi-thread tokio runtime,
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

use pyo3::prelude::*;

use crate::errors::IntoPyResult;

/// What an async method returns: an asyncio awaitable.
pub(crate) type Awaitable<'py> = PyResult<Bound<'py, PyAny>>;

/// Runs a prepared future on the runtime as an asyncio awaitable. An argument found invalid
/// while preparing is raised by the awaitable too, as a coroutine would raise it.
pub(crate) fn awaitable<'py, F, T>(py: Python<'py>, prepared: PyResult<F>) -> Awaitable<'py>
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
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(::portway::shared_runtime().py_err()?);
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
