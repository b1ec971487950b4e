//! The gateway: its options, read from a JavaScript object through the core's table
//! (limits in camelCase, durations in milliseconds), and the handle of a running one.

use std::future::Future;
use std::sync::Arc;

use napi::bindgen_prelude::{Null, Object, PromiseRaw, Result, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;
use portway::options::{OptionKind, OptionValue, TimeUnit};
use portway::{Error, GatewayConfig, GatewayOptions};

use crate::convert;
use crate::keep_alive::KeepAlive;

/// The gateway's options from a JavaScript object: each setting of the core's table
/// ([`portway::GatewayConfig::fields`]) under its camelCase name, durations in milliseconds
/// with an `Ms` suffix (`idle_timeout` is `idleTimeoutMs`). Names the object does not carry
/// keep the core's default; the core checks every value. The typings are `GatewayOptions`
/// in dts-header.d.ts, which a test checks against the same table.
pub(crate) fn gateway_options(obj: &Object<'_>) -> portway::Result<GatewayOptions> {
    let mut options = GatewayOptions::default();
    for field in GatewayConfig::fields() {
        let key = js_name(field.name, field.kind);
        let shown = format!("gateway.{key}");
        let value = obj
            .get::<Unknown<'_>>(&key)
            .map_err(|e| Error::InvalidConfig(format!("{shown}: {e}")))?;
        let Some(value) = value else { continue };
        let value = match value.get_type() {
            Ok(ValueType::Undefined | ValueType::Null) => continue,
            Ok(ValueType::Boolean) => {
                OptionValue::Bool(convert::from_js(&value).unwrap_or_default())
            }
            Ok(ValueType::Number) => {
                OptionValue::Number(convert::from_js(&value).unwrap_or(f64::NAN))
            }
            Ok(ValueType::String) => {
                OptionValue::Text(convert::from_js(&value).unwrap_or_default())
            }
            Ok(ValueType::Object) if field.kind == OptionKind::Networks => {
                match convert::from_js::<Vec<String>>(&value) {
                    Some(list) => OptionValue::List(list),
                    None => {
                        return Err(Error::InvalidConfig(format!(
                            "{shown} must be an array of strings (networks such as '10.0.0.0/8')"
                        )));
                    }
                }
            }
            _ => {
                return Err(Error::InvalidConfig(format!(
                    "{shown} must be a {}, not {}",
                    match field.kind {
                        OptionKind::Bool => "boolean",
                        OptionKind::Text => "string",
                        OptionKind::Count | OptionKind::Duration => "number",
                        OptionKind::Networks => "array of strings",
                    },
                    convert::kind_of(&value)
                )));
            }
        };
        options.set(field.name, value, TimeUnit::Milliseconds, &shown)?;
    }
    Ok(options)
}

/// The JavaScript name of a setting: camelCase, and `Ms` after a duration's name.
pub(crate) fn js_name(name: &str, kind: OptionKind) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if kind == OptionKind::Duration {
        out.push_str("Ms");
    }
    out
}

/// Every gateway option as `{ name, kind, default }`: its JavaScript name, `'bool'`,
/// `'text'`, `'count'`, `'duration'` or `'networks'`, and its default (durations in
/// milliseconds, `null` for none, an array of strings for networks). The table `new Portway({ gateway })` reads, for tools and tests.
///
/// ```js
/// gatewayOptionFields().find((f) => f.name === 'idleTimeoutMs').default // 60000
/// ```
#[napi(
    ts_return_type = "Array<{ name: string; kind: 'bool' | 'text' | 'count' | 'duration' | 'networks'; default: boolean | number | string | string[] | null }>"
)]
pub fn gateway_option_fields(env: &Env) -> Result<Vec<Object<'_>>> {
    GatewayConfig::fields()
        .into_iter()
        .map(|field| {
            let mut obj = Object::new(env)?;
            obj.set("name", js_name(field.name, field.kind))?;
            obj.set("kind", field.kind.as_str())?;
            match field.default {
                serde_json::Value::Bool(b) => obj.set("default", b)?,
                serde_json::Value::Number(n) => {
                    let n = n.as_f64().unwrap_or_default();
                    let scale = if field.kind == OptionKind::Duration {
                        1000.0
                    } else {
                        1.0
                    };
                    obj.set("default", n * scale)?
                }
                serde_json::Value::String(s) => obj.set("default", s)?,
                serde_json::Value::Array(items) => obj.set(
                    "default",
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect::<Vec<String>>(),
                )?,
                _ => obj.set("default", Null)?,
            }
            Ok(obj)
        })
        .collect()
}

