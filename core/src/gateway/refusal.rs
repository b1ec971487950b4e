//! The refusal phase: every failure of a request's path turned into its status and code, in
//! one place. Each phase that can fail asks a function here for its refusal:
//!
//! - before routing, a request whose framing a proxy must not guess at:
//!   [`GatewayRefusal::ambiguous_framing`], and one whose host is malformed (none, two, a
//!   bad port): [`GatewayRefusal::malformed_host`] (both 400 `BAD_REQUEST`);
//! - route: [`GatewayRefusal::of_resolution`] (404 `NOT_FOUND` for a host that is not a
//!   preview host, also [`GatewayRefusal::not_preview`]; 404 `INVALID_TOKEN`; 410
//!   `STALE_PREVIEW_URL`);
//! - throttle, after route: [`GatewayRefusal::rate_limited`] (429 `RATE_LIMITED`, with
//!   `Retry-After`) for a client over `client_request_rate`;
//! - admit: [`GatewayRefusal::rate_limited`] for a sandbox over `sandbox_request_rate`, and
//!   [`GatewayRefusal::sandbox_at_limit`] (429 `SANDBOX_CONNECTION_LIMIT`);
//! - rewrite: [`GatewayRefusal::unsendable_target`] (400 `BAD_REQUEST`);
//! - connect and send, HTTP or WebSocket alike: [`GatewayRefusal::connect_failed`] (502
//!   `PORT_NOT_LISTENING`, 504 `UPSTREAM_TIMEOUT`), [`GatewayRefusal::send_failed`] (502
//!   `UPSTREAM_ERROR`, or 400 `BAD_REQUEST` when the client's body failed) and
//!   [`GatewayRefusal::response_timed_out`] (504 `UPSTREAM_TIMEOUT`);
//! - the listener: [`GatewayRefusal::over_connection_limit`] (503 `TOO_MANY_CONNECTIONS`)
//!   and [`GatewayRefusal::client_at_connection_limit`] (429 `CLIENT_CONNECTION_LIMIT`),
//!   [`GatewayRefusal::response_timed_out`] (504 `UPSTREAM_TIMEOUT`); an address the upstream
//!   policy refuses or one of Portway's own listeners: 502 `UPSTREAM_FORBIDDEN`;
//! - a request that already passed through this gateway: [`GatewayRefusal::loop_detected`]
//!   (508 `LOOP_DETECTED`);
//! - the listener: [`GatewayRefusal::over_connection_limit`] (503 `TOO_MANY_CONNECTIONS`),
//!   written raw by [`GatewayRefusal::raw`].
//!
//! The answers themselves are made here too ([`GatewayRefusal::response`]): JSON for API
//! clients and a small HTML page for browsers. What hyper answers itself before the gateway
//! sees a request (a malformed or oversized head, a head that does not come in time) is not
//! made here.

use bytes::Bytes;
use http::header::{
    ACCEPT, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue,
    RETRY_AFTER, TRANSFER_ENCODING,
};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};

use super::Body;
use super::framing::BothLengths;
use super::pool::SendError;
use super::route::{host_port_is_valid, request_host};
use crate::connect::ConnectError;
use crate::registry::{Resolution, Upstream};

/// Why the gateway answered a request itself instead of forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayRefusal {
    /// 404: the host is not a preview host of this gateway.
    NotFound,
    /// 404: unknown sandbox, unexposed port, wrong token or destroyed sandbox.
    InvalidToken,
    /// 410: the sandbox is stopped.
    StalePreviewUrl,
    /// 502: nothing listens on the port after the retry window.
    PortNotListening,
    /// 504: the connect or the response head took too long.
    UpstreamTimeout,
    /// 502: the sandbox's answer was not valid HTTP, or the connection failed.
    UpstreamError,
    /// 503: the gateway holds its maximum of connections.
    TooManyConnections,
    /// 429: the sandbox has its maximum of requests in flight.
    SandboxConnectionLimit,
    /// 400: a request the gateway refuses to forward (smuggling attempts, CONNECT).
    BadRequest,
    /// 429: the client's address has its maximum of connections open.
    ClientConnectionLimit,
    /// 429: the client or the sandbox is over its request rate.
    RateLimited {
        /// Whole seconds until the next request would be let through (at least 1), sent as
        /// `Retry-After`.
        retry_after: u64,
    },
    /// 502: the upstream address is refused by the upstream policy, or is one of
    /// Portway's own listeners.
    UpstreamForbidden,
    /// 508: the request has already passed through this gateway (a loop between gateways).
    LoopDetected,
    /// 503: the wake hook failed or refused to start the stopped sandbox (its reason is
    /// added for API clients).
    SandboxWakeFailed,
    /// 504: the stopped sandbox did not start (the hook, then its port) within
    /// `wake_timeout`.
    SandboxWakeTimeout,
    /// 503, to a browser: the sandbox is starting; the page reloads itself.
    SandboxStarting,
    /// 503: the gateway is shutting down (a request held for a wake), with `Retry-After`.
    ShuttingDown,
}

