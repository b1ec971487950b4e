//! `portway serve` settings: flags, `PORTWAY_*` environment variables, an optional TOML file,
//! then the defaults, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

/// The settings of `portway serve`, as flags. Each is also read from `PORTWAY_<FLAG>` and
/// from the TOML file given with `--config` (keys are the flag names with `_`).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// A TOML file with any of these settings.
    #[arg(long, env = "PORTWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The gateway's address [default: 127.0.0.1:8080].
    #[arg(long, env = "PORTWAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// The admin API's address [default: 127.0.0.1:9090].
    #[arg(long, env = "PORTWAY_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// A preview domain (repeatable; in the environment, comma-separated) [default: localhost].
    #[arg(
        long = "domain",
        env = "PORTWAY_DOMAIN",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub domains: Vec<String>,
    /// The SQLite store file, `:memory:`, or a Redis URL shared by several gateways
    /// (`redis://[user:password@]host:port/db`, `rediss://` for TLS, `?prefix=` for the
    /// keys) [default: ./portway.db].
    #[arg(long, env = "PORTWAY_STORE", value_name = "PATH|URL")]
    pub store: Option<String>,
    /// The bearer token the admin API requires.
    #[arg(
        long,
        env = "PORTWAY_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// A file holding the admin token (a trailing newline is dropped); keeps it out of `ps`.
    #[arg(
        long,
        env = "PORTWAY_ADMIN_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "admin_token"
    )]
    pub admin_token_file: Option<PathBuf>,
    /// The X-Forwarded-Proto sent upstream when TLS ends in front of the gateway.
    #[arg(long, env = "PORTWAY_FORWARDED_PROTO", value_parser = ["http", "https"])]
    pub forwarded_proto: Option<String>,
    /// The Referrer-Policy added to sandbox responses without one; "" adds none
    /// [default: same-origin].
    #[arg(long, env = "PORTWAY_REFERRER_POLICY", value_name = "POLICY")]
    pub referrer_policy: Option<String>,
    /// A port that can never be exposed (repeatable) [default: 3000].
    #[arg(
        long = "reserved-port",
        env = "PORTWAY_RESERVED_PORT",
        value_delimiter = ',',
        value_name = "PORT"
    )]
    pub reserved_ports: Vec<i64>,
    /// Lowercase uppercase sandbox ids instead of refusing them.
    #[arg(long, env = "PORTWAY_NORMALIZE_ID")]
    pub normalize_id: Option<bool>,
    /// The shortest custom token accepted [default: 8].
    #[arg(long, env = "PORTWAY_MIN_TOKEN_LENGTH")]
    pub min_token_length: Option<i64>,
    /// Send the preview host upstream instead of `localhost:{port}`.
    #[arg(long, env = "PORTWAY_KEEP_HOST")]
    pub keep_host: Option<bool>,
    /// Client connections open at once [default: 10000].
    #[arg(long, env = "PORTWAY_MAX_CONNECTIONS")]
    pub max_connections: Option<u64>,
    /// Requests and WebSocket sessions in flight per sandbox [default: 1000].
    #[arg(long, env = "PORTWAY_MAX_CONNECTIONS_PER_SANDBOX")]
    pub max_connections_per_sandbox: Option<u64>,
    /// The largest request head in bytes [default: 32768].
    #[arg(long, env = "PORTWAY_MAX_HEAD_SIZE")]
    pub max_head_size: Option<u64>,
    /// Time to send a request head, such as `10s` [default: 10s].
    #[arg(long, env = "PORTWAY_HEAD_TIMEOUT", value_parser = parse_duration)]
    pub head_timeout: Option<Duration>,
    /// Close connections idle this long [default: 60s].
    #[arg(long, env = "PORTWAY_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Close WebSocket sessions idle this long [default: 10m].
    #[arg(long, env = "PORTWAY_WS_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub ws_idle_timeout: Option<Duration>,
    /// Retry refused connects this long before 502 [default: 1s].
    #[arg(long, env = "PORTWAY_CONNECT_RETRY_WINDOW", value_parser = parse_duration)]
    pub connect_retry_window: Option<Duration>,
    /// One connect attempt's limit before 504 [default: 5s].
    #[arg(long, env = "PORTWAY_CONNECT_TIMEOUT", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Time for a sandbox's response head before 504 [default: 60s].
    #[arg(long, env = "PORTWAY_RESPONSE_TIMEOUT", value_parser = parse_duration)]
    pub response_timeout: Option<Duration>,
    /// The largest WebSocket message relayed, in bytes [default: 16777216].
    #[arg(long, env = "PORTWAY_WS_MAX_MESSAGE_SIZE")]
    pub ws_max_message_size: Option<u64>,
    /// The largest WebSocket frame relayed, in bytes [default: 16777216].
    #[arg(long, env = "PORTWAY_WS_MAX_FRAME_SIZE")]
    pub ws_max_frame_size: Option<u64>,
    /// The most headers in one request [default: 100].
    #[arg(long, env = "PORTWAY_MAX_HEADERS")]
    pub max_headers: Option<u64>,
    /// How long an idle upstream connection stays pooled [default: 90s].
    #[arg(long, env = "PORTWAY_UPSTREAM_POOL_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub upstream_pool_idle_timeout: Option<Duration>,
    /// Idle upstream connections kept per sandbox port [default: 256].
    #[arg(long, env = "PORTWAY_UPSTREAM_POOL_SIZE")]
    pub upstream_pool_size: Option<u64>,
    /// How long shutdown waits for in-flight requests [default: 10s].
    #[arg(long, env = "PORTWAY_SHUTDOWN_TIMEOUT", value_parser = parse_duration)]
    pub shutdown_timeout: Option<Duration>,
    /// Connections open at once per client address; 0 for no limit [default: 0].
    #[arg(long, env = "PORTWAY_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<u64>,
    /// Requests per second per client address; 0 for no limit [default: 0].
    #[arg(long, env = "PORTWAY_CLIENT_REQUEST_RATE")]
    pub client_request_rate: Option<u64>,
    /// Requests a client address may make at once over its rate; 0 for the rate [default: 0].
    #[arg(long, env = "PORTWAY_CLIENT_REQUEST_BURST")]
    pub client_request_burst: Option<u64>,
    /// Requests per second per sandbox; 0 for no limit [default: 0].
    #[arg(long, env = "PORTWAY_SANDBOX_REQUEST_RATE")]
    pub sandbox_request_rate: Option<u64>,
    /// Requests a sandbox may get at once over its rate; 0 for the rate [default: 0].
    #[arg(long, env = "PORTWAY_SANDBOX_REQUEST_BURST")]
    pub sandbox_request_burst: Option<u64>,
    /// Where to log each request as a line of JSON: stdout, stderr, a file, or off (none)
    /// [default: stdout].
    #[arg(
        long,
        env = "PORTWAY_ACCESS_LOG",
        value_name = "stdout|stderr|FILE|off"
    )]
    pub access_log: Option<String>,
    /// A network (CIDR) the gateway may connect to for a sandbox; given, only these are
    /// allowed (repeatable; comma-separated in the environment) [default: any address but
    /// unspecified, link-local, multicast and broadcast].
    #[arg(
        long = "upstream-allow",
        env = "PORTWAY_UPSTREAM_ALLOW",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub upstream_allow: Vec<String>,
    /// A network (CIDR) the gateway never connects to, on top of the default refusals
    /// (repeatable; comma-separated in the environment).
    #[arg(
        long = "upstream-deny",
        env = "PORTWAY_UPSTREAM_DENY",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub upstream_deny: Vec<String>,
    /// The address (CIDR) of a proxy in front whose forwarding headers are kept and extended
    /// and whose PROXY headers are read (repeatable; comma-separated in the environment).
    #[arg(
        long = "trusted-proxy",
        env = "PORTWAY_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub trusted_proxies: Vec<String>,
    /// Read a PROXY protocol header (v1 or v2) on connections from trusted proxies.
    #[arg(long, env = "PORTWAY_PROXY_PROTOCOL")]
    pub proxy_protocol: Option<bool>,
    /// Fire an `idle` event for a sandbox without traffic for this long, such as `15m`; 0 for
    /// none [default: 0].
    #[arg(long, env = "PORTWAY_IDLE_AFTER", value_parser = parse_duration)]
    pub idle_after: Option<Duration>,
    /// An open WebSocket session keeps its sandbox from going idle even without messages.
    #[arg(long, env = "PORTWAY_WEBSOCKETS_KEEP_ACTIVE")]
    pub websockets_keep_active: Option<bool>,
    /// How long a request for a stopped sandbox waits for its wake [default: 60s].
    #[arg(long, env = "PORTWAY_WAKE_TIMEOUT", value_parser = parse_duration)]
    pub wake_timeout: Option<Duration>,
    /// How long a browser waits for a wake before the page that reloads itself [default: 3s].
    #[arg(long, env = "PORTWAY_WAKE_PAGE_AFTER", value_parser = parse_duration)]
    pub wake_page_after: Option<Duration>,
    /// The URL (http or https) the gateway POSTs `{"event": "wake", "sandbox_id", "port"}` to
    /// when a request arrives for a stopped sandbox; a 2xx answer means the start is under
    /// way. Without it a stopped sandbox's URLs give 410.
    #[arg(long, env = "PORTWAY_WAKE_URL", value_name = "URL")]
    pub wake_url: Option<String>,
    /// The URL (http or https) every lifecycle event is POSTed to as JSON (`idle`, `exposed`,
    /// `unexposed`, `running`, `stopped`, `destroyed`), retried with backoff.
    #[arg(long, env = "PORTWAY_EVENTS_URL", value_name = "URL")]
    pub events_url: Option<String>,
}

