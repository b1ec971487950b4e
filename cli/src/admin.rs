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
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
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

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Res {
    json_response(status, json!({"error": message.into(), "code": code}))
}

fn empty(status: StatusCode) -> Res {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}

/// The status for a library error: 404 for an unknown sandbox, 500 for the store, 400 for
/// everything the caller can fix.
fn from_error(e: &portway::Error) -> Res {
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
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Res, Infallible> {
        let path = req.uri().path().to_owned();
        if req.method() == Method::GET && path == "/healthz" {
            return Ok(json_response(StatusCode::OK, json!({"status": "ok"})));
        }
        if !self.authorized(&req) {
            let mut res = error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "A valid bearer token is required",
            );
            res.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return Ok(res);
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
        let res = match (req.method().clone(), segments.as_slice()) {
            (Method::GET, ["v1", "sandboxes"]) => {
                let all: Vec<Value> = self.portway.sandboxes().iter().map(sandbox_json).collect();
                json_response(StatusCode::OK, json!({"sandboxes": all}))
            }
            (Method::PUT, ["v1", "sandboxes", id]) => {
                let id = id.to_string();
                self.put_sandbox(&id, req).await
            }
            (Method::GET, ["v1", "sandboxes", id]) => match self.known(id) {
                Ok(info) => json_response(StatusCode::OK, sandbox_json(&info)),
                Err(res) => res,
            },
            (Method::DELETE, ["v1", "sandboxes", id]) => {
                match self.portway.destroy_sandbox(id).await {
                    Ok(true) => empty(StatusCode::NO_CONTENT),
                    Ok(false) => not_found(id),
                    Err(e) => from_error(&e),
                }
            }
            (Method::POST, ["v1", "sandboxes", id, "ports"]) => {
                let id = id.to_string();
                self.expose(&id, req).await
            }
            (Method::GET, ["v1", "sandboxes", id, "ports"]) => {
                let hostname = req.uri().query().and_then(|q| query_param(q, "hostname"));
                self.list(id, hostname.as_deref()).await
            }
            (Method::DELETE, ["v1", "sandboxes", id, "ports", port]) => {
                self.unexpose(id, port).await
            }
            (_, ["v1", "sandboxes", ..]) | (_, ["healthz" | "metrics"]) => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{} is not allowed on {path}", req.method()),
            ),
            _ => error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("No admin route {path}"),
            ),
        };
        Ok(res)
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
    fn known(&self, id: &str) -> Result<SandboxInfo, Res> {
        let id = self
            .portway
            .rules()
            .validate_sandbox_id(id)
            .map_err(|e| from_error(&e))?;
        self.portway.get_sandbox(&id).ok_or_else(|| not_found(&id))
    }

    async fn put_sandbox(&self, id: &str, req: Request<Incoming>) -> Res {
        let body: PutSandbox = match read_json(req, true).await {
            Ok(b) => b,
            Err(res) => return res,
        };
        let status = match body.status.as_deref().map(|s| (s, SandboxStatus::parse(s))) {
            None => None,
            Some((_, Some(s))) => Some(s),
            Some((s, None)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    format!("status must be \"running\" or \"stopped\" (got {s:?})"),
                );
            }
        };
        match self
            .portway
            .put_sandbox(id, body.upstream_host.as_deref(), status)
            .await
        {
            Ok(info) => json_response(StatusCode::OK, sandbox_json(&info)),
            Err(e) => from_error(&e),
        }
    }

    async fn expose(&self, id: &str, req: Request<Incoming>) -> Res {
        let info = match self.known(id) {
            Ok(info) => info,
            Err(res) => return res,
        };
        let body: PostPort = match read_json(req, false).await {
            Ok(b) => b,
            Err(res) => return res,
        };
        let rules = self.portway.rules();
        let port = match &body.port {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => rules.validate_port(i),
                (None, Some(f)) => rules.validate_port_f64(f),
                _ => Err(rules.invalid_port(&n.to_string())),
            },
            other => Err(rules.invalid_port(&other.to_string())),
        };
        let port = match port {
            Ok(p) => p,
            Err(e) => return from_error(&e),
        };
        let Some(hostname) = body.hostname else {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_HOSTNAME",
                "A hostname is required (for example 'example.com' or 'localhost:8787').",
            );
        };
        let sandbox = match self.portway.sandbox(&info.id, &info.upstream_host) {
            Ok(s) => s,
            Err(e) => return from_error(&e),
        };
        let opts = ExposeOptions {
            hostname,
            name: body.name,
            token: body.token,
        };
        match sandbox.expose_port(port, opts).await {
            Ok(e) => json_response(
                StatusCode::OK,
                json!({"port": e.port, "url": e.url, "name": e.name}),
            ),
            Err(e) => from_error(&e),
        }
    }

    async fn list(&self, id: &str, hostname: Option<&str>) -> Res {
        let info = match self.known(id) {
            Ok(info) => info,
            Err(res) => return res,
        };
        let Some(hostname) = hostname else {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_HOSTNAME",
                "The hostname query parameter is required (?hostname=example.com).",
            );
        };
        let sandbox = match self.portway.sandbox(&info.id, &info.upstream_host) {
            Ok(s) => s,
            Err(e) => return from_error(&e),
        };
        match sandbox.get_exposed_ports(hostname).await {
            Ok(ports) => {
                let ports: Vec<Value> = ports
                    .iter()
                    .map(|p| json!({"port": p.port, "url": p.url, "name": p.name, "status": p.status.as_str()}))
                    .collect();
                json_response(StatusCode::OK, json!({"ports": ports}))
            }
            Err(e) => from_error(&e),
        }
    }

    async fn unexpose(&self, id: &str, port: &str) -> Res {
        let info = match self.known(id) {
            Ok(info) => info,
            Err(res) => return res,
        };
        let rules = self.portway.rules();
        let port = match port.parse::<i64>() {
            Ok(p) => rules.validate_port(p),
            Err(_) => Err(rules.invalid_port(port)),
        };
        let result = match (port, self.portway.sandbox(&info.id, &info.upstream_host)) {
            (Ok(port), Ok(sandbox)) => sandbox.unexpose_port(port).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match result {
            Ok(()) => empty(StatusCode::NO_CONTENT),
            Err(e) => from_error(&e),
        }
    }
}

fn not_found(id: &str) -> Res {
    let e = portway::Error::SandboxNotFound(id.to_owned());
    error(StatusCode::NOT_FOUND, e.code().as_str(), e.to_string())
}

/// Reads a JSON body of at most 64 KiB; an empty body is `{}` when `empty_ok`.
async fn read_json<T: for<'de> Deserialize<'de> + Default>(
    req: Request<Incoming>,
    empty_ok: bool,
) -> Result<T, Res> {
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
