//! The gateway's settings and limits, with defaults chosen for a preview proxy on one host.

use crate::error::{Error, Result};
use crate::options::{ConfigValue, OptionField, OptionValue, TimeUnit};

/// The smallest request-head limit hyper accepts.
pub const MIN_MAX_HEAD_SIZE: usize = 8192;

/// Calls `$callback!` with the table of the gateway's settings: for each, its doc comment,
/// `name: Type = default;`. The one definition of those settings: [`GatewayConfig`], its
/// `Default`, [`GatewayOptions`] and [`GatewayConfig::fields`] are built from it here, and
/// the Python and Swift bindings build their `GatewayConfig` from it, so a setting added
/// here reaches every language. Types are written in full paths so that the table expands
/// anywhere.
///
/// ```
/// macro_rules! names {
///     ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr;)*) => {
///         [$(stringify!($name)),*]
///     };
/// }
/// assert_eq!(portway::gateway_options!(names)[0], "rewrite_host");
/// ```
#[macro_export]
macro_rules! gateway_options {
    ($callback:ident) => {
        $callback! {
            /// Send `Host: localhost:{port}` upstream (default, for HTTP and WebSocket alike,
            /// which dev servers' host checks and hot reload expect). Off: keep the preview
            /// host.
            rewrite_host: bool = true;
            /// The `X-Forwarded-Proto` sent upstream: none (default) for the scheme the
            /// client used to reach this listener (`http`), or `"http"` / `"https"` when TLS
            /// ends at a load balancer in front of the gateway.
            forwarded_proto: ::std::option::Option<::std::string::String> = None;
            /// The `Referrer-Policy` added to a sandbox's response that has none: the
            /// preview origin carries the URL's token, which browsers would otherwise send
            /// in `Referer` to other sites. Default `"same-origin"`; one of the policy tokens
            /// of the W3C Referrer Policy spec or a comma-separated list of them. `""` adds
            /// nothing (so does `None`, in Rust).
            referrer_policy: ::std::option::Option<::std::string::String> = Some("same-origin".into());
            /// The largest request head (request line and headers) in bytes. Default 32 KiB,
            /// like nginx's four 8 KiB header buffers; at least 8 KiB.
            max_head_size: usize = 32 * 1024;
            /// The most headers in one request. Default 100.
            max_headers: usize = 100;
            /// Time a client gets to send a whole request head (slow-loris). Default 10 s.
            head_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(10);
            /// A connection on which no byte moves in either direction for this long is
            /// closed. Default 60 s (nginx's `proxy_read_timeout`); streams that may pause
            /// longer (SSE without heartbeats, long polls) need more.
            idle_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(60);
            /// A WebSocket session with no message either way for this long is closed with
            /// 1001. Default 10 min; pings count as traffic.
            ws_idle_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(600);
            /// Client connections open at once (HTTP and WebSocket). Beyond it new
            /// connections get 503 `TOO_MANY_CONNECTIONS` and are closed. Default 10,000.
            max_connections: usize = 10_000;
            /// Requests and WebSocket sessions in flight to one sandbox at once. Beyond it:
            /// 429 `SANDBOX_CONNECTION_LIMIT`, so one busy sandbox cannot starve the others.
            /// Default 1,000.
            max_connections_per_sandbox: usize = 1_000;
            /// Idle keep-alive connections kept per upstream `host:port`. Default 256.
            upstream_pool_size: usize = 256;
            /// How long an idle upstream connection stays in the pool. Default 90 s.
            upstream_pool_idle_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(90);
            /// How long to keep retrying a refused connect (a service still starting) before
            /// 502 `PORT_NOT_LISTENING`. Default 1 s.
            connect_retry_window: ::std::time::Duration = ::std::time::Duration::from_secs(1);
            /// How long one connect attempt may take before 504 `UPSTREAM_TIMEOUT`. Default
            /// 5 s.
            connect_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(5);
            /// How long the sandbox may take to send its response head before 504
            /// `UPSTREAM_TIMEOUT`. Default 60 s.
            response_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(60);
            /// The largest WebSocket message relayed, in bytes; bigger ones close the session
            /// with 1009. Default 16 MiB.
            ws_max_message_size: usize = 16 << 20;
            /// The largest WebSocket frame relayed, in bytes. Default 16 MiB.
            ws_max_frame_size: usize = 16 << 20;
            /// How long graceful shutdown waits for in-flight work when no deadline is
            /// given. Default 10 s.
            shutdown_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(10);
            /// Client connections open at once from one client address (an IPv6 client's
            /// /64), WebSocket sessions included. Beyond it the new connection gets 429
            /// `CLIENT_CONNECTION_LIMIT` (with `Retry-After: 1`) and is closed. 0 (default):
            /// no limit, as in nginx and HAProxy.
            max_connections_per_client: usize = 0;
            /// Requests per second one client address (an IPv6 client's /64) may make, on
            /// average: a token bucket, WebSocket handshakes included. Over it: 429
            /// `RATE_LIMITED` with `Retry-After`. 0 (default): no limit.
            client_request_rate: usize = 0;
            /// How many requests a client address may make at once before
            /// `client_request_rate` holds it back (the bucket's size). 0 (default): the
            /// rate itself.
            client_request_burst: usize = 0;
            /// Requests per second to one sandbox, on average, from all clients together (a
            /// token bucket, WebSocket handshakes included). Over it: 429 `RATE_LIMITED` with
            /// `Retry-After`. 0 (default): no limit.
            sandbox_request_rate: usize = 0;
            /// How many requests a sandbox may get at once before `sandbox_request_rate`
            /// holds them back. 0 (default): the rate itself.
            sandbox_request_burst: usize = 0;
            /// Where each request is logged as one line of JSON: none (default) for nowhere,
            /// `"stdout"`, `"stderr"`, or a file path, appended to. Preview tokens are never
            /// written.
            access_log: ::std::option::Option<::std::string::String> = None;
            /// Networks (CIDR) the gateway may connect to on a sandbox's behalf. Empty
            /// (default): any address but the ones refused by default (unspecified,
            /// link-local such as cloud metadata at 169.254.169.254, multicast, broadcast).
            /// Not empty: only these networks, which may include the ones refused by
            /// default. Checked on the address actually connected to, after name resolution.
            upstream_allow: $crate::Networks = $crate::Networks::none();
            /// Networks (CIDR) the gateway never connects to, on top of the ones refused by
            /// default; wins over `upstream_allow`. Default none.
            upstream_deny: $crate::Networks = $crate::Networks::none();
            /// Addresses (CIDR) of the proxies in front of the gateway (load balancers, CDN
            /// edges) whose forwarding headers (`Forwarded`, `X-Forwarded-*`) are kept and
            /// extended, and from which a PROXY protocol header is accepted. From any other
            /// client those headers are removed and replaced by the gateway's own. Default
            /// none.
            trusted_proxies: $crate::Networks = $crate::Networks::none();
            /// Read a PROXY protocol header (v1 or v2) at the start of each connection from a
            /// `trusted_proxies` address, and take the client's address from it. Connections
            /// from other addresses are served as plain HTTP. Default off.
            proxy_protocol: bool = false;
            /// A sandbox with no request, no response and no WebSocket message for this long,
            /// and no request open, gets one `idle` event (and another only after new traffic):
            /// what a platform stops idle sandboxes on. Zero (default): no idle events. A
            /// sandbox's own setting (`Sandbox::set_idle_after`) wins.
            idle_after: ::std::time::Duration = ::std::time::Duration::ZERO;
            /// Whether an open WebSocket session keeps its sandbox from going idle even
            /// without messages. Default off: a session with no message for `idle_after`
            /// counts as idle.
            websockets_keep_active: bool = false;
            /// How long a request for a stopped sandbox waits for the wake hook and then for
            /// the port to answer, before 504 `SANDBOX_WAKE_TIMEOUT`. Default 60 s.
            wake_timeout: ::std::time::Duration = ::std::time::Duration::from_secs(60);
            /// How long a browser (`Accept: text/html`) waits for a wake before it gets a page
            /// that says the sandbox is starting and reloads itself (503 `SANDBOX_STARTING`).
            /// Default 3 s.
            wake_page_after: ::std::time::Duration = ::std::time::Duration::from_secs(3);
        }
    };
}

