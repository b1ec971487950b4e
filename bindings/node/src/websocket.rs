//! `WebSocket`: a client connection to a sandbox service, from `sandbox.wsConnect(port)`.
//! Text messages arrive as strings and binary ones as `Buffer`s; `for await` reads them until
//! the connection closes.

use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::{Buffer, Either, Object, PromiseRaw, Result, Uint8Array, Undefined};
use napi_derive::napi;
use portway::{Error, WsMessage};

use crate::convert;

/// An open WebSocket to a sandbox service. Send with `send`, read with `for await (const
/// msg of ws)` (or `recv`), close with `close(code, reason)`. Breaking out of a `for await`
/// leaves the connection open. Dropped (garbage-collected) connections are closed.
///
/// @example
/// const ws = await sandbox.wsConnect(8080)
/// await ws.send('ping')
/// for await (const msg of ws) {
///   console.log(typeof msg === 'string' ? msg : msg.toString('hex'))
///   await ws.close(1000, 'done')
/// }
#[napi]
pub struct WebSocket {
    inner: Arc<portway::WebSocket>,
}

impl From<portway::WebSocket> for WebSocket {
    fn from(ws: portway::WebSocket) -> Self {
        WebSocket {
            inner: Arc::new(ws),
        }
    }
}

type Message = Either<String, Buffer>;

fn to_js(msg: WsMessage) -> Message {
    match msg {
        WsMessage::Text(text) => Either::A(text),
        WsMessage::Binary(data) => Either::B(data.into()),
    }
}

#[napi]
impl WebSocket {
    /// The subprotocol the service chose, or `null`.
    #[napi(getter)]
    pub fn protocol(&self) -> Option<String> {
        self.inner.protocol().map(str::to_owned)
    }

    /// The close code the service sent once it has closed (1005 when it gave none), or
    /// `null` while it has not.
    #[napi(getter)]
    pub fn close_code(&self) -> Option<u16> {
        self.inner.close_code()
    }

    /// The close reason the service sent once it has closed, or `null` while it has not.
    #[napi(getter)]
    pub fn close_reason(&self) -> Option<String> {
        self.inner.close_reason()
    }

    /// Whether the connection is closed or closing.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Sends a message: a string as text, bytes (`Buffer`, `Uint8Array`) as binary.
    ///
    /// @throws {PortwayError} (rejects) `WS_CLOSED` once the connection is closing or closed,
    /// `WS_ERROR` for a message over `maxMessageSize` or a failed connection.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn send<'env>(
        &self,
        env: &'env Env,
        data: Either<String, Uint8Array>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let msg = match data {
            Either::A(text) => WsMessage::Text(text),
            Either::B(bytes) => WsMessage::Binary(bytes.to_vec()),
        };
        let inner = self.inner.clone();
        crate::promise(env, async move { inner.send(msg).await }, |_, ()| Ok(()))
    }

    /// The next message; `null` once the connection is closed (see `closeCode`).
    ///
    /// @throws {PortwayError} (rejects) `WS_ERROR` when the connection failed.
    #[napi(ts_return_type = "Promise<string | Buffer | null>")]
    pub fn recv<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<Message>>> {
        let inner = self.inner.clone();
        crate::promise(env, async move { inner.recv().await }, |_, msg| {
            Ok(msg.map(to_js))
        })
    }

    /// Closes with a code (default 1000; 1000, 1001-1003, 1007-1014 or 3000-4999) and a
    /// reason of at most 123 bytes, and waits (up to 5 s) for the service to answer. Closing
    /// twice is harmless.
    ///
    /// @throws {PortwayError} (rejects) `INVALID_ARGUMENT` for a code that cannot be sent or
    /// a reason that is too long.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(
        &self,
        env: &'env Env,
        code: Option<f64>,
        reason: Option<String>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let code = match code.map(|c| {
            convert::whole("close code", c, Error::InvalidArgument)
                .and_then(portway::validate_close_code)
        }) {
            None => 1000,
            Some(Ok(c)) => c,
            Some(Err(e)) => return crate::rejected(env, e),
        };
        let reason = reason.unwrap_or_default();
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { inner.close(code, &reason).await },
            |_, ()| Ok(()),
        )
    }

    /// `close()` with 1000, for `await using ws = await sandbox.wsConnect(port)`.
    #[napi(well_known_symbol = "asyncDispose", ts_return_type = "Promise<void>")]
    pub fn async_dispose<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.close(env, None, None)
    }

    /// The messages, for `for await (const msg of ws)`: strings for text, `Buffer`s for
    /// binary, until the connection closes.
    #[napi(
        well_known_symbol = "asyncIterator",
        ts_return_type = "AsyncIterator<string | Buffer, undefined>"
    )]
    pub fn messages(&self) -> WebSocketMessages {
        WebSocketMessages {
            inner: self.inner.clone(),
        }
    }
}

/// The async iterator of a `WebSocket`'s messages (what `for await` uses).
#[napi]
pub struct WebSocketMessages {
    inner: Arc<portway::WebSocket>,
}

#[napi]
impl WebSocketMessages {
    /// The next message as `{ done: false, value }`, or `{ done: true }` once the connection
    /// is closed.
    ///
    /// @throws {PortwayError} (rejects) `WS_ERROR` when the connection failed.
    #[napi(ts_return_type = "Promise<IteratorResult<string | Buffer, undefined>>")]
    pub fn next<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Object<'env>>> {
        let inner = self.inner.clone();
        crate::promise(env, async move { inner.recv().await }, |env, msg| {
            let mut result = Object::new(env)?;
            result.set("done", msg.is_none())?;
            match msg {
                Some(msg) => result.set("value", to_js(msg))?,
                None => result.set("value", Undefined::default())?,
            }
            Ok(result)
        })
    }
}
