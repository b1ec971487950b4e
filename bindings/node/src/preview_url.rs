//! The pure URL functions, synchronous, with the default rules (ports 1024-65535 except 3000,
//! the default reserved sandbox ids, tokens of 8 to 16 characters, no domain check).

use std::sync::LazyLock;

use napi::Env;
use napi::bindgen_prelude::{Result, Unknown};
use napi_derive::napi;
use portway::Rules;

use crate::convert;
use crate::errors::OrThrow;
use crate::records::Route;

static DEFAULT_RULES: LazyLock<Rules> = LazyLock::new(Rules::default);

/// Builds the preview URL `{scheme}://{port}-{sandboxId}-{token}.{hostname}/`: `http` for
/// local host names (`localhost`, `*.localhost`, loopback addresses), `https` otherwise.
/// Checks, in order: the port, the sandbox id, the token format (`[a-z0-9_]{1,16}`), the
/// host name.
///
/// @throws {PortwayError} `INVALID_PORT`, `INVALID_SANDBOX_ID`, `INVALID_TOKEN_FORMAT`,
/// `INVALID_HOSTNAME`, `CUSTOM_DOMAIN_REQUIRED` or `PREVIEW_LABEL_TOO_LONG`.
///
/// @example
/// buildPreviewUrl(8080, 'my-box', 'token123', 'localhost:8787')
/// // 'http://8080-my-box-token123.localhost:8787/'
#[napi(ts_args_type = "port: number, sandboxId: string, token: string, hostname: string")]
pub fn build_preview_url(
    env: Env,
    port: Unknown<'_>,
    sandbox_id: String,
    token: String,
    hostname: String,
) -> Result<String> {
    build_with(&DEFAULT_RULES, &env, &port, &sandbox_id, &token, &hostname)
}

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

/// Parses a host (a `Host` header, with or without a port) back into its route, without
/// checking the domain; `null` when it is not a preview host. Never throws.
///
/// @example
/// parsePreviewHost('8080-my-box-token123.example.com')
/// // { port: 8080, sandboxId: 'my-box', token: 'token123' }
/// parsePreviewHost('example.com') // null
#[napi]
pub fn parse_preview_host(host: String) -> Option<Route> {
    portway::parse_preview_host(&host).map(Route::from)
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
    DEFAULT_RULES.validate_token(&token).or_throw(&env)?;
    Ok(token)
}

/// A new random token: 16 characters of `[a-z0-9]` from the OS's secure random source.
#[napi]
pub fn generate_token() -> String {
    portway::generate_token()
}
