//! A WebSocket client connection from the host to a sandbox service (`ws_connect`); the
//! gateway's WebSocket proxy is another thing, in `gateway/ws_proxy.rs`.
//!
//! A background task reads the socket, answers pings and queues messages; the connection
//! object sends, receives and closes, from any number of tasks. Dropping the connection
//! stops the task and closes the socket.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use http::header::{HOST, SEC_WEBSOCKET_PROTOCOL};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use crate::connect::connect;
use crate::error::{Error, Result};

/// How long `close` waits for the peer to answer the close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Messages received and not yet taken; past this the socket is not read (backpressure).
const QUEUE: usize = 64;
/// The longest close reason (a close frame's payload is at most 125 bytes).
pub const MAX_CLOSE_REASON: usize = 123;

/// Options of `Sandbox::ws_connect`.
///
/// ```
/// let opts = portway::WsConnectOptions { path: "/ws?room=1".into(), ..Default::default() };
/// assert_eq!(opts.max_message_size, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConnectOptions {
    /// The path and query (default `/`).
    pub path: String,
    /// Extra request headers (cookies, authorization, origin). A `Host` replaces the default
    /// `localhost:{port}` (to reach a service through a gateway, for example).
    pub headers: Vec<(String, String)>,
    /// Subprotocols offered, in order of preference.
    pub subprotocols: Vec<String>,
    /// The largest message accepted or sent, in bytes (default 16 MiB).
    pub max_message_size: usize,
    /// How long the TCP connect and the handshake may take (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for WsConnectOptions {
    fn default() -> Self {
        WsConnectOptions {
            path: "/".into(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            max_message_size: 16 << 20,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// One WebSocket message: text or binary (pings and pongs are handled for you).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

type Socket = WebSocketStream<TcpStream>;

/// The write half, shared with the reader task, which drops it (closing the TCP connection)
/// once the session has ended: `None` from then on.
type SharedSink = Arc<tokio::sync::Mutex<Option<SplitSink<Socket, Message>>>>;

/// An open WebSocket to a sandbox service. Send with [`WebSocket::send`], receive with
/// [`WebSocket::recv`] until it gives `None`, close with [`WebSocket::close`].
#[derive(Debug)]
pub struct WebSocket {
    sink: SharedSink,
    incoming: tokio::sync::Mutex<mpsc::Receiver<Result<WsMessage>>>,
    peer_close: Arc<Mutex<Option<(u16, String)>>>,
    protocol: Option<String>,
    max_message_size: usize,
    closing: CancellationToken,
    reader_done: CancellationToken,
    reader: JoinHandle<()>,
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub(crate) async fn ws_connect(
    host: &str,
    port: u16,
    opts: &WsConnectOptions,
) -> Result<WebSocket> {
    let failed = |message: String, status: Option<u16>| Error::WsConnectFailed { message, status };
    if !opts.path.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "ws_connect path must start with '/' (got {:?})",
            opts.path
        )));
    }
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("ws://{authority}{}", opts.path)
        .into_client_request()
        .map_err(|e| {
            Error::InvalidArgument(format!("invalid ws_connect path {:?}: {e}", opts.path))
        })?;
    let headers = request.headers_mut();
    headers.insert(
        HOST,
        HeaderValue::try_from(format!("localhost:{port}"))
            .map_err(|e| failed(e.to_string(), None))?,
    );
    for (name, value) in &opts.headers {
        let name = http::HeaderName::try_from(name.as_str())
            .map_err(|_| Error::InvalidArgument(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| Error::InvalidArgument(format!("invalid value for header {name}")))?;
        // A request carries one Host: the caller's replaces the default.
        if name == HOST {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
    if !opts.subprotocols.is_empty() {
        let offered = HeaderValue::try_from(opts.subprotocols.join(", "))
            .map_err(|_| Error::InvalidArgument("invalid subprotocol name".into()))?;
        headers.insert(SEC_WEBSOCKET_PROTOCOL, offered);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(opts.max_message_size))
        .max_frame_size(Some(opts.max_message_size));
    let handshake = async {
        let stream = connect(host, port, Duration::ZERO, opts.connect_timeout, None)
            .await
            .map_err(|e| failed(format!("cannot connect to {authority}: {e}"), None))?;
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| match e {
                WsError::Http(res) => failed(
                    format!(
                        "the service at {authority} refused the WebSocket handshake with HTTP {}",
                        res.status()
                    ),
                    Some(res.status().as_u16()),
                ),
                other => failed(
                    format!("the WebSocket handshake with {authority} failed: {other}"),
                    None,
                ),
            })
    };
    let (socket, response) = timeout(opts.connect_timeout, handshake)
        .await
        .map_err(|_| {
            failed(
                format!("the WebSocket handshake with {authority} timed out"),
                None,
            )
        })??;
    let protocol = response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (sink, stream) = socket.split();
    let sink: SharedSink = Arc::new(tokio::sync::Mutex::new(Some(sink)));
    let (tx, rx) = mpsc::channel(QUEUE);
    let peer_close = Arc::new(Mutex::new(None));
    let closing = CancellationToken::new();
    let reader_done = CancellationToken::new();
    let reader = tokio::spawn(read_loop(
        stream,
        sink.clone(),
        tx,
        peer_close.clone(),
        closing.clone(),
        reader_done.clone(),
    ));
    Ok(WebSocket {
        sink,
        incoming: tokio::sync::Mutex::new(rx),
        peer_close,
        protocol,
        max_message_size: opts.max_message_size,
        closing,
        reader_done,
        reader,
    })
}

async fn read_loop(
    mut stream: SplitStream<Socket>,
    sink: SharedSink,
    tx: mpsc::Sender<Result<WsMessage>>,
    peer_close: Arc<Mutex<Option<(u16, String)>>>,
    closing: CancellationToken,
    done: CancellationToken,
) {
    let _done = done.drop_guard();
    while let Some(msg) = stream.next().await {
        let item = match msg {
            Ok(Message::Text(t)) => Ok(WsMessage::Text(t.as_str().to_owned())),
            Ok(Message::Binary(b)) => Ok(WsMessage::Binary(b.to_vec())),
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.as_str().to_owned())
                });
                *peer_close.lock().unwrap_or_else(PoisonError::into_inner) = Some((code, reason));
                continue; // the socket answers the close; the stream ends after it
            }
            Ok(_) => continue, // ping (answered by the socket) or pong
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
            Err(e) => Err(Error::WsError(format!("the WebSocket failed: {e}"))),
        };
        let failed = item.is_err();
        if closing.is_cancelled() {
            continue; // closing: nobody needs what arrives now, but the close must be read
        }
        tokio::select! {
            sent = tx.send(item) => if sent.is_err() { break },
            _ = closing.cancelled() => {}
        }
        if failed {
            break;
        }
    }
    // The session is over (close handshake done, or the connection failed): drop both halves
    // so the TCP connection closes now, not when the WebSocket object is dropped.
    drop(stream);
    drop(sink.lock().await.take());
}

