//! Malformed or ambiguous HTTP is refused with a 4xx and a closed connection, never
//! forwarded. (Which hosts reach which ports, CONNECT and absolute-form targets are cases
//! of tests/vectors/gateway.json, run by gateway_vectors.rs.) The per-client and per-sandbox
//! limits (connections, request rates) answer 429 from real client addresses (127.0.0.0/8
//! is all loopback on Linux), and the access log never holds a token, nor holds requests up.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use portway::GatewayConfig;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

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
    // Content-Length with Transfer-Encoding (either order): 400, and nothing is smuggled.
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
        assert!(!text.contains("/smuggled"), "{order:?}: {text}");
        assert_eq!(status(&text), 400, "{order:?}: {text}");
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

/// A TCP connection to `addr` from the loopback address `from` (any of 127.0.0.0/8).
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// One GET on a new connection from `from`, with the given Host and extra headers.
async fn get_from(
    from: &str,
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Got {
    let stream = connect_from(from, addr).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder().uri(path).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = sender
        .send_request(req.body(http_body_util::Empty::<Bytes>::new()).unwrap())
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

/// A WebSocket handshake from `from`: the session, or the refusal's status.
async fn ws_from(
    from: &str,
    addr: SocketAddr,
    host: &str,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert("host", host.parse().unwrap());
    let stream = connect_from(from, addr).await;
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// Reads what the gateway sends until it closes (or 3 s pass): (text, closed).
async fn read_to_close(s: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// `max_connections_per_client`: past it a client address's new connection is answered
/// 429 `CLIENT_CONNECTION_LIMIT` with `Retry-After: 1` without being read, and closed, as
/// `max_connections` answers 503; other addresses are served, a WebSocket session counts as
/// a connection of its client for as long as it lasts, and a closed connection frees its slot.
#[tokio::test]
async fn a_client_over_its_connection_limit_is_refused_and_closed() {
    let up = start_upstream().await;
    let (p, gw) = gateway_with(GatewayConfig {
        max_connections_per_client: 2,
        ..Default::default()
    })
    .await;
    let host = expose(&p, "box", up.port()).await;
    let addr = gw.local_addr();
    let open = |n: i64| {
        let gw = &gw;
        async move {
            eventually(Duration::from_secs(5), || {
                gw.gateway().metrics().snapshot().open_connections == n
            })
            .await
        }
    };

    // A WebSocket session and an idle connection: the client's two.
    let mut ws = ws_from("127.0.0.1", addr, &host).await.unwrap();
    ws.send(Message::Text("hi".into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("hi".into())
    );
    let held = connect_from("127.0.0.1", addr).await;
    assert!(open(2).await);

    // The third is refused at once, unread, and closed.
    let mut third = connect_from("127.0.0.1", addr).await;
    let (text, closed) = read_to_close(&mut third).await;
    assert!(closed, "the refused connection stayed open: {text}");
    assert!(
        text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nretry-after: 1\r\n"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["code"], "CLIENT_CONNECTION_LIMIT");
    assert_eq!(
        gw.gateway().metrics().snapshot().refused_client_connections,
        1
    );
    assert!(
        gw.gateway()
            .metrics()
            .render()
            .contains("portway_refused_client_connections_total 1\n")
    );

    // Another client address is not held back.
    assert_eq!(
        get_from("127.0.0.2", addr, &host, "/echo", &[])
            .await
            .status,
        200
    );

    // The WebSocket session's end frees its slot.
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    drop(ws);
    assert!(open(1).await);
    assert_eq!(
        get_from("127.0.0.1", addr, &host, "/echo", &[])
            .await
            .status,
        200
    );
    drop(held);
    assert!(open(0).await);
}

/// `client_request_rate` and `client_request_burst`: a client address gets `burst` requests
/// at once, then 429 `RATE_LIMITED` with `Retry-After` (JSON, or HTML for a browser), for
/// WebSocket handshakes and for hosts with a wrong token too (a prober is held back); other
/// addresses are not, and a second later the client is served again.
#[tokio::test]
async fn a_client_over_its_request_rate_gets_429_with_retry_after() {
    let up = start_upstream().await;
    let (p, gw) = gateway_with(GatewayConfig {
        client_request_rate: 1,
        client_request_burst: 2,
        ..Default::default()
    })
    .await;
    let host = expose(&p, "box", up.port()).await;
    let addr = gw.local_addr();
    let from = "127.0.0.5";
    assert_eq!(get_from(from, addr, &host, "/echo", &[]).await.status, 200);
    assert_eq!(get_from(from, addr, &host, "/echo", &[]).await.status, 200);
    let refused = get_from(from, addr, &host, "/echo", &[]).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(refused.json()["code"], "RATE_LIMITED");
    let html = get_from(from, addr, &host, "/", &[("accept", "text/html")]).await;
    assert_eq!(html.status, 429);
    assert!(html.text().contains("RATE_LIMITED"), "{}", html.text());
    assert_eq!(ws_from(from, addr, &host).await.err(), Some(429));
    let wrong_token = host.replacen("-", "-x", 2);
    let probe = get_from(from, addr, &wrong_token, "/", &[]).await;
    assert_eq!(
        probe.status, 429,
        "a prober is held back before the route's 404"
    );

    // Another address has its own bucket.
    assert_eq!(
        get_from("127.0.0.6", addr, &host, "/echo", &[])
            .await
            .status,
        200
    );
    assert!(ws_from("127.0.0.6", addr, &host).await.is_ok());

    let m = gw.gateway().metrics().snapshot();
    assert_eq!((m.rate_limited_client, m.rate_limited_sandbox), (4, 0));
    assert!(
        gw.gateway()
            .metrics()
            .render()
            .contains("portway_rate_limited_requests_total{limit=\"client\"} 4\n")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get_from(from, addr, &host, "/echo", &[]).await.status, 200);
}

/// `sandbox_request_rate`: one sandbox's requests from every client together; over it 429
/// `RATE_LIMITED`, while another sandbox is served.
#[tokio::test]
async fn a_sandbox_over_its_request_rate_gets_429() {
    let up = start_upstream().await;
    let (p, gw) = gateway_with(GatewayConfig {
        sandbox_request_rate: 1,
        ..Default::default()
    })
    .await;
    let busy = expose(&p, "busy", up.port()).await;
    let calm = expose(&p, "calm", up.port()).await;
    let addr = gw.local_addr();
    assert_eq!(
        get_from("127.0.0.7", addr, &busy, "/echo", &[])
            .await
            .status,
        200
    );
    let refused = get_from("127.0.0.8", addr, &busy, "/echo", &[]).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["code"], "RATE_LIMITED");
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(
        get_from("127.0.0.8", addr, &calm, "/echo", &[])
            .await
            .status,
        200
    );
    let m = gw.gateway().metrics().snapshot();
    assert_eq!((m.rate_limited_client, m.rate_limited_sandbox), (0, 1));
}

/// The client rate's buckets stay bounded: hundreds of client addresses are tracked while
/// they are fresh, and forgotten once their buckets have refilled.
#[tokio::test]
async fn rate_buckets_of_idle_clients_are_forgotten() {
    let up = start_upstream().await;
    let (p, gw) = gateway_with(GatewayConfig {
        client_request_rate: 20,
        client_request_burst: 1,
        ..Default::default()
    })
    .await;
    let host = expose(&p, "box", up.port()).await;
    let addr = gw.local_addr();
    let keys = || gw.gateway().metrics().snapshot().rate_limit_client_keys;
    for i in 0..300u32 {
        let from = format!("127.0.{}.{}", 10 + i / 200, 1 + i % 200);
        assert_eq!(get_from(&from, addr, &host, "/echo", &[]).await.status, 200);
    }
    assert!(keys() >= 250, "{} keys tracked", keys());
    // Every bucket refills in 50 ms; shards are swept at most once a second, as requests
    // come.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..40 {
        if keys() <= 1 {
            break;
        }
        assert_eq!(
            get_from("127.0.0.1", addr, &host, "/echo", &[])
                .await
                .status,
            200
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(keys() <= 1, "{} keys still tracked", keys());
    assert!(gw.gateway().metrics().render().contains(&format!(
        "portway_rate_limit_keys{{limit=\"client\"}} {}\n",
        keys()
    )));
}

/// The lines of an access-log file, once it has `n` (the writer is a thread of its own).
async fn log_lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    let mut text = String::new();
    let done = eventually(Duration::from_secs(5), || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines().count() >= n
    })
    .await;
    assert!(
        done,
        "the access log has {} lines, not {n}:\n{text}",
        text.lines().count()
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `access_log` set to a file: one JSON line per request with its fields (time in RFC 3339
/// UTC with milliseconds, the client's ip:port, the path without its query, the body bytes
/// sent, the upstream time or null), the host with its token replaced, and no token
/// anywhere in the file, for requests that route and ones that do not. A WebSocket session
/// is logged once, when its handshake is answered.
#[tokio::test]
async fn the_access_log_has_a_line_per_request_and_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let up = start_upstream().await;
    let (p, gw) = gateway_with(GatewayConfig {
        access_log: Some(path.to_str().unwrap().to_owned()),
        connect_retry_window: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let host = expose(&p, "log-box", up.port()).await;
    let token = host
        .split('.')
        .next()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .to_owned();
    let (dead_port, dead_task) = silent_service().await;
    dead_task.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dead = expose(&p, "dead-box", dead_port).await;
    let dead_token = dead
        .split('.')
        .next()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .to_owned();
    let addr = gw.local_addr();

    let stream = TcpStream::connect(addr).await.unwrap();
    let client = stream.local_addr().unwrap().to_string();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("/download?bytes=100000")
        .header("host", &host)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes().len(),
        100_000
    );
    let wrong = host.replace(&token, "wrongtoken12");
    let probe_path = format!("/probe?secret={token}");
    assert_eq!(get(addr, &wrong, &probe_path).await.status, 404);
    let not_preview = format!("1234-nobody-{token}.example.com");
    assert_eq!(get(addr, &not_preview, "/").await.status, 404);
    assert_eq!(get(addr, &dead, "/").await.status, 502);
    let mut ws = ws_client(addr, &host, "/ws").await.unwrap();
    ws.send(Message::Text("hello".into())).await.unwrap();
    ws.next().await.unwrap().unwrap();

    let lines = log_lines(&path, 5).await;
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&token), "a token in the log:\n{text}");
    assert!(!text.contains(&dead_token), "a token in the log:\n{text}");
    assert!(
        !text.contains("wrongtoken12"),
        "a token in the log:\n{text}"
    );
    assert!(!text.contains("secret"), "a query in the log:\n{text}");
    for line in &lines {
        let time = line["time"].as_str().unwrap();
        assert_eq!(time.len(), 24, "{time}");
        assert!(
            time.ends_with('Z') && &time[10..11] == "T" && &time[19..20] == ".",
            "{time}"
        );
        assert!(line["duration_ms"].as_f64().unwrap() >= 0.0, "{line}");
        assert!(
            line["client"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{line}"
        );
        assert!(
            line["host"].as_str().unwrap().contains("-REDACTED."),
            "{line}"
        );
    }

    let download = &lines[0];
    assert_eq!(download["client"], client);
    assert_eq!(download["method"], "GET");
    assert_eq!(download["sandbox"], "log-box");
    assert_eq!(download["port"], up.port());
    assert_eq!(download["path"], "/download");
    assert_eq!(download["status"], 200);
    assert_eq!(download["bytes"], 100_000);
    assert!(
        download["upstream_ms"].as_f64().unwrap() >= 0.0,
        "{download}"
    );
    assert!(download["duration_ms"].as_f64() >= download["upstream_ms"].as_f64());
    assert_eq!(
        download["host"],
        format!(
            "{}-log-box-REDACTED.{}",
            up.port(),
            host.split_once('.').unwrap().1
        )
    );

    let probe = &lines[1];
    assert_eq!(
        (probe["status"].as_u64(), probe["path"].as_str()),
        (Some(404), Some("/probe"))
    );
    assert!(
        probe["sandbox"].is_null() && probe["port"].is_null() && probe["upstream_ms"].is_null()
    );
    assert!(
        probe["bytes"].as_u64().unwrap() > 0,
        "the refusal's body: {probe}"
    );
    assert_eq!(lines[2]["status"], 404);
    assert_eq!(lines[2]["host"], "1234-nobody-REDACTED.example.com");
    assert_eq!(lines[3]["status"], 502);
    assert_eq!(lines[3]["sandbox"], "dead-box");
    assert!(lines[3]["upstream_ms"].is_null());
    let session = &lines[4];
    assert_eq!(
        (session["status"].as_u64(), session["bytes"].as_u64()),
        (Some(101), Some(0))
    );
    assert_eq!(session["path"], "/ws");
    assert!(session["upstream_ms"].as_f64().is_some(), "{session}");
    let m = gw.gateway().metrics().snapshot();
    assert_eq!((m.access_log_lines, m.access_log_dropped), (5, 0));
}

/// An access log that cannot keep up (a pipe nobody reads) drops lines, counted, instead
/// of holding requests up.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_log_that_cannot_keep_up_drops_lines_instead_of_stalling() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // A reader that never reads, so that the gateway's open does not wait and its writes
    // fill the pipe.
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let (_p, gw) = gateway_with(GatewayConfig {
        access_log: Some(fifo.to_str().unwrap().to_owned()),
        ..Default::default()
    })
    .await;
    let addr = gw.local_addr();
    // Requests the gateway answers itself (404), on a few keep-alive connections at once.
    let started = std::time::Instant::now();
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            for _ in 0..1500 {
                let req = http::Request::builder()
                    .uri(format!("/{}", "p".repeat(200)))
                    .header("host", "example.com")
                    .body(http_body_util::Empty::<Bytes>::new())
                    .unwrap();
                let res = sender.send_request(req).await.unwrap();
                assert_eq!(res.status(), 404);
                res.into_body().collect().await.unwrap();
            }
        }));
    }
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("requests stalled behind the access log")
            .unwrap();
    }
    let m = gw.gateway().metrics().snapshot();
    assert_eq!(m.requests, 6000);
    assert!(m.access_log_dropped > 0, "{m:?}");
    assert!(gw.gateway().metrics().render().contains(&format!(
        "portway_access_log_dropped_total {}\n",
        m.access_log_dropped
    )));
    eprintln!(
        "6000 requests in {:?}, {} lines dropped",
        started.elapsed(),
        m.access_log_dropped
    );
}

