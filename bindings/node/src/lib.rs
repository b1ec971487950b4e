//! `portway` for Node.js: the napi-rs facade over the `portway` crate. One file per core
//! concept (portway, sandbox, gateway, websocket, preview_url, records, errors) converting
//! between JavaScript values and the core's types; the defaults, checks and rules are the
//! core's. What only Node needs has modules of its own:
//!
//! - `abort_signal.rs`: the `signal` option (an `AbortSignal` cancels the Rust future);
//! - `keep_alive.rs`: a listening gateway holds the event loop open, as `http.Server` does;
//! - `fast_path.rs`: the two pure per-request functions as plain Node-API callbacks.
//!
//! Every Promise runs its future on napi's multi-thread tokio runtime and settles on the
//! JavaScript thread, where a core error becomes a `PortwayError` carrying its stable code
//! (a napi `async fn` could only reject with `GenericFailure`: see errors.rs).
//!
//! The package's hand-written `index.js` defines `PortwayError` and registers it here; the
//! typings in `index.d.ts` are generated from the doc comments below by the napi CLI.

// Under cfg(test) (clippy --all-targets) napi-derive registers nothing, so every export looks
// unused; the crate has no Rust tests (it is tested through node --test).
#![cfg_attr(test, allow(dead_code))]

mod abort_signal;
mod convert;
mod errors;
mod fast_path;
mod gateway;
mod keep_alive;
mod lifecycle;
mod portway;
mod preview_url;
mod records;
mod sandbox;
mod websocket;

use std::future::Future;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result, ToNapiValue};

/// Runs `fut` on napi's tokio runtime. Its value is turned into JavaScript by `to_js` on the
/// JavaScript thread; its error rejects the Promise with a `PortwayError`.
pub(crate) fn promise<'env, T, V, F, C>(
    env: &'env Env,
    fut: F,
    to_js: C,
) -> Result<PromiseRaw<'env, V>>
where
    F: Future<Output = ::portway::Result<T>> + Send + 'static,
    T: Send + 'static,
    V: ToNapiValue,
    C: FnOnce(&'env Env, T) -> Result<V> + 'static,
{
    env.spawn_future_with_callback(async move { Ok(fut.await) }, move |env, out| match out {
        Ok(value) => to_js(env, value),
        Err(err) => Err(errors::to_js(env, err)),
    })
}

/// A Promise already rejected with `err` (an argument found invalid before any I/O), so an
/// async method never throws synchronously.
pub(crate) fn rejected<'env, V: ToNapiValue + 'env>(
    env: &'env Env,
    err: ::portway::Error,
) -> Result<PromiseRaw<'env, V>> {
    promise(env, async move { Err::<(), _>(err) }, |_, ()| {
        Err(napi::Error::from_reason(
            "unreachable: a rejected promise resolved",
        ))
    })
}
