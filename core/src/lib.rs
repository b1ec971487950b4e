//! Portway puts the services that run inside sandboxes on preview URLs:
//! `https://{port}-{sandbox_id}-{token}.{hostname}/`.
//!
//! It validates and builds those URLs, keeps the exposed ports (in memory or in an SQLite
//! file that survives restarts), and routes preview hosts back to `upstream_host:port`.
//! The URL shape and the API follow the Ports API of the Cloudflare Sandbox SDK
//! (`exposePort`, `unexposePort`, `getExposedPorts`), so code moves over unchanged.
//!
//! ```
//! # async fn demo() -> portway::Result<()> {
//! use portway::{ExposeOptions, Portway};
//!
//! let portway = Portway::builder().domains(["example.com"]).build()?;
//! let sandbox = portway.sandbox("my-box", "127.0.0.1")?;
//! let exposed = sandbox.expose_port(8080, ExposeOptions::new("example.com")).await?;
//! println!("{}", exposed.url); // https://8080-my-box-<16 random characters>.example.com/
//! # Ok(()) }
//! ```
//!
//! The pure URL functions need no [`Portway`]:
//!
//! ```
//! let url = portway::build_preview_url(8080, "test-sandbox", "token123", "example.com")?;
//! assert_eq!(url, "https://8080-test-sandbox-token123.example.com/");
//! let route = portway::parse_preview_host("8080-test-sandbox-token123.example.com").unwrap();
//! assert_eq!((route.port, route.sandbox_id.as_str()), (8080, "test-sandbox"));
//! # Ok::<(), portway::Error>(())
//! ```

#![warn(missing_docs)]

mod connect;
mod error;
pub mod gateway;
mod hostname;
pub mod lifecycle;
pub mod options;
mod port;
mod portway;
mod preview_url;
mod records;
mod registry;
mod rules;
mod runtime;
mod sandbox;
mod sandbox_id;
mod state;
pub mod store;
mod throttle;
mod token;
mod upstream_policy;
mod wait;
mod ws_client;

pub use crate::error::{Error, ErrorCode, Result};
pub use crate::gateway::{
    ClientAddr, Gateway, GatewayConfig, GatewayHandle, GatewayHooks, GatewayOptions,
    GatewayRefusal, GatewayService, MetricsSnapshot,
};
pub use crate::hostname::{Hostname, MAX_HOSTNAME_LENGTH, MAX_LABEL_LENGTH};
pub use crate::lifecycle::{
    ActivityCounts, EventKind, EventStream, LifecycleEvent, PortActivity, SandboxActivity,
    WakeHook, WakeRequest,
};
pub use crate::options::{DEFAULT_LISTEN, WaitSettings, WsConnectSettings};
pub use crate::port::MIN_PORT;
pub use crate::portway::{Portway, PortwayBuilder, PortwaySettings};
pub use crate::preview_url::{Route, RouteSpans};
pub use crate::records::{HostField, ResolutionKind};
pub use crate::registry::{Resolution, SandboxInfo, Upstream};
pub use crate::rules::{
    DEFAULT_CUSTOM_DOMAIN_SUFFIXES, DEFAULT_DOMAIN, DEFAULT_MIN_TOKEN_LENGTH,
    DEFAULT_RESERVED_PORTS, DEFAULT_RESERVED_SANDBOX_IDS, Rules, RulesBuilder,
};
pub use crate::runtime::shared_runtime;
pub use crate::sandbox::{
    DEFAULT_UPSTREAM_HOST, ExposeOptions, ExposedPort, ExposedPortInfo, MAX_PORT_NAME_LENGTH,
    PortStatus, Sandbox, validate_port_name, validate_upstream_host,
};
pub use crate::sandbox_id::MAX_SANDBOX_ID_LENGTH;
pub use crate::store::{SandboxStatus, StoreConfig};
pub use crate::throttle::Throttle;
pub use crate::token::{
    GENERATED_TOKEN_LENGTH, MAX_TOKEN_LENGTH, generate_token, is_token_format, tokens_equal,
};
pub use crate::upstream_policy::{ListenerRegistration, Networks, OwnListeners};
pub use crate::wait::{WaitMode, WaitOptions};
pub use crate::ws_client::{
    MAX_CLOSE_REASON, WebSocket, WsConnectOptions, WsMessage, validate_close_code,
};

/// Checks a port with the default rules (1024..=65535, not 3000).
///
/// ```
/// assert_eq!(portway::validate_port(8080)?, 8080);
/// assert_eq!(
///     portway::validate_port(3000).unwrap_err().to_string(),
///     "Invalid port number: 3000. Must be 1024-65535, excluding 3000 (sandbox control plane)."
/// );
/// # Ok::<(), portway::Error>(())
/// ```
pub fn validate_port(port: i64) -> Result<u16> {
    Rules::default_ref().validate_port(port)
}

/// Checks a sandbox id with the default rules and returns it.
///
/// ```
/// assert_eq!(portway::validate_sandbox_id("my-box")?, "my-box");
/// assert!(portway::validate_sandbox_id("-box").is_err());
/// # Ok::<(), portway::Error>(())
/// ```
pub fn validate_sandbox_id(id: &str) -> Result<String> {
    Rules::default_ref().validate_sandbox_id(id)
}

/// Checks a custom token with the default rules (8 to 16 of `[a-z0-9_]`) and returns it.
///
/// ```
/// assert_eq!(portway::validate_token("token_123").unwrap(), "token_123");
/// assert!(portway::validate_token("tok").is_err());
/// ```
pub fn validate_token(token: &str) -> Result<String> {
    Rules::default_ref().validate_token(token)
}

/// Builds a preview URL with the default rules.
///
/// ```
/// assert_eq!(
///     portway::build_preview_url(8080, "test-sandbox", "token123", "localhost:8787")?,
///     "http://8080-test-sandbox-token123.localhost:8787/"
/// );
/// assert_eq!(
///     portway::build_preview_url(8080, "s", "token123", "my-worker.workers.dev").unwrap_err().code().as_str(),
///     "CUSTOM_DOMAIN_REQUIRED"
/// );
/// # Ok::<(), portway::Error>(())
/// ```
pub fn build_preview_url(
    port: u16,
    sandbox_id: &str,
    token: &str,
    hostname: &str,
) -> Result<String> {
    Rules::default_ref().build_preview_url(port, sandbox_id, token, hostname)
}

/// Parses a host into a [`Route`] with the default rules and no domain check; `None` when it
/// is not a preview host.
///
/// ```
/// assert!(portway::parse_preview_host("8080-box-token123.localhost:8787").is_some());
/// assert!(portway::parse_preview_host("example.com").is_none());
/// ```
pub fn parse_preview_host(host: &str) -> Option<Route> {
    Rules::default_ref().parse_preview_host(host)
}
