//! The gateway against real upstream servers on loopback: one test (at least) per rule of
//! docs/spec/gateway.md that a single request cannot show (the rest are cases of
//! tests/vectors/gateway.json, run by gateway_vectors.rs).

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use portway::{ExposeOptions, GatewayConfig, Portway};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What the sandbox sees of a WebSocket handshake (the HTTP side is in
/// tests/vectors/gateway.json, run by gateway_vectors.rs).
#[tokio::test]
async fn websocket_handshake_headers_as_the_upstream_sees_them() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let host_with_port = format!("{host}:{}", gw.local_addr().port());
    let mut ws = ws_client(gw.local_addr(), &host_with_port, "/ws")
        .await
        .unwrap();
    ws.send(Message::Text("headers".into())).await.unwrap();
    let Some(Ok(Message::Text(seen))) = ws.next().await else {
        panic!("no headers")
    };
    let seen: serde_json::Value = serde_json::from_str(seen.as_str()).unwrap();
    assert_eq!(seen["host"], format!("localhost:{}", up.port()));
    assert_eq!(seen["x-forwarded-host"], host_with_port);
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn the_four_unknown_cases_are_identical_404s() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let token = host
        .split('.')
        .next()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .to_owned();
    let other_port = if up.port() == 65535 {
        up.port() - 1
    } else {
        up.port() + 1
    };
    let gone = expose(&p, "gone", up.port()).await;
    p.sandbox("gone", "127.0.0.1")
        .unwrap()
        .destroy()
        .await
        .unwrap();
    let cases = [
        format!("{}-nobody-{token}.localhost", up.port()), // unknown sandbox
        format!("{other_port}-box-{token}.localhost"),     // port not exposed
        format!("{}-box-wrongtoken12345.localhost", up.port()), // wrong token
        gone,                                              // destroyed sandbox
    ];
    let mut answers = Vec::new();
    for host in &cases {
        let got = get(gw.local_addr(), host, "/echo").await;
        let mut headers: Vec<(String, String)> = got
            .headers
            .iter()
            .filter(|(k, _)| *k != "date")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        answers.push((got.status, headers, got.body));
    }
    assert_eq!(answers[0].0, 404);
    assert_eq!(answers[0].2, Bytes::from_static(br#"{"code":"INVALID_TOKEN","error":"Access denied: Invalid token or port not exposed"}"#));
    for a in &answers[1..] {
        assert_eq!(a, &answers[0]);
    }
}

/// Stopping and running again changes nothing in the URL (the 410 itself is a vector).
#[tokio::test]
async fn stopped_is_410_and_running_again_serves_the_same_url() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    sb.mark_stopped().await.unwrap();
    assert_eq!(get(gw.local_addr(), &host, "/echo").await.status, 410);
    sb.mark_running().await.unwrap();
    assert_eq!(get(gw.local_addr(), &host, "/echo").await.status, 200);
}

/// The 502 comes only after the retry window (the 502 itself is a vector).
#[tokio::test]
async fn nothing_listening_is_502_after_the_retry_window() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let cfg = GatewayConfig {
        connect_retry_window: Duration::from_millis(300),
        ..Default::default()
    };
    let (p, gw) = gateway_with(cfg).await;
    let host = expose(&p, "box", port).await;
    let started = tokio::time::Instant::now();
    let got = get(gw.local_addr(), &host, "/").await;
    assert_eq!(got.status, 502);
    assert_eq!(got.json()["code"], "PORT_NOT_LISTENING");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "gave up after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_service_starting_inside_the_retry_window_is_reached() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let (p, gw) = gateway().await; // default window: 1 s
    let host = expose(&p, "box", addr.port()).await;
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        start_upstream_on(TcpListener::bind(addr).await.unwrap()).await
    });
    let got = get(gw.local_addr(), &host, "/echo").await;
    assert_eq!(got.status, 200);
    drop(late.await.unwrap());
}

#[tokio::test]
async fn server_sent_events_arrive_one_at_a_time() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let stream = TcpStream::connect(gw.local_addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("/sse")
        .header("host", &host)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    up.sse_next.send(()).await.unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    for i in 0..3 {
        // Event i was released; event i+1 is not yet: the client must see i alone, now.
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("event held back")
            .unwrap()
            .unwrap();
        assert_eq!(
            frame.into_data().unwrap(),
            Bytes::from(format!("data: event {i}\n\n"))
        );
        up.sse_next.send(()).await.unwrap();
    }
}

