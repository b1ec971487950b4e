//! The records the API returns, as one table that every binding builds its own record types
//! from: each record's fields, their types as the core has them, their docs, and how each is
//! read from the core's value. A binding supplies the callback macro that turns the table into
//! host types (a Python class, a JavaScript object, a Swift struct) and their `From`
//! conversions, so a field added here reaches every language, or fails to build there.

/// Calls `$callback!` with the table of returned records. The docs are written as
/// `#[doc = "..."]` so that they reach the callback as plain string literals (a `///` comment
/// passed through a macro becomes a raw string, which napi-rs's typings generator misreads).
///
/// Each entry is `Record(value: CoreType) { field: Type [= None] => expression, ... }`: the
/// expression reads the field from `value`; `= None` marks a field a host constructor may
/// leave out. `Resolution` is the flat view of [`crate::Resolution`] (its `kind` is
/// [`crate::Resolution::kind`]), for hosts without sum types.
///
/// ```
/// macro_rules! names {
///     ($($(#[doc = $d:literal])* $record:ident($v:ident: $core:ty) {
///         $($(#[doc = $fd:literal])* $field:ident: $ty:ty $(= $none:ident)? => $read:expr,)*
///     })*) => {
///         &[$(stringify!($record)),*]
///     };
/// }
/// let records: &[&str] = portway::records!(names);
/// assert_eq!(records[..5], ["Route", "ExposedPort", "ExposedPortInfo", "SandboxInfo", "Resolution"]);
/// assert_eq!(records[5..], ["SandboxActivity", "PortActivity", "LifecycleEvent", "WakeRequest"]);
/// ```
#[macro_export]
macro_rules! records {
    ($callback:ident) => {
        $callback! {
            #[doc = " Where a preview host points: a port of a sandbox and the token that guards it."]
            Route(r: $crate::Route) {
                #[doc = " The exposed port."]
                port: u16 => r.port,
                #[doc = " The sandbox id."]
                sandbox_id: String => r.sandbox_id,
                #[doc = " The token of the exposed port."]
                token: String => r.token,
            }
            #[doc = " What exposing a port gives: the port, its preview URL and its name."]
            ExposedPort(e: $crate::ExposedPort) {
                #[doc = " The port."]
                port: u16 => e.port,
                #[doc = " Its preview URL, such as `https://8080-my-box-k3j5h2m9x7q1w4e8.example.com/`."]
                url: String => e.url,
                #[doc = " Its name, if it has one."]
                name: Option<String> = None => e.name,
            }
            #[doc = " One entry of the exposed ports: port, URL, name, and whether it is served now."]
            ExposedPortInfo(e: $crate::ExposedPortInfo) {
                #[doc = " The port."]
                port: u16 => e.port,
                #[doc = " Its preview URL."]
                url: String => e.url,
                #[doc = " Its name, if it has one."]
                name: Option<String> => e.name,
                #[doc = " `active` while the sandbox runs, `inactive` while it is stopped (its URL"]
                #[doc = " then answers 410)."]
                status: PortStatus => e.status,
            }
            #[doc = " A sandbox as the registry knows it."]
            SandboxInfo(s: $crate::SandboxInfo) {
                #[doc = " The sandbox id."]
                id: String => s.id,
                #[doc = " The host its services listen on."]
                upstream_host: String => s.upstream_host,
                #[doc = " `running` (its URLs are served) or `stopped` (they answer 410)."]
                status: SandboxStatus => s.status,
                #[doc = " How many ports it has exposed."]
                exposed_ports: usize => s.exposed_ports,
            }
            #[doc = " What the gateway does with a request for a host: `not_preview` (not a preview"]
            #[doc = " host: 404 `NOT_FOUND`), `denied` (unknown sandbox, port or token: 404"]
            #[doc = " `INVALID_TOKEN`), `stale` (the right token of a stopped sandbox: 410) or"]
            #[doc = " `upstream` (forwarded to `upstream_host:port`)."]
            Resolution(r: $crate::Resolution) {
                #[doc = " `not_preview`, `denied`, `stale` or `upstream`."]
                kind: ResolutionKind => r.kind(),
                #[doc = " The sandbox (stale and upstream)."]
                sandbox_id: Option<String> = None => r.sandbox_id().map(str::to_owned),
                #[doc = " The port (stale and upstream)."]
                port: Option<u16> = None => r.port(),
                #[doc = " The host the request is forwarded to (upstream)."]
                upstream_host: Option<String> = None => r.upstream_host().map(str::to_owned),
            }
            #[doc = " What the gateways of this process saw of a sandbox, all its ports together."]
            SandboxActivity(a: $crate::SandboxActivity) {
                #[doc = " The sandbox id."]
                sandbox_id: String => a.sandbox_id,
                #[doc = " Requests in flight and WebSocket sessions open now."]
                open_connections: u64 => a.total.open_connections,
                #[doc = " WebSocket sessions open now."]
                websocket_sessions: u64 => a.total.websocket_sessions,
                #[doc = " Requests forwarded (WebSocket handshakes included)."]
                requests: u64 => a.total.requests,
                #[doc = " Bytes from clients: request bodies and WebSocket frames."]
                bytes_received: u64 => a.total.bytes_received,
                #[doc = " Bytes to clients: response bodies and WebSocket frames."]
                bytes_sent: u64 => a.total.bytes_sent,
                #[doc = " The last request (its start or end) or WebSocket message either way, in"]
                #[doc = " RFC 3339 (UTC, milliseconds); none before the first."]
                last_activity_at: Option<String> = None => $crate::lifecycle::activity::rfc3339(a.total.last_activity_at),
            }
            #[doc = " What the gateways of this process saw of one exposed port."]
            PortActivity(p: $crate::PortActivity) {
                #[doc = " The port."]
                port: u16 => p.port,
                #[doc = " Requests in flight and WebSocket sessions open now."]
                open_connections: u64 => p.counts.open_connections,
                #[doc = " WebSocket sessions open now."]
                websocket_sessions: u64 => p.counts.websocket_sessions,
                #[doc = " Requests forwarded (WebSocket handshakes included)."]
                requests: u64 => p.counts.requests,
                #[doc = " Bytes from clients."]
                bytes_received: u64 => p.counts.bytes_received,
                #[doc = " Bytes to clients."]
                bytes_sent: u64 => p.counts.bytes_sent,
                #[doc = " The last request or WebSocket message, in RFC 3339; none before the first."]
                last_activity_at: Option<String> = None => $crate::lifecycle::activity::rfc3339(p.counts.last_activity_at),
            }
            #[doc = " A lifecycle event: `idle`, `exposed`, `unexposed`, `running`, `stopped` or"]
            #[doc = " `destroyed`."]
            LifecycleEvent(e: $crate::LifecycleEvent) {
                #[doc = " What happened: `idle`, `exposed`, `unexposed`, `running`, `stopped` or `destroyed`."]
                kind: String => e.kind.as_str().to_owned(),
                #[doc = " The sandbox."]
                sandbox_id: String => e.sandbox_id.clone(),
                #[doc = " When this process saw it, in RFC 3339 (UTC, milliseconds)."]
                time: String => e.time(),
                #[doc = " The port, for `exposed` and `unexposed`."]
                port: Option<u16> = None => e.port,
            }
            #[doc = " What the wake hook is asked: start this sandbox; a request waits for this port."]
            WakeRequest(w: $crate::WakeRequest) {
                #[doc = " The sandbox to start."]
                sandbox_id: String => w.sandbox_id,
                #[doc = " The port the first waiting request is for."]
                port: u16 => w.port,
            }
        }
    };
}

/// The type of [`crate::Resolution::kind`] in the [`records!`] table.
pub type ResolutionKind = &'static str;

/// How a binding holds a field of the [`records!`] table: `Host` is the binding's marker type
/// (`struct Python;`), [`HostField::Value`] what that language sees (a `String` for a status,
/// say). A binding's record macro reads each field's type as `<T as HostField<Host>>::Value`.
pub trait HostField<Host> {
    /// The value in the host language.
    type Value;
    /// Converts the core's value.
    fn into_host(self) -> Self::Value;
}

/// Implements [`HostField`] for the types a host holds as they are:
/// `portway::host_field_as_is!(Python: u16, String);`.
#[macro_export]
macro_rules! host_field_as_is {
    ($host:ty: $($ty:ty),*) => {
        $(impl $crate::HostField<$host> for $ty {
            type Value = $ty;
            fn into_host(self) -> $ty {
                self
            }
        })*
    };
}