/// The same settings in a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    admin_listen: Option<String>,
    #[serde(alias = "domain")]
    domains: Option<Vec<String>>,
    store: Option<String>,
    admin_token: Option<String>,
    admin_token_file: Option<PathBuf>,
    forwarded_proto: Option<String>,
    referrer_policy: Option<String>,
    reserved_ports: Option<Vec<i64>>,
    normalize_id: Option<bool>,
    min_token_length: Option<i64>,
    keep_host: Option<bool>,
    max_connections: Option<u64>,
    max_connections_per_sandbox: Option<u64>,
    max_head_size: Option<u64>,
    head_timeout: Option<String>,
    idle_timeout: Option<String>,
    ws_idle_timeout: Option<String>,
    connect_retry_window: Option<String>,
    connect_timeout: Option<String>,
    response_timeout: Option<String>,
    ws_max_message_size: Option<u64>,
    ws_max_frame_size: Option<u64>,
    max_headers: Option<u64>,
    upstream_pool_idle_timeout: Option<String>,
    upstream_pool_size: Option<u64>,
    shutdown_timeout: Option<String>,
    max_connections_per_client: Option<u64>,
    client_request_rate: Option<u64>,
    client_request_burst: Option<u64>,
    sandbox_request_rate: Option<u64>,
    sandbox_request_burst: Option<u64>,
    access_log: Option<String>,
    upstream_allow: Option<Vec<String>>,
    upstream_deny: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    proxy_protocol: Option<bool>,
    idle_after: Option<String>,
    websockets_keep_active: Option<bool>,
    wake_timeout: Option<String>,
    wake_page_after: Option<String>,
    wake_url: Option<String>,
    events_url: Option<String>,
}

