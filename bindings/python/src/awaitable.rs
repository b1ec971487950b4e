//! The asyncio side: every method that does I/O returns an awaitable whose Rust future runs
//! on the core's shared tokio runtime (cancelling the awaitable drops the future, and with it
//! whatever the future had opened).

use std::future::Future;

use pyo3::prelude::*;

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