/// A running gateway. Like an `http.Server`, it keeps the process alive while it listens,
/// unless `unref()`'d; `close()` (or `await using`) stops it, and so does garbage collection
/// of a handle nobody holds any more.
///
/// @example
/// await using gateway = await portway.serve({ listen: '127.0.0.1:0' })
/// console.log(`gateway on http://${gateway.localAddr}/`)
#[napi]
pub struct GatewayHandle {
    inner: Arc<portway::GatewayHandle>,
    keep_alive: KeepAlive,
}

impl GatewayHandle {
    pub(crate) fn new(env: &Env, inner: portway::GatewayHandle) -> Result<GatewayHandle> {
        let mut keep_alive = KeepAlive::default();
        keep_alive.hold(env)?;
        Ok(GatewayHandle {
            inner: Arc::new(inner),
            keep_alive,
        })
    }

    /// Lets the event loop go for good and settles when `stopping` has finished.
    fn stop<'env, F>(&mut self, env: &'env Env, stopping: F) -> Result<PromiseRaw<'env, ()>>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.keep_alive.finish();
        let stopped = async move {
            stopping.await;
            Ok(())
        };
        crate::promise(env, stopped, |_, ()| Ok(()))
    }
}

#[napi]
impl GatewayHandle {
    /// The address the gateway listens on, such as `'127.0.0.1:49152'`.
    #[napi(getter)]
    pub fn local_addr(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// The port the gateway listens on (the one the OS chose for port 0).
    #[napi(getter)]
    pub fn port(&self) -> u16 {
        self.inner.local_addr().port()
    }

    /// Shuts down gracefully: stops accepting, lets in-flight requests finish (up to the
    /// `shutdownTimeoutMs` option), asks WebSocket sessions to close, then closes the rest.
    /// Calling it again is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&mut self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        self.stop(env, async move { inner.close().await })
    }

    /// `close()`, waiting at most `deadlineMs` for in-flight work before closing it.
    ///
    /// @throws {PortwayError} `INVALID_ARGUMENT` for a deadline that is not a number of
    /// milliseconds of at least 0.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(
        &mut self,
        env: &'env Env,
        deadline_ms: f64,
    ) -> Result<PromiseRaw<'env, ()>> {
        let deadline = match convert::millis("deadlineMs", deadline_ms) {
            Ok(d) => d,
            Err(e) => return crate::rejected(env, e),
        };
        let inner = self.inner.clone();
        self.stop(env, async move { inner.shutdown(deadline).await })
    }

    /// Every counter (requests by status, upstream latency, open connections, WebSocket
    /// sessions) in the Prometheus text format.
    #[napi]
    pub fn metrics(&self) -> String {
        self.inner.gateway().metrics().render()
    }

    /// Lets the process exit while the gateway still listens (like `server.unref()`).
    #[napi]
    pub fn unref(&mut self) {
        self.keep_alive.release();
    }

    /// Keeps the process alive while the gateway listens again, after `unref()`.
    #[napi(js_name = "ref")]
    pub fn hold_process(&mut self, env: Env) -> Result<()> {
        self.keep_alive.hold(&env)
    }

    /// `close()`, for `await using gateway = await portway.serve(...)`.
    #[napi(well_known_symbol = "asyncDispose", ts_return_type = "Promise<void>")]
    pub fn async_dispose<'env>(&mut self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.close(env)
    }
}