impl GatewayRefusal {
    /// The refusal for a request whose framing a proxy must not guess at (request
    /// smuggling), whatever its host: 400 `BAD_REQUEST`, and the connection closed, for
    ///
    /// - a `CONNECT` (never tunnelled);
    /// - both `Content-Length` and `Transfer-Encoding` (RFC 9112 section 6.1): on the
    ///   gateway's own listener hyper removes the `Content-Length` before the request gets
    ///   here, and `framing.rs` marks the request instead ([`BothLengths`]); a request from a
    ///   host application's server may still carry both;
    /// - transfer codings other than `chunked` alone (`gzip, chunked`, `chunked, chunked`,
    ///   codings over several lines): hyper decodes the chunks and the request would go on
    ///   as a plain chunked body, the other codings lost.
    pub(super) fn ambiguous_framing<B>(req: &Request<B>) -> Option<GatewayRefusal> {
        let headers = req.headers();
        let te = headers.contains_key(TRANSFER_ENCODING);
        let ambiguous = req.method() == Method::CONNECT
            || req.extensions().get::<BothLengths>().is_some()
            || (te && headers.contains_key(CONTENT_LENGTH))
            || (te && !chunked_alone(headers));
        ambiguous.then_some(GatewayRefusal::BadRequest)
    }

    /// The refusal for a request whose host is not one (RFC 9112 section 3.2), whatever it
    /// names: 400 `BAD_REQUEST`, and the connection closed, for two `Host` lines (even the
    /// same), an HTTP/1.1 request with no `Host` and no absolute-form target, and a host
    /// whose port is not a number up to 65535 (`x.localhost:http`, `x.localhost:99999`).
    /// An empty `Host` is valid (and no preview host); so is an empty port.
    pub(super) fn malformed_host<B>(req: &Request<B>) -> Option<GatewayRefusal> {
        let mut hosts = req.headers().get_all(HOST).iter();
        let malformed = match (hosts.next(), hosts.next()) {
            (_, Some(_)) => true,
            (None, None) => req.version() == Version::HTTP_11 && req.uri().authority().is_none(),
            (Some(_), None) => false,
        } || request_host(req).is_some_and(|h| !host_port_is_valid(h));
        malformed.then_some(GatewayRefusal::BadRequest)
    }

    /// The refusal for a WebSocket handshake that declares a body (`Transfer-Encoding`, or a
    /// `Content-Length` other than 0): a handshake is a GET without one (RFC 6455 section
    /// 4.1), and forwarding the length without the body would leave the sandbox waiting.
    /// 400 `BAD_REQUEST`.
    pub(super) fn handshake_with_body(headers: &HeaderMap) -> Option<GatewayRefusal> {
        let has_body = headers.contains_key(TRANSFER_ENCODING)
            || headers
                .get_all(CONTENT_LENGTH)
                .iter()
                .any(|v| v.as_bytes() != b"0");
        has_body.then_some(GatewayRefusal::BadRequest)
    }

    /// The route phase's answer, from what the registry resolved the host to: the upstream,
    /// or the refusal: 404 `NOT_FOUND` for a host that is not a preview host (which
    /// `Gateway::proxy_to_sandbox` hands back instead), 404 `INVALID_TOKEN` for an unknown
    /// sandbox, an unexposed port or a wrong token, 410 `STALE_PREVIEW_URL` for a stopped
    /// sandbox.
    #[inline]
    pub(super) fn of_resolution(resolution: Resolution) -> Result<Upstream, GatewayRefusal> {
        match resolution {
            Resolution::Upstream(upstream) => Ok(upstream),
            Resolution::NotPreview => Err(GatewayRefusal::not_preview()),
            Resolution::Denied => Err(GatewayRefusal::InvalidToken),
            Resolution::Stale { .. } => Err(GatewayRefusal::StalePreviewUrl),
        }
    }

