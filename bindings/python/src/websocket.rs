//! `WebSocket`: a client connection from the host to a sandbox service (`ws_connect`).

use std::sync::Arc;

use portway::WsMessage;
use pyo3::exceptions::{PyStopAsyncIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString, PyTuple};

use crate::Awaitable;
use crate::errors::{IntoPyNone, IntoPyResult};

/// An open WebSocket to a sandbox service, from `await sandbox.ws_connect(port)`.
///
/// `await send(str | bytes)` sends a text or binary message; `await recv()` gives the next
/// one (`str` or `bytes`), or None once the connection is closed; `await close(code,
/// reason)` closes it. `async for message in ws` receives until the close, and
/// `async with await sandbox.ws_connect(port) as ws:` closes it on exit. Pings are answered
/// for you. `close_code` and `close_reason` tell how the service closed; a connection that
/// is garbage collected without being closed is closed at once.
#[pyclass(module = "portway", frozen)]
pub struct WebSocket {
    inner: Arc<portway::WebSocket>,
}

impl WebSocket {
    pub fn new(inner: portway::WebSocket) -> Self {
        WebSocket {
            inner: Arc::new(inner),
        }
    }
}

/// A received message, handed to Python as `str` or `bytes`.
struct Message(WsMessage);

impl<'py> IntoPyObject<'py> for Message {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Awaitable<'py> {
        Ok(match self.0 {
            WsMessage::Text(t) => PyString::new(py, &t).into_any(),
            WsMessage::Binary(b) => PyBytes::new(py, &b).into_any(),
        })
    }
}

#[pymethods]
impl WebSocket {
    /// Sends a message: a `str` as text, `bytes`, `bytearray` or `memoryview` as binary.
    /// Raises `WsClosedError` once the connection is closing or closed. Awaitable.
    fn send<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> Awaitable<'py> {
        let msg = if let Ok(s) = data.cast::<PyString>() {
            WsMessage::Text(s.to_str()?.to_owned())
        } else if let Ok(b) = data.cast::<PyBytes>() {
            WsMessage::Binary(b.as_bytes().to_vec())
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            WsMessage::Binary(b.to_vec())
        } else if data.is_instance_of::<PyMemoryView>() {
            let bytes = py.get_type::<PyBytes>().call1((data,))?;
            WsMessage::Binary(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
        } else {
            return Err(PyTypeError::new_err(format!(
                "send() takes str or bytes, not {}",
                data.get_type().name()?
            )));
        };
        let ws = self.inner.clone();
        crate::awaitable(py, Ok(async move { ws.send(msg).await.py_none() }))
    }

    /// The next message (`str` or `bytes`), or None once the connection is closed (then
    /// `close_code` tells how). Awaitable.
    fn recv<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let ws = self.inner.clone();
        crate::awaitable(
            py,
            Ok(async move { ws.recv().await.map(|m| m.map(Message)).py_err() }),
        )
    }

    /// Closes with `code` (1000, 1001-1003, 1007-1014 or 3000-4999) and a `reason` of at
    /// most 123 bytes, and waits (up to 5 s) for the service to answer. Closing twice is
    /// harmless. Awaitable.
    #[pyo3(signature = (code=1000, reason=""))]
    fn close<'py>(&self, py: Python<'py>, code: i64, reason: &str) -> Awaitable<'py> {
        let ws = self.inner.clone();
        let reason = reason.to_owned();
        let code = portway::validate_close_code(code);
        crate::awaitable(
            py,
            Ok(async move {
                match code {
                    Ok(code) => ws.close(code, &reason).await.py_none(),
                    Err(e) => Err(e).py_none(),
                }
            }),
        )
    }

    /// The subprotocol the service chose, or None.
    #[getter]
    fn protocol(&self) -> Option<&str> {
        self.inner.protocol()
    }

    /// The close code the service sent once it has closed (1005 when it gave none), else
    /// None.
    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.inner.close_code()
    }

    /// The close reason the service sent once it has closed, else None.
    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.inner.close_reason()
    }

    /// Whether the connection is closing or closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> Awaitable<'py> {
        let ws = self.inner.clone();
        crate::awaitable(
            py,
            Ok(async move {
                match ws.recv().await.py_err()? {
                    Some(m) => Ok(Message(m)),
                    None => Err(PyStopAsyncIteration::new_err(())),
                }
            }),
        )
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> Awaitable<'py> {
        crate::awaitable(py, Ok(async move { Ok(slf) }))
    }

    /// Closes, whatever ended the `async with` block.
    #[pyo3(signature = (*_exc_info))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc_info: &Bound<'py, PyTuple>) -> Awaitable<'py> {
        self.close(py, 1000, "")
    }

    fn __repr__(&self) -> String {
        format!(
            "WebSocket(protocol={}, closed={})",
            self.inner
                .protocol()
                .map_or_else(|| "None".to_owned(), |p| format!("'{p}'")),
            if self.inner.is_closed() {
                "True"
            } else {
                "False"
            }
        )
    }
}
