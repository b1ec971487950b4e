//! The one error type of Portway, with a stable code per kind.
//!
//! Every binding carries [`Error::code`] unchanged: Python's `PortwayError.code`, Node's
//! `err.code`, Swift's `PortwayError.code`. Codes are never renamed; new ones may be added.

use std::fmt;

/// Calls `$callback!` with the table of every error code, once per code in a fixed order:
/// `Variant ClassName "CODE" "when it happens";`. The one list of codes: [`ErrorCode`] is
/// built from it here, and the bindings build their own lists from it (Python's exception
/// classes, Swift's `PortwayErrorCode`), so no language can miss a code.
///
/// ```
/// macro_rules! count {
///     ($($variant:ident $class:ident $code:literal $when:literal;)*) => { [$($code),*].len() };
/// }
/// assert_eq!(portway::error_codes!(count), portway::ErrorCode::ALL.len());
/// ```
#[macro_export]
macro_rules! error_codes {
    ($callback:ident) => {
        $callback! {
            InvalidPort InvalidPortError "INVALID_PORT"
                "a port outside 1024..=65535, a reserved port, or not an integer";
            InvalidSandboxId InvalidSandboxIdError "INVALID_SANDBOX_ID"
                "a sandbox id that breaks one of the id rules (length, case, characters, hyphens, reserved)";
            InvalidHostname InvalidHostnameError "INVALID_HOSTNAME"
                "a host name that is empty, a URL, malformed, or an IP literal other than loopback";
            CustomDomainRequired CustomDomainRequiredError "CUSTOM_DOMAIN_REQUIRED"
                "a host name under a suffix that cannot carry wildcard subdomains (workers.dev)";
            PreviewLabelTooLong PreviewLabelTooLongError "PREVIEW_LABEL_TOO_LONG"
                "the first label port-id-token is over 63 characters or the whole host over 253";
            InvalidTokenFormat InvalidTokenFormatError "INVALID_TOKEN_FORMAT"
                "a custom token of the wrong length or with characters outside [a-z0-9_]";
            TokenInUse TokenInUseError "TOKEN_IN_USE"
                "a custom token already used by another port of the same sandbox";
            SandboxNotFound SandboxNotFoundError "SANDBOX_NOT_FOUND"
                "an operation on a sandbox that does not exist";
            PortWaitTimeout PortWaitTimeoutError "PORT_WAIT_TIMEOUT"
                "wait_for_port gave up before the service answered";
            WsConnectFailed WsConnectFailedError "WS_CONNECT_FAILED"
                "a WebSocket connection to a sandbox service could not be opened";
            StoreError StoreError "STORE_ERROR"
                "the store could not be opened, read or written";
            GatewayError GatewayError "GATEWAY_ERROR"
                "the gateway could not start or failed";
            DomainNotConfigured DomainNotConfiguredError "DOMAIN_NOT_CONFIGURED"
                "expose_port was given a host name that is not one of the configured domains";
            InvalidPortName InvalidPortNameError "INVALID_PORT_NAME"
                "a port name that is empty, over 64 characters, or has control characters";
            InvalidUpstreamHost InvalidUpstreamHostError "INVALID_UPSTREAM_HOST"
                "an upstream host that is neither an IP address nor a host name";
            InvalidConfig InvalidConfigError "INVALID_CONFIG"
                "a configuration value that is out of range or inconsistent";
            InvalidArgument InvalidArgumentError "INVALID_ARGUMENT"
                "any other argument out of range (timeouts, intervals, sizes, status ranges)";
            WsClosed WsClosedError "WS_CLOSED"
                "a WebSocket that is already closed was used";
            WsError WsError "WS_ERROR"
                "a WebSocket session failed (protocol error, I/O error, message too large)";
            UpstreamForbidden UpstreamForbiddenError "UPSTREAM_FORBIDDEN"
                "an upstream the gateway must not connect to: refused by the upstream address policy, or one of Portway's own listeners";
        }
    };
}

macro_rules! define_error_code {
    ($($variant:ident $class:ident $code:literal $when:literal;)*) => {
        /// The stable code of an [`Error`]: the same string in every language.
        ///
        /// ```
        /// use portway::ErrorCode;
        /// assert_eq!(ErrorCode::InvalidPort.as_str(), "INVALID_PORT");
        /// assert_eq!(ErrorCode::ALL.len(), 20);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(#[doc = concat!("`", $code, "`: ", $when, ".")] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in a fixed order.
            pub const ALL: [ErrorCode; [$($code),*].len()] = [$(ErrorCode::$variant),*];

            /// The stable string, such as `"INVALID_PORT"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// When the error happens, in one line (the text of every binding's docs).
            ///
            /// ```
            /// assert_eq!(
            ///     portway::ErrorCode::SandboxNotFound.description(),
            ///     "an operation on a sandbox that does not exist"
            /// );
            /// ```
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $when,)*
                }
            }

            /// The name of the error's class in languages that have one per code (Python's
            /// `InvalidPortError`).
            pub const fn class_name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => stringify!($class),)*
                }
            }
        }
    };
}

error_codes!(define_error_code);

impl ErrorCode {
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
    /// See [`ErrorCode::UpstreamForbidden`].
    #[error("{0}")]
    UpstreamForbidden(String),
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
            Error::UpstreamForbidden(_) => ErrorCode::UpstreamForbidden,
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
