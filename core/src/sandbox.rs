//! A handle on one sandbox: expose, unexpose and list its ports, and follow its lifecycle.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::lifecycle::SandboxActivity;
use crate::preview_url::preview_url;
use crate::state::Portway;
use crate::store::SandboxStatus;
use crate::wait::WaitOptions;
use crate::ws_client::{WebSocket, WsConnectOptions};

/// The upstream host used when none is given: services of a local process group.
pub const DEFAULT_UPSTREAM_HOST: &str = "127.0.0.1";

/// The longest port name.
pub const MAX_PORT_NAME_LENGTH: usize = 64;

/// Options of [`Sandbox::expose_port`].
///
/// ```
/// let opts = portway::ExposeOptions::new("example.com").name("api").token("my_token_1");
/// assert_eq!(opts.hostname, "example.com");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExposeOptions {
    /// The host name preview URLs are built under (required), optionally with a port.
    pub hostname: String,
    /// A name for the port, returned by [`Sandbox::get_exposed_ports`].
    pub name: Option<String>,
    /// A custom token; without it the port keeps its token, or gets a new random one.
    pub token: Option<String>,
}

impl ExposeOptions {
    /// Options with a host name and nothing else.
    pub fn new(hostname: impl Into<String>) -> ExposeOptions {
        ExposeOptions {
            hostname: hostname.into(),
            name: None,
            token: None,
        }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> ExposeOptions {
        self.name = Some(name.into());
        self
    }

    /// Sets a custom token.
    pub fn token(mut self, token: impl Into<String>) -> ExposeOptions {
        self.token = Some(token.into());
        self
    }
}

/// What [`Sandbox::expose_port`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedPort {
    /// The port.
    pub port: u16,
    /// Its preview URL.
    pub url: String,
    /// Its name, if it has one.
    pub name: Option<String>,
}

/// Whether an exposed port is served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortStatus {
    /// The sandbox runs: the URL is served.
    Active,
    /// The sandbox is stopped: the URL gives 410 until it runs again.
    Inactive,
}

impl PortStatus {
    /// `"active"` or `"inactive"`.
    ///
    /// ```
    /// assert_eq!(portway::PortStatus::Active.as_str(), "active");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            PortStatus::Active => "active",
            PortStatus::Inactive => "inactive",
        }
    }
}

impl fmt::Display for PortStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of [`Sandbox::get_exposed_ports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedPortInfo {
    /// The port.
    pub port: u16,
    /// Its preview URL.
    pub url: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Whether it is served now.
    pub status: PortStatus,
}

/// A handle on one sandbox. Cheap to clone; creating one stores nothing. Every write through
/// a handle (expose, mark running or stopped) records the handle's upstream host.
///
/// ```
/// # async fn demo() -> portway::Result<()> {
/// let portway = portway::Portway::builder().domains(["example.com"]).build()?;
/// let sb = portway.sandbox("my-box", "127.0.0.1")?;
/// let exposed = sb.expose_port(8080, portway::ExposeOptions::new("example.com").name("web")).await?;
/// assert!(exposed.url.starts_with("https://8080-my-box-"));
/// assert!(sb.is_port_exposed(8080).await);
/// sb.unexpose_port(8080).await?;
/// assert!(sb.get_exposed_ports("example.com").await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Sandbox {
    portway: Portway,
    id: Arc<str>,
    upstream_host: Arc<str>,
}

impl Sandbox {
    pub(crate) fn new(portway: Portway, id: String, upstream_host: String) -> Sandbox {
        Sandbox {
            portway,
            id: id.into(),
            upstream_host: upstream_host.into(),
        }
    }

    /// The sandbox id (lowercased when `normalize_id` is on).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host its services listen on.
    pub fn upstream_host(&self) -> &str {
        &self.upstream_host
    }

    /// The [`Portway`] this sandbox belongs to.
    pub fn portway(&self) -> &Portway {
        &self.portway
    }

    /// Exposes a port and returns its preview URL. Re-exposing keeps the token (and so the
    /// URL); a new custom token rotates it, and the old URL then gives 404. Nothing checks
    /// that a service listens yet: see [`Sandbox::wait_for_port`].
    ///
    /// Checks, in order: port, host name, that the host name is a configured domain, name,
    /// custom token, that the sandbox's upstream `host:port` is not one of Portway's own
    /// listeners (`UPSTREAM_FORBIDDEN`), preview label length, token uniqueness in the
    /// sandbox.
    pub async fn expose_port(&self, port: u16, opts: ExposeOptions) -> Result<ExposedPort> {
        let rules = self.portway.rules();
        let port = rules.validate_port(i64::from(port))?;
        let host = rules.validate_hostname(&opts.hostname)?;
        self.portway.check_domain(&host)?;
        if let Some(name) = &opts.name {
            validate_port_name(name)?;
        }
        if let Some(token) = &opts.token {
            rules.validate_token(token)?;
        }
        self.portway
            .check_upstream(&self.upstream_host, Some(port))?;
        let (id, upstream) = (self.id.clone(), self.upstream_host.clone());
        let (url, name) = self
            .portway
            .write(move |reg| {
                reg.expose(
                    &id,
                    &upstream,
                    port,
                    &host,
                    opts.name.as_deref(),
                    opts.token.as_deref(),
                )
            })
            .await?;
        Ok(ExposedPort { port, url, name })
    }