/// A sandbox service that records every byte it receives (all connections, in order) and
/// answers whatever it got, once nothing more has come for 200 ms, with a fixed 200.
struct Recorder {
    port: u16,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    async fn start() -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bytes.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    loop {
                        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf))
                            .await
                        {
                            Ok(Ok(0)) | Ok(Err(_)) => return,
                            Ok(Ok(n)) => seen.lock().unwrap().extend_from_slice(&buf[..n]),
                            Err(_) => {
                                let _ = s
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Recorder { port, bytes, task }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }
}

/// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 section 6.1: a proxy must not
/// guess): 400 `BAD_REQUEST`, the connection closed, and the sandbox gets no byte of it.
/// hyper drops the `Content-Length` before the gateway sees the request, so the gateway
/// reads the request head off the wire itself.
#[tokio::test]
async fn content_length_with_transfer_encoding_never_reaches_the_sandbox() {
    let rec = Recorder::start().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", rec.port).await;
    for order in [
        "content-length: 5\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: chunked\r\ncontent-length: 5\r\n",
        "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let request = format!(
            "POST /upload HTTP/1.1\r\nhost: {host}\r\n{order}\r\n0\r\n\r\n\
             GET /smuggled HTTP/1.1\r\nhost: {host}\r\n\r\n"
        );
        let (text, closed) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(
            status(&text),
            400,
            "{order:?}: {text}\nthe sandbox received: {:?}",
            rec.received()
        );
        assert!(text.contains("BAD_REQUEST"), "{order:?}: {text}");
        assert!(closed, "{order:?}: the connection stayed open");
        assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{order:?}: {text}");
        assert_eq!(
            rec.received(),
            "",
            "{order:?}: the sandbox received a request"
        );
    }
}

