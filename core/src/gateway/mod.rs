//! The gateway: routes preview hosts to exposed ports and proxies HTTP and WebSocket traffic.
//!
//! Run it on its own with `Portway::serve`, or mount it in an existing hyper or axum server:
//! [`Gateway::proxy_to_sandbox`] answers preview requests and hands every other request back
//! (like Cloudflare's `proxyToSandbox`), and [`GatewayService`] is a tower `Service` that
//! answers everything.
//!
//! A request goes through named phases, each a function of its own, in this order for HTTP
//! (`Gateway::proxy`, then `Gateway::forward`) and for a WebSocket upgrade (`Gateway::proxy`,
//! then `ws_proxy::forward`):
//!
//! - **route**: `Gateway::route`, the host to an exposed port with the token compared
//!   (`route.rs`, `resolve`);
//! - **throttle**: `Gateway::throttle`, the client's request rate (`limits.rs`,
//!   `RateLimiter`), before the route's own refusal is answered, so that a client guessing
//!   tokens is held back as well; a host that is not a preview host and is handed back to
//!   the host application is not counted;
//! - **admit**: `Gateway::admit`, the sandbox's request rate, then its limit of requests in
//!   flight (`limits.rs`, `SandboxLimits::admit`);
//! - **rewrite**: `Gateway::rewrite`, the request as the sandbox gets it, for both paths
//!   (`headers.rs`, `to_upstream`);
//! - **connect**: `Gateway::connect`, the request sent on a pooled connection to the sandbox
//!   (`pool.rs`, `UpstreamPool::send`); `ws_proxy::connect` for an upgrade, on a connection
//!   of its own;
//! - **relay**: `Gateway::relay`, the response streamed back (`headers.rs`, `to_client`);
//!   `ws_proxy::relay` for an upgrade, then frames both ways (`relay.rs`, `relay`);
//! - **refusal**: every failure of any phase as its status and code, made in `refusal.rs`
//!   only ([`GatewayRefusal`]; `GatewayRefusal::of_resolution`, `sandbox_at_limit`,
//!   `connect_failed`, `send_failed`, ...).
//!
//! Around them: `server.rs` (the listener, its limits and timeouts), `activity.rs` (what
//! the idle timeouts watch), `framing.rs` (what hyper hides of a request head: both
//! `Content-Length` and `Transfer-Encoding`), `access_log.rs` (a line per request, when
//! `access_log` is set), `config.rs` and `metrics.rs`.

mod access_log;
mod activity;
mod config;
mod framing;
mod headers;
mod limits;
mod metrics;
mod pool;
mod proxy_protocol;
mod refusal;
mod relay;
mod route;
mod server;
mod wake;
mod ws_proxy;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Method, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::config::{GatewayConfig, GatewayOptions, MIN_MAX_HEAD_SIZE};
pub use self::metrics::{Metrics, MetricsSnapshot};
pub use self::refusal::GatewayRefusal;
pub use self::server::GatewayHandle;

pub(crate) use self::route::resolve;

use self::access_log::{AccessLog, Entry, Logged, UpstreamLatency};
use self::activity::{BodyState, Watched};
use self::headers::{Forwarding, ToClient};
use self::limits::{
    ClientConnections, ClientSlot, ConnectionGuard, Guarded, RateLimiter, SandboxLimits,
    SandboxPermit, client_key,
};
use self::pool::{Lease, Pooled, UpstreamPool};
use self::route::{preview_host, request_host};
use crate::connect::UpstreamGuard;
use crate::lifecycle::WakeHook;
use crate::registry::{Registry, Resolution, Upstream};
use crate::upstream_policy::UpstreamPolicy;

