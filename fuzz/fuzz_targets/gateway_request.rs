//! The gateway never panics on raw request bytes, always answers or closes within its
//! timeouts, and serves on. The bytes go through `Gateway::serve_connection` over an
//! in-memory pipe; a real upstream on loopback serves the exposed port.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The seeds in fuzz/seeds/gateway_request send `Host: 48231-box-fuzztoken1.localhost`: the
/// upstream listens on that port when it is free (otherwise those requests get 502, which
/// is a path worth fuzzing too).
const UPSTREAM_PORT: u16 = 48231;

struct World {
    rt: tokio::runtime::Runtime,
    gateway: portway::Gateway,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let gateway = rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", UPSTREAM_PORT)).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let config = portway::GatewayConfig {
            head_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(200),
            response_timeout: Duration::from_millis(500),
            connect_retry_window: Duration::from_millis(10),
            ..Default::default()
        };
        let portway = portway::Portway::builder()
            .gateway_config(config)
            .build()
            .unwrap();
        let sandbox = portway.sandbox("box", "127.0.0.1").unwrap();
        sandbox
            .expose_port(
                UPSTREAM_PORT,
                portway::ExposeOptions::new("localhost").token("fuzztoken1"),
            )
            .await
            .unwrap();
        portway.gateway().unwrap()
    });
    World { rt, gateway }
});

fuzz_target!(|data: &[u8]| {
    let world = &*WORLD;
    world.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let gateway = world.gateway.clone();
        let serving = tokio::spawn(async move {
            gateway
                .serve_connection(server, "127.0.0.1:9".parse().unwrap())
                .await
        });
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out)).await;
        assert!(
            read.is_ok(),
            "the gateway neither answered nor closed within 5 s"
        );
        if !out.is_empty() {
            assert!(
                out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
        drop(client);
        let done = tokio::time::timeout(Duration::from_secs(5), serving).await;
        assert!(done.is_ok(), "the connection task outlived its client");
    });
});
