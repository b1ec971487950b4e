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
//!
//! An axum [`Router`]; [`serve`] runs it on a listener with a head timeout and a bound on
//! open connections.

use portway::options::TimeUnit;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, ORIGIN,
    TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use portway::{ExposeOptions, Gateway, Portway, SandboxInfo, SandboxStatus};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::limits::Throttle;

/// The largest request body the admin API reads.
const MAX_BODY: usize = 64 * 1024;

/// How long a connection may take to send a request head (and an idle keep-alive
/// connection may wait for its next one) before it is closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request's body may take to arrive before the answer is 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The most admin connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;

/// What the admin API serves.
pub struct Admin {
    pub portway: Portway,
    pub gateway: Gateway,
    pub token: Option<String>,
}

type AdminState = State<Arc<Admin>>;

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut res = Response::new(Body::from(body.to_string()));
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let timed_out = self.status == StatusCode::REQUEST_TIMEOUT;
        let mut res = json_response(
            self.status,
            json!({"error": self.message, "code": self.code}),
        );
        if timed_out {
            // The rest of the body may never come: do not wait for it.
            res.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        res
    }
}

type ApiResult = Result<Response, ApiError>;

fn empty(status: StatusCode) -> Response {
    let mut res = Response::new(Body::empty());
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

fn not_found(id: &str) -> ApiError {
    let e = portway::Error::SandboxNotFound(id.to_owned());
    error(StatusCode::NOT_FOUND, e.code().as_str(), e.to_string())
}

fn sandbox_json(s: &SandboxInfo, sandbox: Option<&portway::Sandbox>) -> Value {
    let mut json = json!({"id": s.id, "upstream_host": s.upstream_host, "status": s.status.as_str(), "exposed_ports": s.exposed_ports});
    if let Some(sandbox) = sandbox {
        let a = sandbox.activity().total;
        let fields = [
            (
                "last_activity_at",
                a.last_activity_at
                    .map(|t| humantime::format_rfc3339_millis(t).to_string())
                    .into(),
            ),
            ("open_connections", a.open_connections.into()),
            ("websocket_sessions", a.websocket_sessions.into()),
            ("requests", a.requests.into()),
            ("bytes_received", a.bytes_received.into()),
            ("bytes_sent", a.bytes_sent.into()),
            (
                "idle_after_seconds",
                sandbox.idle_after().map(|d| d.as_secs_f64()).into(),
            ),
        ];
        for (k, v) in fields {
            json[k] = v;
        }
    }
    json
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PutSandbox {
    upstream_host: Option<String>,
    status: Option<String>,
    /// Absent: unchanged; null: the global `idle_after`; a number of seconds (0: never
    /// idle).
    #[serde(default, deserialize_with = "present")]
    idle_after_seconds: Option<Option<f64>>,
}

/// A field that may be `null`: `Some(None)` then, `None` when it is absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
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
    /// The admin API as an axum router: every route, the 404 and 405 answers, and the
    /// token and browser checks in front of all of them but `GET /healthz`.
    pub fn router(self: Arc<Self>) -> Router {
        let sandbox = get(get_sandbox)
            .put(put_sandbox)
            .delete(delete_sandbox)
            .head(method_not_allowed);
        let ports = get(list_ports).post(expose).head(method_not_allowed);
        let port = delete(unexpose);
        Router::new()
            .route("/healthz", get(healthz).head(method_not_allowed))
            .route("/metrics", get(metrics).head(method_not_allowed))
            .route(
                "/v1/sandboxes",
                get(list_sandboxes).head(method_not_allowed),
            )
            .route("/v1/sandboxes/{id}", sandbox.clone())
            .route("/v1/sandboxes/{id}/ports", ports.clone())
            .route("/v1/sandboxes/{id}/ports/{port}", port.clone())
            // An empty id or port is still that route, and the core's checks answer it.
            .route("/v1/sandboxes/", sandbox)
            .route("/v1/sandboxes//ports", ports)
            .route("/v1/sandboxes//ports/{port}", port.clone())
            .route("/v1/sandboxes/{id}/ports/", port.clone())
            .route("/v1/sandboxes//ports/", port)
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(no_route)
            .layer(middleware::from_fn_with_state(self.clone(), guard))
            .with_state(self)
    }

    /// Answers one admin request (what [`serve`] does for each request of a connection).
    pub async fn handle<B>(self: Arc<Self>, req: http::Request<B>) -> Result<Response, Infallible>
    where
        B: http_body::Body<Data = Bytes, Error: Into<axum::BoxError>> + Send + 'static,
    {
        let mut router = self.router();
        std::future::poll_fn(|cx| Service::<http::Request<B>>::poll_ready(&mut router, cx)).await?;
        router.call(req).await
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        // The scheme is case-insensitive (RFC 9110, section 11.1).
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = (v.get(..7)?, v.get(7..)?);
                scheme.eq_ignore_ascii_case("bearer ").then_some(rest)
            })
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

    /// A stored sandbox as the API shows it, with its activity.
    fn sandbox_view(&self, info: &SandboxInfo) -> Value {
        let handle = self.portway.sandbox(&info.id, &info.upstream_host).ok();
        sandbox_json(info, handle.as_ref())
    }
}