impl FileSettings {
    /// The gateway's settings the file gives (durations parsed); the rest stays unset.
    fn gateway_options(&self) -> Result<portway::GatewayOptions, String> {
        let dur = |key: &str, s: &Option<String>| {
            s.as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| format!("{key}: {e}"))
        };
        Ok(portway::GatewayOptions {
            rewrite_host: self.keep_host.map(|keep| !keep),
            forwarded_proto: self.forwarded_proto.clone(),
            referrer_policy: self.referrer_policy.clone(),
            max_head_size: self.max_head_size,
            max_headers: self.max_headers,
            head_timeout: dur("head_timeout", &self.head_timeout)?,
            idle_timeout: dur("idle_timeout", &self.idle_timeout)?,
            ws_idle_timeout: dur("ws_idle_timeout", &self.ws_idle_timeout)?,
            max_connections: self.max_connections,
            max_connections_per_sandbox: self.max_connections_per_sandbox,
            upstream_pool_size: self.upstream_pool_size,
            upstream_pool_idle_timeout: dur(
                "upstream_pool_idle_timeout",
                &self.upstream_pool_idle_timeout,
            )?,
            connect_retry_window: dur("connect_retry_window", &self.connect_retry_window)?,
            connect_timeout: dur("connect_timeout", &self.connect_timeout)?,
            response_timeout: dur("response_timeout", &self.response_timeout)?,
            ws_max_message_size: self.ws_max_message_size,
            ws_max_frame_size: self.ws_max_frame_size,
            shutdown_timeout: dur("shutdown_timeout", &self.shutdown_timeout)?,
            max_connections_per_client: self.max_connections_per_client,
            client_request_rate: self.client_request_rate,
            client_request_burst: self.client_request_burst,
            sandbox_request_rate: self.sandbox_request_rate,
            sandbox_request_burst: self.sandbox_request_burst,
            access_log: self.access_log.clone(),
            upstream_allow: self.upstream_allow.clone(),
            upstream_deny: self.upstream_deny.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            proxy_protocol: self.proxy_protocol,
            idle_after: dur("idle_after", &self.idle_after)?,
            websockets_keep_active: self.websockets_keep_active,
            wake_timeout: dur("wake_timeout", &self.wake_timeout)?,
            wake_page_after: dur("wake_page_after", &self.wake_page_after)?,
        })
    }
}

