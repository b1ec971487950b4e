//! The refusal phase: every failure of a request's path turned into its status and code
//! ([`GatewayRefusal`], and [`GatewayRefusal::connect_failed`] for a failed connect), and
//! the gateway's own answers, JSON for API clients and a small HTML page for browsers.

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::Body;
use crate::connect::ConnectError;

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
}

impl GatewayRefusal {
    /// The refusal for a connect to the sandbox that failed, HTTP or WebSocket alike: a
    /// timeout is 504 `UPSTREAM_TIMEOUT`, anything else (nothing listening after the retry
    /// window) 502 `PORT_NOT_LISTENING`.
    pub(super) fn connect_failed(e: &ConnectError) -> GatewayRefusal {
        match e {
            ConnectError::NotListening(_) | ConnectError::Other(_) => {
                GatewayRefusal::PortNotListening
            }
            ConnectError::Timeout => GatewayRefusal::UpstreamTimeout,
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            GatewayRefusal::NotFound | GatewayRefusal::InvalidToken => StatusCode::NOT_FOUND,
            GatewayRefusal::StalePreviewUrl => StatusCode::GONE,
            GatewayRefusal::PortNotListening | GatewayRefusal::UpstreamError => {
                StatusCode::BAD_GATEWAY
            }
            GatewayRefusal::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayRefusal::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            GatewayRefusal::SandboxConnectionLimit => StatusCode::TOO_MANY_REQUESTS,
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
        }
    }

    /// The response: JSON, or HTML when the client prefers it (`Accept: text/html`).
    pub fn response(self, request_headers: &HeaderMap) -> Response<Body> {
        let wants_html = request_headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        let (content_type, body) = if wants_html {
            ("text/html; charset=utf-8", self.html())
        } else {
            ("application/json", self.json())
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
        res
    }

    fn json(self) -> String {
        serde_json::json!({"error": self.message(), "code": self.code()}).to_string()
    }

    fn html(self) -> String {
        let status = self.status();
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{code} {reason}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;\
             padding:0 1rem;color:#222}}code{{color:#666}}</style></head>\n<body><h1>{code} \
             {reason}</h1><p>{message}.</p><p><code>{err}</code></p></body></html>\n",
            code = status.as_u16(),
            reason = status.canonical_reason().unwrap_or(""),
            message = self.message(),
            err = self.code(),
        )
    }
}
