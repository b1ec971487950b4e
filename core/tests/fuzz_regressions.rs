//! Replays every input in fuzz/regressions/ with the checks of its fuzz target.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no regression inputs for {target}");
    found
}

/// The checks of fuzz/fuzz_targets/parse_host.rs.
#[test]
fn parse_host_regressions() {
    for (name, data) in inputs("parse_host") {
        let Ok(host) = std::str::from_utf8(&data) else {
            continue;
        };
        let _ = portway::Rules::default().route_preview_host(host);
        if let Some(route) = portway::parse_preview_host(host) {
            let url = portway::build_preview_url(
                route.port,
                &route.sandbox_id,
                &route.token,
                "example.com",
            )
            .unwrap_or_else(|e| panic!("{name}: a parsed route must build: {e}"));
            let again =
                portway::parse_preview_host(url.split_once("://").unwrap().1.trim_end_matches('/'));
            assert_eq!(again.as_ref(), Some(&route), "{name}");
        }
    }
}

/// The checks of fuzz/fuzz_targets/gateway_request.rs, over an in-memory pipe.
#[tokio::test]
async fn gateway_request_regressions() {
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
            48231,
            portway::ExposeOptions::new("localhost").token("fuzztoken1"),
        )
        .await
        .unwrap();
    let gateway = portway.gateway().unwrap();
    for (name, data) in inputs("gateway_request") {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let g = gateway.clone();
        let serving = tokio::spawn(async move {
            g.serve_connection(server, "127.0.0.1:9".parse().unwrap())
                .await
        });
        let _ = client.write_all(&data).await;
        let _ = client.shutdown().await;
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "{name}: no answer and no close within 5 s");
        assert!(
            out.is_empty() || out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
            "{name}"
        );
        drop(client);
        assert!(
            tokio::time::timeout(Duration::from_secs(5), serving)
                .await
                .is_ok(),
            "{name}: the task outlived its client"
        );
    }
}
