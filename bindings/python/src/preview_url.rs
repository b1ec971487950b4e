//! The pure, synchronous functions: build and parse preview URLs, validate ports, ids and
//! tokens, generate tokens. They use the default rules; a `Portway` has the same methods
//! with its own.

use std::sync::LazyLock;

use portway::Rules;
use pyo3::prelude::*;

use crate::convert;
use crate::errors::IntoPyResult;
use crate::records::Route;

/// The default rules, for the messages of refused ports.
static DEFAULT_RULES: LazyLock<Rules> = LazyLock::new(Rules::default);

/// Builds the preview URL of a port with the default rules:
/// `{scheme}://{port}-{sandbox_id}-{token}.{hostname}/`.
///
/// `hostname` may carry a port (`localhost:8787`); local host names give `http`, others
/// `https`. Checks, in order: port, sandbox id, token format, host name; raises the
/// matching `PortwayError` subclass.
///
/// >>> build_preview_url(8080, "my-box", "token123", "example.com")
/// 'https://8080-my-box-token123.example.com/'
#[pyfunction]
pub fn build_preview_url(
    port: &Bound<'_, PyAny>,
    sandbox_id: &str,
    token: &str,
    hostname: &str,
) -> PyResult<String> {
    let port = convert::port(&DEFAULT_RULES, port)?;
    portway::build_preview_url(port, sandbox_id, token, hostname).py_err()
}

/// Parses a host (a Host header, with or without a port) into a `Route`, with the default
/// rules and no domain check; None when it is not a preview host (never an error).
///
/// >>> parse_preview_host("8080-my-box-token123.example.com")
/// Route(port=8080, sandbox_id='my-box', token='token123')
#[pyfunction]
pub fn parse_preview_host(host: &str) -> Option<Route> {
    portway::parse_preview_host(host).map(Route::from)
}

/// Checks a port with the default rules (an int in 1024..=65535, not 3000) and returns it.
///
/// Anything else, including a bool, a float, a str or None, raises `InvalidPortError`.
///
/// >>> validate_port(8080)
/// 8080
#[pyfunction]
pub fn validate_port(port: &Bound<'_, PyAny>) -> PyResult<u16> {
    convert::port(&DEFAULT_RULES, port)
}

/// Checks a sandbox id with the default rules (1 to 63 of `[a-z0-9-]`, no leading or
/// trailing `-`, not reserved) and returns it; raises `InvalidSandboxIdError`.
///
/// >>> validate_sandbox_id("my-box")
/// 'my-box'
#[pyfunction]
pub fn validate_sandbox_id(sandbox_id: &str) -> PyResult<String> {
    portway::validate_sandbox_id(sandbox_id).py_err()
}

/// Checks a custom token with the default rules (8 to 16 of `[a-z0-9_]`) and returns it,
/// like the other validators; raises `InvalidTokenFormatError`.
///
/// >>> validate_token("token_123")
/// 'token_123'
#[pyfunction]
pub fn validate_token(token: &str) -> PyResult<String> {
    portway::validate_token(token).py_err()
}

/// A new random token: 16 characters of `[a-z0-9]` from the OS's secure random source.
///
/// >>> len(generate_token())
/// 16
#[pyfunction]
pub fn generate_token() -> String {
    portway::generate_token()
}
