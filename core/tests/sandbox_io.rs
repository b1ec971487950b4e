//! `ws_connect` and `wait_for_port` against real services on loopback.

mod support;

use std::time::Duration;

use portway::{Portway, WaitMode, WaitOptions, WsConnectOptions, WsMessage};
use support::*;
use tokio::net::TcpListener;

fn sandbox() -> portway::Sandbox {
    Portway::builder()
        .build()
        .unwrap()
        .sandbox("box", "127.0.0.1")
        .unwrap()
}

fn ws_opts(path: &str) -> WsConnectOptions {
    WsConnectOptions {
        path: path.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn ws_connect_sends_receives_and_closes_with_a_code() {
    let up = start_upstream().await;
    let sb = sandbox();
    let ws = sb.ws_connect(up.port(), ws_opts("/ws")).await.unwrap();
    ws.send_text("hello").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        Some(WsMessage::Text("hello".into()))
    );
    ws.send_binary(vec![0u8, 1, 2, 255]).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        Some(WsMessage::Binary(vec![0, 1, 2, 255]))
    );
    ws.close(4001, "host bye").await.unwrap();
    // The echo server answers with the same frame.
    assert_eq!(ws.close_code(), Some(4001));
    assert_eq!(ws.close_reason().as_deref(), Some("host bye"));
    assert_eq!(ws.recv().await.unwrap(), None);
    assert_eq!(
        ws.send_text("late").await.unwrap_err().code().as_str(),
        "WS_CLOSED"
    );
    ws.close(1000, "").await.unwrap(); // twice is harmless
}

#[tokio::test]
async fn ws_connect_sees_the_service_close() {
    let up = start_upstream().await;
    let ws = sandbox()
        .ws_connect(up.port(), ws_opts("/ws"))
        .await
        .unwrap();
    ws.send_text("close:4001:service bye").await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), None);
    assert_eq!(ws.close_code(), Some(4001));
    assert_eq!(ws.close_reason().as_deref(), Some("service bye"));
    assert!(ws.is_closed());
}

#[tokio::test]
async fn ws_connect_offers_subprotocols_and_headers() {
    let up = start_upstream().await;
    let opts = WsConnectOptions {
        path: "/ws".into(),
        subprotocols: vec!["chat.v2".into(), "chat.v1".into()],
        headers: vec![("x-user".into(), "ada".into())],
        ..Default::default()
    };
    let ws = sandbox().ws_connect(up.port(), opts).await.unwrap();
    assert_eq!(ws.protocol(), Some("chat.v2"));
    ws.send_text("headers").await.unwrap();
    let Some(WsMessage::Text(seen)) = ws.recv().await.unwrap() else {
        panic!()
    };
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["x-user"], "ada");
    assert_eq!(seen["host"], format!("localhost:{}", up.port()));
}

#[tokio::test]
async fn ws_connect_host_header_replaces_the_default() {
    let up = start_upstream().await;
    let opts = WsConnectOptions {
        path: "/ws".into(),
        headers: vec![("Host".into(), "8080-box-token123.localhost".into())],
        ..Default::default()
    };
    let ws = sandbox().ws_connect(up.port(), opts).await.unwrap();
    ws.send_text("headers").await.unwrap();
    let Some(WsMessage::Text(seen)) = ws.recv().await.unwrap() else {
        panic!()
    };
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["host"], "8080-box-token123.localhost");
}

#[tokio::test]
async fn ws_connect_refused_handshake_carries_the_status() {
    let up = start_upstream().await;
    let err = sandbox()
        .ws_connect(up.port(), ws_opts("/ws-refuse"))
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "WS_CONNECT_FAILED");
    assert_eq!(err.http_status(), Some(403));
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let err = sandbox()
        .ws_connect(port, ws_opts("/ws"))
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "WS_CONNECT_FAILED");
    assert_eq!(err.http_status(), None);
    assert_eq!(
        sandbox()
            .ws_connect(80, ws_opts("/"))
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "INVALID_PORT"
    );
    assert_eq!(
        sandbox()
            .ws_connect(up.port(), ws_opts("no-slash"))
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "INVALID_ARGUMENT"
    );
}