/// The same on a kept-alive connection, after requests whose bodies (chunked, with a
/// `Content-Length`) hold bytes that look like headers: each of those is forwarded, and only
/// the request with both headers is refused.
#[tokio::test]
async fn content_length_with_transfer_encoding_after_other_requests() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let decoy = "x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n";
    let requests = format!(
        "POST /echo HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{decoy}\r\n0\r\nx-trailer: 1\r\n\r\n\
         POST /echo HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n\r\n{decoy}\
         POST /echo HTTP/1.1\r\nhost: {host}\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n\
         0\r\n\r\n",
        decoy.len(),
        decoy.len(),
    );
    let (text, closed) = raw(gw.local_addr(), requests.as_bytes()).await;
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "400"], "{text}");
    assert_eq!(
        text.matches(&format!(r#""body_len":{}"#, decoy.len()))
            .count(),
        2,
        "{text}"
    );
    assert!(closed);
    // Without the ambiguous request, the connection serves on.
    let requests = format!(
        "POST /echo HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x}\r\n{decoy}\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nhost: {host}\r\n\r\n",
        decoy.len(),
    );
    let (text, closed) = raw(gw.local_addr(), requests.as_bytes()).await;
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(!closed);
}

/// A request mounted in a host application, whose server may keep both headers: refused on
/// the headers themselves.
#[tokio::test]
async fn a_mounted_gateway_refuses_both_framing_headers() {
    let up = start_upstream().await;
    let p = portway::Portway::builder().build().unwrap();
    let host = expose(&p, "box", up.port()).await;
    let req = http::Request::builder()
        .method("POST")
        .uri("/echo")
        .header("host", &host)
        .header("content-length", "5")
        .header("transfer-encoding", "chunked")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"hello",
        )))
        .unwrap();
    let res = p.gateway().unwrap().proxy_to_sandbox(req).await.unwrap();
    assert_eq!(res.status(), 400);
}