/// Runs the admin API on `listener` until `stop`: at most [`MAX_CONNECTIONS`] connections
/// at once, each closed when it sends no request head for [`HEAD_TIMEOUT`]. Accept
/// failures (out of file descriptors) are logged at most once every 10 s.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, stop: CancellationToken) {
    let router = admin.router();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut failures = Throttle::new(Duration::from_secs(10));
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    if let Some(suppressed) = failures.hit() {
                        tracing::warn!(error = %e, suppressed, "admin accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    router.clone().call(req)
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// The token check, then the browser checks, for every request but `GET /healthz`.
async fn guard(State(admin): AdminState, req: Request, next: Next) -> Response {
    if req.method() == Method::GET && req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    if !admin.authorized(req.headers()) {
        let mut res = error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "A valid bearer token is required",
        )
        .into_response();
        res.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return res;
    }
    if let Err(e) = browser_guard(req.headers()) {
        return e.into_response();
    }
    next.run(req).await
}

/// Keeps web pages away from the admin API. A page the operator visits can make their
/// browser send requests to `127.0.0.1:9090`: a form POST with a `text/plain` body needs no
/// CORS preflight, and DNS rebinding lets a page read answers under its own host name.
/// Browsers always send `Origin` on such requests and cannot send `Content-Type:
/// application/json` cross-origin without a preflight (which this API never grants), and a
/// rebound host name is not an IP address or `localhost`. Programs (curl, SDKs) pass all
/// three checks.
fn browser_guard(headers: &HeaderMap) -> Result<(), ApiError> {
    let forbidden = |why: &str| Err(error(StatusCode::FORBIDDEN, "FORBIDDEN", why.to_owned()));
    if headers.contains_key(ORIGIN) {
        return forbidden(
            "The admin API does not accept requests from web pages (an Origin header was sent)",
        );
    }
    let host = headers
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
    let has_body = headers
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || headers.contains_key(TRANSFER_ENCODING);
    let json = headers
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

/// A known path with another method.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// No route matched: 405 under `/v1/sandboxes/` (a sandbox path with another method or
/// shape), 404 elsewhere.
async fn no_route(method: Method, uri: Uri) -> ApiError {
    let path = uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "sandboxes", ..] | ["healthz" | "metrics"] => method_not_allowed(method, uri).await,
        _ => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("No admin route {path}"),
        ),
    }
}

/// The `{id}` of a `/v1/sandboxes/{id}...` route (and its `{port}`, if any), as sent: not
/// percent-decoded, as the API has always taken them. An id or a port never needs escaping,
/// and the core's checks refuse anything escaped.
struct SandboxPath {
    id: String,
    port: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for SandboxPath {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        // The route matched, so the path is /v1/sandboxes/{id}[/ports[/{port}]].
        let mut segments = parts.uri.path().split('/').skip(3);
        let id = segments.next().unwrap_or_default().to_owned();
        let port = segments.nth(1).map(str::to_owned);
        Ok(SandboxPath { id, port })
    }
}

/// The sandbox of the path, which must exist: a handle on it with its stored upstream
/// host, or the 400 / 404 to answer. Checked before the body is read.
struct KnownSandbox(portway::Sandbox);

