//! The pure URL functions, synchronous, with the default rules (ports 1024-65535 except 3000,
//! the default reserved sandbox ids, tokens of 8 to 16 characters, no domain check).

use std::sync::LazyLock;

use napi::Env;
use napi::bindgen_prelude::{Result, Unknown};
use napi_derive::napi;
use portway::Rules;

use crate::convert;
use crate::errors::OrThrow;

pub(crate) static DEFAULT_RULES: LazyLock<Rules> = LazyLock::new(Rules::default);

// `buildPreviewUrl` and `parsePreviewHost` themselves are plain Node-API callbacks (fast_path.rs,
// typed in dts-header.d.ts); `Portway`'s methods of the same names use `build_with`.

/// `buildPreviewUrl` with a `Portway`'s rules.
pub(crate) fn build_with(
    rules: &Rules,
    env: &Env,
    port: &Unknown<'_>,
    sandbox_id: &str,
    token: &str,
    hostname: &str,
) -> Result<String> {
    convert::port(rules, port)
        .and_then(|port| rules.build_preview_url(port, sandbox_id, token, hostname))
        .or_throw(env)
}

/// Checks a port: a whole number from 1024 to 65535 that is not reserved (3000). Returns
/// it. Fractions, NaN, strings and other non-numbers are refused, never truncated.
///
/// @throws {PortwayError} `INVALID_PORT`.
#[napi(ts_args_type = "port: unknown")]
pub fn validate_port(env: Env, port: Unknown<'_>) -> Result<u32> {
    convert::port(&DEFAULT_RULES, &port)
        .map(u32::from)
        .or_throw(&env)
}

/// Checks a sandbox id (1 to 63 of `[a-z0-9-]`, no leading or trailing `-`, not reserved)
/// and returns it.
///
/// @throws {PortwayError} `INVALID_SANDBOX_ID`, with a message naming the rule broken.
#[napi]
pub fn validate_sandbox_id(env: Env, id: String) -> Result<String> {
    DEFAULT_RULES.validate_sandbox_id(&id).or_throw(&env)
}

/// Checks a custom token (8 to 16 of `[a-z0-9_]`) and returns it.
///
/// @throws {PortwayError} `INVALID_TOKEN_FORMAT`; the message never repeats the token.
#[napi]
pub fn validate_token(env: Env, token: String) -> Result<String> {
    DEFAULT_RULES.validate_token(&token).or_throw(&env)
}

/// A new random token: 16 characters of `[a-z0-9]` from the OS's secure random source.
#[napi]
pub fn generate_token() -> String {
    portway::generate_token()
}
