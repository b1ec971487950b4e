//! `portway._native`: the PyO3 facade over the `portway` crate. One file per core concept
//! (portway, sandbox, gateway, websocket, preview_url, records, errors) converting between
//! Python values and the core's types; the defaults, checks and rules are the core's.
//! `awaitable.rs` is what only Python needs: everything that does I/O runs on the core's
//! shared multi-thread tokio runtime and reaches Python as an asyncio awaitable.

mod awaitable;
mod convert;
mod errors;
mod gateway;
mod lifecycle;
mod portway;
mod preview_url;
mod records;
mod sandbox;
mod websocket;

use pyo3::prelude::*;

pub(crate) use crate::awaitable::{Awaitable, awaitable};
use crate::errors::IntoPyResult;

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
    m.add_class::<records::SandboxActivity>()?;
    m.add_class::<records::PortActivity>()?;
    m.add_class::<records::LifecycleEvent>()?;
    m.add_class::<records::WakeRequest>()?;
    m.add_class::<lifecycle::EventStream>()?;
    Ok(())
}
