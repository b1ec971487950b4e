//! Waiting until a sandbox service answers: the replacement for the `sleep(2)` in every
//! preview-URL example.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, HOST, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, sleep, timeout};

use crate::connect::connect;
use crate::error::{Error, Result};

/// How `Sandbox::wait_for_port` decides that a service is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitMode {
    /// Ready when a TCP connect succeeds.
    Tcp,
    /// Ready when `GET path` answers with a status in the accepted range.
    #[default]
    Http,
}

impl WaitMode {
    /// `"tcp"` or `"http"`.
    ///
    /// ```
    /// assert_eq!(portway::WaitMode::parse("tcp"), Some(portway::WaitMode::Tcp));
    /// assert_eq!(portway::WaitMode::Http.as_str(), "http");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            WaitMode::Tcp => "tcp",
            WaitMode::Http => "http",
        }
    }

    /// The mode for `"tcp"` or `"http"`; `INVALID_ARGUMENT` for anything else.
    ///
    /// ```
    /// assert_eq!(portway::WaitMode::named("tcp")?, portway::WaitMode::Tcp);
    /// assert_eq!(
    ///     portway::WaitMode::named("udp").unwrap_err().to_string(),
    ///     "wait mode must be \"http\" or \"tcp\" (got \"udp\")"
    /// );
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn named(s: &str) -> Result<WaitMode> {
        WaitMode::parse(s).ok_or_else(|| {
            Error::InvalidArgument(format!("wait mode must be \"http\" or \"tcp\" (got {s:?})"))
        })
    }

    /// The mode for `"tcp"` or `"http"`.
    pub fn parse(s: &str) -> Option<WaitMode> {
        match s {
            "tcp" => Some(WaitMode::Tcp),
            "http" => Some(WaitMode::Http),
            _ => None,
        }
    }
}

/// Options of `Sandbox::wait_for_port`.
///
/// ```
/// use std::time::Duration;
/// let opts = portway::WaitOptions { path: "/health".into(), timeout: Duration::from_secs(5), ..Default::default() };
/// assert_eq!(opts.mode, portway::WaitMode::Http);
/// assert_eq!((opts.status_min, opts.status_max), (200, 399));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// TCP connect, or an HTTP request (default).
    pub mode: WaitMode,
    /// The path requested in HTTP mode (default `/`).
    pub path: String,
    /// The lowest accepted status (default 200).
    pub status_min: u16,
    /// The highest accepted status (default 399).
    pub status_max: u16,
    /// How long to keep trying (default 30 s).
    pub timeout: Duration,
    /// The pause between attempts (default 100 ms).
    pub interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            mode: WaitMode::Http,
            path: "/".into(),
            status_min: 200,
            status_max: 399,
            timeout: Duration::from_secs(30),
            interval: Duration::from_millis(100),
        }
    }
}

impl WaitOptions {
    /// Checks the options (`INVALID_ARGUMENT` for a path without `/`, an empty or reversed
    /// status range, or a zero timeout or interval).
    ///
    /// ```
    /// let bad = portway::WaitOptions { status_min: 500, status_max: 200, ..Default::default() };
    /// assert_eq!(bad.validate().unwrap_err().code().as_str(), "INVALID_ARGUMENT");
    /// ```
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if !self.path.starts_with('/') || self.path.parse::<http::uri::PathAndQuery>().is_err() {
            return bad(format!(
                "wait path must be an absolute path such as '/health' (got {:?})",
                self.path
            ));
        }
        if !(100..=599).contains(&self.status_min)
            || !(100..=599).contains(&self.status_max)
            || self.status_min > self.status_max
        {
            return bad(format!(
                "wait status range must be within 100..=599, lowest first (got {}..={})",
                self.status_min, self.status_max
            ));
        }
        if self.timeout.is_zero() || self.interval.is_zero() {
            return bad("wait timeout and interval must be more than zero".into());
        }
        Ok(())
    }
}

/// Waits until `host:port` is ready; `PORT_WAIT_TIMEOUT` says what the last attempt saw.
pub(crate) async fn wait_for_port(
    sandbox_id: &str,
    host: &str,
    port: u16,
    opts: &WaitOptions,
) -> Result<()> {
    opts.validate()?;
    let give_up = Instant::now() + opts.timeout;
    let mut last = String::from("no attempt finished");
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match timeout(left, probe(host, port, opts)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(why)) => last = why,
            Err(_) => {
                last = "the last attempt was still waiting for an answer".into();
                break;
            }
        }
        let left = give_up.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        sleep(opts.interval.min(left)).await;
    }
    Err(Error::PortWaitTimeout(format!(
        "Port {port} of sandbox '{sandbox_id}' was not ready within {:?} ({} mode): {last}.",
        opts.timeout,
        opts.mode.as_str()
    )))
}

async fn probe(host: &str, port: u16, opts: &WaitOptions) -> std::result::Result<(), String> {
    let stream = connect(host, port, Duration::ZERO, opts.timeout, None)
        .await
        .map_err(|e| e.to_string())?;
    if opts.mode == WaitMode::Tcp {
        return Ok(());
    }
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed ({e})"))?;
    let conn = tokio::spawn(conn);
    let mut req = Request::new(Empty::<Bytes>::new());
    *req.uri_mut() = opts.path.parse().map_err(|_| "invalid path".to_string())?;
    let host_header =
        HeaderValue::try_from(format!("localhost:{port}")).map_err(|e| e.to_string())?;
    req.headers_mut().insert(HOST, host_header);
    req.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("the request failed ({e})"));
    conn.abort();
    let status: StatusCode = res?.status();
    if (opts.status_min..=opts.status_max).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(format!("GET {} answered {status}", opts.path))
    }
}
