//! The gateway: its configuration and the handle of a running one.

use std::sync::Arc;
use std::time::Duration;

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::Awaitable;
use crate::convert;
use crate::errors::{IntoPyResult, Nothing};

/// The Python side of one kind of gateway setting: what Python gives and gets back.
/// Durations are seconds (floats); counts are ints; the checks are the core's.
trait PyOption: portway::options::ConfigValue {
    type Py;
    type Out: for<'py> IntoPyObject<'py>;
    fn input(name: &str, value: Self::Py) -> PyResult<Self::Input>;
    fn output(&self) -> Self::Out;
}

/// Settings that Python gives as the core takes them.
macro_rules! as_is_in_python {
    ($($ty:ty => $py:ty),*) => {
        $(impl PyOption for $ty {
            type Py = $py;
            type Out = $ty;
            fn input(_: &str, value: $py) -> PyResult<$py> {
                Ok(value)
            }
            fn output(&self) -> $ty {
                self.clone()
            }
        })*
    };
}

as_is_in_python!(bool => bool, usize => u64, Option<String> => String);

/// Networks are a list of strings in Python (`["10.0.0.0/8"]`), read back in CIDR form.
impl PyOption for portway::Networks {
    type Py = Vec<String>;
    type Out = Vec<String>;
    fn input(_: &str, value: Vec<String>) -> PyResult<Vec<String>> {
        Ok(value)
    }
    fn output(&self) -> Vec<String> {
        self.to_strings()
    }
}

impl PyOption for Duration {
    type Py = f64;
    type Out = f64;
    fn input(name: &str, value: f64) -> PyResult<Duration> {
        convert::config_seconds(name, value)
    }
    fn output(&self) -> f64 {
        self.as_secs_f64()
    }
}

/// `GatewayConfig` from the core's table ([`portway::gateway_options!`]): one keyword
/// argument and one read-only attribute per setting, named and documented as in the core.
macro_rules! python_gateway_config {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr;)*) => {
        /// The gateway's settings and limits. Every argument is optional (None keeps the
        /// core's default); durations are in seconds. Raises `InvalidConfigError` for an
        /// unusable value. The attributes read the settings back, defaults included.
        #[pyclass(module = "portway", frozen, eq)]
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct GatewayConfig {
            pub inner: portway::GatewayConfig,
        }

        #[pymethods]
        impl GatewayConfig {
            #[new]
            #[pyo3(signature = (*, $($name = None),*))]
            #[allow(clippy::too_many_arguments)]
            fn new($($name: Option<<$ty as PyOption>::Py>),*) -> PyResult<Self> {
                let options = portway::GatewayOptions {
                    $($name: $name
                        .map(|v| <$ty as PyOption>::input(stringify!($name), v))
                        .transpose()?,)*
                };
                Ok(GatewayConfig { inner: options.resolve().py_err()? })
            }

            $(
                $(#[doc = $doc])*
                #[getter]
                fn $name(&self) -> <$ty as PyOption>::Out {
                    self.inner.$name.output()
                }
            )*

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let fields = [$(format!(
                    "{}={}",
                    stringify!($name),
                    self.inner.$name.output().into_bound_py_any(py)?.repr()?
                )),*];
                Ok(format!("GatewayConfig({})", fields.join(", ")))
            }
        }
    };
}

portway::gateway_options!(python_gateway_config);

/// A running gateway, from `await portway.serve(addr)`.
///
/// `local_addr` is the address it listens on (`"127.0.0.1:49152"`), `port` its port.
/// `await close()` shuts it down gracefully (in-flight requests finish, up to the configured
/// `shutdown_timeout`); `await shutdown(deadline)` does the same with a deadline in seconds.
/// Usable as `async with await portway.serve(...) as gateway:` (closed on exit). A handle
/// that is garbage collected without being closed stops its gateway at once.
#[pyclass(module = "portway", frozen)]
pub struct GatewayHandle {
    inner: Arc<portway::GatewayHandle>,
}

impl GatewayHandle {
    pub fn new(inner: portway::GatewayHandle) -> Self {
        GatewayHandle {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl GatewayHandle {
    /// The address the gateway listens on, as `"ip:port"` (`"[::1]:port"` for IPv6).
    #[getter]
    fn local_addr(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// The port the gateway listens on (the one the OS chose for port 0).
    #[getter]
    fn port(&self) -> u16 {
        self.inner.local_addr().port()
    }

    /// Shuts down gracefully: stops accepting, lets in-flight requests finish and asks
    /// WebSocket sessions to close (1001), up to the configured `shutdown_timeout`, then
    /// closes the rest. Closing again is harmless. Awaitable.
    fn close<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let handle = self.inner.clone();
        let closing = async move {
            handle.close().await;
            Ok(Nothing)
        };
        crate::awaitable(py, Ok(closing))
    }

    /// Like `close()`, waiting at most `deadline` seconds for in-flight work. Awaitable.
    fn shutdown<'py>(&self, py: Python<'py>, deadline: f64) -> Awaitable<'py> {
        let handle = self.inner.clone();
        let prepared = convert::seconds("deadline", deadline).map(|deadline| async move {
            handle.shutdown(deadline).await;
            Ok(Nothing)
        });
        crate::awaitable(py, prepared)
    }

    /// The gateway's counters in Prometheus text format (requests by status, upstream
    /// latency, open connections, WebSocket sessions).
    fn metrics(&self) -> String {
        self.inner.gateway().metrics().render()
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> Awaitable<'py> {
        crate::awaitable(py, Ok(async move { Ok(slf) }))
    }

    /// Closes, whatever ended the `async with` block.
    #[pyo3(signature = (*_exc_info))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc_info: &Bound<'py, PyTuple>) -> Awaitable<'py> {
        self.close(py)
    }

    fn __repr__(&self) -> String {
        format!("GatewayHandle(local_addr='{}')", self.inner.local_addr())
    }
}