    /// The refusal for a host that is not a preview host of this gateway, when the gateway
    /// answers it itself (`Gateway::handle`, `GatewayService`): 404 `NOT_FOUND`.
    #[inline]
    pub(super) const fn not_preview() -> GatewayRefusal {
        GatewayRefusal::NotFound
    }

    /// The admit phase's refusal, when the sandbox has its maximum of requests in flight:
    /// 429 `SANDBOX_CONNECTION_LIMIT`.
    #[inline]
    pub(super) const fn sandbox_at_limit() -> GatewayRefusal {
        GatewayRefusal::SandboxConnectionLimit
    }

    /// The rewrite phase's refusal, for a request target with no path to send upstream:
    /// 400 `BAD_REQUEST`.
    #[inline]
    pub(super) const fn unsendable_target() -> GatewayRefusal {
        GatewayRefusal::BadRequest
    }

    /// The refusal for a connect to the sandbox that failed, HTTP or WebSocket alike: a
    /// timeout is 504 `UPSTREAM_TIMEOUT`, anything else (nothing listening after the retry
    /// window) 502 `PORT_NOT_LISTENING`.
    pub(super) fn connect_failed(e: &ConnectError) -> GatewayRefusal {
        match e {
            ConnectError::NotListening(_) | ConnectError::Other(_) => {
                GatewayRefusal::PortNotListening
            }
            ConnectError::Timeout => GatewayRefusal::UpstreamTimeout,
            ConnectError::Forbidden(why) => {
                tracing::warn!(%why, "upstream refused by the upstream policy");
                GatewayRefusal::UpstreamForbidden
            }
        }
    }

    /// The refusal for a request that could not be sent or got no valid answer, HTTP or
    /// WebSocket alike: 400 `BAD_REQUEST` when the client's own body failed first (a bad
    /// chunk size is the client's fault, not the sandbox's), a failed connect as
    /// [`GatewayRefusal::connect_failed`] says, 502 `UPSTREAM_ERROR` when the connection
    /// failed or the answer was not HTTP.
    pub(super) fn send_failed(e: &SendError, client_body_failed: bool) -> GatewayRefusal {
        if client_body_failed {
            return GatewayRefusal::BadRequest;
        }
        match e {
            SendError::Connect(e) => GatewayRefusal::connect_failed(e),
            SendError::Upstream(e) => {
                tracing::debug!(error = %e, "the sandbox's answer failed");
                GatewayRefusal::UpstreamError
            }
        }
    }

    /// The refusal when the sandbox's response head did not come within the response
    /// timeout: 504 `UPSTREAM_TIMEOUT`.
    #[inline]
    pub(super) const fn response_timed_out() -> GatewayRefusal {
        GatewayRefusal::UpstreamTimeout
    }

    /// The refusal for a connection over the gateway's maximum of open connections: 503
    /// `TOO_MANY_CONNECTIONS`.
    #[inline]
    pub(super) const fn over_connection_limit() -> GatewayRefusal {
        GatewayRefusal::TooManyConnections
    }

    /// The refusal for a connection from a client address that has
    /// `max_connections_per_client` connections open: 429 `CLIENT_CONNECTION_LIMIT`.
    #[inline]
    pub(super) const fn client_at_connection_limit() -> GatewayRefusal {
        GatewayRefusal::ClientConnectionLimit
    }

    /// The refusal for a request over a request rate (the client's, before the route's own
    /// refusal, or the sandbox's, in admit): 429 `RATE_LIMITED`, with `Retry-After` set to
    /// `retry_after` seconds (at least 1).
    #[inline]
    pub(super) fn rate_limited(retry_after: u64) -> GatewayRefusal {
        GatewayRefusal::RateLimited {
            retry_after: retry_after.max(1),
        }
    }

