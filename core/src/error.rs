//! The one error type of Portway, with a stable code per kind.
//!
//! Every binding carries [`Error::code`] unchanged: Python's `PortwayError.code`, Node's
//! `err.code`, Swift's `PortwayError.code`. Codes are never renamed; new ones may be added.

use std::fmt;

/// The stable code of an [`Error`]: the same string in every language.
///
/// ```
/// use portway::ErrorCode;
/// assert_eq!(ErrorCode::InvalidPort.as_str(), "INVALID_PORT");
/// assert_eq!(ErrorCode::ALL.len(), 19);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A port outside 1024..=65535, a reserved port, or not an integer at all.
    InvalidPort,
    /// A sandbox id that breaks one of the id rules.
    InvalidSandboxId,
    /// A host name that is empty, malformed, an IP literal other than loopback, or a URL.
    InvalidHostname,
    /// A host name that cannot carry wildcard subdomains (such as `*.workers.dev`).
    CustomDomainRequired,
    /// The preview URL's first label (or whole host name) would not fit DNS.
    PreviewLabelTooLong,
    /// A token that breaks the custom-token rules.
    InvalidTokenFormat,
    /// A custom token already used by another port of the same sandbox.
    TokenInUse,
    /// An operation on a sandbox that does not exist.
    SandboxNotFound,
    /// `wait_for_port` gave up.
    PortWaitTimeout,
    /// A WebSocket connection to a sandbox service could not be opened.
    WsConnectFailed,
    /// The store could not be opened, read or written.
    StoreError,
    /// The gateway could not start or failed.
    GatewayError,
    /// A host name that is valid but not one of the configured preview domains.
    DomainNotConfigured,
    /// A port name that is empty, too long, or has control characters.
    InvalidPortName,
    /// An upstream host that is neither an IP address nor a host name.
    InvalidUpstreamHost,
    /// A configuration value that is out of range or inconsistent.
    InvalidConfig,
    /// Any other argument that is out of range (timeouts, sizes, status ranges).
    InvalidArgument,
    /// A WebSocket that is already closed was used.
    WsClosed,
    /// A WebSocket session failed (protocol error, I/O error, message too large).
    WsError,
}