impl FromRequestParts<Arc<Admin>> for KnownSandbox {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, admin: &Arc<Admin>) -> Result<Self, ApiError> {
        let SandboxPath { id, .. } = SandboxPath::from_request_parts(parts, admin).await?;
        let info = admin.known(&id)?;
        admin
            .portway
            .sandbox(&info.id, &info.upstream_host)
            .map(KnownSandbox)
            .map_err(from_error)
    }
}

impl From<Infallible> for ApiError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// A JSON body of at most 64 KiB, arriving within [`BODY_TIMEOUT`]; an empty one is `{}`
/// when `EMPTY_OK`.
struct JsonBody<T, const EMPTY_OK: bool = false>(T);

impl<S, T, const EMPTY_OK: bool> FromRequest<S> for JsonBody<T, EMPTY_OK>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let read = Limited::new(req.into_body(), MAX_BODY).collect();
        let bytes = match tokio::time::timeout(BODY_TIMEOUT, read).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => {
                return Err(error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID_ARGUMENT",
                    format!("The body must be at most {MAX_BODY} bytes of JSON"),
                ));
            }
            Err(_) => {
                return Err(error(
                    StatusCode::REQUEST_TIMEOUT,
                    "INVALID_ARGUMENT",
                    format!(
                        "The body did not arrive within {} s",
                        BODY_TIMEOUT.as_secs()
                    ),
                ));
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            if EMPTY_OK {
                return Ok(JsonBody(T::default()));
            }
            return Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "A JSON body is required",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                format!("Invalid JSON body: {e}"),
            )
        })
    }
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}))
}

async fn metrics(State(admin): AdminState) -> Response {
    let mut res = Response::new(Body::from(admin.gateway.metrics().render()));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

async fn list_sandboxes(State(admin): AdminState) -> Response {
    let all: Vec<Value> = admin
        .portway
        .sandboxes()
        .iter()
        .map(|s| admin.sandbox_view(s))
        .collect();
    json_response(StatusCode::OK, json!({"sandboxes": all}))
}

async fn get_sandbox(State(admin): AdminState, path: SandboxPath) -> ApiResult {
    let info = admin.known(&path.id)?;
    Ok(json_response(StatusCode::OK, admin.sandbox_view(&info)))
}

async fn put_sandbox(
    State(admin): AdminState,
    path: SandboxPath,
    JsonBody(body): JsonBody<PutSandbox, true>,
) -> ApiResult {
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
    let idle_after = match body.idle_after_seconds {
        Some(Some(secs)) => Some(Some(
            portway::options::duration("idle_after_seconds", secs, TimeUnit::Seconds)
                .map_err(|m| error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", m))?,
        )),
        other => other.map(|_| None),
    };
    let info = admin
        .portway
        .put_sandbox(&path.id, body.upstream_host.as_deref(), status)
        .await
        .map_err(from_error)?;
    if let Some(idle_after) = idle_after {
        admin
            .portway
            .sandbox(&info.id, &info.upstream_host)
            .and_then(|sb| sb.set_idle_after(idle_after))
            .map_err(from_error)?;
    }
    Ok(json_response(StatusCode::OK, admin.sandbox_view(&info)))
}

async fn delete_sandbox(State(admin): AdminState, path: SandboxPath) -> ApiResult {
    match admin.portway.destroy_sandbox(&path.id).await {
        Ok(true) => Ok(empty(StatusCode::NO_CONTENT)),
        Ok(false) => Err(not_found(&path.id)),
        Err(e) => Err(from_error(e)),
    }
}

async fn expose(
    State(admin): AdminState,
    KnownSandbox(sandbox): KnownSandbox,
    JsonBody(body): JsonBody<PostPort>,
) -> ApiResult {
    let rules = admin.portway.rules();
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

async fn list_ports(KnownSandbox(sandbox): KnownSandbox, RawQuery(query): RawQuery) -> ApiResult {
    let hostname = query
        .as_deref()
        .and_then(|q| query_param(q, "hostname"))
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_HOSTNAME",
                "The hostname query parameter is required (?hostname=example.com).",
            )
        })?;
    let ports = sandbox
        .get_exposed_ports(&hostname)
        .await
        .map_err(from_error)?;
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| json!({"port": p.port, "url": p.url, "name": p.name, "status": p.status.as_str()}))
        .collect();
    Ok(json_response(StatusCode::OK, json!({"ports": ports})))
}