/// A boxed error, as carried by [`Body`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the gateway gives: the sandbox's, streamed, or its own.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// The client's address, read from a request's extensions for `X-Forwarded-For`. The
/// gateway's own server inserts it; a host application that mounts the gateway should too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The proxy itself: routing, limits, forwarding. Cheap to clone.
///
/// ```no_run
/// # async fn demo(req: http::Request<hyper::body::Incoming>) -> portway::Result<()> {
/// let portway = portway::Portway::builder().domains(["preview.example.com"]).build()?;
/// let gateway = portway.gateway()?;
/// match gateway.proxy_to_sandbox(req).await {
///     Ok(response) => { /* a preview request: send this response */ }
///     Err(req) => { /* not a preview host: the application's own routes take `req` */ }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What requests are routed with: the exposed ports and the rules.
    registry: Arc<Registry>,
    config: GatewayConfig,
    /// `config.referrer_policy` as the header it adds, if any.
    referrer_policy: Option<http::HeaderValue>,
    pool: Arc<UpstreamPool>,
    metrics: Arc<Metrics>,
    limits: Arc<SandboxLimits>,
    /// Connections per client address, with `max_connections_per_client` set.
    client_connections: Option<Arc<ClientConnections>>,
    /// `client_request_rate`, when set: buckets by client address.
    client_rate: Option<RateLimiter<IpAddr>>,
    /// `sandbox_request_rate`, when set: buckets by sandbox id.
    sandbox_rate: Option<RateLimiter<Arc<str>>>,
    /// Where each request's line goes, when `access_log` is set.
    access_log: Option<Arc<AccessLog>>,
    /// The upstream address policy and Portway's own listeners (`upstream_policy.rs`).
    guard: UpstreamGuard,
    /// This gateway's hop marker in `Via` (`1.1 portway-` and 16 random hex digits): a
    /// request that comes back with it has looped (508).
    via: http::HeaderValue,
    /// Cancelled when a graceful shutdown begins.
    graceful: CancellationToken,
    /// Cancelled when everything must stop now.
    kill: CancellationToken,
    /// Connections and WebSocket relays.
    tasks: TaskTracker,
    /// The host's hooks.
    hooks: GatewayHooks,
}

/// The host's callbacks a gateway calls: today the wake hook, which starts a stopped
/// sandbox when a request for it arrives (without one, a stopped sandbox's URLs give 410).
///
/// ```
/// # async fn demo() -> portway::Result<()> {
/// let portway = portway::Portway::builder().build()?;
/// let hooks = portway::GatewayHooks::new().wake(|req: portway::WakeRequest| async move {
///     // start the sandbox req.sandbox_id here
///     Ok::<(), String>(())
/// });
/// let gateway = portway.serve_with("127.0.0.1:0", hooks).await?;
/// gateway.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct GatewayHooks {
    wake: Option<Arc<dyn WakeHook>>,
}

impl GatewayHooks {
    /// No hooks.
    pub fn new() -> GatewayHooks {
        GatewayHooks::default()
    }

    /// Sets the wake hook.
    pub fn wake(self, hook: impl WakeHook) -> GatewayHooks {
        self.wake_shared(Arc::new(hook))
    }

    /// Sets the wake hook, shared.
    pub fn wake_shared(mut self, hook: Arc<dyn WakeHook>) -> GatewayHooks {
        self.wake = Some(hook);
        self
    }

    /// Whether a wake hook is set.
    pub fn has_wake(&self) -> bool {
        self.wake.is_some()
    }
}

impl std::fmt::Debug for GatewayHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHooks")
            .field("wake", &self.wake.is_some())
            .finish()
    }
}