impl ErrorCode {
    /// Every code, in a fixed order.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidPort,
        ErrorCode::InvalidSandboxId,
        ErrorCode::InvalidHostname,
        ErrorCode::CustomDomainRequired,
        ErrorCode::PreviewLabelTooLong,
        ErrorCode::InvalidTokenFormat,
        ErrorCode::TokenInUse,
        ErrorCode::SandboxNotFound,
        ErrorCode::PortWaitTimeout,
        ErrorCode::WsConnectFailed,
        ErrorCode::StoreError,
        ErrorCode::GatewayError,
        ErrorCode::DomainNotConfigured,
        ErrorCode::InvalidPortName,
        ErrorCode::InvalidUpstreamHost,
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidArgument,
        ErrorCode::WsClosed,
        ErrorCode::WsError,
    ];

    /// The stable string, such as `"INVALID_PORT"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidPort => "INVALID_PORT",
            ErrorCode::InvalidSandboxId => "INVALID_SANDBOX_ID",
            ErrorCode::InvalidHostname => "INVALID_HOSTNAME",
            ErrorCode::CustomDomainRequired => "CUSTOM_DOMAIN_REQUIRED",
            ErrorCode::PreviewLabelTooLong => "PREVIEW_LABEL_TOO_LONG",
            ErrorCode::InvalidTokenFormat => "INVALID_TOKEN_FORMAT",
            ErrorCode::TokenInUse => "TOKEN_IN_USE",
            ErrorCode::SandboxNotFound => "SANDBOX_NOT_FOUND",
            ErrorCode::PortWaitTimeout => "PORT_WAIT_TIMEOUT",
            ErrorCode::WsConnectFailed => "WS_CONNECT_FAILED",
            ErrorCode::StoreError => "STORE_ERROR",
            ErrorCode::GatewayError => "GATEWAY_ERROR",
            ErrorCode::DomainNotConfigured => "DOMAIN_NOT_CONFIGURED",
            ErrorCode::InvalidPortName => "INVALID_PORT_NAME",
            ErrorCode::InvalidUpstreamHost => "INVALID_UPSTREAM_HOST",
            ErrorCode::InvalidConfig => "INVALID_CONFIG",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::WsClosed => "WS_CLOSED",
            ErrorCode::WsError => "WS_ERROR",
        }
    }

    /// The code for a stable string, if there is one.
    ///
    /// ```
    /// use portway::ErrorCode;
    /// assert_eq!(ErrorCode::parse("TOKEN_IN_USE"), Some(ErrorCode::TokenInUse));
    /// assert_eq!(ErrorCode::parse("token_in_use"), None);
    /// ```
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in Portway. Each variant carries a message that names the
/// rule that was broken; [`Error::code`] gives its stable code.
///
/// ```
/// let err = portway::validate_port(80).unwrap_err();
/// assert_eq!(err.code().as_str(), "INVALID_PORT");
/// assert!(err.to_string().starts_with("Invalid port number: 80."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorCode::InvalidPort`].
    #[error("{0}")]
    InvalidPort(String),
    /// See [`ErrorCode::InvalidSandboxId`].
    #[error("{0}")]
    InvalidSandboxId(String),
    /// See [`ErrorCode::InvalidHostname`].
    #[error("{0}")]
    InvalidHostname(String),
    /// See [`ErrorCode::CustomDomainRequired`].
    #[error(
        "Port exposure requires a custom domain. .workers.dev domains do not support wildcard subdomains required for port proxying."
    )]
    CustomDomainRequired,
    /// See [`ErrorCode::PreviewLabelTooLong`].
    #[error("{0}")]
    PreviewLabelTooLong(String),
    /// See [`ErrorCode::InvalidTokenFormat`].
    #[error("{0}")]
    InvalidTokenFormat(String),
    /// See [`ErrorCode::TokenInUse`].
    #[error("Token '{token}' is already in use by port {port}. Please use a different token.")]
    TokenInUse {
        /// The custom token that was asked for.
        token: String,
        /// The port that already uses it.
        port: u16,
    },
    /// See [`ErrorCode::SandboxNotFound`].
    #[error("Sandbox '{0}' not found")]
    SandboxNotFound(String),
    /// See [`ErrorCode::PortWaitTimeout`].
    #[error("{0}")]
    PortWaitTimeout(String),
    /// See [`ErrorCode::WsConnectFailed`].
    #[error("{message}")]
    WsConnectFailed {
        /// What went wrong.
        message: String,
        /// The HTTP status of a refused handshake, if the service answered at all.
        status: Option<u16>,
    },
    /// See [`ErrorCode::StoreError`].
    #[error("{0}")]
    Store(String),
    /// See [`ErrorCode::GatewayError`].
    #[error("{0}")]
    Gateway(String),
    /// See [`ErrorCode::DomainNotConfigured`].
    #[error("{0}")]
    DomainNotConfigured(String),
    /// See [`ErrorCode::InvalidPortName`].
    #[error("{0}")]
    InvalidPortName(String),
    /// See [`ErrorCode::InvalidUpstreamHost`].
    #[error("{0}")]
    InvalidUpstreamHost(String),
    /// See [`ErrorCode::InvalidConfig`].
    #[error("{0}")]
    InvalidConfig(String),
    /// See [`ErrorCode::InvalidArgument`].
    #[error("{0}")]
    InvalidArgument(String),
    /// See [`ErrorCode::WsClosed`].
    #[error("{0}")]
    WsClosed(String),
    /// See [`ErrorCode::WsError`].
    #[error("{0}")]
    WsError(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidPort(_) => ErrorCode::InvalidPort,
            Error::InvalidSandboxId(_) => ErrorCode::InvalidSandboxId,
            Error::InvalidHostname(_) => ErrorCode::InvalidHostname,
            Error::CustomDomainRequired => ErrorCode::CustomDomainRequired,
            Error::PreviewLabelTooLong(_) => ErrorCode::PreviewLabelTooLong,
            Error::InvalidTokenFormat(_) => ErrorCode::InvalidTokenFormat,
            Error::TokenInUse { .. } => ErrorCode::TokenInUse,
            Error::SandboxNotFound(_) => ErrorCode::SandboxNotFound,
            Error::PortWaitTimeout(_) => ErrorCode::PortWaitTimeout,
            Error::WsConnectFailed { .. } => ErrorCode::WsConnectFailed,
            Error::Store(_) => ErrorCode::StoreError,
            Error::Gateway(_) => ErrorCode::GatewayError,
            Error::DomainNotConfigured(_) => ErrorCode::DomainNotConfigured,
            Error::InvalidPortName(_) => ErrorCode::InvalidPortName,
            Error::InvalidUpstreamHost(_) => ErrorCode::InvalidUpstreamHost,
            Error::InvalidConfig(_) => ErrorCode::InvalidConfig,
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::WsClosed(_) => ErrorCode::WsClosed,
            Error::WsError(_) => ErrorCode::WsError,
        }
    }

    /// The HTTP status carried by a refused WebSocket handshake, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::WsConnectFailed { status, .. } => *status,
            _ => None,
        }
    }
}

/// `Result` with Portway's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
    }
}