#[tokio::test]
async fn websocket_echo_and_close_codes_both_ways() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;

    let mut ws = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
    ws.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("hello".into())
    );
    let blob: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    ws.send(Message::Binary(blob.clone().into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Binary(blob.into())
    );

    // Client closes with 4001: the sandbox sees it and answers with the same frame.
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::from(4001),
        reason: "client bye".into(),
    })))
    .await
    .unwrap();
    let echoed = loop {
        match ws.next().await {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    let f = echoed.unwrap();
    assert_eq!((u16::from(f.code), f.reason.as_str()), (4001, "client bye"));

    // The sandbox closes with 4001: the client gets its code and reason.
    let mut ws = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
    ws.send(Message::Text("close:4001:sandbox bye".into()))
        .await
        .unwrap();
    let f = loop {
        match ws.next().await {
            Some(Ok(Message::Close(f))) => break f.unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(
        (u16::from(f.code), f.reason.as_str()),
        (4001, "sandbox bye")
    );
}

/// A masked client frame, as a browser would send it.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![first];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

#[tokio::test]
async fn websocket_frames_pass_through_whole_however_they_are_cut() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let mut ws = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();

    // A text message in three fragments with a ping between them, written one byte at a
    // time so that every frame header is split across reads.
    let mut bytes = client_frame(0x01, b"frag");
    bytes.extend(client_frame(0x89, b"are you there"));
    bytes.extend(client_frame(0x00, &[b'm'; 300]));
    bytes.extend(client_frame(0x80, b"ents"));
    for b in &bytes {
        ws.get_mut().write_all(&[*b]).await.unwrap();
        ws.get_mut().flush().await.unwrap();
    }
    let mut want = String::from("frag");
    want.push_str(&"m".repeat(300));
    want.push_str("ents");
    let (mut pong, mut echo) = (None, None);
    while pong.is_none() || echo.is_none() {
        match ws.next().await.unwrap().unwrap() {
            Message::Pong(p) => pong = Some(p),
            Message::Text(t) => echo = Some(t.to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pong.unwrap().as_ref(), b"are you there");
    assert_eq!(echo.unwrap(), want);

    // A close handshake ends the session at once, not after the relay's grace period.
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    }))
    .await
    .unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    assert!(websocket_sessions_reach(&gw, 0, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn websocket_messages_over_the_limit_close_the_session_with_1009() {
    let up = start_upstream().await;
    let cfg = GatewayConfig {
        ws_max_message_size: 1024,
        ws_max_frame_size: 1024,
        ..Default::default()
    };
    let (p, gw) = gateway_with(cfg).await;
    let host = expose(&p, "box", up.port()).await;
    let mut ws = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
    ws.send(Message::Binary(vec![0u8; 4096].into()))
        .await
        .unwrap();
    let f = loop {
        match ws.next().await {
            Some(Ok(Message::Close(f))) => break f.unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(f.code), 1009);
    assert!(websocket_sessions_reach(&gw, 0, Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_websocket_sessions() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let addr = gw.local_addr();
    let mut sockets = Vec::new();
    for _ in 0..1000 {
        sockets.push(ws_client(addr, &host, "/ws").await.unwrap());
    }
    assert!(websocket_sessions_reach(&gw, 1000, Duration::from_secs(10)).await);
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                let text = format!("session {i}");
                ws.send(Message::Text(text.clone().into())).await.unwrap();
                assert_eq!(
                    ws.next().await.unwrap().unwrap(),
                    Message::Text(text.into())
                );
                ws.close(None).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(websocket_sessions_reach(&gw, 0, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_slow_loris_is_cut_off_at_the_head_timeout() {
    let cfg = GatewayConfig {
        head_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let (_p, gw) = gateway_with(cfg).await;
    let mut s = TcpStream::connect(gw.local_addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x.localhost\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    // Keep dribbling header bytes; the gateway must still close at the head timeout.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            tokio::select! {
                n = s.read(&mut buf) => break n,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    let _ = s.write_all(b"x-a: b\r\n").await;
                }
            }
        }
    })
    .await
    .expect("the slow client was never cut off");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3),
        "cut after {elapsed:?}"
    );
    let n = closed.unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let cfg = GatewayConfig {
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (_p, gw) = gateway_with(cfg).await;
    let mut s = TcpStream::connect(gw.local_addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x.localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 404"));
    let rest = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("the idle connection stayed open");
    assert_eq!(rest.unwrap(), 0);
}

#[tokio::test]
async fn over_the_connection_limit_new_connections_get_503() {
    let cfg = GatewayConfig {
        max_connections: 2,
        ..Default::default()
    };
    let (_p, gw) = gateway_with(cfg).await;
    let a = TcpStream::connect(gw.local_addr()).await.unwrap();
    let b = TcpStream::connect(gw.local_addr()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || gw
            .gateway()
            .metrics()
            .snapshot()
            .open_connections
            == 2)
        .await
    );
    let mut c = TcpStream::connect(gw.local_addr()).await.unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("TOO_MANY_CONNECTIONS"));
    drop((a, b));
    assert!(
        eventually(Duration::from_secs(2), || gw
            .gateway()
            .metrics()
            .snapshot()
            .open_connections
            == 0)
        .await
    );
    assert_eq!(get(gw.local_addr(), "x.localhost", "/").await.status, 404);
}

#[tokio::test]
async fn over_the_per_sandbox_limit_requests_get_429() {
    let (port, hold) = silent_service().await;
    let up = start_upstream().await;
    let cfg = GatewayConfig {
        max_connections_per_sandbox: 2,
        ..Default::default()
    };
    let (p, gw) = gateway_with(cfg).await;
    let busy = expose(&p, "busy", port).await;
    let other = expose(&p, "other", up.port()).await;
    let addr = gw.local_addr();
    let pending: Vec<_> = (0..2)
        .map(|_| {
            let busy = busy.clone();
            tokio::spawn(async move { get(addr, &busy, "/").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = get(addr, &busy, "/").await;
    assert_eq!(got.status, 429);
    assert_eq!(got.json()["code"], "SANDBOX_CONNECTION_LIMIT");
    // Another sandbox is not affected.
    assert_eq!(get(addr, &other, "/echo").await.status, 200);
    for t in pending {
        t.abort();
    }
    hold.abort();
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let addr = gw.local_addr();
    // An SSE stream is in flight: it keeps going until the deadline, then is closed.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("/sse")
        .header("host", &host)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    up.sse_next.send(()).await.unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    let mut ws = ws_client(addr, &host, "/ws").await.unwrap();

    let started = tokio::time::Instant::now();
    let shutdown = tokio::spawn(async move {
        gw.shutdown(Duration::from_millis(700)).await;
        gw
    });
    // WebSocket sessions are told the gateway is going away.
    let f = loop {
        match ws.next().await {
            Some(Ok(Message::Close(f))) => break f.unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(f.code), 1001);
    // New connections are refused once shutdown began.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(addr).await.is_err());
    // The in-flight stream still flows until the deadline.
    up.sse_next.send(()).await.unwrap();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        Bytes::from("data: event 1\n\n")
    );
    let gw = shutdown.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(650));
    assert!(body.frame().await.is_none_or(|f| f.is_err()));
    assert_eq!(gw.gateway().metrics().snapshot().open_connections, 0);
}

#[tokio::test]
async fn metrics_in_prometheus_text() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    get(gw.local_addr(), &host, "/echo").await;
    get(gw.local_addr(), "x.localhost", "/").await;
    let text = gw.gateway().metrics().render();
    assert!(
        text.contains("portway_requests_total{status=\"200\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("portway_requests_total{status=\"404\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("portway_upstream_latency_seconds_count 1\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE portway_open_connections gauge\n"),
        "{text}"
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_gateway() {
    let (_p, gw) = gateway().await;
    let addr = gw.local_addr();
    drop(gw);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn mounted_in_a_host_application() {
    use http::Request;
    let up = start_upstream().await;
    let p = Portway::builder().build().unwrap();
    let host = expose(&p, "box", up.port()).await;
    let gateway = p.gateway().unwrap();

    let req = Request::builder()
        .uri("/echo")
        .header("host", &host)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let res = gateway.proxy_to_sandbox(req).await.expect("a preview host");
    assert_eq!(res.status(), 200);

    let req = Request::builder()
        .uri("/app")
        .header("host", "app.example.com")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let back = gateway
        .proxy_to_sandbox(req)
        .await
        .expect_err("not a preview host");
    assert_eq!(back.uri(), "/app");

    use tower_service::Service;
    let mut svc = portway::GatewayService::new(gateway);
    let req = Request::builder()
        .uri("/")
        .header("host", "app.example.com")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(svc.call(req).await.unwrap().status(), 404);
}

#[tokio::test]
async fn exposure_changes_apply_to_the_next_request() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    let first = host_of(
        &sb.expose_port(up.port(), ExposeOptions::new("localhost"))
            .await
            .unwrap()
            .url,
    );
    assert_eq!(get(gw.local_addr(), &first, "/echo").await.status, 200);
    let rotated = host_of(
        &sb.expose_port(
            up.port(),
            ExposeOptions::new("localhost").token("rotated_tok"),
        )
        .await
        .unwrap()
        .url,
    );
    assert_eq!(get(gw.local_addr(), &first, "/echo").await.status, 404);
    assert_eq!(get(gw.local_addr(), &rotated, "/echo").await.status, 200);
    sb.unexpose_port(up.port()).await.unwrap();
    assert_eq!(get(gw.local_addr(), &rotated, "/echo").await.status, 404);
}

#[tokio::test]
async fn an_idle_websocket_session_is_closed_and_a_busy_one_is_not() {
    let up = start_upstream().await;
    let config = GatewayConfig {
        ws_idle_timeout: Duration::from_millis(600),
        ..Default::default()
    };
    let (p, gw) = gateway_with(config).await;
    let host = expose(&p, "box", up.port()).await;

    // A message every 200 ms keeps the session open past the idle timeout.
    let mut busy = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        busy.send(Message::Text(format!("ping {i}").into()))
            .await
            .unwrap();
        assert_eq!(
            busy.next().await.unwrap().unwrap(),
            Message::Text(format!("ping {i}").into())
        );
    }

    // A silent one is closed with 1001 once the timeout has passed, not before.
    let mut idle = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
    let t = tokio::time::Instant::now();
    let f = loop {
        match idle.next().await {
            Some(Ok(Message::Close(f))) => break f.unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert!(
        t.elapsed() >= Duration::from_millis(550),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        (u16::from(f.code), f.reason.as_str()),
        (1001, "idle timeout")
    );
}