    /// The refusal for a request that already carries this gateway's hop marker in its
    /// `Via` header, or more hops than any sane chain of proxies: 508 `LOOP_DETECTED`.
    #[inline]
    pub(super) const fn loop_detected() -> GatewayRefusal {
        GatewayRefusal::LoopDetected
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            GatewayRefusal::NotFound | GatewayRefusal::InvalidToken => StatusCode::NOT_FOUND,
            GatewayRefusal::StalePreviewUrl => StatusCode::GONE,
            GatewayRefusal::PortNotListening
            | GatewayRefusal::UpstreamError
            | GatewayRefusal::UpstreamForbidden => StatusCode::BAD_GATEWAY,
            GatewayRefusal::LoopDetected => StatusCode::LOOP_DETECTED,
            GatewayRefusal::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayRefusal::TooManyConnections
            | GatewayRefusal::SandboxWakeFailed
            | GatewayRefusal::SandboxStarting
            | GatewayRefusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            GatewayRefusal::SandboxWakeTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayRefusal::SandboxConnectionLimit
            | GatewayRefusal::ClientConnectionLimit
            | GatewayRefusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayRefusal::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    /// The stable code in the JSON body.
    pub fn code(self) -> &'static str {
        match self {
            GatewayRefusal::NotFound => "NOT_FOUND",
            GatewayRefusal::InvalidToken => "INVALID_TOKEN",
            GatewayRefusal::StalePreviewUrl => "STALE_PREVIEW_URL",
            GatewayRefusal::PortNotListening => "PORT_NOT_LISTENING",
            GatewayRefusal::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            GatewayRefusal::UpstreamError => "UPSTREAM_ERROR",
            GatewayRefusal::TooManyConnections => "TOO_MANY_CONNECTIONS",
            GatewayRefusal::SandboxConnectionLimit => "SANDBOX_CONNECTION_LIMIT",
            GatewayRefusal::BadRequest => "BAD_REQUEST",
            GatewayRefusal::ClientConnectionLimit => "CLIENT_CONNECTION_LIMIT",
            GatewayRefusal::RateLimited { .. } => "RATE_LIMITED",
            GatewayRefusal::UpstreamForbidden => "UPSTREAM_FORBIDDEN",
            GatewayRefusal::LoopDetected => "LOOP_DETECTED",
            GatewayRefusal::SandboxWakeFailed => "SANDBOX_WAKE_FAILED",
            GatewayRefusal::SandboxWakeTimeout => "SANDBOX_WAKE_TIMEOUT",
            GatewayRefusal::SandboxStarting => "SANDBOX_STARTING",
            GatewayRefusal::ShuttingDown => "SHUTTING_DOWN",
        }
    }

