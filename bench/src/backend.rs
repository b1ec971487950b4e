//! The sandbox service every measurement talks to, directly or through a proxy. It does as
//! little as it can per request so that the proxy's cost shows.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// The small response body.
const HELLO: &[u8] = b"hello from the sandbox\n";
/// The chunk size of `/stream`.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:18001")]
    listen: String,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

pub fn run(args: Args) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        let listener = TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        println!("backend listening on {}", args.listen);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .with_upgrades()
                    .await;
            });
        }
    })
}

async fn handle(req: Request<Incoming>) -> Result<Response<Reply>, Infallible> {
    let path = req.uri().path();
    Ok(match (req.method(), path) {
        (&Method::GET, "/ws") => websocket(req),
        (&Method::GET, "/stream") => {
            let bytes = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("bytes="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Response::new(Reply::Stream {
                left: bytes,
                chunk: Bytes::from(vec![b'x'; CHUNK]),
            })
        }
        (&Method::POST, "/sink") => {
            let mut body = req.into_body();
            let mut n = 0u64;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => break,
                }
            }
            Response::new(Reply::Small(Some(Bytes::from(n.to_string()))))
        }
        _ => {
            let mut res = Response::new(Reply::Small(Some(Bytes::from_static(HELLO))));
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            res
        }
    })
}

/// Accepts the upgrade and echoes every text and binary message.
fn websocket(mut req: Request<Incoming>) -> Response<Reply> {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        let mut res = Response::new(Reply::Small(None));
        *res.status_mut() = StatusCode::BAD_REQUEST;
        return res;
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut res = Response::new(Reply::Small(None));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

/// The backend's response bodies: a small one, or `left` bytes in 64 KiB chunks.
pub enum Reply {
    Small(Option<Bytes>),
    Stream { left: u64, chunk: Bytes },
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(match this {
            Reply::Small(b) => b.take().map(|b| Ok(Frame::data(b))),
            Reply::Stream { left, chunk } => {
                if *left == 0 {
                    None
                } else {
                    let n = (*left).min(chunk.len() as u64);
                    *left -= n;
                    Some(Ok(Frame::data(chunk.slice(..n as usize))))
                }
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Reply::Small(b) => b.is_none(),
            Reply::Stream { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Reply::Small(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Reply::Stream { left, .. } => SizeHint::with_exact(*left),
        }
    }
}
