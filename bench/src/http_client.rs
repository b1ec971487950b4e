//! A plain HTTP/1.1 client connection for the streaming and soak clients.

use bytes::Bytes;
use http::Request;
use http_body::Body;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Opens a keep-alive HTTP/1.1 connection to `addr`.
pub async fn open<B>(addr: &str) -> Result<SendRequest<B>, String>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A request for `path` on `host` (the preview host, or anything for the backend itself).
pub fn request<B>(method: http::Method, host: &str, path: &str, body: B) -> Request<B> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = path.parse().unwrap_or_default();
    if let Ok(v) = http::HeaderValue::from_str(host) {
        req.headers_mut().insert(http::header::HOST, v);
    }
    req
}
