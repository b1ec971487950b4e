//! `Sandbox`: expose, unexpose and list ports, wait for a service, open a WebSocket to it,
//! and follow the sandbox's lifecycle. Every method returns a Promise; an invalid argument
//! rejects it (nothing is thrown synchronously).

use std::collections::HashMap;

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{Object, PromiseRaw, Result, Unknown};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;
use portway::{Error, WaitMode, WaitOptions};

use crate::abort_signal::abortable;
use crate::convert;
use crate::errors::OrThrow;
use crate::records::{self, ExposedPort, ExposedPorts, PortActivity, SandboxActivity};
use crate::websocket::WebSocket;

/// Options of `exposePort`.
#[napi(object, object_to_js = false)]
pub struct ExposeOptions {
    /// The host name preview URLs are built under, optionally with a port
    /// (`'example.com'`, `'localhost:8787'`); it must be one of the Portway's domains.
    pub hostname: String,
    /// A name for the port, returned by `getExposedPorts` (1 to 64 characters).
    pub name: Option<String>,
    /// A custom token (8 to 16 of `[a-z0-9_]`); without it the port keeps its token, or gets
    /// a new random one. A new token rotates the URL: the old one then answers 404.
    pub token: Option<String>,
}

/// Options of `waitForPort`.
#[napi(object, object_to_js = false)]
pub struct WaitForPortOptions<'a> {
    /// `'http'` (default): ready when `GET path` answers with a status in `status`;
    /// `'tcp'`: ready when a TCP connect succeeds.
    #[napi(ts_type = "'http' | 'tcp'")]
    pub mode: Option<String>,
    /// The path requested in HTTP mode (default `'/'`).
    pub path: Option<String>,
    /// The accepted statuses, inclusive: `[min, max]` or `{ min, max }` (default 200 to 399).
    #[napi(ts_type = "[number, number] | { min: number; max: number }")]
    pub status: Option<Unknown<'a>>,
    /// How long to keep trying, in milliseconds (default 30000).
    pub timeout_ms: Option<f64>,
    /// The pause between attempts, in milliseconds (default 100).
    pub interval_ms: Option<f64>,
    /// Cancels the wait: the Promise rejects with the signal's reason.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'a>>,
}

/// Options of `wsConnect`.
#[napi(object, object_to_js = false)]
pub struct WsConnectOptions<'a> {
    /// The path and query (default `'/'`).
    pub path: Option<String>,
    /// Extra request headers (cookies, authorization, origin).
    pub headers: Option<HashMap<String, String>>,
    /// Subprotocols offered, in order of preference; the chosen one is `ws.protocol`.
    pub subprotocols: Option<Vec<String>>,
    /// The largest message accepted or sent, in bytes (default 16 MiB).
    pub max_message_size: Option<f64>,
    /// How long the connect and the handshake may take, in milliseconds (default 10000).
    pub connect_timeout_ms: Option<f64>,
    /// Cancels the connect: the Promise rejects with the signal's reason.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'a>>,
}

/// A handle on one sandbox, from `portway.sandbox(id)`. Creating one stores nothing; every
/// write through it records its upstream host.
#[napi]
pub struct Sandbox {
    inner: portway::Sandbox,
}

impl From<portway::Sandbox> for Sandbox {
    fn from(inner: portway::Sandbox) -> Self {
        Sandbox { inner }
    }
}

impl Sandbox {
    fn port(&self, port: &Unknown<'_>) -> portway::Result<u16> {
        convert::port(self.inner.portway().rules(), port)
    }
}

macro_rules! try_or_reject {
    ($env:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return crate::rejected($env, err),
        }
    };
}

#[napi]
impl Sandbox {
    /// The sandbox id (lowercased when `normalizeId` is on).
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The host its services listen on.
    #[napi(getter)]
    pub fn upstream_host(&self) -> String {
        self.inner.upstream_host().to_owned()
    }

