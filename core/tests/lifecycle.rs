//! Sandbox lifecycle against real services on 127.0.0.1: activity, idle events, the
//! registry's events, and waking a stopped sandbox on request (docs/spec/lifecycle.md).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use portway::{EventKind, GatewayConfig, GatewayHooks, Portway, WakeRequest};
use support::*;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// A Portway with domain `localhost` and `config`, and a gateway with `hooks`.
async fn gateway_hooked(
    config: GatewayConfig,
    hooks: GatewayHooks,
) -> (Portway, portway::GatewayHandle) {
    let portway = Portway::builder().gateway_config(config).build().unwrap();
    let handle = portway.serve_with("127.0.0.1:0", hooks).await.unwrap();
    (portway, handle)
}

/// A free port nothing listens on (yet).
async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A hook that counts its calls and, after `delay`, starts the fixture service on `port`
/// (the sandbox's service coming up late).
fn starting_hook(
    port: u16,
    delay: Duration,
    calls: Arc<AtomicUsize>,
) -> impl Fn(WakeRequest) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    move |_req: WakeRequest| {
        let calls = calls.clone();
        Box::pin(async move {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
                    portway_fixture::serve(listener).await;
                });
            }
            Ok(())
        })
    }
}

async fn next_event(events: &portway::EventStream) -> portway::LifecycleEvent {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream is open")
}

#[tokio::test]
async fn requests_and_bytes_count_on_the_port_and_the_sandbox() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    assert_eq!(sb.activity().total.requests, 0);
    assert!(sb.activity().total.last_activity_at.is_none());
    let before = std::time::SystemTime::now();
    let got = request(
        gw.local_addr(),
        "POST",
        &host,
        "/upload",
        &[],
        Bytes::from(vec![b'x'; 1000]),
    )
    .await;
    assert_eq!(got.status, 200);
    let got = get(gw.local_addr(), &host, "/download?bytes=5000").await;
    assert_eq!(got.body.len(), 5000);
    let a = sb.activity();
    assert_eq!(a.total.requests, 2);
    assert_eq!(a.total.open_connections, 0);
    assert!(a.total.bytes_received >= 1000, "{a:?}");
    assert!(a.total.bytes_sent >= 5000, "{a:?}");
    assert!(a.total.last_activity_at.unwrap() >= before - Duration::from_millis(5));
    assert_eq!(a.ports.len(), 1);
    assert_eq!(a.ports[0].port, up.port());
    assert_eq!(a.ports[0].counts, a.total);
}

#[tokio::test]
async fn an_open_request_and_a_websocket_session_are_counted_open() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    let addr = gw.local_addr();
    let h = host.clone();
    // An SSE stream held open until the test releases an event.
    let sse = tokio::spawn(async move { get(addr, &h, "/sse").await });
    assert!(
        eventually(Duration::from_secs(5), || sb
            .activity()
            .total
            .open_connections
            == 1)
        .await
    );
    up.sse_next.send(()).await.unwrap();
    // The client goes away: the stream is no longer open.
    sse.abort();
    assert!(
        eventually(Duration::from_secs(5), || sb
            .activity()
            .total
            .open_connections
            == 0)
        .await
    );
    let mut ws = ws_client(addr, &host, "/ws").await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            let t = sb.activity().total;
            t.websocket_sessions == 1 && t.open_connections == 1
        })
        .await
    );
    ws.close(None).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            let t = sb.activity().total;
            t.websocket_sessions == 0 && t.open_connections == 0
        })
        .await
    );
}