/// Everything `portway serve` runs with, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub admin_listen: String,
    pub domains: Vec<String>,
    pub store: String,
    pub admin_token: Option<String>,
    pub reserved_ports: Vec<i64>,
    pub normalize_id: bool,
    pub min_token_length: i64,
    pub gateway: portway::GatewayConfig,
    /// Where wakes are asked for (`--wake-url`), checked.
    pub wake_url: Option<crate::webhooks::WebhookUrl>,
    /// Where events go (`--events-url`), checked.
    pub events_url: Option<crate::webhooks::WebhookUrl>,
}

/// Parses a duration: humantime's forms (`250ms`, `10s`, `5m`, `1h30m`, `2 days`), and two
/// it does not take: a plain number of seconds (`10`, `0.5`) and a fraction with one unit
/// (`1.5s`, `0.25h`). Values too large for a `Duration` are refused here; the core refuses
/// anything over a year.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let too_long = || format!("duration {s:?} is too long (at most 365 days)");
    let fraction = num.contains('.');
    if !num.is_empty() && (unit.is_empty() || fraction) {
        if !fraction {
            return num.parse().map(Duration::from_secs).map_err(|_| too_long());
        }
        let n: f64 = num.parse().map_err(|_| invalid_duration(s))?;
        let scale = unit_seconds(unit).ok_or_else(|| invalid_duration(s))?;
        return Duration::try_from_secs_f64(n * scale).map_err(|_| too_long());
    }
    humantime::parse_duration(s).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => too_long(),
        e => format!("{}: {e}", invalid_duration(s)),
    })
}

/// A repeatable flag's values, unset when it was not given (so the file's list applies).
fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

fn invalid_duration(s: &str) -> String {
    format!("invalid duration {s:?} (use 250ms, 1.5s, 10s, 5m, 1h30m or a number of seconds)")
}

/// The seconds in one of the units a fraction may have (humantime's names).
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" | "nsec" => 1e-9,
        "us" | "usec" | "µs" => 1e-6,
        "ms" | "msec" | "millis" => 1e-3,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return None,
    })
}

impl ServeArgs {
    /// The gateway's settings the flags and environment give; the rest stays unset.
    fn gateway_options(&self) -> portway::GatewayOptions {
        portway::GatewayOptions {
            rewrite_host: self.keep_host.map(|keep| !keep),
            forwarded_proto: self.forwarded_proto.clone(),
            referrer_policy: self.referrer_policy.clone(),
            max_head_size: self.max_head_size,
            max_headers: self.max_headers,
            head_timeout: self.head_timeout,
            idle_timeout: self.idle_timeout,
            ws_idle_timeout: self.ws_idle_timeout,
            max_connections: self.max_connections,
            max_connections_per_sandbox: self.max_connections_per_sandbox,
            upstream_pool_size: self.upstream_pool_size,
            upstream_pool_idle_timeout: self.upstream_pool_idle_timeout,
            connect_retry_window: self.connect_retry_window,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            ws_max_message_size: self.ws_max_message_size,
            ws_max_frame_size: self.ws_max_frame_size,
            shutdown_timeout: self.shutdown_timeout,
            max_connections_per_client: self.max_connections_per_client,
            client_request_rate: self.client_request_rate,
            client_request_burst: self.client_request_burst,
            sandbox_request_rate: self.sandbox_request_rate,
            sandbox_request_burst: self.sandbox_request_burst,
            access_log: self.access_log.clone(),
            upstream_allow: non_empty(&self.upstream_allow),
            upstream_deny: non_empty(&self.upstream_deny),
            trusted_proxies: non_empty(&self.trusted_proxies),
            proxy_protocol: self.proxy_protocol,
            idle_after: self.idle_after,
            websockets_keep_active: self.websockets_keep_active,
            wake_timeout: self.wake_timeout,
            wake_page_after: self.wake_page_after,
        }
    }

