//! Python values into core arguments: ports (any value, never OverflowError), seconds.

use std::time::Duration;

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

/// A duration in seconds (`INVALID_ARGUMENT` when negative, NaN or too large).
pub fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        to_py(Error::InvalidArgument(format!(
            "{name} must be a number of seconds, zero or more (got {value})"
        )))
    })
}

/// Like [`seconds`], for a configuration value (`INVALID_CONFIG`).
pub fn config_seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        to_py(Error::InvalidConfig(format!(
            "{name} must be a number of seconds, zero or more (got {value})"
        )))
    })
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
