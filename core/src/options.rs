//! The surface every language shares: settings given field by field, each optional, turned
//! into the core's checked configuration here and nowhere else.
//!
//! A binding converts host values into these types and calls `resolve` (or `set`, for a
//! binding that reads its options from a dynamic object); defaults, units, ranges and the
//! wording of every message live in this module and in the tables it reads
//! (the gateway's option table in `gateway/config.rs`, [`WaitSettings`],
//! [`WsConnectSettings`]).

use std::time::Duration;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::upstream_policy::Networks;
use crate::wait::{WaitMode, WaitOptions};
use crate::ws_client::WsConnectOptions;

/// The address `serve` listens on when none is given, in every language and in
/// `portway serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The unit a host language gives durations in: Python and Swift use seconds, Node uses
/// milliseconds (its option names end in `Ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds, fractions allowed.
    Seconds,
    /// Milliseconds, fractions allowed.
    Milliseconds,
}

impl TimeUnit {
    fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Milliseconds => "milliseconds",
        }
    }
}

/// A duration given as a number in `unit`: finite, zero or more, and at most
/// [`MAX_DURATION`]. `Err` is the message, naming `name`.
///
/// ```
/// use portway::options::{TimeUnit, duration};
/// assert_eq!(duration("timeout", 1.5, TimeUnit::Seconds), Ok(std::time::Duration::from_millis(1500)));
/// assert_eq!(
///     duration("timeoutMs", -1.0, TimeUnit::Milliseconds).unwrap_err(),
///     "timeoutMs must be a number of milliseconds, zero or more (got -1)"
/// );
/// ```
pub fn duration(name: &str, value: f64, unit: TimeUnit) -> std::result::Result<Duration, String> {
    let secs = match unit {
        TimeUnit::Seconds => value,
        TimeUnit::Milliseconds => value / 1000.0,
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        Ok(_) => Err(format!(
            "{name} is too long (got {value} {}; at most {} days)",
            unit.name(),
            MAX_DURATION.as_secs() / 86_400
        )),
        Err(_) => Err(format!(
            "{name} must be a number of {}, zero or more (got {value})",
            unit.name()
        )),
    }
}

/// The longest duration any option takes: one year. Longer values are refused rather than
/// left to overflow a timer.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// A count or size given as a number (JavaScript has no integers): whole, zero or more, and
/// exact in a double. `Err` is the message, naming `name`.
///
/// ```
/// assert_eq!(portway::options::count("maxHeaders", 100.0), Ok(100));
/// assert_eq!(
///     portway::options::count("maxHeaders", 1.5).unwrap_err(),
///     "maxHeaders must be a whole number, zero or more (got 1.5)"
/// );
/// ```
pub fn count(name: &str, value: f64) -> std::result::Result<u64, String> {
    if value.fract() == 0.0 && value >= 0.0 && value <= (1u64 << 53) as f64 {
        Ok(value as u64)
    } else {
        Err(format!(
            "{name} must be a whole number, zero or more (got {value})"
        ))
    }
}

/// A value as a dynamic host gives it, for `GatewayOptions::set`.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// `true` or `false`.
    Bool(bool),
    /// Any number (a count, or a duration in the host's [`TimeUnit`]).
    Number(f64),
    /// A string.
    Text(String),
    /// A list of strings (networks).
    List(Vec<String>),
}

/// What kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// `true` or `false`.
    Bool,
    /// A string (or none).
    Text,
    /// A whole number.
    Count,
    /// A duration (seconds in Python and Swift, milliseconds in Node).
    Duration,
    /// A list of networks in CIDR notation (a list of strings in every language).
    Networks,
}

impl OptionKind {
    /// `"bool"`, `"text"`, `"count"`, `"duration"` or `"networks"`, as the parity list
    /// writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionKind::Bool => "bool",
            OptionKind::Text => "text",
            OptionKind::Count => "count",
            OptionKind::Duration => "duration",
            OptionKind::Networks => "networks",
        }
    }
}

/// One option of a table: its name, kind, default and description.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionField {
    /// The core's name, in snake_case (`head_timeout`).
    pub name: &'static str,
    /// What it takes.
    pub kind: OptionKind,
    /// The default as JSON: a bool, a number (durations in seconds), a string or null.
    pub default: Json,
    /// What it does.
    pub doc: &'static str,
}

