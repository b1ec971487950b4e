//! The values that cross the boundary: Swift structs and enums, all `Sendable`, `Equatable`
//! and `Hashable`.

use portway::{HostField, PortStatus, SandboxStatus};

/// The marker of Swift's side of [`portway::HostField`]: counts are `UInt64`, statuses the
/// core's enums.
pub struct InSwift;

portway::host_field_as_is!(InSwift: u16, u64, String, Option<String>, Option<u16>, PortStatus, SandboxStatus);

impl HostField<InSwift> for usize {
    type Value = u64;
    fn into_host(self) -> u64 {
        self as u64
    }
}

/// Whether an exposed port is served now.
#[uniffi::remote(Enum)]
pub enum PortStatus {
    /// The sandbox runs: the URL is served.
    Active,
    /// The sandbox is stopped: the URL answers 410 until it runs again.
    Inactive,
}

/// Whether a sandbox runs (its URLs are served) or is stopped (its URLs give 410).
#[uniffi::remote(Enum)]
pub enum SandboxStatus {
    /// URLs are served.
    Running,
    /// URLs give 410 `STALE_PREVIEW_URL` until the sandbox runs again.
    Stopped,
}

/// Swift structs from the core's record table ([`portway::records!`]), each `Sendable`,
/// `Equatable` and `Hashable`. `Resolution` is left out: Swift has it as an enum, below.
macro_rules! swift_records {
    () => {};
    ($(#[doc = $doc:literal])* Resolution($value:ident: $core:ty) { $($fields:tt)* } $($rest:tt)*) => {
        swift_records!($($rest)*);
    };
    ($(#[doc = $doc:literal])* $record:ident($value:ident: $core:ty) {
        $($(#[doc = $fdoc:literal])* $field:ident: $ty:ty $(= $none:ident)? => $read:expr,)*
    } $($rest:tt)*) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
        pub struct $record {
            $($(#[doc = $fdoc])* pub $field: <$ty as HostField<InSwift>>::Value,)*
        }

        impl From<$core> for $record {
            fn from($value: $core) -> $record {
                $record { $($field: <$ty as HostField<InSwift>>::into_host($read)),* }
            }
        }

        swift_records!($($rest)*);
    };
}

portway::records!(swift_records);

/// Every core record of `items` as its Swift value.
pub(crate) fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
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

/// The Swift side of one kind of gateway setting: what Swift gives (seconds as `Double`,
/// counts as `UInt64`) and the core's input it becomes. The checks are the core's.
pub trait SwiftOption: portway::options::ConfigValue {
    /// The Swift value.
    type Swift;
    /// The core's input, checked for its unit.
    fn input(name: &str, value: Self::Swift) -> Result<Self::Input, crate::PortwayError>;
}

impl SwiftOption for bool {
    type Swift = bool;
    fn input(_: &str, value: bool) -> Result<bool, crate::PortwayError> {
        Ok(value)
    }
}

impl SwiftOption for usize {
    type Swift = u64;
    fn input(_: &str, value: u64) -> Result<u64, crate::PortwayError> {
        Ok(value)
    }
}

impl SwiftOption for std::time::Duration {
    type Swift = f64;
    fn input(name: &str, value: f64) -> Result<std::time::Duration, crate::PortwayError> {
        crate::seconds(name, value, |message| crate::PortwayError::InvalidConfig {
            message,
        })
    }
}

/// Networks are `[String]` in Swift (`["10.0.0.0/8"]`).
impl SwiftOption for portway::Networks {
    type Swift = Vec<String>;
    fn input(_: &str, value: Vec<String>) -> Result<Vec<String>, crate::PortwayError> {
        Ok(value)
    }
}

impl SwiftOption for Option<String> {
    type Swift = String;
    fn input(_: &str, value: String) -> Result<String, crate::PortwayError> {
        Ok(value)
    }
}

/// `GatewayConfig` from the core's table ([`portway::gateway_options!`]): one optional field
/// per setting, named and documented as in the core.
macro_rules! swift_gateway_config {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr;)*) => {
        /// The gateway's settings and limits. Every field is optional: `nil` keeps the core's
        /// default. Times are in seconds.
        #[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
        pub struct GatewayConfig {
            $(
                $(#[doc = $doc])*
                #[uniffi(default)]
                pub $name: Option<<$ty as SwiftOption>::Swift>,
            )*
        }

        impl GatewayConfig {
            /// The core's configuration: defaults where `nil`, checked by the core.
            pub(crate) fn to_core(&self) -> Result<portway::GatewayConfig, crate::PortwayError> {
                let options = portway::GatewayOptions {
                    $($name: self.$name
                        .clone()
                        .map(|v| <$ty as SwiftOption>::input(stringify!($name), v))
                        .transpose()?,)*
                };
                Ok(options.resolve()?)
            }
        }
    };
}

portway::gateway_options!(swift_gateway_config);

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
