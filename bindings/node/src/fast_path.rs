//! `buildPreviewUrl` and the native half of `parsePreviewHost`: the two pure functions a server
//! may call once per request, as plain Node-API callbacks instead of `#[napi]` functions.
//!
//! Measured on the 2-core benchmark machine (Node 20, napi 3.16): the wrapper napi-rs generates
//! for a function with arguments costs ~100 ns per call before the function runs (a borrow
//! scope per call: a mutex, a vector and thread-locals), its `String` arguments ask V8 for
//! the length and then copy into a new heap buffer, and an object built through Node-API
//! (`{ port, sandboxId, token }`) costs ~800 ns of V8 property transitions. Here each string
//! argument is read with one call into a buffer on the stack, and `parsePreviewHost` returns
//! where the route lies in the host as one number: index.js slices the caller's own string
//! and builds the object with a literal, which V8 does in a few nanoseconds.
//!
//! The rules are the core's, unchanged ([`portway::Rules::build_preview_url`],
//! [`portway::Rules::locate_preview_route`]); errors are the same `PortwayError`s.

use std::borrow::Cow;
use std::ffi::c_char;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, JsObjectValue, Object, Result, Unknown};
use napi::sys;
use napi::{Env, JsError};
use portway::Error;

use crate::convert;
use crate::errors;
use crate::preview_url::DEFAULT_RULES;

/// Registers the callbacks on the addon's exports; index.js gives them their public names.
#[napi_derive::napi(module_exports)]
pub fn register_fast_paths(mut exports: Object<'_>, env: Env) -> Result<()> {
    let build = env.create_function::<(), ()>("buildPreviewUrl", build_preview_url)?;
    exports.set_named_property("__buildPreviewUrl", build)?;
    let locate = env.create_function::<(), ()>("locatePreviewRoute", locate_preview_route)?;
    exports.set_named_property("__locatePreviewRoute", locate)?;
    Ok(())
}

/// `buildPreviewUrl(port, sandboxId, token, hostname)`: the URL, or a thrown `PortwayError`.
unsafe extern "C" fn build_preview_url(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    callback(env, || {
        // SAFETY: `env` and `info` are this call's.
        let [port, sandbox_id, token, hostname] = unsafe { args::<4>(env, info)? };
        // SAFETY: each value is a live argument of this call.
        let port = convert::port(&DEFAULT_RULES, &unsafe {
            Unknown::from_raw_unchecked(env, port)
        })
        .map_err(Thrown::Portway)?;
        let mut bufs = [[MaybeUninit::uninit(); INLINE]; 3];
        let [b0, b1, b2] = &mut bufs;
        let sandbox_id = unsafe { read_text(env, sandbox_id, "sandboxId", b0)? };
        let token = unsafe { read_text(env, token, "token", b1)? };
        let hostname = unsafe { read_text(env, hostname, "hostname", b2)? };
        let url = DEFAULT_RULES
            .build_preview_url(port, &sandbox_id, &token, &hostname)
            .map_err(Thrown::Portway)?;
        let mut value = ptr::null_mut();
        // SAFETY: `url` is valid UTF-8 of the given length.
        let status = unsafe {
            sys::napi_create_string_utf8(env, url.as_ptr().cast(), url.len() as isize, &mut value)
        };
        made(status, value)
    })
}

/// The bits of the number [`locate_preview_route`] returns (index.js reads them): the port
/// above bit 15, then where the sandbox id starts (3 bits), where it ends (6 bits) and where
/// the token ends (6 bits; it starts one past the sandbox id's end). A preview host's first
/// label is at most 63 bytes, so every index fits, and the whole is below 2^31.
const PORT_SHIFT: u32 = 15;
const ID_START_SHIFT: u32 = 12;
const ID_END_SHIFT: u32 = 6;

/// `locatePreviewRoute(host)`: where the route lies in `host`, packed into one number (see
/// [`PORT_SHIFT`]), or -1 when `host` is not a preview host.
unsafe extern "C" fn locate_preview_route(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    callback(env, || {
        // SAFETY: `env` and `info` are this call's.
        let [host] = unsafe { args::<1>(env, info)? };
        let mut buf = [MaybeUninit::uninit(); INLINE];
        let host = unsafe { read_text(env, host, "host", &mut buf)? };
        let packed = match DEFAULT_RULES.locate_preview_route(&host) {
            Some(spans) => pack(&spans),
            None => -1,
        };
        let mut value = ptr::null_mut();
        // SAFETY: plain number creation in this call's environment.
        let status = unsafe { sys::napi_create_int32(env, packed, &mut value) };
        made(status, value)
    })
}

