//! The values that cross the boundary: Swift structs and enums, all `Sendable`, `Equatable`
//! and `Hashable`.

/// A preview host parsed back into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct Route {
    /// The sandbox port.
    pub port: u16,
    /// The sandbox id.
    pub sandbox_id: String,
    /// The token.
    pub token: String,
}

impl From<portway::Route> for Route {
    fn from(r: portway::Route) -> Route {
        Route {
            port: r.port,
            sandbox_id: r.sandbox_id,
            token: r.token,
        }
    }
}

/// What `exposePort` returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ExposedPort {
    /// The port.
    pub port: u16,
    /// The preview URL, with its trailing slash.
    pub url: String,
    /// The name given (or kept from an earlier exposure), if any.
    pub name: Option<String>,
}

impl From<portway::ExposedPort> for ExposedPort {
    fn from(e: portway::ExposedPort) -> ExposedPort {
        ExposedPort {
            port: e.port,
            url: e.url,
            name: e.name,
        }
    }
}

/// Whether an exposed port is served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PortStatus {
    /// The sandbox runs: the URL is served.
    Active,
    /// The sandbox is stopped: the URL answers 410 until it runs again.
    Inactive,
}

/// One entry of `getExposedPorts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ExposedPortInfo {
    /// The port.
    pub port: u16,
    /// The preview URL for the host name asked for.
    pub url: String,
    /// The port's name, if any.
    pub name: Option<String>,
    /// `active` while the sandbox runs, `inactive` while it is stopped.
    pub status: PortStatus,
}

impl From<portway::ExposedPortInfo> for ExposedPortInfo {
    fn from(e: portway::ExposedPortInfo) -> ExposedPortInfo {
        ExposedPortInfo {
            port: e.port,
            url: e.url,
            name: e.name,
            status: match e.status {
                portway::PortStatus::Active => PortStatus::Active,
                portway::PortStatus::Inactive => PortStatus::Inactive,
            },
        }
    }
}

/// Whether a sandbox runs (its URLs are served) or is stopped (its URLs give 410).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SandboxStatus {
    /// URLs are served.
    Running,
    /// URLs give 410 `STALE_PREVIEW_URL` until the sandbox runs again.
    Stopped,
}

/// A sandbox as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct SandboxInfo {
    /// The sandbox id.
    pub id: String,
    /// Where its services listen.
    pub upstream_host: String,
    /// Running or stopped.
    pub status: SandboxStatus,
    /// How many ports are exposed.
    pub exposed_ports: u64,
}

impl From<portway::SandboxInfo> for SandboxInfo {
    fn from(s: portway::SandboxInfo) -> SandboxInfo {
        SandboxInfo {
            id: s.id,
            upstream_host: s.upstream_host,
            status: match s.status {
                portway::SandboxStatus::Running => SandboxStatus::Running,
                portway::SandboxStatus::Stopped => SandboxStatus::Stopped,
            },
            exposed_ports: s.exposed_ports as u64,
        }
    }
}

/// What the gateway does with a request for a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Resolution {
    /// Not a preview host of this Portway: the gateway answers 404 `NOT_FOUND`.
    NotPreview,
    /// Unknown sandbox, port or token: 404 `INVALID_TOKEN`.
    Denied,
    /// The sandbox is stopped (and the token is right): 410 `STALE_PREVIEW_URL`.
    Stale { sandbox_id: String, port: u16 },
    /// Forwarded to `upstream_host:port`.
    Upstream {
        sandbox_id: String,
        port: u16,
        upstream_host: String,
    },
}

impl From<portway::Resolution> for Resolution {
    fn from(r: portway::Resolution) -> Resolution {
        match r {
            portway::Resolution::NotPreview => Resolution::NotPreview,
            portway::Resolution::Denied => Resolution::Denied,
            portway::Resolution::Stale { sandbox_id, port } => {
                Resolution::Stale { sandbox_id, port }
            }
            portway::Resolution::Upstream(u) => Resolution::Upstream {
                sandbox_id: u.sandbox_id().to_owned(),
                port: u.port(),
                upstream_host: u.host().to_owned(),
            },
        }
    }
}

/// How `waitForPort` decides that a service is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum WaitMode {
    /// Ready when a TCP connect succeeds.
    Tcp,
    /// Ready when `GET path` answers with a status in the accepted range.
    Http,
}

impl From<WaitMode> for portway::WaitMode {
    fn from(m: WaitMode) -> portway::WaitMode {
        match m {
            WaitMode::Tcp => portway::WaitMode::Tcp,
            WaitMode::Http => portway::WaitMode::Http,
        }
    }
}

/// One WebSocket message (pings and pongs are answered for you).
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum WebSocketMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl From<portway::WsMessage> for WebSocketMessage {
    fn from(m: portway::WsMessage) -> WebSocketMessage {
        match m {
            portway::WsMessage::Text(t) => WebSocketMessage::Text(t),
            portway::WsMessage::Binary(b) => WebSocketMessage::Binary(b),
        }
    }
}