impl Gateway {
    pub(crate) fn new(
        registry: Arc<Registry>,
        config: GatewayConfig,
        hooks: GatewayHooks,
    ) -> crate::Result<Gateway> {
        config.validate()?;
        let guard = UpstreamGuard {
            policy: UpstreamPolicy {
                allow: config.upstream_allow.clone(),
                deny: config.upstream_deny.clone(),
            },
            listeners: registry.listeners.clone(),
        };
        let pool = UpstreamPool::new(
            config.upstream_pool_size,
            config.upstream_pool_idle_timeout,
            config.connect_retry_window,
            config.connect_timeout,
            guard.clone(),
        );
        let metrics = Arc::new(Metrics::of(registry.lifecycle.clone()));
        let access_log = match &config.access_log {
            Some(target) => Some(Arc::new(AccessLog::open(target, metrics.clone())?)),
            None => None,
        };
        Ok(Gateway {
            inner: Arc::new(Inner {
                registry,
                limits: SandboxLimits::new(config.max_connections_per_sandbox),
                client_connections: ClientConnections::new(config.max_connections_per_client),
                client_rate: RateLimiter::new(
                    config.client_request_rate,
                    config.client_request_burst,
                    metrics.rate_keys_client.clone(),
                ),
                sandbox_rate: RateLimiter::new(
                    config.sandbox_request_rate,
                    config.sandbox_request_burst,
                    metrics.rate_keys_sandbox.clone(),
                ),
                access_log,
                guard,
                via: hop_marker(),
                referrer_policy: config.referrer_policy_header(),
                config,
                pool,
                metrics,
                graceful: CancellationToken::new(),
                kill: CancellationToken::new(),
                tasks: TaskTracker::new(),
                hooks,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The counters of this gateway.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Answers a request: forwarded when its host is a preview host, the gateway's own error
    /// otherwise (404 `NOT_FOUND` for a host that is not a preview host).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let client = req.extensions().get::<ClientAddr>().map(|c| c.0);
        self.handle_from(req, client).await
    }

    /// [`Gateway::handle`] for a client whose address is known (the gateway's own listener).
    pub(crate) async fn handle_from<B>(
        &self,
        req: Request<B>,
        client: Option<SocketAddr>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match self.proxy(req, client, true).await {
            Ok(res) => res,
            Err(req) => self.refuse(GatewayRefusal::not_preview(), &req),
        }
    }

    /// Answers a request for a preview host; gives the request back (`Err`) when its host is
    /// not a preview host of this gateway, for the host application's own routes.
    pub async fn proxy_to_sandbox<B>(&self, req: Request<B>) -> Result<Response<Body>, Request<B>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let client = req.extensions().get::<ClientAddr>().map(|c| c.0);
        self.proxy(req, client, false).await
    }

    /// [`Gateway::phases`], with the request's access-log line when `access_log` is set: its
    /// start taken here, the route and the upstream latency filled in by the phases, the line
    /// written when the response body ends. A request handed back is not logged.
    async fn proxy<B>(
        &self,
        req: Request<B>,
        client: Option<SocketAddr>,
        answer_all: bool,
    ) -> Result<Response<Body>, Request<B>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Some(log) = &self.inner.access_log else {
            return self.phases(req, client, answer_all, None).await;
        };
        let mut entry = Entry::begin(&req, client);
        let res = self
            .phases(req, client, answer_all, Some(&mut entry))
            .await?;
        let (mut parts, body) = res.into_parts();
        entry.upstream = parts.extensions.remove::<UpstreamLatency>().map(|l| l.0);
        let status = parts.status.as_u16();
        let body = Logged::new(body, entry, log.clone(), status);
        Ok(Response::from_parts(parts, BodyExt::boxed_unsync(body)))
    }

    /// The HTTP and WebSocket paths, phase by phase: route, throttle, admit, then the rest in
    /// [`Gateway::forward`] or `ws_proxy::forward`. A request for a host that is not a
    /// preview host is handed back (`Err`), unless `answer_all` (then it is 404 `NOT_FOUND`).
    async fn phases<B>(
        &self,
        req: Request<B>,
        client: Option<SocketAddr>,
        answer_all: bool,
        entry: Option<&mut Entry>,
    ) -> Result<Response<Body>, Request<B>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // Framing a proxy must not guess at (request smuggling), or a host that is none:
        // refuse and close.
        if let Some(why) =
            GatewayRefusal::ambiguous_framing(&req).or_else(|| GatewayRefusal::malformed_host(&req))
        {
            return Ok(self.refuse(why, &req));
        }
        if headers::is_loop(req.headers(), &self.inner.via) {
            return Ok(self.refuse(GatewayRefusal::loop_detected(), &req));
        }
        let (routed, stale) = self.route(&req);
        if !answer_all && matches!(routed, Err(GatewayRefusal::NotFound)) {
            // Not a preview host: the host application's own routes may take the request.
            return Err(req);
        }
        if let (Some(entry), Ok(upstream)) = (entry, &routed) {
            entry.sandbox = Some(upstream.sandbox_id_shared().clone());
            entry.port = Some(upstream.port());
        }
        if let Err(why) = self.throttle(client) {
            return Ok(self.refuse(why, &req));
        }
        let (upstream, mut permit) = match (routed, stale, &self.inner.hooks.wake) {
            (Ok(upstream), _, _) => match self.admit(&upstream) {
                Ok(permit) => (upstream, permit),
                Err(why) => return Ok(self.refuse(why, &req)),
            },
            // A stopped sandbox, and a hook to start it: the wake phase.
            (Err(_), Some((id, port)), Some(hook)) => {
                match self.wake(wake::Held::of(&req), hook, id, port).await {
                    Ok(woken) => woken,
                    Err(res) => return Ok(res),
                }
            }
            (Err(why), _, _) => return Ok(self.refuse(why, &req)),
        };
        permit.count_on(upstream.activity());
        let res = if headers::is_websocket_upgrade(req.headers()) && req.method() == Method::GET {
            if let Some(why) = GatewayRefusal::handshake_with_body(req.headers()) {
                return Ok(self.refuse(why, &req));
            }
            ws_proxy::forward(self, req, upstream, permit, client).await
        } else {
            self.forward(req, upstream, permit, client).await
        };
        self.inner.metrics.response(res.status().as_u16());
        Ok(res)
    }

    /// A refusal before forwarding began, counted.
    fn refuse<B>(&self, why: GatewayRefusal, req: &Request<B>) -> Response<Body> {
        self.inner.metrics.response(why.status().as_u16());
        why.response(req.headers())
    }

    /// The route phase: the exposed port a request's host names (`route.rs`, `resolve`), or
    /// the refusal the resolution gets (`GatewayRefusal::of_resolution`); with the stopped
    /// sandbox and port, for the wake phase, when it is one.
    #[inline]
    #[allow(clippy::type_complexity)]
    fn route<B>(
        &self,
        req: &Request<B>,
    ) -> (Result<Upstream, GatewayRefusal>, Option<(String, u16)>) {
        let resolution = match request_host(req) {
            Some(host) => resolve(&self.inner.registry, host),
            None => Resolution::NotPreview,
        };
        let stale = match &resolution {
            Resolution::Stale { sandbox_id, port } => Some((sandbox_id.clone(), *port)),
            _ => None,
        };
        (GatewayRefusal::of_resolution(resolution), stale)
    }

    /// The throttle phase: a token of the client's request rate (`client_request_rate`), or
    /// 429 `RATE_LIMITED`. Nothing to do (no lock, no lookup) when the rate is not set or the
    /// client's address is not known.
    #[inline]
    fn throttle(&self, client: Option<SocketAddr>) -> Result<(), GatewayRefusal> {
        let (Some(limiter), Some(client)) = (&self.inner.client_rate, client) else {
            return Ok(());
        };
        limiter.check(&client_key(client.ip())).map_err(|wait| {
            self.inner.metrics.rate_limited(false);
            GatewayRefusal::rate_limited(wait)
        })
    }

    /// The admit phase: a token of the sandbox's request rate (`sandbox_request_rate`, when
    /// set), then a permit for one more request or session to the upstream's sandbox
    /// (`limits.rs`); 429 `RATE_LIMITED` or 429 `SANDBOX_CONNECTION_LIMIT` otherwise.
    #[inline]
    fn admit(&self, upstream: &Upstream) -> Result<SandboxPermit, GatewayRefusal> {
        self.admit_sandbox(upstream.sandbox_id_shared())
    }

    /// [`Gateway::admit`] for sandbox `id`.
    #[inline]
    fn admit_sandbox(&self, id: &Arc<str>) -> Result<SandboxPermit, GatewayRefusal> {
        if let Some(limiter) = &self.inner.sandbox_rate {
            limiter.check(id).map_err(|wait| {
                self.inner.metrics.rate_limited(true);
                GatewayRefusal::rate_limited(wait)
            })?;
        }
        self.inner
            .limits
            .admit(id)
            .ok_or_else(GatewayRefusal::sandbox_at_limit)
    }

    /// The rewrite phase, HTTP and WebSocket alike: the request, in place, as the sandbox
    /// gets it: the target in origin form, HTTP/1.1, the headers as `headers::to_upstream`
    /// makes them (Host, `X-Forwarded-*`, no hop-by-hop headers).
    #[inline]
    fn rewrite<B>(
        &self,
        req: &mut Request<B>,
        upstream: &Upstream,
        websocket: bool,
        client: Option<SocketAddr>,
    ) -> Result<(), GatewayRefusal> {
        let uri = origin_form(req.uri()).ok_or_else(GatewayRefusal::unsendable_target)?;
        let forwarding = self.forwarding(req, upstream, websocket, client);
        headers::to_upstream(req.headers_mut(), &forwarding);
        if let Some(uri) = uri {
            *req.uri_mut() = uri;
        }
        *req.version_mut() = Version::HTTP_11;
        Ok(())
    }

    fn forwarding<B>(
        &self,
        req: &Request<B>,
        upstream: &Upstream,
        websocket: bool,
        client: Option<SocketAddr>,
    ) -> Forwarding<'_> {
        let trusted = &self.inner.config.trusted_proxies;
        Forwarding {
            upstream_port: upstream.port(),
            rewrite_host: self.inner.config.rewrite_host,
            preview_host: preview_host(req),
            client,
            trusted: !trusted.is_empty() && client.is_some_and(|c| trusted.contains(c.ip())),
            via: &self.inner.via,
            proto: self
                .inner
                .config
                .forwarded_proto
                .as_deref()
                .unwrap_or("http"),
            websocket,
        }
    }

