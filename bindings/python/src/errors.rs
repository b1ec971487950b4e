//! Portway's errors as Python exceptions: `PortwayError` with `.code`, one subclass per code.

use portway::{Error, ErrorCode};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    portway,
    PortwayError,
    PyException,
    "The base class of every Portway error.\n\n`code` is the stable string of the error (such as \"INVALID_PORT\"), the same in every language Portway ships in; each code has its own subclass."
);

/// Declares one exception class per code, the code -> class table, and their registration.
macro_rules! error_classes {
    ($($code:ident => $class:ident, $doc:literal;)*) => {
        $(create_exception!(portway, $class, PortwayError, $doc);)*

        /// The exception of a code, created lazily (no GIL needed); None for a code newer
        /// than this binding.
        fn lazy(code: ErrorCode, message: String) -> Option<PyErr> {
            match code {
                $(ErrorCode::$code => Some(PyErr::new::<$class, _>(message)),)*
                _ => None,
            }
        }

        /// Adds `PortwayError` and every subclass to the module, each with its `code`.
        pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            let base = py.get_type::<PortwayError>();
            base.setattr("code", "")?;
            m.add("PortwayError", base)?;
            $(
                let class = py.get_type::<$class>();
                class.setattr("code", ErrorCode::$code.as_str())?;
                m.add(stringify!($class), class)?;
            )*
            py.get_type::<WsConnectFailedError>().setattr("status", py.None())?;
            Ok(())
        }
    };
}

error_classes! {
    InvalidPort => InvalidPortError,
        "INVALID_PORT: a port outside 1024..=65535, a reserved port, or not an integer at all.";
    InvalidSandboxId => InvalidSandboxIdError,
        "INVALID_SANDBOX_ID: a sandbox id that breaks one of the id rules (the message names it).";
    InvalidHostname => InvalidHostnameError,
        "INVALID_HOSTNAME: a host name that is empty, malformed, a URL, or an IP literal other than loopback.";
    CustomDomainRequired => CustomDomainRequiredError,
        "CUSTOM_DOMAIN_REQUIRED: a host name that cannot carry wildcard subdomains (such as *.workers.dev).";
    PreviewLabelTooLong => PreviewLabelTooLongError,
        "PREVIEW_LABEL_TOO_LONG: the preview URL's first label (or whole host name) would not fit DNS.";
    InvalidTokenFormat => InvalidTokenFormatError,
        "INVALID_TOKEN_FORMAT: a token that breaks the custom-token rules (8 to 16 of [a-z0-9_] by default).";
    TokenInUse => TokenInUseError,
        "TOKEN_IN_USE: a custom token already used by another port of the same sandbox.";
    SandboxNotFound => SandboxNotFoundError,
        "SANDBOX_NOT_FOUND: an operation on a sandbox that does not exist.";
    PortWaitTimeout => PortWaitTimeoutError,
        "PORT_WAIT_TIMEOUT: wait_for_port gave up; the message says what the last attempt saw.";
    WsConnectFailed => WsConnectFailedError,
        "WS_CONNECT_FAILED: a WebSocket to a sandbox service could not be opened.\n\n`status` is the HTTP status of a refused handshake, or None when the service did not answer at all.";
    StoreError => StoreError,
        "STORE_ERROR: the store could not be opened, read or written.";
    GatewayError => GatewayError,
        "GATEWAY_ERROR: the gateway could not start (for example, the address is in use) or failed.";
    DomainNotConfigured => DomainNotConfiguredError,
        "DOMAIN_NOT_CONFIGURED: a valid host name that is not one of the Portway's preview domains.";
    InvalidPortName => InvalidPortNameError,
        "INVALID_PORT_NAME: a port name that is empty, longer than 64 characters, or has control characters.";
    InvalidUpstreamHost => InvalidUpstreamHostError,
        "INVALID_UPSTREAM_HOST: an upstream host that is neither an IP address nor a host name.";
    InvalidConfig => InvalidConfigError,
        "INVALID_CONFIG: a configuration value that is out of range or inconsistent.";
    InvalidArgument => InvalidArgumentError,
        "INVALID_ARGUMENT: any other argument out of range (timeouts, sizes, status ranges, paths, close codes).";
    WsClosed => WsClosedError,
        "WS_CLOSED: a WebSocket that is closing or closed was used.";
    WsError => WsError,
        "WS_ERROR: a WebSocket session failed (protocol error, I/O error, message too large).";
}

/// The Python exception for a Portway error: its class (whose `code` attribute is the
/// code) and message. Built lazily, without the GIL, so converting an error on a runtime
/// thread never waits for Python; only what the class cannot carry (a refused WebSocket
/// handshake's `status`, a code newer than this binding) is set on the instance.
pub fn to_py(err: Error) -> PyErr {
    let code = err.code();
    let status = err.http_status();
    let message = err.to_string();
    if status.is_none()
        && let Some(exc) = lazy(code, message.clone())
    {
        return exc;
    }
    Python::attach(|py| {
        let exc =
            lazy(code, message.clone()).unwrap_or_else(|| PyErr::new::<PortwayError, _>(message));
        let value = exc.value(py);
        // Setting an attribute on a fresh exception instance cannot fail in practice.
        let _ = value.setattr("code", code.as_str());
        if status.is_some() {
            let _ = value.setattr("status", status);
        }
        exc
    })
}

/// `.py_err()` on a core result: its error as the matching Python exception.
pub trait IntoPyResult<T> {
    /// Converts the error, keeps the value.
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for portway::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// Python's `None`, as the value of an awaitable that gives nothing (Rust's `()` would
/// become an empty tuple).
pub struct Nothing;

impl<'py> IntoPyObject<'py> for Nothing {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Bound<'py, PyAny>, Self::Error> {
        Ok(py.None().into_bound(py))
    }
}

/// `.py_none()` on a core result without a value: `None` in Python, or the exception.
pub trait IntoPyNone {
    /// Converts the error; the value is `None`.
    fn py_none(self) -> PyResult<Nothing>;
}

impl IntoPyNone for portway::Result<()> {
    fn py_none(self) -> PyResult<Nothing> {
        self.map(|()| Nothing).map_err(to_py)
    }
}
