//! Malformed or ambiguous HTTP is refused with a 4xx and a closed connection, never
//! forwarded. (Which hosts reach which ports, CONNECT and absolute-form targets are cases
//! of tests/vectors/gateway.json, run by gateway_vectors.rs.)

mod support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes, reads until the gateway closes (or 3 s pass); returns what came back and
/// whether the connection was closed.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> (String, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn status(text: &str) -> u16 {
    text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn smuggling_and_malformed_requests_are_refused_and_closed() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let addr = gw.local_addr();
    let h = |extra: &str, body: &str| {
        format!("POST /echo HTTP/1.1\r\nhost: {host}\r\n{extra}\r\n{body}")
    };
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nhost: {host}\r\n\r\n",
        "a".repeat(40_000)
    );
    let big_head = format!(
        "GET / HTTP/1.1\r\nhost: {host}\r\nx-big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    // Content-Length with Transfer-Encoding: hyper hides the Content-Length and frames the
    // request by Transfer-Encoding alone, then closes the connection after answering (RFC
    // 9112 section 6.1's second option). What matters is that nothing is smuggled: the
    // sandbox sees one request with an empty chunked body, and the tail is never parsed.
    for order in [
        "content-length: 5\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: chunked\r\ncontent-length: 5\r\n",
    ] {
        let (text, closed) = raw(
            addr,
            h(
                order,
                "0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x.localhost\r\n\r\n",
            )
            .as_bytes(),
        )
        .await;
        assert!(closed, "{order:?}: the connection stayed open");
        assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{order:?}: {text}");
        assert!(
            !text.contains("/smuggled") && !text.contains("NOT_FOUND"),
            "{order:?}: {text}"
        );
        let code = status(&text);
        assert!(
            code == 400 || (code == 200 && text.contains(r#""body_len":0"#)),
            "{order:?}: {text}"
        );
    }
    let cases: Vec<(&str, String)> = vec![
        (
            "two different content-lengths",
            h("content-length: 5\r\ncontent-length: 6\r\n", "hello!"),
        ),
        (
            "invalid chunk size",
            h("transfer-encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"),
        ),
        (
            "obsolete line folding",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-a: one\r\n two\r\n\r\n"),
        ),
        (
            "control character in a header value",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-a: a\x01b\r\n\r\n"),
        ),
        (
            "CR inside a header value",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-a: a\rb\r\n\r\n"),
        ),
        (
            "space in a header name",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx a: b\r\n\r\n"),
        ),
        (
            "LF inside a header name",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx\na: b\r\n\r\n"),
        ),
        ("oversized URI", long_uri),
        ("oversized head", big_head),
    ];
    let mut failures = Vec::new();
    for (name, request) in cases {
        let (text, closed) = raw(addr, request.as_bytes()).await;
        let code = status(&text);
        if !(400..500).contains(&code) || !closed || text.contains("/smuggled") {
            failures.push(format!(
                "{name}: {code} closed={closed}: {}",
                text.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The gateway serves on.
    assert_eq!(get(addr, &host, "/echo").await.status, 200);
}

/// A WebSocket handshake is a GET without a body (RFC 6455 section 4.1): one that declares a
/// body (a length or chunked) is refused with 400 at once, instead of being forwarded with a
/// length and no body for the sandbox to wait on.
#[tokio::test]
async fn a_websocket_handshake_with_a_body_is_refused() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let handshake = |framing: &str, body: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\
             {framing}\r\n{body}"
        )
    };
    for (framing, body) in [
        ("content-length: 5\r\n", "hello"),
        ("transfer-encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
    ] {
        let started = std::time::Instant::now();
        let (text, _) = raw(gw.local_addr(), handshake(framing, body).as_bytes()).await;
        assert_eq!(status(&text), 400, "{framing:?}: {text}");
        assert!(text.contains("BAD_REQUEST"), "{framing:?}: {text}");
        assert!(started.elapsed() < Duration::from_secs(3), "{framing:?}");
    }
    // Without a body (or with a zero length) the handshake goes through.
    for framing in ["", "content-length: 0\r\n"] {
        let (text, _) = raw(gw.local_addr(), handshake(framing, "").as_bytes()).await;
        assert_eq!(status(&text), 101, "{framing:?}: {text}");
    }
}