    /// Unexposes a port. Idempotent: an unknown port (or sandbox) succeeds. An invalid port
    /// is `INVALID_PORT`.
    pub async fn unexpose_port(&self, port: u16) -> Result<()> {
        let port = self.portway.rules().validate_port(i64::from(port))?;
        let id = self.id.clone();
        self.portway.write(move |reg| reg.unexpose(&id, port)).await
    }

    /// The exposed ports, sorted by port, with URLs under `hostname`.
    pub async fn get_exposed_ports(&self, hostname: &str) -> Result<Vec<ExposedPortInfo>> {
        let host = self.portway.rules().validate_hostname(hostname)?;
        self.portway.check_domain(&host)?;
        let Some((status, ports)) = self.portway.registry().ports(&self.id) else {
            return Ok(Vec::new());
        };
        let status = match status {
            SandboxStatus::Running => PortStatus::Active,
            SandboxStatus::Stopped => PortStatus::Inactive,
        };
        ports
            .into_iter()
            .map(|p| {
                Ok(ExposedPortInfo {
                    port: p.port,
                    url: preview_url(p.port, &self.id, &p.token, host.host(), host.port())?,
                    name: p.name,
                    status,
                })
            })
            .collect()
    }

    /// Whether a port is exposed; `false` for an invalid port.
    ///
    /// Takes a port or `None`: a binding passes what its port check gave (`.ok()`), and a
    /// value that is not a valid port is never exposed (no error), in every language.
    pub async fn is_port_exposed(&self, port: impl Into<Option<u16>>) -> bool {
        port.into()
            .is_some_and(|port| self.portway.registry().is_exposed(&self.id, port))
    }

    /// Whether `token` is the token of `port`, compared in constant time; `false` for an
    /// invalid or unexposed port.
    ///
    /// Takes a port or `None`, like [`Sandbox::is_port_exposed`].
    pub async fn validate_port_token(&self, port: impl Into<Option<u16>>, token: &str) -> bool {
        port.into().is_some_and(|port| {
            self.portway
                .registry()
                .validate_token(&self.id, port, token)
        })
    }

    /// Waits until the service on `port` answers (a TCP connect, or an HTTP status in the
    /// accepted range); `PORT_WAIT_TIMEOUT` when it does not within `opts.timeout`. Needs no
    /// exposure.
    ///
    /// ```no_run
    /// # async fn demo(sb: portway::Sandbox) -> portway::Result<()> {
    /// sb.wait_for_port(8080, portway::WaitOptions { path: "/health".into(), ..Default::default() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_port(&self, port: u16, opts: WaitOptions) -> Result<()> {
        let port = self.portway.rules().validate_port(i64::from(port))?;
        crate::wait::wait_for_port(&self.id, &self.upstream_host, port, &opts).await
    }

    /// Opens a WebSocket to the service on `port` (no exposure needed). A refused handshake
    /// is `WS_CONNECT_FAILED` carrying the HTTP status ([`Error::http_status`]).
    ///
    /// ```no_run
    /// # async fn demo(sb: portway::Sandbox) -> portway::Result<()> {
    /// let ws = sb.ws_connect(8080, portway::WsConnectOptions::default()).await?;
    /// ws.send_text("hello").await?;
    /// while let Some(msg) = ws.recv().await? {
    ///     println!("{msg:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn ws_connect(&self, port: u16, opts: WsConnectOptions) -> Result<WebSocket> {
        let port = self.portway.rules().validate_port(i64::from(port))?;
        crate::ws_client::ws_connect(&self.upstream_host, port, &opts).await
    }

    /// Marks the sandbox running: its URLs are served again, unchanged.
    pub async fn mark_running(&self) -> Result<()> {
        self.set_status(SandboxStatus::Running).await
    }

    /// Marks the sandbox stopped: its URLs give 410 `STALE_PREVIEW_URL` (tokens are kept).
    pub async fn mark_stopped(&self) -> Result<()> {
        self.set_status(SandboxStatus::Stopped).await
    }

    async fn set_status(&self, status: SandboxStatus) -> Result<()> {
        let (id, upstream) = (self.id.clone(), self.upstream_host.clone());
        self.portway
            .write(move |reg| reg.put_sandbox(&id, Some(&upstream), &upstream, Some(status)))
            .await
            .map(drop)
    }

    /// What the gateways of this process have seen of the sandbox: the last request or
    /// WebSocket message, requests and sessions open, requests and bytes, in all and per
    /// exposed port. All zero (and no last activity) for a sandbox no request reached.
    ///
    /// ```
    /// # async fn demo() -> portway::Result<()> {
    /// let portway = portway::Portway::builder().build()?;
    /// let sb = portway.sandbox("box", "127.0.0.1")?;
    /// assert_eq!(sb.activity().total.requests, 0);
    /// assert!(sb.activity().total.last_activity_at.is_none());
    /// # Ok(()) }
    /// ```
    pub fn activity(&self) -> SandboxActivity {
        self.portway
            .registry()
            .lifecycle
            .activity(&self.id)
            .unwrap_or_else(|| SandboxActivity {
                sandbox_id: self.id.to_string(),
                ..SandboxActivity::default()
            })
    }

    /// Sets this sandbox's own `idle_after`: how long without traffic before its `idle`
    /// event (see `Portway::events`). `None`: the gateway setting `idle_after`;
    /// zero: never idle. Kept by this process (not in the store) for as long as the sandbox
    /// exists.
    pub fn set_idle_after(&self, idle_after: Option<Duration>) -> Result<()> {
        if let Some(d) = idle_after
            && d > crate::options::MAX_DURATION
        {
            return Err(Error::InvalidArgument(format!(
                "idle_after is too long (got {} s; at most {} days)",
                d.as_secs(),
                crate::options::MAX_DURATION.as_secs() / 86_400
            )));
        }
        self.portway
            .registry()
            .lifecycle
            .set_idle_after(&self.id, idle_after);
        Ok(())
    }

    /// This sandbox's own `idle_after`, if it has one.
    pub fn idle_after(&self) -> Option<Duration> {
        self.portway.registry().lifecycle.idle_after_of(&self.id)
    }

    /// Forgets the sandbox and its tokens: its URLs give 404. Idempotent.
    pub async fn destroy(&self) -> Result<()> {
        let id = self.id.clone();
        self.portway
            .write(move |reg| reg.destroy(&id))
            .await
            .map(drop)
    }
}