#[tokio::test]
async fn ws_connect_limits_message_size_and_close_codes() {
    let up = start_upstream().await;
    let opts = WsConnectOptions {
        path: "/ws".into(),
        max_message_size: 1024,
        ..Default::default()
    };
    let ws = sandbox().ws_connect(up.port(), opts).await.unwrap();
    assert_eq!(
        ws.send_binary(vec![0u8; 4096])
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "WS_ERROR"
    );
    assert_eq!(
        ws.close(1006, "").await.unwrap_err().code().as_str(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        ws.close(4000, &"x".repeat(124))
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "INVALID_ARGUMENT"
    );
}

#[tokio::test]
async fn ws_connect_drop_closes_the_socket() {
    let up = start_upstream().await;
    let ws = sandbox()
        .ws_connect(up.port(), ws_opts("/ws"))
        .await
        .unwrap();
    ws.send_text("x").await.unwrap();
    drop(ws); // must not hang or leak the reader task
}

#[tokio::test]
async fn ws_connect_close_ends_the_tcp_connection() {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_close() {
                break;
            }
        }
        let _ = ws.flush().await; // the answer to the client's close
        // As RFC 6455 asks, the server ends the TCP connection first (as `ws` does); the client
        // must then close its side, with the WebSocket object still alive: a server must not
        // wait for the client's garbage collector.
        let _ = ws.get_mut().shutdown().await;
        let mut buf = [0u8; 64];
        tokio::time::timeout(Duration::from_secs(3), ws.get_mut().read(&mut buf)).await
    });
    let ws = sandbox().ws_connect(port, ws_opts("/")).await.unwrap();
    ws.close(1000, "bye").await.unwrap();
    let read = server.await.unwrap();
    assert!(
        matches!(read, Ok(Ok(0))),
        "the client kept the TCP connection open: {read:?}"
    );
    drop(ws);
}

#[tokio::test]
async fn wait_for_port_tcp_and_http() {
    let up = start_upstream().await;
    let sb = sandbox();
    sb.wait_for_port(
        up.port(),
        WaitOptions {
            mode: WaitMode::Tcp,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    sb.wait_for_port(
        up.port(),
        WaitOptions {
            path: "/echo".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // /redirect answers 302: inside the default 200..=399, outside 200..=299.
    sb.wait_for_port(
        up.port(),
        WaitOptions {
            path: "/redirect".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let strict = WaitOptions {
        path: "/redirect".into(),
        status_max: 299,
        timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let err = sb.wait_for_port(up.port(), strict).await.unwrap_err();
    assert_eq!(err.code().as_str(), "PORT_WAIT_TIMEOUT");
    assert!(err.to_string().contains("302"), "{err}");
}

#[tokio::test]
async fn wait_for_port_waits_for_a_late_service_and_times_out_on_none() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let sb = sandbox();
    let err = sb
        .wait_for_port(
            addr.port(),
            WaitOptions {
                timeout: Duration::from_millis(300),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "PORT_WAIT_TIMEOUT");
    assert!(err.to_string().contains("nothing is listening"), "{err}");
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        start_upstream_on(TcpListener::bind(addr).await.unwrap()).await
    });
    let started = tokio::time::Instant::now();
    sb.wait_for_port(addr.port(), WaitOptions::default())
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(350));
    drop(late.await.unwrap());
}

#[tokio::test]
async fn wait_for_port_checks_its_options() {
    let sb = sandbox();
    for opts in [
        WaitOptions {
            path: "health".into(),
            ..Default::default()
        },
        WaitOptions {
            status_min: 300,
            status_max: 200,
            ..Default::default()
        },
        WaitOptions {
            status_max: 600,
            ..Default::default()
        },
        WaitOptions {
            timeout: Duration::ZERO,
            ..Default::default()
        },
    ] {
        assert_eq!(
            sb.wait_for_port(8080, opts)
                .await
                .unwrap_err()
                .code()
                .as_str(),
            "INVALID_ARGUMENT"
        );
    }
    assert_eq!(
        sb.wait_for_port(3000, WaitOptions::default())
            .await
            .unwrap_err()
            .code()
            .as_str(),
        "INVALID_PORT"
    );
}