/// The type of a configuration field, seen from the hosts: what a host gives
/// ([`ConfigValue::Input`]) and how it is checked. Implemented for the five kinds of value a
/// table may hold.
pub trait ConfigValue: Sized {
    /// What a typed host gives for it.
    type Input;
    /// Its kind.
    const KIND: OptionKind;
    /// The checked value.
    fn from_input(name: &str, input: Self::Input) -> Result<Self>;
    /// The input from a dynamic host's value (checked for its kind; the range is checked by
    /// [`ConfigValue::from_input`]).
    fn input_from(name: &str, value: OptionValue, unit: TimeUnit) -> Result<Self::Input>;
    /// The value as JSON (durations in seconds).
    fn to_json(&self) -> Json;
    /// The bound every value of the kind keeps, however it was made (a duration: at most
    /// [`MAX_DURATION`]); [`ConfigValue::from_input`] applies it too.
    fn check(_name: &str, _value: &Self) -> Result<()> {
        Ok(())
    }
}

fn wrong_kind(name: &str, what: &str, value: &OptionValue) -> Error {
    let got = match value {
        OptionValue::Bool(b) => b.to_string(),
        OptionValue::Number(n) => n.to_string(),
        OptionValue::Text(t) => format!("{t:?}"),
        OptionValue::List(l) => format!("{l:?}"),
    };
    Error::InvalidConfig(format!("{name} must be {what} (got {got})"))
}

impl ConfigValue for bool {
    type Input = bool;
    const KIND: OptionKind = OptionKind::Bool;
    fn from_input(_: &str, input: bool) -> Result<bool> {
        Ok(input)
    }
    fn input_from(name: &str, value: OptionValue, _: TimeUnit) -> Result<bool> {
        match value {
            OptionValue::Bool(b) => Ok(b),
            other => Err(wrong_kind(name, "true or false", &other)),
        }
    }
    fn to_json(&self) -> Json {
        Json::Bool(*self)
    }
}

impl ConfigValue for usize {
    type Input = u64;
    const KIND: OptionKind = OptionKind::Count;
    fn from_input(name: &str, input: u64) -> Result<usize> {
        usize::try_from(input)
            .map_err(|_| Error::InvalidConfig(format!("{name} is too large (got {input})")))
    }
    fn input_from(name: &str, value: OptionValue, _: TimeUnit) -> Result<u64> {
        match value {
            OptionValue::Number(n) => count(name, n).map_err(Error::InvalidConfig),
            other => Err(wrong_kind(name, "a whole number", &other)),
        }
    }
    fn to_json(&self) -> Json {
        Json::from(*self)
    }
}

impl ConfigValue for Duration {
    type Input = Duration;
    const KIND: OptionKind = OptionKind::Duration;
    fn from_input(name: &str, input: Duration) -> Result<Duration> {
        Duration::check(name, &input)?;
        Ok(input)
    }
    fn check(name: &str, value: &Duration) -> Result<()> {
        if *value > MAX_DURATION {
            return Err(Error::InvalidConfig(format!(
                "{name} is too long (got {} s; at most {} days)",
                value.as_secs(),
                MAX_DURATION.as_secs() / 86_400
            )));
        }
        Ok(())
    }
    fn input_from(name: &str, value: OptionValue, unit: TimeUnit) -> Result<Duration> {
        match value {
            OptionValue::Number(n) => duration(name, n, unit).map_err(Error::InvalidConfig),
            other => Err(wrong_kind(
                name,
                &format!("a number of {}", unit.name()),
                &other,
            )),
        }
    }
    fn to_json(&self) -> Json {
        Json::from(self.as_secs_f64())
    }
}

impl ConfigValue for Option<String> {
    type Input = String;
    const KIND: OptionKind = OptionKind::Text;
    fn from_input(_: &str, input: String) -> Result<Option<String>> {
        Ok(Some(input))
    }
    fn input_from(name: &str, value: OptionValue, _: TimeUnit) -> Result<String> {
        match value {
            OptionValue::Text(t) => Ok(t),
            other => Err(wrong_kind(name, "a string", &other)),
        }
    }
    fn to_json(&self) -> Json {
        self.as_deref().map_or(Json::Null, Json::from)
    }
}