/// Checks a port name: 1 to 64 characters, no control characters.
///
/// ```
/// assert!(portway::validate_port_name("web").is_ok());
/// assert!(portway::validate_port_name("").is_err());
/// assert!(portway::validate_port_name("a\nb").is_err());
/// ```
pub fn validate_port_name(name: &str) -> Result<()> {
    let len = name.chars().count();
    if len == 0 || len > MAX_PORT_NAME_LENGTH {
        return Err(Error::InvalidPortName(format!(
            "Invalid port name: must be 1 to {MAX_PORT_NAME_LENGTH} characters (got {len})."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidPortName(
            "Invalid port name: control characters are not allowed.".into(),
        ));
    }
    Ok(())
}

/// Checks an upstream host: an IP address (IPv6 with or without brackets) or a host name of
/// letters, digits, `-`, `_` and dots (container names may carry `_`). Returns it as stored:
/// host names lowercased, IPv6 without brackets. A name that resolvers would read as an
/// IPv4 address in a non-standard form (`2130706433`, `0x7f.1`, `127.1`, `0177.0.0.1`) is
/// refused: write addresses as `a.b.c.d`.
///
/// ```
/// assert_eq!(portway::validate_upstream_host("[::1]")?, "::1");
/// assert!(portway::validate_upstream_host("0x7f.1").is_err());
/// assert_eq!(portway::validate_upstream_host("My_Container")?, "my_container");
/// assert!(portway::validate_upstream_host("10.0.0.7:8080").is_err());
/// # Ok::<(), portway::Error>(())
/// ```
pub fn validate_upstream_host(host: &str) -> Result<String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let invalid = |why: &str| {
        Error::InvalidUpstreamHost(format!(
            "Invalid upstream host '{host}': {why} Give an IP address or a host name, without a \
             port or scheme."
        ))
    };
    if host.is_empty() || host.len() > 253 {
        return Err(invalid("must be 1 to 253 characters."));
    }
    if looks_like_ipv4(host) {
        return Err(invalid(
            "it reads as an IPv4 address in a non-standard form (resolvers take 2130706433, \
             0x7f.1 or 127.1 as 127.0.0.1); write the address as four decimal numbers, \
             a.b.c.d.",
        ));
    }
    for label in host.strip_suffix('.').unwrap_or(host).split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid(
                "each dot-separated part must be 1 to 63 characters.",
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "only letters, digits, '-', '_' and '.' are allowed.",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a part must not start or end with '-'."));
        }
    }
    Ok(host.to_ascii_lowercase())
}

/// Whether a host that is not a standard IP address would still be read as an IPv4 address
/// by a resolver (the WHATWG URL rule: its last label is a number, in decimal, octal or hex).
fn looks_like_ipv4(host: &str) -> bool {
    let last = host
        .strip_suffix('.')
        .unwrap_or(host)
        .rsplit('.')
        .next()
        .unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}