    /// Merges flags and environment (already in `self`) over the TOML file and the defaults.
    pub fn resolve(self) -> Result<Settings, String> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let mut gateway = self.gateway_options().or(file.gateway_options()?);
        gateway.access_log = access_log(gateway.access_log);
        let gateway = gateway.resolve().map_err(|e| e.to_string())?;
        let pick_list = |flag: Vec<String>, file: Option<Vec<String>>, default: &[&str]| {
            if !flag.is_empty() {
                flag
            } else {
                file.unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
            }
        };
        Ok(Settings {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| portway::DEFAULT_LISTEN.into()),
            admin_listen: self
                .admin_listen
                .or(file.admin_listen)
                .unwrap_or_else(|| "127.0.0.1:9090".into()),
            domains: pick_list(self.domains, file.domains, &["localhost"]),
            store: self
                .store
                .or(file.store)
                .unwrap_or_else(|| "./portway.db".into()),
            admin_token: admin_token(
                self.admin_token,
                self.admin_token_file,
                file.admin_token,
                file.admin_token_file,
            )?
            .filter(|t| !t.is_empty()),
            reserved_ports: if self.reserved_ports.is_empty() {
                file.reserved_ports.unwrap_or_else(|| {
                    portway::DEFAULT_RESERVED_PORTS
                        .iter()
                        .map(|&p| p.into())
                        .collect()
                })
            } else {
                self.reserved_ports
            },
            normalize_id: self.normalize_id.or(file.normalize_id).unwrap_or(false),
            min_token_length: self
                .min_token_length
                .or(file.min_token_length)
                .unwrap_or(portway::DEFAULT_MIN_TOKEN_LENGTH as i64),
            gateway,
            wake_url: self
                .wake_url
                .or(file.wake_url)
                .map(|u| crate::webhooks::WebhookUrl::parse("wake_url", &u))
                .transpose()?,
            events_url: self
                .events_url
                .or(file.events_url)
                .map(|u| crate::webhooks::WebhookUrl::parse("events_url", &u))
                .transpose()?,
        })
    }
}

/// Where `portway serve` writes its access log: stdout unless told otherwise, nowhere for
/// `off` or `none` (in any case).
fn access_log(given: Option<String>) -> Option<String> {
    match given {
        None => Some("stdout".into()),
        Some(s) if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") => None,
        Some(s) => Some(s),
    }
}

/// The admin token: from `--admin-token` or `--admin-token-file` (or their environment
/// variables), else from the file's `admin_token` or `admin_token_file`. Each pair
/// conflicts.
fn admin_token(
    flag: Option<String>,
    flag_file: Option<PathBuf>,
    toml: Option<String>,
    toml_file: Option<PathBuf>,
) -> Result<Option<String>, String> {
    match (flag, flag_file, toml, toml_file) {
        (Some(_), Some(_), _, _) => Err(
            "--admin-token (PORTWAY_ADMIN_TOKEN) and --admin-token-file \
             (PORTWAY_ADMIN_TOKEN_FILE) cannot be used together: give one"
                .into(),
        ),
        (Some(token), None, _, _) => Ok(Some(token)),
        (None, Some(path), _, _) => read_token(&path).map(Some),
        (None, None, Some(_), Some(_)) => Err(
            "admin_token and admin_token_file cannot both be set in the config file: give one"
                .into(),
        ),
        (None, None, Some(token), None) => Ok(Some(token)),
        (None, None, None, Some(path)) => read_token(&path).map(Some),
        (None, None, None, None) => Ok(None),
    }
}

/// The token in `path`, without its trailing newline; an empty file is an error.
fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the admin token file {}: {e}", path.display()))?;
    let token = text.trim_end_matches(['\n', '\r']);
    if token.is_empty() {
        return Err(format!("the admin token file {} is empty", path.display()));
    }
    Ok(token.to_owned())
}

fn read_file(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
}

