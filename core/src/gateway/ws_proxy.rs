//! The WebSocket proxy (not to be confused with the WebSocket *client* of
//! `crate::ws_client`): after the route and admit phases the handshake goes through the same
//! rewrite as any request (`Gateway::rewrite`), then its own phases: [`connect`], an unpooled
//! connection that sends the handshake, and [`relay`], which after the sandbox's 101 hands
//! both upgraded connections to the frame relay ([`super::relay`]). That relay passes the
//! frames both ways until either side closes, close codes and reasons intact, reading their
//! headers to hold the size limits and cut off a peer that sends garbage without harming the
//! other. Every failure is answered as the refusal phase says ([`GatewayRefusal`]).

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, timeout};

use super::limits::{ConnectionGuard, SandboxPermit};
use super::pool::SendError;
use super::refusal::GatewayRefusal;
use super::relay::RelayLimits;
use super::{Body, BoxError, Gateway, headers};
use crate::registry::Upstream;

/// The WebSocket path after admit: rewrite, connect, relay, each failure answered as the
/// refusal phase says.
pub(super) async fn forward<B>(
    gw: &Gateway,
    mut req: Request<B>,
    upstream: Upstream,
    permit: SandboxPermit,
    client: Option<std::net::SocketAddr>,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // The gateway's own answers only look at `Accept` (JSON or HTML).
    let accept = req.headers().get(ACCEPT).cloned();
    let refuse = |why: GatewayRefusal| why.respond(accept.as_ref());
    let client_upgrade = hyper::upgrade::on(&mut req);
    let host = super::route::preview_host(&req);
    if let Err(why) = gw.rewrite(&mut req, &upstream, true, client) {
        return refuse(why);
    }
    // The handshake as the sandbox gets it: the rewritten target and headers, no body.
    let (http::request::Parts { uri, headers, .. }, _) = req.into_parts();
    let mut handshake = Request::new(Empty::<Bytes>::new());
    *handshake.uri_mut() = uri;
    *handshake.headers_mut() = headers;
    match connect(gw, &upstream, handshake).await {
        Ok(res) => relay(gw, res, client_upgrade, permit, client, host.as_ref()),
        Err(why) => refuse(why),
    }
}

/// The connect phase, WebSocket: a connection of its own to the sandbox (not pooled: it
/// becomes the session), and the handshake sent on it within the response timeout; the
/// sandbox's response head, or the refusal for what failed.
async fn connect(
    gw: &Gateway,
    upstream: &Upstream,
    handshake: Request<Empty<Bytes>>,
) -> Result<Response<Incoming>, GatewayRefusal> {
    let config = &gw.inner.config;
    let failed = |e: SendError| GatewayRefusal::send_failed(&e, false);
    let stream = crate::connect::connect(
        upstream.host(),
        upstream.port(),
        config.connect_retry_window,
        config.connect_timeout,
        Some(&gw.inner.guard),
    )
    .await
    .map_err(|e| failed(SendError::Connect(e)))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(SendError::Upstream(e)))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let start = Instant::now();
    let mut res = match timeout(config.response_timeout, sender.send_request(handshake)).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => return Err(failed(SendError::Upstream(e))),
        Err(_) => return Err(GatewayRefusal::response_timed_out()),
    };
    let latency = start.elapsed();
    gw.inner.metrics.upstream_latency(latency);
    gw.note_upstream_latency(&mut res, latency);
    Ok(res)
}

/// The relay phase, WebSocket: the sandbox's 101 goes back to the client (with its headers
/// as `headers::to_client` makes them), and a task relays the frames of both upgraded
/// connections, holding the sandbox permit for the session, and counting the session as a
/// connection of its client (`peer`) from now on: the connection it came on closes when
/// hyper hands the socket over. A sandbox that refused the handshake has its answer sent
/// back as it is.
fn relay(
    gw: &Gateway,
    mut res: Response<Incoming>,
    client: OnUpgrade,
    permit: SandboxPermit,
    peer: Option<std::net::SocketAddr>,
    preview_host: Option<&http::HeaderValue>,
) -> Response<Body> {
    let to_client = gw.to_client(preview_host);
    if res.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The sandbox refused the handshake: its answer goes back as any response does.
        let (mut parts, body) = res.into_parts();
        headers::to_client(&mut parts.headers, false, &to_client);
        return Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync());
    }
    let upstream_upgrade = hyper::upgrade::on(&mut res);
    let (mut parts, _) = res.into_parts();
    headers::to_client(&mut parts.headers, true, &to_client);

    let slot = match (&gw.inner.client_connections, peer) {
        (Some(table), Some(peer)) => Some(table.open_anyway(peer.ip())),
        _ => None,
    };
    let relay = Relay {
        gateway: gw.clone(),
        client,
        upstream: upstream_upgrade,
        permit,
        connection: gw.connection_guard(slot),
    };
    gw.inner.tasks.spawn(relay.run());
    Response::from_parts(parts, Empty::new().map_err(|e| match e {}).boxed_unsync())
}

struct Relay {
    gateway: Gateway,
    client: OnUpgrade,
    upstream: OnUpgrade,
    permit: SandboxPermit,
    connection: std::sync::Arc<ConnectionGuard>,
}

impl Relay {
    async fn run(self) {
        let inner = &self.gateway.inner;
        let (client, upstream) = match tokio::join!(self.client, self.upstream) {
            (Ok(c), Ok(u)) => (c, u),
            _ => return,
        };
        let _connection = self.connection;
        let mut permit = self.permit;
        if let Some(open) = permit.activity() {
            open.websocket();
        }
        let limits = RelayLimits {
            max_frame: inner.config.ws_max_frame_size,
            max_message: inner.config.ws_max_message_size,
            idle: inner.config.ws_idle_timeout,
            activity: permit.counters().cloned(),
        };
        inner.metrics.ws_opened();
        tokio::select! {
            _ = super::relay::relay(TokioIo::new(client), TokioIo::new(upstream), limits, &inner.graceful) => {}
            _ = inner.kill.cancelled() => {}
        }
        inner.metrics.ws_closed();
    }
}
