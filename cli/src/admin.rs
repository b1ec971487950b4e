//! The admin HTTP API: JSON in and out, on its own (loopback by default) listener.
//!
//! ```text
//! PUT    /v1/sandboxes/{id}                 {"upstream_host"?, "status"?}  -> the sandbox
//! GET    /v1/sandboxes                                                     -> {"sandboxes": [...]}
//! GET    /v1/sandboxes/{id}                                                -> the sandbox
//! DELETE /v1/sandboxes/{id}                                                -> 204
//! POST   /v1/sandboxes/{id}/ports           {"port", "hostname", "name"?, "token"?} -> {"port", "url", "name"}
//! GET    /v1/sandboxes/{id}/ports?hostname=H                               -> {"ports": [...]}
//! DELETE /v1/sandboxes/{id}/ports/{port}                                   -> 204
//! GET    /healthz, GET /metrics
//! ```

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, ORIGIN, TRANSFER_ENCODING,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use portway::{ExposeOptions, Gateway, Portway, SandboxInfo, SandboxStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

/// The largest request body the admin API reads.
const MAX_BODY: usize = 64 * 1024;

/// What the admin API serves.
pub struct Admin {
    pub portway: Portway,
    pub gateway: Gateway,
    pub token: Option<String>,
}

type Res = Response<Full<Bytes>>;

fn json_response(status: StatusCode, body: Value) -> Res {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// An admin API error: a status and the `{"error", "code"}` body.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

impl ApiError {
    fn response(self) -> Res {
        json_response(
            self.status,
            json!({"error": self.message, "code": self.code}),
        )
    }
}

fn empty(status: StatusCode) -> Res {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}

/// The status for a library error: 404 for an unknown sandbox, 500 for the store, 400 for
/// everything the caller can fix.
fn from_error(e: portway::Error) -> ApiError {
    let status = match e.code() {
        portway::ErrorCode::SandboxNotFound => StatusCode::NOT_FOUND,
        portway::ErrorCode::StoreError | portway::ErrorCode::GatewayError => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    error(status, e.code().as_str(), e.to_string())
}

fn sandbox_json(s: &SandboxInfo) -> Value {
    json!({"id": s.id, "upstream_host": s.upstream_host, "status": s.status.as_str(), "exposed_ports": s.exposed_ports})
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PutSandbox {
    upstream_host: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PostPort {
    #[serde(default)]
    port: Value,
    hostname: Option<String>,
    name: Option<String>,
    token: Option<String>,
}

impl Admin {
    /// Answers one admin request.
    pub async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Result<Res, Infallible>
    where
        B: http_body::Body<Data = Bytes, Error: Into<portway::gateway::BoxError>>,
    {
        let path = req.uri().path().to_owned();
        if req.method() == Method::GET && path == "/healthz" {
            return Ok(json_response(StatusCode::OK, json!({"status": "ok"})));
        }
        if !self.authorized(&req) {
            let mut res = error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "A valid bearer token is required",
            )
            .response();
            res.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return Ok(res);
        }
        if let Err(e) = browser_guard(&req) {
            return Ok(e.response());
        }
        if req.method() == Method::GET && path == "/metrics" {
            let mut res = Response::new(Full::new(Bytes::from(self.gateway.metrics().render())));
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return Ok(res);
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = req.method().clone();
        let res = match (&method, segments.as_slice()) {
            (&Method::GET, ["v1", "sandboxes"]) => {
                let all: Vec<Value> = self.portway.sandboxes().iter().map(sandbox_json).collect();
                Ok(json_response(StatusCode::OK, json!({"sandboxes": all})))
            }
            (&Method::PUT, ["v1", "sandboxes", id]) => self.put_sandbox(id, req).await,
            (&Method::GET, ["v1", "sandboxes", id]) => self
                .known(id)
                .map(|info| json_response(StatusCode::OK, sandbox_json(&info))),
            (&Method::DELETE, ["v1", "sandboxes", id]) => {
                match self.portway.destroy_sandbox(id).await {
                    Ok(true) => Ok(empty(StatusCode::NO_CONTENT)),
                    Ok(false) => Err(not_found(id)),
                    Err(e) => Err(from_error(e)),
                }
            }
            (&Method::POST, ["v1", "sandboxes", id, "ports"]) => self.expose(id, req).await,
            (&Method::GET, ["v1", "sandboxes", id, "ports"]) => {
                let hostname = req.uri().query().and_then(|q| query_param(q, "hostname"));
                self.list(id, hostname.as_deref()).await
            }
            (&Method::DELETE, ["v1", "sandboxes", id, "ports", port]) => {
                self.unexpose(id, port).await
            }
            (_, ["v1", "sandboxes", ..]) | (_, ["healthz" | "metrics"]) => Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{method} is not allowed on {path}"),
            )),
            _ => Err(error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("No admin route {path}"),
            )),
        };
        Ok(res.unwrap_or_else(ApiError::response))
    }

    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        given.as_bytes().ct_eq(token.as_bytes()).into()
    }

    /// The sandbox, or the 400 / 404 to answer.
    fn known(&self, id: &str) -> Result<SandboxInfo, ApiError> {
        let id = self
            .portway
            .rules()
            .validate_sandbox_id(id)
            .map_err(from_error)?;
        self.portway.get_sandbox(&id).ok_or_else(|| not_found(&id))
    }

    async fn put_sandbox<
        B: http_body::Body<Data = Bytes, Error: Into<portway::gateway::BoxError>>,
    >(
        &self,
        id: &str,
        req: Request<B>,
    ) -> Result<Res, ApiError> {
        let body: PutSandbox = read_json(req, true).await?;
        let status = match body.status.as_deref() {
            None => None,
            Some(s) => Some(SandboxStatus::parse(s).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    format!("status must be \"running\" or \"stopped\" (got {s:?})"),
                )
            })?),
        };
        let info = self
            .portway
            .put_sandbox(id, body.upstream_host.as_deref(), status)
            .await
            .map_err(from_error)?;
        Ok(json_response(StatusCode::OK, sandbox_json(&info)))
    }

    /// A handle on a sandbox that exists, with its stored upstream host.
    fn handle_of(&self, id: &str) -> Result<portway::Sandbox, ApiError> {
        let info = self.known(id)?;
        self.portway
            .sandbox(&info.id, &info.upstream_host)
            .map_err(from_error)
    }

    async fn expose<B: http_body::Body<Data = Bytes, Error: Into<portway::gateway::BoxError>>>(
        &self,
        id: &str,
        req: Request<B>,
    ) -> Result<Res, ApiError> {
        let sandbox = self.handle_of(id)?;
        let body: PostPort = read_json(req, false).await?;
        let rules = self.portway.rules();
        let port = match &body.port {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => rules.validate_port(i),
                (None, Some(f)) => rules.validate_port_f64(f),
                _ => Err(rules.invalid_port(&n.to_string())),
            },
            other => Err(rules.invalid_port(&other.to_string())),
        }
        .map_err(from_error)?;
        let hostname = body.hostname.ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_HOSTNAME",
                "A hostname is required (for example 'example.com' or 'localhost:8787').",
            )
        })?;
        let opts = ExposeOptions {
            hostname,
            name: body.name,
            token: body.token,
        };
        let e = sandbox.expose_port(port, opts).await.map_err(from_error)?;
        Ok(json_response(
            StatusCode::OK,
            json!({"port": e.port, "url": e.url, "name": e.name}),
        ))
    }

    async fn list(&self, id: &str, hostname: Option<&str>) -> Result<Res, ApiError> {
        let sandbox = self.handle_of(id)?;
        let hostname = hostname.ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_HOSTNAME",
                "The hostname query parameter is required (?hostname=example.com).",
            )
        })?;
        let ports = sandbox
            .get_exposed_ports(hostname)
            .await
            .map_err(from_error)?;
        let ports: Vec<Value> = ports
            .iter()
            .map(|p| json!({"port": p.port, "url": p.url, "name": p.name, "status": p.status.as_str()}))
            .collect();
        Ok(json_response(StatusCode::OK, json!({"ports": ports})))
    }

    async fn unexpose(&self, id: &str, port: &str) -> Result<Res, ApiError> {
        let sandbox = self.handle_of(id)?;
        let rules = self.portway.rules();
        let port = match port.parse::<i64>() {
            Ok(p) => rules.validate_port(p),
            Err(_) => Err(rules.invalid_port(port)),
        }
        .map_err(from_error)?;
        sandbox.unexpose_port(port).await.map_err(from_error)?;
        Ok(empty(StatusCode::NO_CONTENT))
    }
}