impl Settings {
    /// Refuses an admin API reachable from other hosts without a token.
    pub fn check(&self) -> Result<(), String> {
        let admin: Option<SocketAddr> = self.admin_listen.parse().ok();
        let loopback = admin.is_some_and(|a| a.ip().is_loopback());
        if !loopback && self.admin_token.is_none() {
            return Err(format!(
                "the admin API would listen on {} without a token: anyone who reaches it could \
                 expose ports. Set --admin-token or --admin-token-file (or PORTWAY_ADMIN_TOKEN[_FILE]), or listen \
                 on loopback.",
                self.admin_listen
            ));
        }
        Ok(())
    }

    /// The library configured with these settings.
    pub fn portway(&self) -> portway::Result<portway::Portway> {
        portway::Portway::builder()
            .domains(self.domains.clone())
            .reserved_ports(self.reserved_ports.clone())
            .normalize_id(self.normalize_id)
            .min_token_length(self.min_token_length)
            .store_path(&self.store)
            .gateway_config(self.gateway.clone())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2m 30s").unwrap(), Duration::from_secs(150));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration(".5m").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1.5 h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration(" 10s ").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("10000000000000000000").unwrap(),
            Duration::from_secs(10_000_000_000_000_000_000)
        );
        for overflow in ["100000000000000000000", "10000000000000000000h", "1.5e300s"] {
            let e = parse_duration(overflow).unwrap_err();
            assert!(e.contains(overflow), "{overflow}: {e}");
        }
        for bad in ["", "s", "1.2.3s", "1.5parsecs", "1e400", "1..s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence_flag_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portway.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:7000\"\nadmin_listen = \"127.0.0.1:7001\"\ndomains = [\"preview.example.com\"]\nidle_timeout = \"2m\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:7100".into()),
            ..Default::default()
        };
        let s = args.resolve().unwrap();
        assert_eq!(s.listen, "127.0.0.1:7100");
        assert_eq!(s.admin_listen, "127.0.0.1:7001");
        assert_eq!(s.domains, ["preview.example.com"]);
        assert_eq!(s.gateway.idle_timeout, Duration::from_secs(120));
        assert_eq!(s.store, "./portway.db");
        std::fs::write(&path, "listn = \"typo\"\n").unwrap();
        let err = ServeArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn the_access_log_is_stdout_unless_turned_off() {
        let resolve = |flag: Option<&str>, file: Option<&str>| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("portway.toml");
            let text = file.map_or(String::new(), |f| format!("access_log = {f:?}\n"));
            std::fs::write(&path, text).unwrap();
            ServeArgs {
                config: Some(path),
                access_log: flag.map(Into::into),
                ..Default::default()
            }
            .resolve()
            .unwrap()
            .gateway
            .access_log
        };
        assert_eq!(resolve(None, None).as_deref(), Some("stdout"));
        assert_eq!(resolve(Some("off"), None), None);
        assert_eq!(resolve(Some("NONE"), None), None);
        assert_eq!(resolve(None, Some("off")), None);
        assert_eq!(
            resolve(None, Some("/var/log/portway.log")).as_deref(),
            Some("/var/log/portway.log")
        );
        assert_eq!(
            resolve(Some("stderr"), Some("off")).as_deref(),
            Some("stderr")
        );
    }

    #[test]
    fn referrer_policy_from_a_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portway.toml");
        std::fs::write(&path, "referrer_policy = \"no-referrer\"\n").unwrap();
        let resolve = |flag: Option<&str>, file: bool| {
            ServeArgs {
                config: file.then(|| path.clone()),
                referrer_policy: flag.map(str::to_owned),
                ..Default::default()
            }
            .resolve()
        };
        let policy = |s: Settings| s.gateway.referrer_policy;
        assert_eq!(
            policy(resolve(None, false).unwrap()).as_deref(),
            Some("same-origin")
        );
        assert_eq!(
            policy(resolve(None, true).unwrap()).as_deref(),
            Some("no-referrer")
        );
        assert_eq!(
            policy(resolve(Some(""), true).unwrap()).as_deref(),
            Some("")
        );
        let err = resolve(Some("nope"), false).unwrap_err();
        assert!(err.contains("referrer_policy"), "{err}");
    }

    #[test]
    fn a_public_admin_api_needs_a_token() {
        let mut s = ServeArgs {
            admin_listen: Some("0.0.0.0:9090".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert!(s.check().is_err());
        s.admin_token = Some("secret".into());
        assert!(s.check().is_ok());
    }
}