    /// The HTTP path after admit: rewrite, connect, relay, each failure answered as the
    /// refusal phase says.
    async fn forward<B>(
        &self,
        mut req: Request<B>,
        upstream: Upstream,
        permit: SandboxPermit,
        client: Option<SocketAddr>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // The gateway's own answers only look at `Accept` (JSON or HTML).
        let accept = req.headers().get(ACCEPT).cloned();
        let refuse = |why: GatewayRefusal| why.respond(accept.as_ref());
        // What the response's cookies may name, before the rewrite changes `Host`.
        let host = preview_host(&req);
        if let Err(why) = self.rewrite(&mut req, &upstream, false, client) {
            return refuse(why);
        }
        let (parts, body) = req.into_parts();
        let (body, body_state) = Watched::new(body, upstream.activity().clone());
        let upstream_req = Request::from_parts(parts, body.map_err(Into::into).boxed_unsync());
        match self.connect(&upstream, upstream_req, body_state).await {
            Ok((res, lease)) => self.relay(res, lease, permit, host.as_ref()),
            Err(why) => refuse(why),
        }
    }

    /// The connect phase, HTTP: the request sent on a pooled connection to the sandbox (a
    /// new one when none is ready, `pool.rs`) within the response timeout; the response
    /// head, or the refusal for what failed. `body` is how the request body goes: the lease
    /// reuses the connection only if it went out whole.
    async fn connect(
        &self,
        upstream: &Upstream,
        req: Request<Body>,
        body: Arc<BodyState>,
    ) -> Result<(Response<Incoming>, Lease), GatewayRefusal> {
        let start = Instant::now();
        let sent = tokio::time::timeout(
            self.inner.config.response_timeout,
            self.inner
                .pool
                .send(upstream.host_shared(), upstream.port(), req, body.clone()),
        );
        match sent.await {
            Ok(Ok((mut res, lease))) => {
                let latency = start.elapsed();
                self.inner.metrics.upstream_latency(latency);
                self.note_upstream_latency(&mut res, latency);
                Ok((res, lease))
            }
            Ok(Err(e)) => Err(GatewayRefusal::send_failed(&e, body.failed())),
            Err(_) => Err(GatewayRefusal::response_timed_out()),
        }
    }

