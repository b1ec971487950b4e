//! Portway's errors as JavaScript `PortwayError` objects: `.code` is the stable string of the
//! core's [`portway::ErrorCode`], `.status` the HTTP status of a refused WebSocket handshake.
//!
//! The class itself is plain JavaScript (index.js) so that `instanceof` and subclassing work
//! as in any Node library; index.js hands it to [`register_error_class`] once per
//! JavaScript environment (the main thread and each worker), and errors are built from it
//! on the JavaScript thread: when a sync function throws, and when a Promise settles.

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, Object, Unknown};
use napi::{Env, JsValue, Result};
use portway::ErrorCode;

type ErrorClass = FunctionRef<FnArgs<(String, &'static str)>, Unknown<'static>>;

/// What this addon keeps per JavaScript environment.
struct Instance {
    error_class: ErrorClass,
}

/// Called once by index.js with the `PortwayError` class.
#[napi_derive::napi(js_name = "__registerErrorClass", skip_typescript)]
pub fn register_error_class(
    env: Env,
    class: Function<FnArgs<(String, &'static str)>, Unknown<'static>>,
) -> Result<()> {
    let error_class = class.create_ref()?;
    // The environment is being torn down when this runs: the reference dies with it.
    env.set_instance_data(Instance { error_class }, (), |ctx| {
        std::mem::forget(ctx.value);
    })
}

/// Every error code, in the core's order: the strings `PortwayError.code` can take.
///
/// ```js
/// errorCodes().includes('INVALID_PORT') // true
/// ```
#[napi_derive::napi(ts_return_type = "ErrorCode[]")]
pub fn error_codes() -> Vec<&'static str> {
    ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}

/// The JavaScript error for a core error, as a napi error that throws (or rejects with) it.
pub(crate) fn to_js(env: &Env, err: portway::Error) -> napi::Error {
    match build(env, &err) {
        Ok(value) => napi::Error::from(value),
        // Only when the environment is going away: a plain error with the same text.
        Err(_) => napi::Error::from_reason(err.to_string()),
    }
}

fn build<'env>(env: &'env Env, err: &portway::Error) -> Result<Unknown<'env>> {
    let code = err.code().as_str();
    let mut obj: Object<'env> = match env.get_instance_data::<Instance>()? {
        Some(instance) => {
            let class = instance.error_class.borrow_back(env)?;
            let value = class.new_instance(FnArgs::from((err.to_string(), code)))?;
            // SAFETY: `new` on a class always gives an object.
            unsafe { value.cast()? }
        }
        // The addon loaded without index.js: still an Error with its code.
        None => {
            let mut e = env.create_error(napi::Error::from_reason(err.to_string()))?;
            e.set_named_property("code", code)?;
            e.set_named_property("name", "PortwayError")?;
            unsafe { e.to_unknown().cast()? }
        }
    };
    if let Some(status) = err.http_status() {
        obj.set("status", u32::from(status))?;
    }
    Ok(obj.to_unknown())
}

/// `portway::Result` to napi's, building the `PortwayError` on this (the JavaScript) thread.
pub(crate) trait OrThrow<T> {
    fn or_throw(self, env: &Env) -> Result<T>;
}

impl<T> OrThrow<T> for portway::Result<T> {
    fn or_throw(self, env: &Env) -> Result<T> {
        self.map_err(|e| to_js(env, e))
    }
}
