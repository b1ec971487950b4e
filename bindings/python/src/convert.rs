//! Python values into core arguments: ports (any value, never OverflowError), seconds.

use std::time::Duration;

use portway::options::TimeUnit;
use portway::{Error, Rules};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::PyBool;

use crate::errors::{IntoPyResult, to_py};

/// A port given as any Python value. An `int` (or an object with `__index__`) goes through
/// the rules; anything else (`bool`, `float`, `str`, `None`, an int too big for 64 bits) is
/// `INVALID_PORT` too, never `TypeError` or `OverflowError`.
pub fn port(rules: &Rules, value: &Bound<'_, PyAny>) -> PyResult<u16> {
    if value.is_instance_of::<PyBool>() {
        return Err(to_py(rules.invalid_port(&repr(value))));
    }
    match value.extract::<i64>() {
        Ok(p) => rules.validate_port(p).py_err(),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            Err(to_py(rules.invalid_port(&text(value))))
        }
        Err(_) => Err(to_py(rules.invalid_port(&repr(value)))),
    }
}

/// A duration in seconds, for an argument (`INVALID_ARGUMENT` when negative, NaN or too
/// large: the core's check and message).
pub fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    portway::options::duration(name, value, TimeUnit::Seconds)
        .map_err(|m| to_py(Error::InvalidArgument(m)))
}

/// Like [`seconds`], for a configuration value (`INVALID_CONFIG`).
pub fn config_seconds(name: &str, value: f64) -> PyResult<Duration> {
    portway::options::duration(name, value, TimeUnit::Seconds)
        .map_err(|m| to_py(Error::InvalidConfig(m)))
}

/// Python's `repr()` of a value, for messages.
pub fn repr(value: &Bound<'_, PyAny>) -> String {
    value
        .repr()
        .map_or_else(|_| "<unprintable>".to_owned(), |r| r.to_string())
}

/// Python's `str()` of a value, for messages.
fn text(value: &Bound<'_, PyAny>) -> String {
    value
        .str()
        .map_or_else(|_| "<unprintable>".to_owned(), |r| r.to_string())
}
