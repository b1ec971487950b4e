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

/// One exception class per code of the core's table ([`portway::error_codes!`]), the
/// code -> class table, and their registration.
macro_rules! python_error_classes {
    ($($variant:ident $class:ident $code:literal $when:literal;)*) => {
        $(create_exception!(portway, $class, PortwayError, concat!($code, ": ", $when, "."));)*

        /// The exception of a code, created lazily (no GIL needed); None for a code newer
        /// than this binding.
        fn lazy(code: ErrorCode, message: String) -> Option<PyErr> {
            match code {
                $(ErrorCode::$variant => Some(PyErr::new::<$class, _>(message)),)*
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
                class.setattr("code", ErrorCode::$variant.as_str())?;
                m.add(stringify!($class), class)?;
            )*
            py.get_type::<WsConnectFailedError>().setattr("status", py.None())?;
            Ok(())
        }
    };
}

portway::error_codes!(python_error_classes);

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