    /// The relay phase, HTTP: the sandbox's response streamed back with its headers as
    /// `headers::to_client` makes them (host-only cookies, a `Referrer-Policy`); its
    /// connection goes back to the pool and the sandbox permit is released when the body
    /// ends.
    #[inline]
    fn relay(
        &self,
        res: Response<Incoming>,
        lease: Lease,
        permit: SandboxPermit,
        preview_host: Option<&http::HeaderValue>,
    ) -> Response<Body> {
        let (mut parts, body) = res.into_parts();
        headers::to_client(&mut parts.headers, false, &self.to_client(preview_host));
        let body = Guarded::new(Pooled::new(body, lease).map_err(BoxError::from), permit);
        Response::from_parts(parts, BodyExt::boxed_unsync(body))
    }

    /// For the access log: the time to the sandbox's response head, carried by the
    /// response to [`Gateway::proxy`] (only when the log is on).
    fn note_upstream_latency<T>(&self, res: &mut Response<T>, latency: std::time::Duration) {
        if self.inner.access_log.is_some() {
            res.extensions_mut().insert(UpstreamLatency(latency));
        }
    }

    /// What `headers::to_client` adds to or changes in the responses to a request for
    /// `preview_host`.
    fn to_client<'a>(&'a self, preview_host: Option<&'a http::HeaderValue>) -> ToClient<'a> {
        ToClient {
            preview_host,
            referrer_policy: self.inner.referrer_policy.as_ref(),
        }
    }

