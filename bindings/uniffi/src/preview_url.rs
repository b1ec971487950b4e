//! The pure functions, with the default rules: build and parse preview URLs, validate ports,
//! sandbox ids and tokens, generate tokens.

use crate::errors::PortwayError;
use crate::records::Route;

/// Builds `{scheme}://{port}-{sandbox_id}-{token}.{hostname}/` with the default rules. Checks,
/// in order: the port, the sandbox id, the token format (`[a-z0-9_]{1,16}`), the host name.
#[uniffi::export]
pub fn build_preview_url(
    port: i64,
    sandbox_id: String,
    token: String,
    hostname: String,
) -> Result<String, PortwayError> {
    let port = portway::validate_port(port)?;
    Ok(portway::build_preview_url(
        port,
        &sandbox_id,
        &token,
        &hostname,
    )?)
}

/// Parses a host (a Host header) into a route with the default rules and no domain check;
/// `nil` when it is not a preview host.
#[uniffi::export]
pub fn parse_preview_host(host: String) -> Option<Route> {
    portway::parse_preview_host(&host).map(Route::from)
}

/// Checks a port with the default rules (1024...65535, not 3000) and returns it.
#[uniffi::export]
pub fn validate_port(port: i64) -> Result<u16, PortwayError> {
    Ok(portway::validate_port(port)?)
}

/// Checks a sandbox id with the default rules and returns it.
#[uniffi::export]
pub fn validate_sandbox_id(id: String) -> Result<String, PortwayError> {
    Ok(portway::validate_sandbox_id(&id)?)
}

/// Checks a custom token with the default rules (8 to 16 of `[a-z0-9_]`) and returns it.
#[uniffi::export]
pub fn validate_token(token: String) -> Result<String, PortwayError> {
    Ok(portway::validate_token(&token)?)
}

/// A new token: 16 characters of `[a-z0-9]` from the OS's secure random generator.
#[uniffi::export]
pub fn generate_token() -> String {
    portway::generate_token()
}