/// Keeps web pages away from the admin API. A page the operator visits can make their
/// browser send requests to `127.0.0.1:9090`: a form POST with a `text/plain` body needs no
/// CORS preflight, and DNS rebinding lets a page read answers under its own host name.
/// Browsers always send `Origin` on such requests and cannot send `Content-Type:
/// application/json` cross-origin without a preflight (which this API never grants), and a
/// rebound host name is not an IP address or `localhost`. Programs (curl, SDKs) pass all
/// three checks.
fn browser_guard<B>(req: &Request<B>) -> Result<(), ApiError> {
    let forbidden = |why: &str| Err(error(StatusCode::FORBIDDEN, "FORBIDDEN", why.to_owned()));
    if req.headers().contains_key(ORIGIN) {
        return forbidden(
            "The admin API does not accept requests from web pages (an Origin header was sent)",
        );
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let direct = name.is_empty()
        || name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok();
    if !direct {
        return forbidden(
            "The admin API answers requests addressed to an IP address or localhost only (DNS rebinding protection)",
        );
    }
    let has_body = req
        .headers()
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(TRANSFER_ENCODING);
    let json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if has_body && !json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_ARGUMENT",
            "Send the body as JSON with Content-Type: application/json",
        ));
    }
    Ok(())
}

fn not_found(id: &str) -> ApiError {
    let e = portway::Error::SandboxNotFound(id.to_owned());
    error(StatusCode::NOT_FOUND, e.code().as_str(), e.to_string())
}

/// Reads a JSON body of at most 64 KiB; an empty body is `{}` when `empty_ok`.
async fn read_json<
    T: for<'de> Deserialize<'de> + Default,
    B: http_body::Body<Data = Bytes, Error: Into<portway::gateway::BoxError>>,
>(
    req: Request<B>,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "INVALID_ARGUMENT",
                format!("The body must be at most {MAX_BODY} bytes of JSON"),
            ));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if empty_ok {
            return Ok(T::default());
        }
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "A JSON body is required",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            format!("Invalid JSON body: {e}"),
        )
    })
}

/// The value of `key` in a query string, percent-decoded.
fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}
