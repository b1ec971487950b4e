//! Hostile clients and broken sandboxes: every failure ends in a clean error or a cut
//! stream within the timeouts, the gateway serves on, and nothing leaks (the process's open
//! file descriptors and the gateway's gauges return to where they were).
//!
//! One test function runs the scenarios in turn: file-descriptor counts are per process, so
//! no other test may run beside them.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use portway::GatewayConfig;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits for the fd count to come back to `baseline` (a little slack for the runtime's own
/// descriptors), and for the gateway to hold no connection or session.
async fn settled(gw: &portway::GatewayHandle, baseline: usize, what: &str) {
    let ok = eventually(Duration::from_secs(10), || {
        let m = gw.gateway().metrics().snapshot();
        m.open_connections == 0 && m.websocket_sessions == 0 && open_fds() <= baseline + 2
    })
    .await;
    let m = gw.gateway().metrics().snapshot();
    assert!(
        ok,
        "{what}: left {} fds (baseline {baseline}), {m:?}",
        open_fds()
    );
}

/// A fake sandbox service that runs `behave` on each accepted connection.
async fn fake_service<F, Fut>(behave: F) -> (u16, tokio::task::JoinHandle<()>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let behave = std::sync::Arc::new(behave);
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let behave = behave.clone();
            tokio::spawn(async move { behave(s).await });
        }
    });
    (port, task)
}

async fn read_head(s: &mut TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_leave_no_trace() {
    let up = start_upstream().await;
    let cfg = GatewayConfig {
        idle_timeout: Duration::from_millis(500),
        max_connections: 64,
        response_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (p, gw) = gateway_with(cfg).await;
    let addr = gw.local_addr();
    let good = expose(&p, "good", up.port()).await;
    assert_eq!(get(addr, &good, "/echo").await.status, 200);
    let baseline = open_fds();

    // A client that asks for a big download and never reads it: cut at the idle timeout,
    // and others are served meanwhile.
    {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "GET /download?bytes={} HTTP/1.1\r\nhost: {good}\r\n\r\n",
                200 << 20
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(get(addr, &good, "/echo").await.status, 200);
        settled(&gw, baseline + 1, "a client that never reads").await; // `s` itself is still open here
        drop(s);
    }
    settled(&gw, baseline, "a client that never reads").await;

    // A flood past max_connections: the excess gets 503 and is closed; afterwards all is well.
    {
        let mut held = Vec::new();
        for _ in 0..64 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        assert!(
            eventually(Duration::from_secs(5), || gw
                .gateway()
                .metrics()
                .snapshot()
                .open_connections
                == 64)
            .await
        );
        let mut refused = 0;
        for _ in 0..50 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut text = String::new();
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut text)).await;
            if text.starts_with("HTTP/1.1 503") {
                refused += 1;
            }
        }
        assert_eq!(refused, 50);
        drop(held);
    }
    settled(&gw, baseline, "a connection flood").await;
    assert_eq!(get(addr, &good, "/echo").await.status, 200);

    // Slow-loris clients are cut at the head timeout (default 10 s is long: use raw bytes
    // that never finish and rely on the idle timeout of 500 ms).
    {
        let mut loris = Vec::new();
        for _ in 0..20 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nhost: x.localhost\r\n")
                .await
                .unwrap();
            loris.push(s);
        }
        assert_eq!(get(addr, &good, "/echo").await.status, 200);
        for mut s in loris {
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("a slow-loris client was not cut");
            assert!(matches!(n, Ok(0) | Err(_)) || buf.starts_with(b"HTTP/1.1 408"));
        }
    }
    settled(&gw, baseline, "slow-loris clients").await;

    // WebSocket: invalid frames from the client close the session with 1002.
    {
        let mut ws = ws_client(addr, &good, "/ws").await.unwrap();
        ws.send(Message::Text("hi".into())).await.unwrap();
        ws.next().await.unwrap().unwrap();
        let mut tcp = ws.into_inner();
        // An unmasked frame with a reserved opcode: a protocol error from a client.
        tcp.write_all(&[0x83, 0x02, b'x', b'y']).await.unwrap();
        let mut buf = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        if n >= 4 {
            assert_eq!(buf[0], 0x88, "expected a close frame");
            assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 1002);
        }
    }
    settled(&gw, baseline, "invalid WebSocket frames").await;

    // WebSocket: a client that vanishes without a close.
    {
        let mut ws = ws_client(addr, &good, "/ws").await.unwrap();
        ws.send(Message::Text("hi".into())).await.unwrap();
        ws.next().await.unwrap().unwrap();
        drop(ws);
    }
    settled(&gw, baseline, "a vanished WebSocket client").await;

    // WebSocket: a sandbox that resets the connection mid-session.
    let (reset_port, reset_task) = fake_service(|s| async move {
        let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
        let _ = ws.next().await;
        let tcp = ws.into_inner();
        let _ = tcp.set_zero_linger();
        drop(tcp); // RST
    })
    .await;
    {
        let host = expose(&p, "resets", reset_port).await;
        let mut ws = ws_client(addr, &host, "/").await.unwrap();
        ws.send(Message::Text("hi".into())).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the client was left hanging");
        match end {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1011),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    settled(&gw, baseline + 1, "a sandbox that resets a WebSocket").await; // + the fake service's listener
    reset_task.abort();

    // A sandbox that dies mid-response: the client sees a cut stream, not a hang.
    let (dies_port, dies_task) = fake_service(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
            .await;
        let _ = s.write_all(&[b'z'; 1000]).await;
    })
    .await;
    {
        let host = expose(&p, "dies", dies_port).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::builder()
            .uri("/")
            .header("host", &host)
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = tokio::time::timeout(Duration::from_secs(5), res.into_body().collect())
            .await
            .expect("the cut stream hung");
        assert!(body.is_err(), "a truncated body must not look complete");
    }
    settled(&gw, baseline + 1, "a sandbox that dies mid-response").await;
    dies_task.abort();

    // A sandbox that answers garbage: 502.
    let (garbage_port, garbage_task) = fake_service(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02garbage\r\n\r\n")
            .await;
    })
    .await;
    {
        let host = expose(&p, "garbage", garbage_port).await;
        let got = get(addr, &host, "/").await;
        assert_eq!(got.status, 502);
        assert_eq!(got.json()["code"], "UPSTREAM_ERROR");
    }
    settled(&gw, baseline + 1, "a sandbox that answers garbage").await;
    garbage_task.abort();

    // A sandbox that accepts and never answers: 504 at the response timeout.
    let (silent_port, silent_task) = fake_service(|mut s| async move {
        read_head(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    {
        let host = expose(&p, "silent", silent_port).await;
        let started = tokio::time::Instant::now();
        let got = get(addr, &host, "/").await;
        assert_eq!(got.status, 504);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    silent_task.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;
    settled(&gw, baseline, "a sandbox that never answers").await;

    assert_eq!(get(addr, &good, "/echo").await.status, 200);
}