/// A WebSocket service that sends a message of its own every `every`, unprompted.
async fn talking_ws_service(every: Duration) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                loop {
                    tokio::time::sleep(every).await;
                    if ws.send(Message::Text("tick".into())).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn websocket_messages_move_activity_in_both_directions() {
    // From the sandbox alone: a service that talks while the client stays silent.
    let (port, _service) = talking_ws_service(Duration::from_millis(100)).await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "talker", port).await;
    let sb = p.sandbox("talker", "127.0.0.1").unwrap();
    let mut ws = ws_client(gw.local_addr(), &host, "/").await.unwrap();
    let Some(Ok(Message::Text(_))) = ws.next().await else {
        panic!("no tick");
    };
    let first = sb.activity().total;
    let Some(Ok(Message::Text(_))) = ws.next().await else {
        panic!("no tick");
    };
    let second = sb.activity().total;
    assert!(second.bytes_sent > first.bytes_sent, "{first:?} {second:?}");
    assert!(second.last_activity_at > first.last_activity_at);
    assert_eq!(second.bytes_received, first.bytes_received);

    // From the client: the echo service.
    let up = start_upstream().await;
    let host = expose(&p, "echo", up.port()).await;
    let sb = p.sandbox("echo", "127.0.0.1").unwrap();
    let mut ws = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
    let before = sb.activity().total;
    tokio::time::sleep(Duration::from_millis(20)).await;
    ws.send(Message::Text("hello".into())).await.unwrap();
    let _ = ws.next().await;
    let after = sb.activity().total;
    assert!(after.bytes_received > before.bytes_received);
    assert!(after.last_activity_at > before.last_activity_at);
}

