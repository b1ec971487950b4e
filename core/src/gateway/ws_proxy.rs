//! The WebSocket proxy (not to be confused with the WebSocket *client* of
//! `crate::ws_client`): the handshake goes to the sandbox as it came (Host rewritten like any
//! request); after the sandbox's 101, the relay ([`super::relay`]) passes the frames both
//! ways until either side closes, close codes and reasons intact, reading their headers to
//! hold the size limits and cut off a peer that sends garbage without harming the other.

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, timeout};

use super::limits::SandboxPermit;
use super::pool::SendError;
use super::refusal::GatewayRefusal;
use super::relay::{RelayLimits, relay};
use super::{Body, BoxError, Gateway, headers};
use crate::connect::connect;
use crate::registry::Upstream;

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
    let config = &gw.inner.config;
    // The gateway's own answers only look at `Accept` (JSON or HTML).
    let accept = req.headers().get(ACCEPT).cloned();
    let refuse = |why: GatewayRefusal| why.respond(accept.as_ref());
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut headers = req.headers().clone();
    headers::to_upstream(&mut headers, &gw.forwarding(&req, &upstream, true, client));
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    drop(req);

    let stream = match connect(
        upstream.host(),
        upstream.port(),
        config.connect_retry_window,
        config.connect_timeout,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return refuse(GatewayRefusal::send_failed(&SendError::Connect(e), false)),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(e) => return refuse(GatewayRefusal::send_failed(&SendError::Upstream(e), false)),
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut upstream_req = Request::new(Empty::<Bytes>::new());
    *upstream_req.uri_mut() = match path.parse() {
        Ok(uri) => uri,
        Err(_) => return refuse(GatewayRefusal::unsendable_target()),
    };
    *upstream_req.headers_mut() = headers;
    let start = Instant::now();
    let mut res = match timeout(config.response_timeout, sender.send_request(upstream_req)).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => return refuse(GatewayRefusal::send_failed(&SendError::Upstream(e), false)),
        Err(_) => return refuse(GatewayRefusal::response_timed_out()),
    };
    gw.inner.metrics.upstream_latency(start.elapsed());

    if res.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The sandbox refused the handshake: its answer goes back as it is.
        let (mut parts, body) = res.into_parts();
        headers::to_client(&mut parts.headers, false);
        return Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync());
    }
    let upstream_upgrade = hyper::upgrade::on(&mut res);
    let (mut parts, _) = res.into_parts();
    headers::to_client(&mut parts.headers, true);

    let relay = Relay {
        gateway: gw.clone(),
        client: client_upgrade,
        upstream: upstream_upgrade,
        permit,
    };
    gw.inner.tasks.spawn(relay.run());
    Response::from_parts(parts, Empty::new().map_err(|e| match e {}).boxed_unsync())
}

struct Relay {
    gateway: Gateway,
    client: OnUpgrade,
    upstream: OnUpgrade,
    permit: SandboxPermit,
}

impl Relay {
    async fn run(self) {
        let inner = &self.gateway.inner;
        let (client, upstream) = match tokio::join!(self.client, self.upstream) {
            (Ok(c), Ok(u)) => (c, u),
            _ => return,
        };
        let _connection = self.gateway.connection_guard();
        let _permit = self.permit;
        let limits = RelayLimits {
            max_frame: inner.config.ws_max_frame_size,
            max_message: inner.config.ws_max_message_size,
            idle: inner.config.ws_idle_timeout,
        };
        inner.metrics.ws_opened();
        tokio::select! {
            _ = relay(TokioIo::new(client), TokioIo::new(upstream), limits, &inner.graceful) => {}
            _ = inner.kill.cancelled() => {}
        }
        inner.metrics.ws_closed();
    }
}