macro_rules! define_gateway_config {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr;)*) => {
        /// How the gateway forwards and what it tolerates. Every field has a default; change
        /// the ones you need. (The table is [`crate::gateway_options!`].)
        ///
        /// ```
        /// use std::time::Duration;
        /// let config = portway::GatewayConfig {
        ///     max_connections: 20_000,
        ///     idle_timeout: Duration::from_secs(120),
        ///     ..Default::default()
        /// };
        /// config.validate()?;
        /// # Ok::<(), portway::Error>(())
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct GatewayConfig {
            $($(#[doc = $doc])* pub $name: $ty,)*
        }

        impl Default for GatewayConfig {
            fn default() -> Self {
                GatewayConfig { $($name: $default,)* }
            }
        }

        /// The gateway's settings as a host gives them: every field optional, `None` keeps
        /// the default. [`GatewayOptions::resolve`] fills in the defaults and checks
        /// everything (`INVALID_CONFIG`). What the bindings and `portway serve` build.
        ///
        /// ```
        /// let mut opts = portway::GatewayOptions::default();
        /// opts.max_headers = Some(50);
        /// opts.set("idle_timeout", portway::options::OptionValue::Number(2500.0), portway::options::TimeUnit::Milliseconds, "idleTimeoutMs")?;
        /// let config = opts.resolve()?;
        /// assert_eq!((config.max_headers, config.idle_timeout.as_millis()), (50, 2500));
        /// assert_eq!(config.max_connections, 10_000);
        /// # Ok::<(), portway::Error>(())
        /// ```
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct GatewayOptions {
            $($(#[doc = $doc])* pub $name: Option<<$ty as ConfigValue>::Input>,)*
        }

        impl GatewayOptions {
            /// The configuration: each value given over the default, checked.
            pub fn resolve(self) -> Result<GatewayConfig> {
                let d = GatewayConfig::default();
                let config = GatewayConfig {
                    $($name: match self.$name {
                        Some(v) => <$ty as ConfigValue>::from_input(stringify!($name), v)?,
                        None => d.$name,
                    },)*
                };
                config.validate()?;
                Ok(config)
            }

            /// Sets the option called `name` (the core's snake_case name) from a dynamic
            /// host's value; durations are in `unit`. `shown` is the name the host's user
            /// wrote, used in the messages. An unknown name is `INVALID_CONFIG`.
            pub fn set(
                &mut self,
                name: &str,
                value: OptionValue,
                unit: TimeUnit,
                shown: &str,
            ) -> Result<()> {
                match name {
                    $(stringify!($name) => {
                        self.$name = Some(<$ty as ConfigValue>::input_from(shown, value, unit)?);
                    })*
                    _ => {
                        return Err(Error::InvalidConfig(format!(
                            "unknown gateway option {shown:?}"
                        )))
                    }
                }
                Ok(())
            }

            /// Each value of `self` that is set, else the one of `other`: flags over a file.
            pub fn or(self, other: GatewayOptions) -> GatewayOptions {
                GatewayOptions { $($name: self.$name.or(other.$name),)* }
            }
        }

        impl GatewayConfig {
            /// Each value against the bound its kind has everywhere ([`ConfigValue::check`]:
            /// a duration of at most [`crate::options::MAX_DURATION`]), for a configuration
            /// built as a Rust struct rather than through [`GatewayOptions`].
            fn check_each(&self) -> Result<()> {
                $(<$ty as ConfigValue>::check(stringify!($name), &self.$name)?;)*
                Ok(())
            }

            /// Every setting with its kind, default and description, in the table's order:
            /// what the parity list (tests/api/parity.json) and the docs are checked against.
            ///
            /// ```
            /// let fields = portway::GatewayConfig::fields();
            /// assert_eq!(fields[5].name, "head_timeout");
            /// assert_eq!(fields[5].default, serde_json::json!(10.0));
            /// ```
            pub fn fields() -> Vec<OptionField> {
                let d = GatewayConfig::default();
                vec![$(OptionField {
                    name: stringify!($name),
                    kind: <$ty as ConfigValue>::KIND,
                    default: d.$name.to_json(),
                    doc: concat!($($doc, "\n"),*),
                },)*]
            }
        }
    };
}

gateway_options!(define_gateway_config);

impl GatewayConfig {
    /// Checks that every value is usable.
    ///
    /// ```
    /// let bad = portway::GatewayConfig { max_head_size: 100, ..Default::default() };
    /// assert_eq!(bad.validate().unwrap_err().code().as_str(), "INVALID_CONFIG");
    /// ```
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        self.check_each()?;
        if self.max_head_size < MIN_MAX_HEAD_SIZE {
            return bad(format!(
                "max_head_size must be at least {MIN_MAX_HEAD_SIZE} bytes (got {})",
                self.max_head_size
            ));
        }
        if self.max_headers == 0 {
            return bad("max_headers must be at least 1".into());
        }
        if self.max_connections == 0 || self.max_connections_per_sandbox == 0 {
            return bad(
                "max_connections and max_connections_per_sandbox must be at least 1".into(),
            );
        }
        if self.ws_max_message_size == 0 || self.ws_max_frame_size == 0 {
            return bad("ws_max_message_size and ws_max_frame_size must be at least 1".into());
        }
        for (name, d) in [
            ("head_timeout", self.head_timeout),
            ("idle_timeout", self.idle_timeout),
            ("ws_idle_timeout", self.ws_idle_timeout),
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
            ("wake_timeout", self.wake_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be more than zero"));
            }
        }
        if self.access_log.as_deref() == Some("") {
            return bad(
                "access_log must be \"stdout\", \"stderr\" or a file path (got \"\")".into(),
            );
        }
        if self.proxy_protocol && self.trusted_proxies.is_empty() {
            return bad(
                "proxy_protocol needs trusted_proxies: the addresses of the load balancers \
                 allowed to send a PROXY header"
                    .into(),
            );
        }
        if let Some(p) = &self.forwarded_proto
            && p != "http"
            && p != "https"
        {
            return bad(format!(
                "forwarded_proto must be \"http\" or \"https\" (got {p:?})"
            ));
        }
        if let Some(policy) = &self.referrer_policy
            && !is_referrer_policy(policy)
        {
            return bad(format!(
                "referrer_policy must be \"\" or a comma-separated list of {} (got {policy:?})",
                REFERRER_POLICIES.join(", ")
            ));
        }
        Ok(())
    }

    /// The `Referrer-Policy` value to add, if any (`referrer_policy`, not empty).
    pub(crate) fn referrer_policy_header(&self) -> Option<http::HeaderValue> {
        let policy = self.referrer_policy.as_deref().filter(|p| !p.is_empty())?;
        http::HeaderValue::try_from(policy).ok()
    }
}

/// The policy tokens of the W3C Referrer Policy spec (section 3, "Referrer Policies").
pub(crate) const REFERRER_POLICIES: [&str; 8] = [
    "no-referrer",
    "no-referrer-when-downgrade",
    "same-origin",
    "origin",
    "strict-origin",
    "origin-when-cross-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];

/// `""`, or a comma-separated list of policy tokens (spaces around the commas allowed),
/// as the `Referrer-Policy` header takes them.
fn is_referrer_policy(value: &str) -> bool {
    value.is_empty()
        || value
            .split(',')
            .all(|t| REFERRER_POLICIES.contains(&t.trim_matches([' ', '\t'])))
}