impl WebSocket {
    /// The subprotocol the service chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Sends a message. `WS_CLOSED` once the connection is closing or closed.
    pub async fn send(&self, msg: WsMessage) -> Result<()> {
        if self.closing.is_cancelled() || self.reader_done.is_cancelled() {
            return Err(Error::WsClosed("the WebSocket is closed".into()));
        }
        let len = match &msg {
            WsMessage::Text(t) => t.len(),
            WsMessage::Binary(b) => b.len(),
        };
        if len > self.max_message_size {
            return Err(Error::WsError(format!(
                "a message of {len} bytes exceeds max_message_size ({} bytes)",
                self.max_message_size
            )));
        }
        let msg = match msg {
            WsMessage::Text(t) => Message::Text(t.into()),
            WsMessage::Binary(b) => Message::Binary(b.into()),
        };
        match self.sink.lock().await.as_mut() {
            Some(sink) => sink.send(msg).await.map_err(send_error),
            None => Err(Error::WsClosed("the WebSocket is closed".into())),
        }
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: impl Into<String>) -> Result<()> {
        self.send(WsMessage::Text(text.into())).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&self, data: impl Into<Vec<u8>>) -> Result<()> {
        self.send(WsMessage::Binary(data.into())).await
    }

    /// The next message; `None` once the connection is closed (see
    /// [`WebSocket::close_code`] for how it closed).
    pub async fn recv(&self) -> Result<Option<WsMessage>> {
        self.incoming.lock().await.recv().await.transpose()
    }

    /// Closes with a code (1000, 1001-1003, 1007-1014 or 3000-4999) and a reason of at most
    /// 123 bytes, and waits (up to 5 s) for the service to answer. Closing twice is harmless.
    pub async fn close(&self, code: u16, reason: &str) -> Result<()> {
        validate_close_code(i64::from(code))?;
        if reason.len() > MAX_CLOSE_REASON {
            return Err(Error::InvalidArgument(format!(
                "close reason is {} bytes; at most {MAX_CLOSE_REASON} fit a close frame",
                reason.len()
            )));
        }
        if self.closing.is_cancelled() {
            return Ok(());
        }
        self.closing.cancel();
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let sent = match self.sink.lock().await.as_mut() {
            Some(sink) => sink.send(Message::Close(Some(frame))).await,
            None => return Ok(()), // the session is already over
        };
        match sent {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {}
            Err(WsError::Protocol(_)) => {} // the peer closed first; its close was answered
            Err(e) => return Err(send_error(e)),
        }
        let _ = timeout(CLOSE_WAIT, self.reader_done.cancelled()).await;
        Ok(())
    }

    /// The close code the service sent, once it has closed (1005 when it gave none).
    pub fn close_code(&self) -> Option<u16> {
        self.peer_close
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|c| c.0)
    }

    /// The close reason the service sent, once it has closed.
    pub fn close_reason(&self) -> Option<String> {
        self.peer_close
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|c| c.1.clone())
    }

    /// Whether the connection is closed or closing.
    pub fn is_closed(&self) -> bool {
        self.closing.is_cancelled() || self.reader_done.is_cancelled()
    }
}

/// Checks a close code a WebSocket may send: 1000, 1001-1003, 1007-1014 or 3000-4999
/// (taken as any integer, for bindings whose callers pass any number).
///
/// ```
/// assert_eq!(portway::validate_close_code(4001)?, 4001);
/// assert_eq!(portway::validate_close_code(1006).unwrap_err().code().as_str(), "INVALID_ARGUMENT");
/// assert!(portway::validate_close_code(70_000).is_err());
/// # Ok::<(), portway::Error>(())
/// ```
pub fn validate_close_code(code: i64) -> Result<u16> {
    match u16::try_from(code) {
        Ok(c @ (1000..=1003 | 1007..=1014 | 3000..=4999)) => Ok(c),
        _ => Err(Error::InvalidArgument(format!(
            "close code {code} cannot be sent: use 1000, 1001-1003, 1007-1014 or 3000-4999"
        ))),
    }
}

fn send_error(e: WsError) -> Error {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            Error::WsClosed("the WebSocket is closed".into())
        }
        WsError::Capacity(e) => Error::WsError(format!("message too large: {e}")),
        other => Error::WsError(format!("the WebSocket failed: {other}")),
    }
}