    /// Counts a client connection as open, holding `client`'s slot of
    /// `max_connections_per_client` if it has one.
    pub(crate) fn connection_guard(&self, client: Option<ClientSlot>) -> Arc<ConnectionGuard> {
        ConnectionGuard::new(self.inner.metrics.clone(), client)
    }
}

/// A new gateway's hop marker: `1.1 portway-` and 16 random hex digits.
fn hop_marker() -> http::HeaderValue {
    let mut id = [0u8; 8];
    // Without randomness the marker is still this process's; loops between two such
    // gateways are then caught by the hop count.
    let _ = getrandom::fill(&mut id);
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    http::HeaderValue::try_from(format!("1.1 portway-{hex}"))
        .unwrap_or(http::HeaderValue::from_static("1.1 portway"))
}

/// The request target sent upstream: the path and query (origin form). `Some(None)` when the
/// client's target already is just that, `None` when it has no path to send.
fn origin_form(original: &Uri) -> Option<Option<Uri>> {
    if original.scheme().is_none() && original.authority().is_none() {
        return Some(None);
    }
    let pq = original
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    Uri::builder().path_and_query(pq).build().ok().map(Some)
}

/// The gateway as a tower `Service`: every request gets an answer, forwarded or refused (404
/// `NOT_FOUND` for hosts that are not preview hosts).
///
/// ```
/// let portway = portway::Portway::builder().build()?;
/// let service = portway::GatewayService::new(portway.gateway()?);
/// # let _ = service;
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GatewayService {
    gateway: Gateway,
}

impl GatewayService {
    /// Wraps a gateway.
    pub fn new(gateway: Gateway) -> GatewayService {
        GatewayService { gateway }
    }
}

impl<B> tower_service::Service<Request<B>> for GatewayService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let gateway = self.gateway.clone();
        Box::pin(async move { Ok(gateway.handle(req).await) })
    }
}