fn pack(spans: &portway::RouteSpans) -> i32 {
    let packed = (u32::from(spans.port) << PORT_SHIFT)
        | ((spans.sandbox_id.start as u32) << ID_START_SHIFT)
        | ((spans.sandbox_id.end as u32) << ID_END_SHIFT)
        | spans.token.end as u32;
    debug_assert!(spans.sandbox_id.start < 8 && spans.token.end < 64);
    // Below 2^31: the port is 16 bits at bit 15.
    packed as i32
}

/// The value a Node-API call created, or why it could not (the environment is going away).
fn made(
    status: sys::napi_status,
    value: sys::napi_value,
) -> std::result::Result<sys::napi_value, Thrown> {
    if status == sys::Status::napi_ok {
        Ok(value)
    } else {
        Err(Thrown::Napi(napi::Error::from_reason(
            "cannot create the result",
        )))
    }
}

/// Why a callback throws.
enum Thrown {
    /// A core error: thrown as a `PortwayError` with its code.
    Portway(Error),
    /// Node-API itself failed (the environment is going away).
    Napi(napi::Error),
}

/// Runs a callback's body, throwing its error (or a panic, which must not unwind into V8) into
/// JavaScript; returns `undefined`'s null handle when it threw.
fn callback(
    env: sys::napi_env,
    body: impl FnOnce() -> std::result::Result<sys::napi_value, Thrown>,
) -> sys::napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        Err(Thrown::Napi(napi::Error::from_reason(
            "portway: internal error (a Rust panic)",
        )))
    });
    let error = match outcome {
        Ok(value) => return value,
        Err(Thrown::Portway(err)) => errors::to_js(&Env::from_raw(env), err),
        Err(Thrown::Napi(err)) => err,
    };
    // SAFETY: `env` is this call's, on the JavaScript thread.
    unsafe { JsError::from(error).throw_into(env) };
    ptr::null_mut()
}

/// The first `N` arguments of this call; missing ones are `undefined`.
///
/// # Safety
/// `env` and `info` must be those of the running callback.
unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> std::result::Result<[sys::napi_value; N], Thrown> {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        return Err(Thrown::Napi(napi::Error::from_reason(
            "cannot read the arguments",
        )));
    }
    Ok(argv)
}

/// Bytes of a string argument read on the stack; longer ones go to the heap.
const INLINE: usize = 256;

/// A buffer on the stack for one string argument, left uninitialised: V8 writes it.
type Buffer = [MaybeUninit<u8>; INLINE];

/// Reads a string argument as UTF-8: into `buf` with one Node-API call when it fits (every
/// preview URL part does: a host name is at most 253 bytes), else into a new `String`.
/// Anything but a string is `INVALID_ARGUMENT` naming the argument (napi-rs's own conversion
/// would throw a plain `Error` without a Portway code).
///
/// # Safety
/// `value` must be a live value of `env`, on the JavaScript thread.
unsafe fn read_text<'b>(
    env: sys::napi_env,
    value: sys::napi_value,
    name: &str,
    buf: &'b mut Buffer,
) -> std::result::Result<Cow<'b, str>, Thrown> {
    let mut len = 0;
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr().cast::<c_char>(),
            INLINE,
            &mut len,
        )
    };
    if status == sys::Status::napi_string_expected {
        return Err(Thrown::Portway(Error::InvalidArgument(format!(
            "{name} must be a string, not {}",
            // SAFETY: as above.
            convert::kind_of(&unsafe { Unknown::from_raw_unchecked(env, value) })
        ))));
    }
    if status != sys::Status::napi_ok {
        return Err(Thrown::Napi(napi::Error::from_reason(
            "cannot read a string argument",
        )));
    }
    // V8 writes whole characters (at most 4 bytes each) and a terminating NUL: with 4 or more
    // bytes to spare, nothing was cut off.
    if len + 4 >= INLINE - 1 {
        // SAFETY: `value` is a string (the call above succeeded).
        let s = unsafe { String::from_napi_value(env, value) }.map_err(Thrown::Napi)?;
        return Ok(Cow::Owned(s));
    }
    // SAFETY: V8 initialised the first `len` bytes, with valid UTF-8 (a lone surrogate
    // becomes U+FFFD) of whole characters.
    Ok(Cow::Borrowed(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len))
    }))
}
