//! The core's errors as one Swift `PortwayError` enum: a case per stable code, each carrying
//! the message (UniFFI carries no Display text otherwise); `WsConnectFailed` also carries the
//! HTTP status of a refused handshake. `PortwayErrorCode` lists the codes, and its
//! `description` is the stable string (`"INVALID_PORT"`).

use std::fmt;

use portway::ErrorCode;

/// `PortwayError` and `PortwayErrorCode` from the core's table ([`portway::error_codes!`]): a
/// case per code, each with its message; `WsConnectFailed` also carries the HTTP status. The
/// table is walked once, collecting each code's case (`@case`); the last rule writes them out.
macro_rules! swift_error_codes {
    ($($variant:ident $class:ident $code:literal $when:literal;)*) => {
        swift_error_codes!(@case [] [] $($variant $when;)*);
    };
    (@new $variant:ident plain $message:ident $status:ident) => {
        PortwayError::$variant { message: $message }
    };
    (@new $variant:ident with_status $message:ident $status:ident) => {
        PortwayError::$variant { message: $message, status: $status }
    };
    (@case [$($cases:tt)*] [$($from:tt)*] WsConnectFailed $when:literal; $($rest:tt)*) => {
        swift_error_codes!(@case
            [$($cases)* #[doc = $when] WsConnectFailed { message: String, status: Option<u16> },]
            [$($from)* WsConnectFailed $when with_status,]
            $($rest)*);
    };
    (@case [$($cases:tt)*] [$($from:tt)*] $variant:ident $when:literal; $($rest:tt)*) => {
        swift_error_codes!(@case
            [$($cases)* #[doc = $when] $variant { message: String },]
            [$($from)* $variant $when plain,]
            $($rest)*);
    };
    (@case [$($cases:tt)*] [$($variant:ident $when:literal $shape:ident,)*]) => {
        /// An error of Portway, one case per stable code.
        #[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
        #[uniffi::export(Display)]
        pub enum PortwayError {
            $($cases)*
        }

        /// The stable code of a [`PortwayError`]; its `description` is the code's string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        #[uniffi::export(Display)]
        pub enum PortwayErrorCode {
            $(#[doc = $when] $variant,)*
        }

        impl PortwayErrorCode {
            fn core(self) -> ErrorCode {
                match self {
                    $(PortwayErrorCode::$variant => ErrorCode::$variant,)*
                }
            }
        }

        impl PortwayError {
            /// The stable code.
            pub fn code(&self) -> PortwayErrorCode {
                match self {
                    $(PortwayError::$variant { .. } => PortwayErrorCode::$variant,)*
                }
            }

            /// The message, naming the rule that was broken.
            pub fn message(&self) -> &str {
                match self {
                    $(PortwayError::$variant { message, .. })|* => message,
                }
            }
        }

        impl From<portway::Error> for PortwayError {
            fn from(e: portway::Error) -> PortwayError {
                let status = e.http_status();
                let message = e.to_string();
                match e.code() {
                    $(ErrorCode::$variant => swift_error_codes!(@new $variant $shape message status),)*
                    // A code newer than this facade cannot happen: the cases come from the
                    // same table. Keep the code's string rather than lose the error.
                    other => PortwayError::GatewayError {
                        message: format!("{other}: {message}"),
                    },
                }
            }
        }
    };
}

portway::error_codes!(swift_error_codes);

impl fmt::Display for PortwayErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.core().as_str())
    }
}

impl fmt::Display for PortwayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PortwayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_code_has_its_case_with_the_same_string() {
        for code in ErrorCode::ALL {
            let err = PortwayError::from(portway_error(code));
            assert_eq!(err.code().to_string(), code.as_str());
            assert_eq!(err.code().core(), code);
        }
    }

    #[test]
    fn the_message_and_the_status_are_carried() {
        let err = PortwayError::from(portway::validate_port(80).unwrap_err());
        assert!(err.to_string().starts_with("Invalid port number: 80."));
        let refused = portway::Error::WsConnectFailed {
            message: "refused".into(),
            status: Some(403),
        };
        assert_eq!(
            PortwayError::from(refused),
            PortwayError::WsConnectFailed {
                message: "refused".into(),
                status: Some(403)
            }
        );
    }

    fn portway_error(code: ErrorCode) -> portway::Error {
        use portway::Error as E;
        let m = String::from("m");
        match code {
            ErrorCode::InvalidPort => E::InvalidPort(m),
            ErrorCode::InvalidSandboxId => E::InvalidSandboxId(m),
            ErrorCode::InvalidHostname => E::InvalidHostname(m),
            ErrorCode::CustomDomainRequired => E::CustomDomainRequired,
            ErrorCode::PreviewLabelTooLong => E::PreviewLabelTooLong(m),
            ErrorCode::InvalidTokenFormat => E::InvalidTokenFormat(m),
            ErrorCode::TokenInUse => E::TokenInUse { token: m, port: 1 },
            ErrorCode::SandboxNotFound => E::SandboxNotFound(m),
            ErrorCode::PortWaitTimeout => E::PortWaitTimeout(m),
            ErrorCode::WsConnectFailed => E::WsConnectFailed {
                message: m,
                status: None,
            },
            ErrorCode::StoreError => E::Store(m),
            ErrorCode::GatewayError => E::Gateway(m),
            ErrorCode::DomainNotConfigured => E::DomainNotConfigured(m),
            ErrorCode::InvalidPortName => E::InvalidPortName(m),
            ErrorCode::InvalidUpstreamHost => E::InvalidUpstreamHost(m),
            ErrorCode::InvalidConfig => E::InvalidConfig(m),
            ErrorCode::InvalidArgument => E::InvalidArgument(m),
            ErrorCode::WsClosed => E::WsClosed(m),
            ErrorCode::WsError => E::WsError(m),
            ErrorCode::UpstreamForbidden => E::UpstreamForbidden(m),
            other => panic!("the facade has no case for {other}: add one"),
        }
    }
}
