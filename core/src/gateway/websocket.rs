//! WebSocket upgrades: the handshake goes to the sandbox as it came (Host rewritten like any
//! request); after the sandbox's 101, messages are relayed both ways until either side
//! closes, close codes and reasons intact. Frames are parsed on both sides, so the size
//! limits hold and a peer that sends garbage is cut off without harming the other.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use super::errors::GatewayRefusal;
use super::io::SandboxPermit;
use super::{Body, BoxError, Gateway, headers};
use crate::connect::{ConnectError, connect};
use crate::registry::Upstream;

/// How long a closing handshake may take before the relay drops both sockets.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The buffer each side of a relay starts with; it grows for larger messages and is what an
/// idle session costs.
const RELAY_READ_BUFFER: usize = 4096;

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
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut headers = req.headers().clone();
    headers::to_upstream(&mut headers, &gw.forwarding(&req, &upstream, true, client));
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let client_headers = req.headers().clone();
    drop(req);

    let stream = match connect(
        &upstream.host,
        upstream.port,
        config.connect_retry_window,
        config.connect_timeout,
    )
    .await
    {
        Ok(s) => s,
        Err(ConnectError::Timeout) => {
            return GatewayRefusal::UpstreamTimeout.response(&client_headers);
        }
        Err(_) => return GatewayRefusal::PortNotListening.response(&client_headers),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(_) => return GatewayRefusal::UpstreamError.response(&client_headers),
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut upstream_req = Request::new(Empty::<Bytes>::new());
    *upstream_req.uri_mut() = match path.parse() {
        Ok(uri) => uri,
        Err(_) => return GatewayRefusal::BadRequest.response(&client_headers),
    };
    *upstream_req.headers_mut() = headers;
    let start = Instant::now();
    let mut res = match timeout(config.response_timeout, sender.send_request(upstream_req)).await {
        Ok(Ok(res)) => res,
        Ok(Err(_)) => return GatewayRefusal::UpstreamError.response(&client_headers),
        Err(_) => return GatewayRefusal::UpstreamTimeout.response(&client_headers),
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

type Socket = WebSocketStream<TokioIo<Upgraded>>;

impl Relay {
    async fn run(self) {
        let inner = &self.gateway.inner;
        let (client, upstream) = match tokio::join!(self.client, self.upstream) {
            (Ok(c), Ok(u)) => (c, u),
            _ => return,
        };
        let _connection = self.gateway.connection_guard();
        let _permit = self.permit;
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(RELAY_READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(inner.config.ws_max_message_size))
            .max_frame_size(Some(inner.config.ws_max_frame_size));
        let client =
            WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, Some(ws_config))
                .await;
        let upstream =
            WebSocketStream::from_raw_socket(TokioIo::new(upstream), Role::Client, Some(ws_config))
                .await;
        inner.metrics.ws_opened();
        tokio::select! {
            _ = relay(client, upstream, inner.config.ws_idle_timeout, &inner.graceful) => {}
            _ = inner.kill.cancelled() => {}
        }
        inner.metrics.ws_closed();
    }
}

fn close_frame(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The closes to send when a relay ends other than by a close handshake:
/// (to the client, to the sandbox).
type Ending = (Option<Message>, Option<Message>);

/// Relays messages until a close handshake completes, a side fails, the session idles out or
/// the gateway shuts down.
async fn relay(
    mut client: Socket,
    mut upstream: Socket,
    idle: Duration,
    shutdown: &tokio_util::sync::CancellationToken,
) {
    let client_gone = || close_frame(CloseCode::Away, "client went away");
    let sandbox_failed = || close_frame(CloseCode::Error, "sandbox connection failed");
    let both = |reason| -> Ending {
        (
            Some(close_frame(CloseCode::Away, reason)),
            Some(close_frame(CloseCode::Away, reason)),
        )
    };
    // One timer for the whole session, re-armed only when it fires: a message costs a clock
    // read, not a timer registration.
    let mut last = Instant::now();
    let idle_timer = tokio::time::sleep_until(last + idle);
    tokio::pin!(idle_timer);
    let shutdown = shutdown.cancelled();
    tokio::pin!(shutdown);
    let ending: Ending = loop {
        tokio::select! {
            msg = client.next() => match msg {
                // A close handshake: pass the close on; each socket answers its own peer.
                Some(Ok(Message::Close(frame))) => {
                    let _ = upstream.send(Message::Close(frame)).await;
                    break (None, None);
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if upstream.send(m).await.is_err() {
                        break (Some(sandbox_failed()), None);
                    }
                }
                Some(Ok(_)) => {} // pings are answered by each side's own socket
                Some(Err(e)) => break (error_close(&e), Some(client_gone())),
                None => break (None, Some(client_gone())),
            },
            msg = upstream.next() => match msg {
                Some(Ok(Message::Close(frame))) => {
                    let _ = client.send(Message::Close(frame)).await;
                    break (None, None);
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if client.send(m).await.is_err() {
                        break (None, Some(client_gone()));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break (Some(sandbox_failed()), error_close(&e)),
                None => break (Some(sandbox_failed()), None),
            },
            _ = &mut idle_timer => {
                if last.elapsed() >= idle {
                    break both("idle timeout");
                }
                idle_timer.as_mut().reset(last + idle);
                continue;
            }
            _ = &mut shutdown => break both("gateway shutting down"),
        }
        last = Instant::now();
    };
    // Finish the closing handshakes, bounded: send what each side must be told, then read
    // until each socket has seen its peer's close (the socket answers a close by itself).
    let _ = timeout(CLOSE_GRACE, async {
        let (to_client, to_upstream) = ending;
        if let Some(m) = to_client {
            let _ = client.send(m).await;
        }
        if let Some(m) = to_upstream {
            let _ = upstream.send(m).await;
        }
        tokio::join!(drain(&mut client), drain(&mut upstream));
    })
    .await;
}

async fn drain(socket: &mut Socket) {
    while let Some(Ok(_)) = socket.next().await {}
}

/// The close to send a peer whose frames broke the rules (1009 too big, 1002 invalid).
fn error_close(e: &WsError) -> Option<Message> {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            Some(close_frame(CloseCode::Size, "message too big"))
        }
        WsError::Capacity(_) => Some(close_frame(CloseCode::Size, "frame too big")),
        WsError::Protocol(_) | WsError::Utf8(_) => {
            Some(close_frame(CloseCode::Protocol, "invalid frame"))
        }
        _ => None,
    }
}