/// `Transfer-Encoding` other than `chunked` alone (`gzip, chunked`, `chunked` twice, codings
/// over two lines): hyper would decode the chunks and the gateway forward them as a plain
/// chunked body, the `gzip` lost. Refused with 400 instead, and the sandbox gets nothing.
#[tokio::test]
async fn transfer_codings_other_than_chunked_are_refused() {
    let rec = Recorder::start().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", rec.port).await;
    for framing in [
        "transfer-encoding: gzip, chunked\r\n",
        "transfer-encoding: chunked, chunked\r\n",
        "transfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: identity, chunked\r\n",
    ] {
        let request = format!(
            "POST /upload HTTP/1.1\r\nhost: {host}\r\n{framing}\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let (text, closed) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(
            status(&text),
            400,
            "{framing:?}: {text}\nthe sandbox received: {:?}",
            rec.received()
        );
        assert!(text.contains("BAD_REQUEST"), "{framing:?}: {text}");
        assert!(closed, "{framing:?}");
        assert_eq!(
            rec.received(),
            "",
            "{framing:?}: the sandbox received a request"
        );
    }
    // `chunked` alone, in any case, is forwarded.
    let up = start_upstream().await;
    let host = expose(&p, "other", up.port()).await;
    for framing in ["chunked", "Chunked", " chunked "] {
        let request = format!(
            "POST /echo HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding:{framing}\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n"
        );
        let (text, _) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(status(&text), 200, "{framing:?}: {text}");
        assert!(text.contains(r#""body_len":5"#), "{framing:?}: {text}");
    }
}

/// RFC 9112 section 3.2: an HTTP/1.1 request without `Host`, with two `Host` lines, or with a
/// `Host` whose port is not a port gets 400 (and the connection is closed); such a request
/// never reaches a sandbox. An HTTP/1.0 request may go without `Host` (it is no preview
/// request: 404).
#[tokio::test]
async fn malformed_hosts_are_refused_with_400() {
    let rec = Recorder::start().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", rec.port).await;
    let cases = [
        ("no Host", "GET / HTTP/1.1\r\n\r\n".to_owned()),
        (
            "two Host lines, the same",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nHost: {host}\r\n\r\n"),
        ),
        (
            "two Host lines, another host second",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nhost: example.com\r\n\r\n"),
        ),
        (
            "two Host lines, the preview host second",
            format!("GET / HTTP/1.1\r\nhost: example.com\r\nhost: {host}\r\n\r\n"),
        ),
        (
            "a port that is a name",
            format!("GET / HTTP/1.1\r\nhost: {host}:http\r\n\r\n"),
        ),
        (
            "a port over 65535",
            format!("GET / HTTP/1.1\r\nhost: {host}:99999\r\n\r\n"),
        ),
        (
            "a port of 65536",
            format!("GET / HTTP/1.1\r\nhost: {host}:65536\r\n\r\n"),
        ),
        (
            "a negative port",
            format!("GET / HTTP/1.1\r\nhost: {host}:-1\r\n\r\n"),
        ),
        (
            "a port with a letter after it",
            format!("GET / HTTP/1.1\r\nhost: {host}:8080x\r\n\r\n"),
        ),
        (
            "two ports",
            format!("GET / HTTP/1.1\r\nhost: {host}:80:80\r\n\r\n"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, request) in cases {
        let (text, closed) = raw(gw.local_addr(), request.as_bytes()).await;
        if status(&text) != 400 || !text.contains("BAD_REQUEST") || !closed {
            failures.push(format!("{name}: closed={closed} {text}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(rec.received(), "", "the sandbox received a request");
    // HTTP/1.0 without Host: not a preview request.
    let (text, _) = raw(gw.local_addr(), b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status(&text), 404, "{text}");
    assert!(text.contains("NOT_FOUND"), "{text}");
    // A valid port, and an empty one (RFC 3986 allows it), still route.
    for port in [":8080", ":0", ":65535", ":"] {
        let request = format!("GET / HTTP/1.1\r\nhost: {host}{port}\r\nconnection: close\r\n\r\n");
        let (text, _) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(status(&text), 200, "{port:?}: {text}");
    }
}

/// The fixture service (tests/fixture) on an ephemeral port; aborted when dropped.
struct Fixture {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fixture() -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    Fixture {
        port,
        task: tokio::spawn(portway_fixture::serve(listener)),
    }
}

/// A query component with every byte but unreserved ones percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Cookie tossing: a sandbox's `Set-Cookie` with a `Domain` other than its own preview host
/// (the shared preview domain, another sandbox's host) would reach every preview under that
/// domain. The gateway drops the `Domain` attribute, so the cookie is host-only; everything
/// else in the header stays byte for byte. A `Domain` that is the preview host itself (any
/// case, a leading dot) is kept.
#[tokio::test]
async fn cookies_for_the_whole_preview_domain_become_host_only() {
    let fx = fixture().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", fx.port).await;
    let other = format!("{}-other-tok_other1.localhost", fx.port);
    let upper = host.to_ascii_uppercase();
    let cases: Vec<(String, String)> = vec![
        ("a=1; Domain=localhost; Path=/".into(), "a=1; Path=/".into()),
        (
            "b=2; Path=/; domain=.LOCALHOST; Secure".into(),
            "b=2; Path=/; Secure".into(),
        ),
        (
            "g=7;Domain=localhost;HttpOnly".into(),
            "g=7;HttpOnly".into(),
        ),
        (format!("e=5; Domain={other}"), "e=5".into()),
        (
            "k=1; Domain=box.localhost; Max-Age=60".into(),
            "k=1; Max-Age=60".into(),
        ),
        (
            format!("h=8; Domain=localhost; SameSite=Lax; Domain={host}"),
            "h=8; SameSite=Lax".into(),
        ),
        // Its own host: kept as it is.
        (
            format!("c=3; Domain={host}; Path=/"),
            format!("c=3; Domain={host}; Path=/"),
        ),
        (
            format!("d=4; Domain=.{upper}"),
            format!("d=4; Domain=.{upper}"),
        ),
        // No Domain, an empty one, or `Domain=` inside the value: nothing to change.
        ("f=6; Path=/".into(), "f=6; Path=/".into()),
        ("j=9; Domain=; Path=/".into(), "j=9; Domain=; Path=/".into()),
        (
            "i=Domain=localhost; Path=/".into(),
            "i=Domain=localhost; Path=/".into(),
        ),
        (
            "l=\"a;b\" ;  Domain = localhost ;Path=/x".into(),
            "l=\"a;b\" ;Path=/x".into(),
        ),
    ];
    let query: Vec<String> = cases
        .iter()
        .map(|(c, _)| format!("set-cookie={}", encode(c)))
        .collect();
    let path = format!("/response-headers?{}", query.join("&"));
    for client_host in [host.clone(), format!("{host}:{}", gw.local_addr().port())] {
        let got = get(gw.local_addr(), &client_host, &path).await;
        assert_eq!(got.status, 200, "{}", got.text());
        let cookies: Vec<&str> = got
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        let want: Vec<&str> = cases.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(cookies, want, "Host {client_host}");
    }
}

fn with_referrer_policy(value: &str) -> portway::Result<portway::GatewayConfig> {
    let mut opts = portway::GatewayOptions::default();
    opts.set(
        "referrer_policy",
        portway::options::OptionValue::Text(value.into()),
        portway::options::TimeUnit::Seconds,
        "referrer_policy",
    )?;
    opts.resolve()
}

/// The preview origin holds the token, and browsers send the origin in `Referer` to other
/// sites: a sandbox's response without `Referrer-Policy` gets `same-origin` (the default of
/// `referrer_policy`); one with its own keeps it; `""` turns it off; a list is sent as given.
#[tokio::test]
async fn responses_get_a_referrer_policy_unless_they_have_one() {
    let fx = fixture().await;
    let policy = |got: &Got| -> Vec<String> {
        got.headers
            .get_all("referrer-policy")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", fx.port).await;
    for path in ["/echo", "/status/404", "/redirect", "/stream/2"] {
        let got = get(gw.local_addr(), &host, path).await;
        assert_eq!(policy(&got), ["same-origin"], "{path}");
    }
    let own = "/response-headers?referrer-policy=no-referrer&referrer-policy=origin";
    let got = get(gw.local_addr(), &host, own).await;
    assert_eq!(policy(&got), ["no-referrer", "origin"]);
    let got = get(gw.local_addr(), &host, "/response-headers?Referrer-Policy=").await;
    assert_eq!(
        policy(&got),
        [""],
        "an empty policy of the sandbox's own is kept"
    );

    for (value, want) in [
        ("", vec![]),
        (
            "no-referrer, strict-origin-when-cross-origin",
            vec!["no-referrer, strict-origin-when-cross-origin".to_owned()],
        ),
    ] {
        let (p, gw) = gateway_with(with_referrer_policy(value).unwrap()).await;
        let host = expose(&p, "box", fx.port).await;
        let got = get(gw.local_addr(), &host, "/echo").await;
        assert_eq!(policy(&got), want, "{value:?}");
    }
}

#[test]
fn referrer_policy_takes_the_policy_tokens_of_the_w3c_spec() {
    for good in [
        "",
        "no-referrer",
        "no-referrer-when-downgrade",
        "same-origin",
        "origin",
        "strict-origin",
        "origin-when-cross-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
        "no-referrer, strict-origin-when-cross-origin",
        " origin ,unsafe-url",
    ] {
        with_referrer_policy(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    for bad in [
        "unsafe",
        "Same-Origin",
        "same-origin,",
        ",same-origin",
        "same-origin,,origin",
        "same origin",
        "same-origin;",
        " ",
        "no-referrer\r\nx-injected: 1",
    ] {
        let err = with_referrer_policy(bad).unwrap_err();
        assert_eq!(err.code().as_str(), "INVALID_CONFIG", "{bad:?}");
    }
    let fields = portway::GatewayConfig::fields();
    let field = fields.iter().find(|f| f.name == "referrer_policy");
    assert_eq!(
        field.map(|f| f.default.clone()),
        Some(serde_json::json!("same-origin"))
    );
}

/// A duration set straight on the Rust struct is bounded as one given through the options
/// is: `Duration::MAX` (which would overflow the timers of every connection task) is
/// `INVALID_CONFIG` naming the field, for each of the table's durations.
#[test]
fn durations_set_on_the_struct_are_bounded_too() {
    use portway::GatewayConfig;
    let long = Duration::MAX;
    let cases: [(&str, GatewayConfig); 11] = [
        (
            "head_timeout",
            GatewayConfig {
                head_timeout: long,
                ..Default::default()
            },
        ),
        (
            "idle_timeout",
            GatewayConfig {
                idle_timeout: long,
                ..Default::default()
            },
        ),
        (
            "ws_idle_timeout",
            GatewayConfig {
                ws_idle_timeout: long,
                ..Default::default()
            },
        ),
        (
            "upstream_pool_idle_timeout",
            GatewayConfig {
                upstream_pool_idle_timeout: long,
                ..Default::default()
            },
        ),
        (
            "connect_retry_window",
            GatewayConfig {
                connect_retry_window: long,
                ..Default::default()
            },
        ),
        (
            "connect_timeout",
            GatewayConfig {
                connect_timeout: long,
                ..Default::default()
            },
        ),
        (
            "response_timeout",
            GatewayConfig {
                response_timeout: long,
                ..Default::default()
            },
        ),
        (
            "shutdown_timeout",
            GatewayConfig {
                shutdown_timeout: long,
                ..Default::default()
            },
        ),
        (
            "idle_after",
            GatewayConfig {
                idle_after: long,
                ..Default::default()
            },
        ),
        (
            "wake_timeout",
            GatewayConfig {
                wake_timeout: long,
                ..Default::default()
            },
        ),
        (
            "wake_page_after",
            GatewayConfig {
                wake_page_after: long,
                ..Default::default()
            },
        ),
    ];
    let durations = GatewayConfig::fields()
        .into_iter()
        .filter(|f| f.kind == portway::options::OptionKind::Duration)
        .count();
    assert_eq!(
        durations,
        cases.len(),
        "a duration of the table has no case here"
    );
    for (name, config) in cases {
        let err = config.validate().expect_err(name);
        assert_eq!(err.code().as_str(), "INVALID_CONFIG", "{name}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    // One year is the bound, and allowed.
    let year = Duration::from_secs(365 * 86_400);
    assert!(
        GatewayConfig {
            idle_timeout: year,
            ..Default::default()
        }
        .validate()
        .is_ok()
    );
}