async fn unexpose(
    State(admin): AdminState,
    KnownSandbox(sandbox): KnownSandbox,
    path: SandboxPath,
) -> ApiResult {
    let rules = admin.portway.rules();
    let port = path.port.unwrap_or_default();
    let port = match port.parse::<i64>() {
        Ok(p) => rules.validate_port(p),
        Err(_) => Err(rules.invalid_port(&port)),
    }
    .map_err(from_error)?;
    sandbox.unexpose_port(port).await.map_err(from_error)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The value of `key` in a query string, percent-decoded.
fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(token: Option<&str>) -> Arc<Admin> {
        let portway = Portway::builder().build().unwrap();
        let gateway = portway.gateway().unwrap();
        Arc::new(Admin {
            portway,
            gateway,
            token: token.map(str::to_owned),
        })
    }

    async fn answer(admin: &Arc<Admin>, method: &str, path: &str) -> (u16, Value) {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        let res = admin.clone().handle(req).await.unwrap();
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// The answers of the hand-written router this one replaced, for paths at its edges.
    #[tokio::test]
    async fn edges_of_the_routes() {
        let a = admin(None);
        for (method, path, status, code) in [
            ("GET", "/v1/sandboxes/box/extra", 405, "METHOD_NOT_ALLOWED"),
            ("GET", "/v1/sandboxes/box/", 405, "METHOD_NOT_ALLOWED"),
            ("GET", "/v1/sandboxes/", 400, "INVALID_SANDBOX_ID"),
            ("PUT", "/v1/sandboxes/", 400, "INVALID_SANDBOX_ID"),
            ("GET", "/v1/sandboxes//ports", 400, "INVALID_SANDBOX_ID"),
            ("DELETE", "/v1/sandboxes//ports/", 400, "INVALID_SANDBOX_ID"),
            (
                "DELETE",
                "/v1/sandboxes/nobody/ports/",
                404,
                "SANDBOX_NOT_FOUND",
            ),
            ("HEAD", "/v1/sandboxes", 405, ""),
            ("POST", "/healthz", 405, "METHOD_NOT_ALLOWED"),
            ("GET", "/healthz/", 404, "NOT_FOUND"),
            ("GET", "/v2/sandboxes", 404, "NOT_FOUND"),
            ("GET", "/v1/sandboxes/my%2Dbox", 400, "INVALID_SANDBOX_ID"),
            ("GET", "/v1/sandboxes/nobody", 404, "SANDBOX_NOT_FOUND"),
            (
                "GET",
                "/v1/sandboxes/nobody/ports",
                404,
                "SANDBOX_NOT_FOUND",
            ),
            (
                "DELETE",
                "/v1/sandboxes/nobody/ports/x",
                404,
                "SANDBOX_NOT_FOUND",
            ),
        ] {
            let (got, body) = answer(&a, method, path).await;
            assert_eq!(got, status, "{method} {path}: {body}");
            if !code.is_empty() {
                assert_eq!(body["code"], code, "{method} {path}: {body}");
            }
        }
        answer(&a, "PUT", "/v1/sandboxes/box").await;
        let (status, body) = answer(&a, "GET", "/v1/sandboxes/box/ports").await;
        assert_eq!((status, &body["code"]), (400, &json!("INVALID_HOSTNAME")));
        for path in ["/v1/sandboxes/box/ports/x", "/v1/sandboxes/box/ports/"] {
            let (status, body) = answer(&a, "DELETE", path).await;
            assert_eq!(
                (status, &body["code"]),
                (400, &json!("INVALID_PORT")),
                "{path}"
            );
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let a = admin(Some("tok"));
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                AUTHORIZATION,
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
            a.authorized(&h)
        };
        assert!(with("Bearer tok") && with("bearer tok") && with("BEARER tok"));
        assert!(!with("Bearer tok2") && !with("Bearertok") && !with("Basic tok") && !with(""));
        assert!(!with("Bé tok"));
    }
}
