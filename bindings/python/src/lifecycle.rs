//! Sandbox lifecycle in Python: `EventStream` (an async iterator of the core's events) and
//! the wake hook, an async callable that the core awaits on the event loop it was given on.

use std::sync::Arc;

use pyo3::exceptions::{PyStopAsyncIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyBool;
use pyo3_async_runtimes::TaskLocals;

use crate::Awaitable;
use crate::records::{LifecycleEvent, WakeRequest};

/// The lifecycle events of a Portway from the moment `portway.events()` was called:
/// `idle`, `exposed`, `unexposed`, `running`, `stopped`, `destroyed` (`LifecycleEvent`).
///
/// An async iterator (`async for event in portway.events(): ...`); `await stream.next()`
/// gives one event, or None once the stream is closed. `close()` ends it, a `next()` that
/// waits included; so does dropping it.
#[pyclass(module = "portway", frozen)]
pub struct EventStream {
    inner: Arc<portway::EventStream>,
}

impl EventStream {
    pub fn new(inner: portway::EventStream) -> Self {
        EventStream {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl EventStream {
    /// The next event; None once the stream is closed.
    fn next<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let inner = self.inner.clone();
        crate::awaitable(
            py,
            Ok(async move { Ok(inner.next().await.map(LifecycleEvent::from)) }),
        )
    }

    /// Ends the stream. Idempotent.
    fn close(&self) {
        self.inner.close();
    }

    /// Whether the stream was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let inner = self.inner.clone();
        crate::awaitable(
            py,
            Ok(async move {
                match inner.next().await {
                    Some(event) => Ok(LifecycleEvent::from(event)),
                    None => Err(PyStopAsyncIteration::new_err(())),
                }
            }),
        )
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.inner.close();
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.inner.close();
    }
}

/// The wake hook: an async callable run on the event loop `serve` was awaited on.
pub struct PyWakeHook {
    callable: Py<PyAny>,
    locals: TaskLocals,
}

impl PyWakeHook {
    /// Keeps `callable` with the running event loop (and the caller's context variables).
    /// `TypeError` for a callable that is not an async function.
    pub fn new(py: Python<'_>, callable: Bound<'_, PyAny>) -> PyResult<PyWakeHook> {
        if !callable.is_callable() {
            return Err(PyTypeError::new_err("wake must be an async function"));
        }
        let inspect = py.import("inspect")?;
        let is_async = inspect
            .call_method1("iscoroutinefunction", (&callable,))?
            .is_truthy()?
            || callable
                .getattr("__call__")
                .and_then(|c| inspect.call_method1("iscoroutinefunction", (c,)))
                .and_then(|r| r.is_truthy())
                .unwrap_or(false);
        if !is_async {
            return Err(PyTypeError::new_err(
                "wake must be an async function (async def wake(request): ...): the gateway \
                 awaits it on the event loop",
            ));
        }
        let locals = TaskLocals::with_running_loop(py)?.copy_context(py)?;
        Ok(PyWakeHook {
            callable: callable.unbind(),
            locals,
        })
    }
}

/// The reason a raised exception gives: its message, or its class name when it has none.
fn reason(py: Python<'_>, err: &PyErr) -> String {
    let message = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if message.is_empty() {
        err.get_type(py)
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "the wake hook failed".into())
    } else {
        message
    }
}

impl portway::WakeHook for PyWakeHook {
    fn wake(
        &self,
        request: portway::WakeRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let started = Python::attach(|py| {
            let coroutine = self
                .callable
                .call1(py, (WakeRequest::from(request),))
                .map_err(|e| reason(py, &e))?;
            let coroutine = coroutine.into_bound(py);
            if !coroutine.hasattr("__await__").unwrap_or(false) {
                return Err("the wake hook did not return an awaitable".to_owned());
            }
            pyo3_async_runtimes::into_future_with_locals(&self.locals, coroutine)
                .map_err(|e| reason(py, &e))
        });
        Box::pin(async move {
            let answered = started?.await;
            Python::attach(|py| match answered {
                Err(e) => Err(reason(py, &e)),
                Ok(value) => {
                    let value = value.into_bound(py);
                    if value.is_instance_of::<PyBool>() && !value.is_truthy().unwrap_or(true) {
                        Err("the wake hook refused".to_owned())
                    } else {
                        Ok(())
                    }
                }
            })
        })
    }
}
