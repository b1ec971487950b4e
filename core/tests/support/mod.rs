//! Real servers and clients for the gateway tests, all on 127.0.0.1.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

fn full(s: impl Into<Bytes>) -> BoxBody {
    Full::new(s.into()).boxed_unsync()
}

/// A started upstream; aborted when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    /// Releases the next SSE event (`/sse`).
    pub sse_next: mpsc::Sender<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// A hyper HTTP server that also speaks WebSocket (echo) on `/ws`:
/// - `/echo`: JSON with the method, path and headers it saw, plus the request body length
/// - `/cookies`: two `Set-Cookie` headers; `/redirect`: 302 with `Location: /echo`
/// - `/download?bytes=N`: N bytes streamed in 64 KiB chunks
/// - `/upload`: reads the whole body as a stream and answers its length
/// - `/sse`: server-sent events, one each time the test sends on `sse_next`
/// - `/ws`: WebSocket echo; a text `close:CODE:REASON` makes the server close so;
///   it answers a client's close with the same code and reason
/// - `/ws-refuse`: answers a WebSocket handshake with 403
pub async fn start_upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_upstream_on(listener).await
}

pub async fn start_upstream_on(listener: TcpListener) -> Upstream {
    let addr = listener.local_addr().unwrap();
    let (sse_next, sse_rx) = mpsc::channel::<()>(16);
    let sse_rx = Arc::new(Mutex::new(sse_rx));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let sse_rx = sse_rx.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(req, sse_rx.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Upstream {
        addr,
        task,
        sse_next,
    }
}

async fn handle(
    mut req: Request<Incoming>,
    sse: Arc<Mutex<mpsc::Receiver<()>>>,
) -> Result<Response<BoxBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    Ok(match path.as_str() {
        "/ws" | "/ws-refuse" => {
            if path == "/ws-refuse" {
                return Ok(Response::builder()
                    .status(403)
                    .header("x-refused", "yes")
                    .body(full("no websockets here"))
                    .unwrap());
            }
            let key = req.headers().get("sec-websocket-key").cloned().unwrap();
            let seen = headers_json(req.headers());
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(up) = on_upgrade.await {
                    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                        TokioIo::new(up),
                        tokio_tungstenite::tungstenite::protocol::Role::Server,
                        None,
                    )
                    .await;
                    ws_echo(ws, seen).await;
                }
            });
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let mut res = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept);
            if let Some(p) = req.headers().get("sec-websocket-protocol") {
                let first = p
                    .to_str()
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
                    .trim()
                    .to_owned();
                res = res.header("sec-websocket-protocol", first);
            }
            res.body(Empty::new().boxed_unsync()).unwrap()
        }
        "/cookies" => Response::builder()
            .header("set-cookie", "a=1; Path=/")
            .header("set-cookie", "b=2; Path=/; HttpOnly")
            .body(full("cookies"))
            .unwrap(),
        "/redirect" => Response::builder()
            .status(302)
            .header("location", "/echo")
            .body(full(""))
            .unwrap(),
        "/download" => {
            let n: u64 = query
                .strip_prefix("bytes=")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures_util::stream::unfold(n, move |left| {
                let chunk = chunk.clone();
                async move {
                    if left == 0 {
                        return None;
                    }
                    let take = left.min(chunk.len() as u64) as usize;
                    Some((
                        Ok::<_, Infallible>(Frame::data(chunk.slice(..take))),
                        left - take as u64,
                    ))
                }
            });
            Response::builder()
                .header("content-length", n.to_string())
                .body(StreamBody::new(stream).boxed_unsync())
                .unwrap()
        }
        "/upload" => {
            let mut body = req.into_body();
            let mut total = 0u64;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    total += data.len() as u64;
                }
            }
            Response::new(full(total.to_string()))
        }
        "/sse" => {
            let stream = futures_util::stream::unfold((sse, 0u32), |(sse, i)| async move {
                sse.lock().await.recv().await?;
                let event = Bytes::from(format!("data: event {i}\n\n"));
                Some((Ok::<_, Infallible>(Frame::data(event)), (sse, i + 1)))
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(StreamBody::new(stream).boxed_unsync())
                .unwrap()
        }
        _ => {
            let method = req.method().to_string();
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let headers = headers_json(req.headers());
            let len = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            let body = serde_json::json!({"method": method, "path": pq, "headers": headers, "body_len": len});
            Response::builder()
                .header("content-type", "application/json")
                .body(full(body.to_string()))
                .unwrap()
        }
    })
}