    /// Exposes a port at a preview URL. Re-exposing keeps the token (and so the URL); a new
    /// custom token rotates it. Nothing checks that a service listens yet: see
    /// `waitForPort`.
    ///
    /// @throws {PortwayError} (rejects) `INVALID_PORT`, `INVALID_HOSTNAME`,
    /// `CUSTOM_DOMAIN_REQUIRED`, `DOMAIN_NOT_CONFIGURED`, `INVALID_PORT_NAME`,
    /// `INVALID_TOKEN_FORMAT`, `PREVIEW_LABEL_TOO_LONG`, `TOKEN_IN_USE` or `STORE_ERROR`.
    ///
    /// @example
    /// const { url } = await sandbox.exposePort(8080, { hostname: 'example.com', name: 'web' })
    #[napi(
        ts_args_type = "port: number, options: ExposeOptions",
        ts_return_type = "Promise<ExposedPort>"
    )]
    pub fn expose_port<'env>(
        &self,
        env: &'env Env,
        port: Unknown<'_>,
        options: ExposeOptions,
    ) -> Result<PromiseRaw<'env, ExposedPort>> {
        let port = try_or_reject!(env, self.port(&port));
        let opts = portway::ExposeOptions {
            hostname: options.hostname,
            name: options.name,
            token: options.token,
        };
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { inner.expose_port(port, opts).await },
            |_, p| Ok(ExposedPort::from(p)),
        )
    }

    /// Unexposes a port: its URL then answers 404. Unexposing a port that is not exposed
    /// succeeds.
    ///
    /// @throws {PortwayError} (rejects) `INVALID_PORT` or `STORE_ERROR`.
    #[napi(ts_args_type = "port: number", ts_return_type = "Promise<void>")]
    pub fn unexpose_port<'env>(
        &self,
        env: &'env Env,
        port: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let port = try_or_reject!(env, self.port(&port));
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { inner.unexpose_port(port).await },
            |_, ()| Ok(()),
        )
    }

    /// The exposed ports, sorted by port, with their URLs under `hostname`:
    /// `{ ports: [{ port, url, name, status }] }`, the shape of Cloudflare's SDK.
    ///
    /// @throws {PortwayError} (rejects) `INVALID_HOSTNAME` or `DOMAIN_NOT_CONFIGURED`.
    #[napi(ts_return_type = "Promise<ExposedPorts>")]
    pub fn get_exposed_ports<'env>(
        &self,
        env: &'env Env,
        hostname: String,
    ) -> Result<PromiseRaw<'env, ExposedPorts>> {
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { inner.get_exposed_ports(&hostname).await },
            |_, ports| {
                Ok(ExposedPorts {
                    ports: records::all(ports),
                })
            },
        )
    }

    /// Whether a port is exposed; `false` for an invalid port (never an error).
    #[napi(ts_args_type = "port: number", ts_return_type = "Promise<boolean>")]
    pub fn is_port_exposed<'env>(
        &self,
        env: &'env Env,
        port: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, bool>> {
        let port = self.port(&port).ok();
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { Ok(inner.is_port_exposed(port).await) },
            |_, yes| Ok(yes),
        )
    }

    /// Whether `token` is the token of `port` (compared in constant time); `false` for an
    /// invalid or unexposed port (never an error).
    #[napi(
        ts_args_type = "port: number, token: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn validate_port_token<'env>(
        &self,
        env: &'env Env,
        port: Unknown<'_>,
        token: String,
    ) -> Result<PromiseRaw<'env, bool>> {
        let port = self.port(&port).ok();
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { Ok(inner.validate_port_token(port, &token).await) },
            |_, yes| Ok(yes),
        )
    }

    /// Waits until the service on `port` answers: an HTTP status in range (default), or a
    /// TCP connect. Needs no exposure. The replacement for a `sleep(2)` after starting a
    /// server.
    ///
    /// @throws {PortwayError} (rejects) `PORT_WAIT_TIMEOUT` (the message says what the last
    /// attempt saw), `INVALID_PORT` or `INVALID_ARGUMENT`; with the signal's reason when it
    /// aborts.
    ///
    /// @example
    /// await sandbox.waitForPort(8080, { path: '/health', timeoutMs: 5000 })
    #[napi(
        ts_args_type = "port: number, options?: WaitForPortOptions",
        ts_return_type = "Promise<void>"
    )]
    pub fn wait_for_port<'env>(
        &self,
        env: &'env Env,
        port: Unknown<'_>,
        options: Option<WaitForPortOptions<'_>>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let port = try_or_reject!(env, self.port(&port));
        let (opts, signal) = try_or_reject!(env, wait_options(options));
        let inner = self.inner.clone();
        let wait = async move { inner.wait_for_port(port, opts).await };
        abortable(env, signal.as_ref(), wait, |_, ()| Ok(()))
    }

    /// Opens a WebSocket to the service on `port` (no exposure needed), with
    /// `Host: localhost:{port}` like the gateway sends.
    ///
    /// @throws {PortwayError} (rejects) `WS_CONNECT_FAILED` (with `.status` when the service
    /// refused the handshake with an HTTP answer), `INVALID_PORT` or `INVALID_ARGUMENT`; with
    /// the signal's reason when it aborts.
    ///
    /// @example
    /// const ws = await sandbox.wsConnect(8080, { path: '/ws' })
    /// await ws.send('hello')
    /// for await (const msg of ws) console.log(msg)
    #[napi(
        ts_args_type = "port: number, options?: WsConnectOptions",
        ts_return_type = "Promise<WebSocket>"
    )]
    pub fn ws_connect<'env>(
        &self,
        env: &'env Env,
        port: Unknown<'_>,
        options: Option<WsConnectOptions<'_>>,
    ) -> Result<PromiseRaw<'env, WebSocket>> {
        let port = try_or_reject!(env, self.port(&port));
        let (opts, signal) = try_or_reject!(env, ws_options(options));
        let inner = self.inner.clone();
        let connect = async move { inner.ws_connect(port, opts).await };
        abortable(env, signal.as_ref(), connect, |_, ws| {
            Ok(WebSocket::from(ws))
        })
    }

    /// Marks the sandbox running: its URLs are served again, unchanged.
    ///
    /// @throws {PortwayError} (rejects) `STORE_ERROR`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn mark_running<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        crate::promise(env, async move { inner.mark_running().await }, |_, ()| {
            Ok(())
        })
    }

    /// Marks the sandbox stopped: its URLs answer 410 `STALE_PREVIEW_URL` until it runs
    /// again (tokens are kept).
    ///
    /// @throws {PortwayError} (rejects) `STORE_ERROR`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn mark_stopped<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        crate::promise(env, async move { inner.mark_stopped().await }, |_, ()| {
            Ok(())
        })
    }

    /// What the gateways of this process saw of the sandbox, all ports together: the last
    /// activity (RFC 3339, or `null`), open requests and sessions, requests, bytes both ways.
    #[napi]
    pub fn activity(&self) -> SandboxActivity {
        SandboxActivity::from(self.inner.activity())
    }

    /// The same per exposed port, sorted by port.
    #[napi]
    pub fn port_activity(&self) -> Vec<PortActivity> {
        records::all(self.inner.activity().ports)
    }

    /// Sets this sandbox's own `idle_after` in milliseconds: how long without traffic before
    /// its `idle` event. `null`: the gateway setting `idleAfterMs`; 0: never idle.
    ///
    /// @throws {PortwayError} `INVALID_ARGUMENT` for a negative or too long value.
    #[napi(ts_args_type = "ms: number | null")]
    pub fn set_idle_after(&self, env: Env, ms: Option<f64>) -> Result<()> {
        ms.map(|ms| convert::millis("ms", ms))
            .transpose()
            .and_then(|d| self.inner.set_idle_after(d))
            .or_throw(&env)
    }

    /// This sandbox's own `idle_after` in milliseconds, or `null` (the gateway setting).
    #[napi]
    pub fn idle_after(&self) -> Option<f64> {
        self.inner.idle_after().map(|d| d.as_secs_f64() * 1000.0)
    }

    /// Forgets the sandbox and its tokens: its URLs answer 404. Exposing again creates it
    /// anew, with new tokens.
    ///
    /// @throws {PortwayError} (rejects) `STORE_ERROR`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn destroy<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        crate::promise(env, async move { inner.destroy().await }, |_, ()| Ok(()))
    }
}