#[tokio::test]
async fn idle_fires_once_after_idle_after_and_again_only_after_new_traffic() {
    let up = start_upstream().await;
    let config = GatewayConfig {
        idle_after: Duration::from_millis(300),
        ..Default::default()
    };
    let (p, gw) = gateway_with(config).await;
    let host = expose(&p, "box", up.port()).await;
    let events = p.events();
    let start = Instant::now();
    let e = next_event(&events).await;
    assert_eq!((e.kind, e.sandbox_id.as_str()), (EventKind::Idle, "box"));
    assert!(start.elapsed() >= Duration::from_millis(200));
    // No second idle while nothing happens.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), events.next())
            .await
            .is_err()
    );
    assert_eq!(get(gw.local_addr(), &host, "/").await.status, 200);
    let traffic = Instant::now();
    let e = next_event(&events).await;
    assert_eq!(e.kind, EventKind::Idle);
    assert!(traffic.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn an_open_websocket_without_messages_is_idle_unless_websockets_keep_active() {
    for keep in [false, true] {
        let up = start_upstream().await;
        let config = GatewayConfig {
            idle_after: Duration::from_millis(300),
            websockets_keep_active: keep,
            ..Default::default()
        };
        let (p, gw) = gateway_with(config).await;
        let host = expose(&p, "box", up.port()).await;
        let _ws = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
        let events = p.events();
        let got = tokio::time::timeout(Duration::from_millis(1200), events.next()).await;
        if keep {
            assert!(got.is_err(), "keep-active: no idle with a session open");
        } else {
            assert_eq!(got.unwrap().unwrap().kind, EventKind::Idle);
        }
    }
}

#[tokio::test]
async fn a_sandbox_s_own_idle_after_wins() {
    let up = start_upstream().await;
    let (p, _gw) = gateway().await;
    expose(&p, "quick", up.port()).await;
    expose(&p, "never", up.port()).await;
    let quick = p.sandbox("quick", "127.0.0.1").unwrap();
    quick
        .set_idle_after(Some(Duration::from_millis(200)))
        .unwrap();
    p.sandbox("never", "127.0.0.1")
        .unwrap()
        .set_idle_after(Some(Duration::ZERO))
        .unwrap();
    assert_eq!(quick.idle_after(), Some(Duration::from_millis(200)));
    let events = p.events();
    let e = next_event(&events).await;
    assert_eq!((e.kind, e.sandbox_id.as_str()), (EventKind::Idle, "quick"));
    assert!(
        tokio::time::timeout(Duration::from_millis(600), events.next())
            .await
            .is_err()
    );
    let too_long = quick.set_idle_after(Some(Duration::from_secs(400 * 86_400)));
    assert_eq!(too_long.unwrap_err().code().as_str(), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn the_registry_s_changes_are_events() {
    let p = Portway::builder().build().unwrap();
    let events = p.events();
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    sb.expose_port(4000, portway::ExposeOptions::new("localhost"))
        .await
        .unwrap();
    // A re-expose is no new exposure.
    sb.expose_port(4000, portway::ExposeOptions::new("localhost"))
        .await
        .unwrap();
    sb.mark_stopped().await.unwrap();
    sb.mark_running().await.unwrap();
    sb.unexpose_port(4000).await.unwrap();
    sb.destroy().await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let e = next_event(&events).await;
        assert_eq!(e.sandbox_id, "box");
        seen.push((e.kind.as_str(), e.port));
    }
    assert_eq!(
        seen,
        [
            ("exposed", Some(4000)),
            ("stopped", None),
            ("running", None),
            ("unexposed", Some(4000)),
            ("destroyed", None),
        ]
    );
    let json = next_json(&p).await;
    assert!(json.is_none());
    events.close();
    assert!(events.next().await.is_none());
}

/// Nothing more is pending on a fresh stream.
async fn next_json(p: &Portway) -> Option<serde_json::Value> {
    let events = p.events();
    tokio::time::timeout(Duration::from_millis(100), events.next())
        .await
        .ok()
        .flatten()
        .map(|e| e.to_json())
}

#[tokio::test]
async fn without_a_wake_hook_a_stopped_sandbox_stays_410() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let got = get(gw.local_addr(), &host, "/").await;
    assert_eq!(got.status, 410);
}

#[tokio::test]
async fn a_hundred_requests_to_a_stopped_sandbox_cause_one_wake_and_all_get_200() {
    let port = free_port().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let hooks = GatewayHooks::new().wake(starting_hook(
        port,
        Duration::from_millis(500),
        calls.clone(),
    ));
    let (p, gw) = gateway_hooked(GatewayConfig::default(), hooks).await;
    let host = expose(&p, "box", port).await;
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    sb.mark_stopped().await.unwrap();
    let events = p.events();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (addr, host) = (gw.local_addr(), host.clone());
        tasks.push(tokio::spawn(async move {
            get(addr, &host, "/status/200").await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        p.get_sandbox("box").unwrap().status,
        portway::SandboxStatus::Running
    );
    assert_eq!(next_event(&events).await.kind, EventKind::Running);
    assert_eq!(gw.gateway().metrics().snapshot().wakes, 1);
    assert!(
        gw.gateway()
            .metrics()
            .render()
            .contains("portway_wakes_total 1\n")
    );
}

#[tokio::test]
async fn a_websocket_handshake_wakes_the_sandbox_too() {
    let port = free_port().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let hooks = GatewayHooks::new().wake(starting_hook(
        port,
        Duration::from_millis(200),
        calls.clone(),
    ));
    let (p, gw) = gateway_hooked(GatewayConfig::default(), hooks).await;
    let host = expose(&p, "box", port).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let mut ws = ws_client(gw.local_addr(), &host, "/ws").await.unwrap();
    ws.send(Message::Text("hi".into())).await.unwrap();
    let Some(Ok(Message::Text(back))) = ws.next().await else {
        panic!("no echo");
    };
    assert_eq!(back.as_str(), "hi");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failing_hook_gives_503_with_its_reason() {
    let hooks = GatewayHooks::new()
        .wake(|_req: WakeRequest| async { Err::<(), String>("quota exceeded".into()) });
    let (p, gw) = gateway_hooked(GatewayConfig::default(), hooks).await;
    let host = expose(&p, "box", free_port().await).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let got = get(gw.local_addr(), &host, "/").await;
    assert_eq!(got.status, 503);
    let json: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(json["code"], "SANDBOX_WAKE_FAILED");
    assert_eq!(json["reason"], "quota exceeded");
    assert_eq!(
        p.get_sandbox("box").unwrap().status,
        portway::SandboxStatus::Stopped
    );
}

#[tokio::test]
async fn a_hanging_hook_and_a_port_that_never_opens_time_out_and_a_later_request_tries_again() {
    let config = GatewayConfig {
        wake_timeout: Duration::from_millis(400),
        ..Default::default()
    };
    // The hook hangs.
    let hooks = GatewayHooks::new().wake(|_req: WakeRequest| async {
        std::future::pending::<()>().await;
        Ok::<(), String>(())
    });
    let (p, gw) = gateway_hooked(config.clone(), hooks).await;
    let host = expose(&p, "box", free_port().await).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let start = Instant::now();
    let got = get(gw.local_addr(), &host, "/").await;
    assert_eq!(got.status, 504);
    assert!(
        got.text().contains("SANDBOX_WAKE_TIMEOUT"),
        "{}",
        got.text()
    );
    assert!(start.elapsed() < Duration::from_secs(3));

    // The hook answers, the port never opens: every held request times out, and the next
    // request calls the hook again.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let hooks = GatewayHooks::new().wake(move |_req: WakeRequest| {
        let calls = counted.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<(), String>(())
        }
    });
    let (p, gw) = gateway_hooked(config, hooks).await;
    let host = expose(&p, "box", free_port().await).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let held: Vec<_> = (0..5)
        .map(|_| {
            let (addr, host) = (gw.local_addr(), host.clone());
            tokio::spawn(async move { get(addr, &host, "/").await })
        })
        .collect();
    for t in held {
        let got = t.await.unwrap();
        assert_eq!(got.status, 504);
        assert!(got.text().contains("SANDBOX_WAKE_TIMEOUT"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(get(gw.local_addr(), &host, "/").await.status, 504);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_sandbox_destroyed_while_requests_are_held_releases_them_with_404() {
    let hooks = GatewayHooks::new().wake(|_req: WakeRequest| async { Ok::<(), String>(()) });
    let (p, gw) = gateway_hooked(GatewayConfig::default(), hooks).await;
    let host = expose(&p, "box", free_port().await).await;
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    sb.mark_stopped().await.unwrap();
    let (addr, h) = (gw.local_addr(), host.clone());
    let held = tokio::spawn(async move { get(addr, &h, "/").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    sb.destroy().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, 404);
    assert!(got.text().contains("INVALID_TOKEN"));
}

#[tokio::test]
async fn held_requests_count_against_the_sandbox_limit() {
    let config = GatewayConfig {
        max_connections_per_sandbox: 2,
        wake_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let hooks = GatewayHooks::new().wake(|_req: WakeRequest| async { Ok::<(), String>(()) });
    let (p, gw) = gateway_hooked(config, hooks).await;
    let host = expose(&p, "box", free_port().await).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (addr, host) = (gw.local_addr(), host.clone());
            tokio::spawn(async move { get(addr, &host, "/").await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = get(gw.local_addr(), &host, "/").await;
    assert_eq!(third.status, 429);
    assert!(third.text().contains("SANDBOX_CONNECTION_LIMIT"));
    for t in held {
        assert_eq!(t.await.unwrap(), 504);
    }
}

#[tokio::test]
async fn a_browser_gets_a_page_that_reloads_itself_during_a_long_wake() {
    let port = free_port().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let hooks = GatewayHooks::new().wake(starting_hook(
        port,
        Duration::from_millis(1500),
        calls.clone(),
    ));
    let config = GatewayConfig {
        wake_page_after: Duration::from_millis(300),
        ..Default::default()
    };
    let (p, gw) = gateway_hooked(config, hooks).await;
    let host = expose(&p, "box", port).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let html = [("accept", "text/html,application/xhtml+xml")];
    let got = request(gw.local_addr(), "GET", &host, "/", &html, Bytes::new()).await;
    assert_eq!(got.status, 503);
    assert_eq!(got.headers["retry-after"], "2");
    assert!(
        got.text().contains("http-equiv=\"refresh\""),
        "{}",
        got.text()
    );
    assert!(got.text().contains("SANDBOX_STARTING"));
    // The wake went on without the page's request: the reload gets the page.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let got = request(gw.local_addr(), "GET", &host, "/", &html, Bytes::new()).await;
    assert_eq!(got.status, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_graceful_shutdown_answers_held_requests_503_with_retry_after() {
    let hooks = GatewayHooks::new().wake(|_req: WakeRequest| async {
        std::future::pending::<()>().await;
        Ok::<(), String>(())
    });
    let (p, gw) = gateway_hooked(GatewayConfig::default(), hooks).await;
    let host = expose(&p, "box", free_port().await).await;
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .mark_stopped()
        .await
        .unwrap();
    let (addr, h) = (gw.local_addr(), host.clone());
    let held = tokio::spawn(async move { get(addr, &h, "/").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closing = tokio::spawn(async move { gw.shutdown(Duration::from_secs(5)).await });
    let got = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, 503);
    assert_eq!(got.headers["retry-after"], "1");
    assert!(got.text().contains("SHUTTING_DOWN"));
    closing.await.unwrap();
}