impl ConfigValue for Networks {
    type Input = Vec<String>;
    const KIND: OptionKind = OptionKind::Networks;
    fn from_input(name: &str, input: Vec<String>) -> Result<Networks> {
        Networks::parse(&input).map_err(|e| Error::InvalidConfig(format!("{name}: {e}")))
    }
    fn input_from(name: &str, value: OptionValue, _: TimeUnit) -> Result<Vec<String>> {
        match value {
            // Checked here too, so a host's error names the option as the host spells it.
            OptionValue::List(l) => Networks::from_input(name, l.clone()).map(|_| l),
            other => Err(wrong_kind(name, "a list of networks", &other)),
        }
    }
    fn to_json(&self) -> Json {
        Json::from(self.to_strings())
    }
}

/// The options of `wait_for_port` as a host gives them: every field optional, `None` keeps
/// the default of [`WaitOptions`]. [`WaitSettings::resolve`] checks them
/// (`INVALID_ARGUMENT`, naming the option).
///
/// ```
/// let opts = portway::WaitSettings { status_max: Some(299), ..Default::default() }.resolve()?;
/// assert_eq!((opts.mode, opts.status_min, opts.status_max), (portway::WaitMode::Http, 200, 299));
/// let err = portway::WaitSettings { status_min: Some(70_000), ..Default::default() }.resolve().unwrap_err();
/// assert_eq!(err.code().as_str(), "INVALID_ARGUMENT");
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitSettings {
    /// HTTP (default) or TCP.
    pub mode: Option<WaitMode>,
    /// The path requested in HTTP mode (default `/`).
    pub path: Option<String>,
    /// The lowest accepted status (default 200).
    pub status_min: Option<i64>,
    /// The highest accepted status (default 399).
    pub status_max: Option<i64>,
    /// How long to keep trying (default 30 s).
    pub timeout: Option<Duration>,
    /// The pause between attempts (default 100 ms).
    pub interval: Option<Duration>,
}

impl WaitSettings {
    /// The options with the defaults filled in, checked.
    pub fn resolve(self) -> Result<WaitOptions> {
        let mut opts = WaitOptions::default();
        if let Some(mode) = self.mode {
            opts.mode = mode;
        }
        if let Some(path) = self.path {
            opts.path = path;
        }
        // Out of u16's range becomes 0, which the range check below refuses.
        if let Some(min) = self.status_min {
            opts.status_min = u16::try_from(min).unwrap_or(0);
        }
        if let Some(max) = self.status_max {
            opts.status_max = u16::try_from(max).unwrap_or(0);
        }
        if let Some(t) = self.timeout {
            opts.timeout = t;
        }
        if let Some(i) = self.interval {
            opts.interval = i;
        }
        opts.validate()?;
        Ok(opts)
    }
}

/// The options of `ws_connect` as a host gives them: every field optional, `None` keeps the
/// default of [`WsConnectOptions`]. [`WsConnectSettings::resolve`] checks them
/// (`INVALID_ARGUMENT`).
///
/// ```
/// let opts = portway::WsConnectSettings { path: Some("/chat".into()), ..Default::default() }.resolve()?;
/// assert_eq!((opts.path.as_str(), opts.max_message_size), ("/chat", 16 << 20));
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsConnectSettings {
    /// The path and query (default `/`).
    pub path: Option<String>,
    /// Extra request headers (default none).
    pub headers: Option<Vec<(String, String)>>,
    /// Subprotocols offered, in order of preference (default none).
    pub subprotocols: Option<Vec<String>>,
    /// The largest message accepted or sent, in bytes (default 16 MiB).
    pub max_message_size: Option<u64>,
    /// How long the TCP connect and the handshake may take (default 10 s).
    pub connect_timeout: Option<Duration>,
}

impl WsConnectSettings {
    /// The options with the defaults filled in, checked.
    pub fn resolve(self) -> Result<WsConnectOptions> {
        let mut opts = WsConnectOptions::default();
        if let Some(path) = self.path {
            opts.path = path;
        }
        if let Some(headers) = self.headers {
            opts.headers = headers;
        }
        if let Some(subprotocols) = self.subprotocols {
            opts.subprotocols = subprotocols;
        }
        if let Some(size) = self.max_message_size {
            opts.max_message_size = usize::try_from(size).map_err(|_| {
                Error::InvalidArgument(format!("max_message_size is too large (got {size})"))
            })?;
        }
        if let Some(t) = self.connect_timeout {
            opts.connect_timeout = t;
        }
        // The path, headers and subprotocols are checked when the request is built.
        Ok(opts)
    }
}