/// The core's wait options (its defaults where `o` or a field is absent) and the signal.
fn wait_options(o: Option<WaitForPortOptions<'_>>) -> portway::Result<(WaitOptions, Signal<'_>)> {
    let Some(o) = o else {
        return Ok((portway::WaitSettings::default().resolve()?, None));
    };
    let status = o.status.as_ref().map(status_range).transpose()?;
    let settings = portway::WaitSettings {
        mode: o.mode.as_deref().map(WaitMode::named).transpose()?,
        path: o.path,
        status_min: status.map(|s| i64::from(s.0)),
        status_max: status.map(|s| i64::from(s.1)),
        timeout: o
            .timeout_ms
            .map(|ms| convert::millis("timeoutMs", ms))
            .transpose()?,
        interval: o
            .interval_ms
            .map(|ms| convert::millis("intervalMs", ms))
            .transpose()?,
    };
    Ok((settings.resolve()?, o.signal))
}

/// `[min, max]` or `{ min, max }`; the core checks the range itself.
fn status_range(value: &Unknown<'_>) -> portway::Result<(u16, u16)> {
    let bad = || {
        Error::InvalidArgument(
            "status must be [min, max] or { min, max } with whole numbers from 100 to 599".into(),
        )
    };
    if value.get_type().map_err(|_| bad())? != ValueType::Object {
        return Err(bad());
    }
    // SAFETY: the value is an object (checked above).
    let obj: Object<'_> = unsafe { value.cast() }.map_err(|_| bad())?;
    let is_array = obj.is_array().map_err(|_| bad())?;
    let (min, max): (Option<f64>, Option<f64>) = if is_array {
        (
            obj.get_element::<f64>(0).ok(),
            obj.get_element::<f64>(1).ok(),
        )
    } else {
        (
            obj.get::<f64>("min").ok().flatten(),
            obj.get::<f64>("max").ok().flatten(),
        )
    };
    let status = |v: Option<f64>| -> portway::Result<u16> {
        let v = v.ok_or_else(bad)?;
        let n = convert::integer("status", v, 0, i64::from(u16::MAX), Error::InvalidArgument)?;
        u16::try_from(n).map_err(|_| bad())
    };
    Ok((status(min)?, status(max)?))
}

/// The core's connect options (its defaults where `o` or a field is absent) and the signal.
fn ws_options(
    o: Option<WsConnectOptions<'_>>,
) -> portway::Result<(portway::WsConnectOptions, Signal<'_>)> {
    let Some(o) = o else {
        return Ok((portway::WsConnectSettings::default().resolve()?, None));
    };
    let bad = Error::InvalidArgument;
    let settings = portway::WsConnectSettings {
        path: o.path,
        headers: o.headers.map(|h| h.into_iter().collect()),
        subprotocols: o.subprotocols,
        max_message_size: o
            .max_message_size
            .map(|n| portway::options::count("maxMessageSize", n).map_err(bad))
            .transpose()?,
        connect_timeout: o
            .connect_timeout_ms
            .map(|ms| convert::millis("connectTimeoutMs", ms))
            .transpose()?,
    };
    Ok((settings.resolve()?, o.signal))
}

/// An optional `AbortSignal` from an options object.
type Signal<'a> = Option<Object<'a>>;