fn headers_json(h: &HeaderMap) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in h {
        let v = v.to_str().unwrap_or("").to_owned();
        match map.get_mut(k.as_str()) {
            Some(serde_json::Value::String(prev)) => *prev = format!("{prev}, {v}"),
            _ => {
                map.insert(k.as_str().to_owned(), v.into());
            }
        }
    }
    map.into()
}

async fn ws_echo<S>(mut ws: tokio_tungstenite::WebSocketStream<S>, seen: serde_json::Value)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Text(t) if t.as_str() == "headers" => {
                let _ = ws.send(Message::Text(seen.to_string().into())).await;
            }
            Message::Text(t) if t.as_str().starts_with("close:") => {
                let mut parts = t.as_str().splitn(3, ':').skip(1);
                let code: u16 = parts.next().unwrap().parse().unwrap();
                let reason = parts.next().unwrap_or("").to_owned();
                let _ = ws
                    .close(Some(CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    }))
                    .await;
            }
            Message::Text(_) | Message::Binary(_) => {
                let _ = ws.send(msg).await;
            }
            Message::Close(_) => {} // tungstenite answers with the same frame
            _ => {}
        }
    }
}

/// A response as the test client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection to `addr` with the given Host.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Got {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let res = sender
        .send_request(b.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Got {
        status,
        headers,
        body,
    }
}

pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Got {
    request(addr, "GET", host, path, &[], Bytes::new()).await
}

/// The host part of a preview URL (`http://HOST/` → `HOST`).
pub fn host_of(url: &str) -> String {
    url.split_once("://")
        .unwrap()
        .1
        .trim_end_matches('/')
        .to_owned()
}

/// A portway with domain `localhost`, and a gateway on an ephemeral port.
pub async fn gateway_with(
    config: portway::GatewayConfig,
) -> (portway::Portway, portway::GatewayHandle) {
    let portway = portway::Portway::builder()
        .gateway_config(config)
        .build()
        .unwrap();
    let handle = portway.serve("127.0.0.1:0").await.unwrap();
    (portway, handle)
}

pub async fn gateway() -> (portway::Portway, portway::GatewayHandle) {
    gateway_with(portway::GatewayConfig::default()).await
}

/// Exposes `port` of sandbox `id` (upstream 127.0.0.1) and returns its preview host.
pub async fn expose(portway: &portway::Portway, id: &str, port: u16) -> String {
    let sb = portway.sandbox(id, "127.0.0.1").unwrap();
    host_of(
        &sb.expose_port(port, portway::ExposeOptions::new("localhost"))
            .await
            .unwrap()
            .url,
    )
}

/// Connects a WebSocket client through `addr` to `path` with the given Host.
pub async fn ws_client(
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut().insert("host", host.parse().unwrap());
    let stream = TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(req, stream)
        .await
        .map(|(ws, _)| ws)
}

/// A service that accepts connections and never answers; abort the task to stop it.
pub async fn silent_service() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (port, task)
}

/// Whether the gateway counts `n` open WebSocket sessions within `limit`.
pub async fn websocket_sessions_reach(
    gw: &portway::GatewayHandle,
    n: i64,
    limit: Duration,
) -> bool {
    eventually(limit, || {
        gw.gateway().metrics().snapshot().websocket_sessions == n
    })
    .await
}

/// Waits until `f` holds, up to `limit`.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}