/// The gateway's settings and limits. Every field is optional: `nil` keeps the core's
/// default (given in brackets). Times are in seconds.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct GatewayConfig {
    /// Send `Host: localhost:{port}` upstream [true]; false keeps the preview host.
    #[uniffi(default)]
    pub rewrite_host: Option<bool>,
    /// The `X-Forwarded-Proto` sent upstream, `"http"` or `"https"` [the client's scheme].
    #[uniffi(default)]
    pub forwarded_proto: Option<String>,
    /// The largest request head in bytes [32 KiB; at least 8 KiB].
    #[uniffi(default)]
    pub max_head_size: Option<u64>,
    /// The most headers in one request [100].
    #[uniffi(default)]
    pub max_headers: Option<u64>,
    /// Time a client gets to send a request head (slow-loris) [10].
    #[uniffi(default)]
    pub head_timeout: Option<f64>,
    /// A connection with no traffic either way for this long is closed [60].
    #[uniffi(default)]
    pub idle_timeout: Option<f64>,
    /// A WebSocket session with no message either way for this long is closed [600].
    #[uniffi(default)]
    pub ws_idle_timeout: Option<f64>,
    /// Client connections open at once; beyond it, 503 [10,000].
    #[uniffi(default)]
    pub max_connections: Option<u64>,
    /// Requests and sessions in flight to one sandbox; beyond it, 429 [1,000].
    #[uniffi(default)]
    pub max_connections_per_sandbox: Option<u64>,
    /// Idle keep-alive connections kept per upstream [256].
    #[uniffi(default)]
    pub upstream_pool_size: Option<u64>,
    /// How long an idle upstream connection stays pooled [90].
    #[uniffi(default)]
    pub upstream_pool_idle_timeout: Option<f64>,
    /// How long to retry a refused connect before 502 `PORT_NOT_LISTENING` [1].
    #[uniffi(default)]
    pub connect_retry_window: Option<f64>,
    /// How long one connect attempt may take before 504 [5].
    #[uniffi(default)]
    pub connect_timeout: Option<f64>,
    /// How long the sandbox may take to send its response head before 504 [60].
    #[uniffi(default)]
    pub response_timeout: Option<f64>,
    /// The largest WebSocket message relayed, in bytes [16 MiB].
    #[uniffi(default)]
    pub ws_max_message_size: Option<u64>,
    /// The largest WebSocket frame relayed, in bytes [16 MiB].
    #[uniffi(default)]
    pub ws_max_frame_size: Option<u64>,
    /// How long `close()` waits for in-flight work [10].
    #[uniffi(default)]
    pub shutdown_timeout: Option<f64>,
}

impl GatewayConfig {
    /// The core's configuration: defaults where `None`, `INVALID_CONFIG` for a value that
    /// does not fit (the core checks the rest when the `Portway` is built).
    pub(crate) fn to_core(&self) -> Result<portway::GatewayConfig, crate::PortwayError> {
        fn invalid(message: String) -> crate::PortwayError {
            crate::PortwayError::InvalidConfig { message }
        }
        fn size(name: &str, v: Option<u64>, default: usize) -> Result<usize, crate::PortwayError> {
            v.map_or(Ok(default), |v| {
                usize::try_from(v).map_err(|_| invalid(format!("{name} is too large ({v})")))
            })
        }
        fn secs(
            name: &str,
            v: Option<f64>,
            default: std::time::Duration,
        ) -> Result<std::time::Duration, crate::PortwayError> {
            v.map_or(Ok(default), |v| crate::seconds(name, v, invalid))
        }
        let d = portway::GatewayConfig::default();
        Ok(portway::GatewayConfig {
            rewrite_host: self.rewrite_host.unwrap_or(d.rewrite_host),
            forwarded_proto: self.forwarded_proto.clone().or(d.forwarded_proto),
            max_head_size: size("max_head_size", self.max_head_size, d.max_head_size)?,
            max_headers: size("max_headers", self.max_headers, d.max_headers)?,
            head_timeout: secs("head_timeout", self.head_timeout, d.head_timeout)?,
            idle_timeout: secs("idle_timeout", self.idle_timeout, d.idle_timeout)?,
            ws_idle_timeout: secs("ws_idle_timeout", self.ws_idle_timeout, d.ws_idle_timeout)?,
            max_connections: size("max_connections", self.max_connections, d.max_connections)?,
            max_connections_per_sandbox: size(
                "max_connections_per_sandbox",
                self.max_connections_per_sandbox,
                d.max_connections_per_sandbox,
            )?,
            upstream_pool_size: size(
                "upstream_pool_size",
                self.upstream_pool_size,
                d.upstream_pool_size,
            )?,
            upstream_pool_idle_timeout: secs(
                "upstream_pool_idle_timeout",
                self.upstream_pool_idle_timeout,
                d.upstream_pool_idle_timeout,
            )?,
            connect_retry_window: secs(
                "connect_retry_window",
                self.connect_retry_window,
                d.connect_retry_window,
            )?,
            connect_timeout: secs("connect_timeout", self.connect_timeout, d.connect_timeout)?,
            response_timeout: secs(
                "response_timeout",
                self.response_timeout,
                d.response_timeout,
            )?,
            ws_max_message_size: size(
                "ws_max_message_size",
                self.ws_max_message_size,
                d.ws_max_message_size,
            )?,
            ws_max_frame_size: size(
                "ws_max_frame_size",
                self.ws_max_frame_size,
                d.ws_max_frame_size,
            )?,
            shutdown_timeout: secs(
                "shutdown_timeout",
                self.shutdown_timeout,
                d.shutdown_timeout,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_config_defaults_are_the_core_defaults() {
        assert_eq!(
            GatewayConfig::default().to_core(),
            Ok(portway::GatewayConfig::default())
        );
    }

    #[test]
    fn gateway_config_refuses_negative_times() {
        let bad = GatewayConfig {
            idle_timeout: Some(-1.0),
            ..Default::default()
        };
        let err = bad.to_core().unwrap_err();
        assert_eq!(err.code(), crate::PortwayErrorCode::InvalidConfig);
    }
}