    /// The human message in the JSON body.
    pub fn message(self) -> &'static str {
        match self {
            GatewayRefusal::NotFound => "Not found",
            GatewayRefusal::InvalidToken => "Access denied: Invalid token or port not exposed",
            GatewayRefusal::StalePreviewUrl => {
                "Preview URL is stale because the sandbox runtime is not active"
            }
            GatewayRefusal::PortNotListening => "Nothing is listening on the exposed port",
            GatewayRefusal::UpstreamTimeout => "The sandbox service did not answer in time",
            GatewayRefusal::UpstreamError => "The sandbox service sent an invalid response",
            GatewayRefusal::TooManyConnections => "Too many connections; try again shortly",
            GatewayRefusal::SandboxConnectionLimit => {
                "Too many requests in flight to this sandbox; try again shortly"
            }
            GatewayRefusal::BadRequest => "Bad request",
            GatewayRefusal::ClientConnectionLimit => {
                "Too many connections from this client; try again shortly"
            }
            GatewayRefusal::RateLimited { .. } => "Too many requests; try again later",
            GatewayRefusal::UpstreamForbidden => {
                "The sandbox's upstream address is not allowed by the gateway's policy"
            }
            GatewayRefusal::LoopDetected => "The request looped back to this gateway",
            GatewayRefusal::SandboxWakeFailed => "The sandbox could not be started",
            GatewayRefusal::SandboxWakeTimeout => "The sandbox did not start in time",
            GatewayRefusal::SandboxStarting => {
                "The sandbox is starting; this page reloads itself when it is ready"
            }
            GatewayRefusal::ShuttingDown => "The gateway is shutting down; try again shortly",
        }
    }

    /// The response: JSON, or HTML when the client prefers it (`Accept: text/html`).
    pub fn response(self, request_headers: &HeaderMap) -> Response<Body> {
        self.respond(request_headers.get(ACCEPT))
    }

    /// [`GatewayRefusal::response`] from the request's `Accept` header alone, all an answer
    /// looks at (kept by the phases that no longer hold the request).
    pub(super) fn respond(self, accept: Option<&HeaderValue>) -> Response<Body> {
        self.respond_with(accept, None)
    }

    /// [`GatewayRefusal::respond`] with the reason a hook gave, added to the JSON body as
    /// `reason` (a browser's page does not show it).
    pub(super) fn respond_with_reason(
        self,
        accept: Option<&HeaderValue>,
        reason: &str,
    ) -> Response<Body> {
        self.respond_with(accept, Some(reason))
    }

    /// Whether a client prefers HTML (`Accept` names `text/html`): a browser.
    pub(super) fn wants_html(accept: Option<&HeaderValue>) -> bool {
        accept
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    }

    fn respond_with(self, accept: Option<&HeaderValue>, reason: Option<&str>) -> Response<Body> {
        let (content_type, body) = if Self::wants_html(accept) {
            ("text/html; charset=utf-8", self.html())
        } else {
            ("application/json", self.json(reason))
        };
        let mut res = Response::new(
            Full::new(Bytes::from(body))
                .map_err(|e| match e {})
                .boxed_unsync(),
        );
        *res.status_mut() = self.status();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self == GatewayRefusal::BadRequest {
            h.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        match self {
            GatewayRefusal::RateLimited { retry_after } => {
                h.insert(RETRY_AFTER, HeaderValue::from(retry_after));
            }
            GatewayRefusal::SandboxStarting => {
                h.insert(RETRY_AFTER, HeaderValue::from(STARTING_RELOAD_SECS));
            }
            GatewayRefusal::ShuttingDown => {
                h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res
    }

    /// The answer as raw HTTP/1.1, its head and its JSON body, for a connection the gateway
    /// answers without reading it and then closes (`Connection: close`, `Retry-After: 1`).
    pub(super) fn raw(self) -> (String, String) {
        let body = format!(
            r#"{{"error":"{}","code":"{}"}}"#,
            self.message(),
            self.code()
        );
        let status = self.status();
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\nretry-after: 1\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        (head, body)
    }

    fn json(self, reason: Option<&str>) -> String {
        let mut body = serde_json::json!({"error": self.message(), "code": self.code()});
        if let Some(reason) = reason {
            body["reason"] = reason.into();
        }
        body.to_string()
    }

    fn html(self) -> String {
        let status = self.status();
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">{refresh}<title>{code} {reason}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;\
             padding:0 1rem;color:#222}}code{{color:#666}}</style></head>\n<body><h1>{code} \
             {reason}</h1><p>{message}.</p><p><code>{err}</code></p></body></html>\n",
            code = status.as_u16(),
            reason = status.canonical_reason().unwrap_or(""),
            message = self.message(),
            err = self.code(),
            refresh = if self == GatewayRefusal::SandboxStarting {
                format!("<meta http-equiv=\"refresh\" content=\"{STARTING_RELOAD_SECS}\">")
            } else {
                String::new()
            },
        )
    }
}

/// How often the "sandbox is starting" page reloads itself, in seconds (also its
/// `Retry-After`).
const STARTING_RELOAD_SECS: u64 = 2;

/// Whether the `Transfer-Encoding` lines of a request, together, name one coding: `chunked`
/// (in any case; empty list elements are ignored, as RFC 9110 section 5.6.1 asks).
fn chunked_alone(headers: &HeaderMap) -> bool {
    let mut codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty());
    codings
        .next()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
        && codings.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_answer_to_a_connection_over_the_limit() {
        let (head, body) = GatewayRefusal::over_connection_limit().raw();
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n",
                body.len()
            )
        );
        assert_eq!(
            body,
            r#"{"error":"Too many connections; try again shortly","code":"TOO_MANY_CONNECTIONS"}"#
        );
    }

    #[test]
    fn the_raw_answer_to_a_connection_over_the_client_limit() {
        let (head, body) = GatewayRefusal::client_at_connection_limit().raw();
        assert!(
            head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["code"], "CLIENT_CONNECTION_LIMIT");
    }

    #[test]
    fn a_rate_limited_answer_says_when_to_retry() {
        let res = GatewayRefusal::rate_limited(7).respond(None);
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[RETRY_AFTER], "7");
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(GatewayRefusal::rate_limited(0).code(), "RATE_LIMITED");
        assert_eq!(
            GatewayRefusal::rate_limited(0),
            GatewayRefusal::RateLimited { retry_after: 1 }
        );
    }
}
