//! The Redis store's own figures: how long a change takes to be routable in another process
//! (two Portways on one Redis, each with its own connections and feed), and how long a new
//! Portway takes to load 100,000 exposures.

use std::time::{Duration, Instant};

use portway::{ExposeOptions, Portway};

use crate::stats::Latencies;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Redis (a `redis://` URL; the bench writes under its own key prefix).
    #[arg(long)]
    url: String,
    /// Changes whose propagation is measured.
    #[arg(long, default_value_t = 1000)]
    changes: u16,
    /// Sandboxes of 100 exposed ports each, for the load time.
    #[arg(long, default_value_t = 1000)]
    sandboxes: usize,
}

pub async fn run(a: Args) -> Result<(), String> {
    let url = |prefix: &str| {
        let sep = if a.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}prefix={prefix}", a.url)
    };
    let open = |u: &str| {
        Portway::builder()
            .store_path(u)
            .build()
            .map_err(|e| e.to_string())
    };

    // Propagation: an exposure made through `writer`, waited for on `reader`.
    let prefix = format!("bench-{}:", std::process::id());
    let (writer, reader) = (open(&url(&prefix))?, open(&url(&prefix))?);
    let mut times = Latencies::with_capacity(a.changes as usize);
    for i in 0..a.changes {
        let sandbox = writer
            .sandbox(&format!("p{i}"), "127.0.0.1")
            .map_err(|e| e.to_string())?;
        let exposed = sandbox
            .expose_port(10_000 + i, ExposeOptions::new("localhost"))
            .await
            .map_err(|e| e.to_string())?;
        let host = exposed
            .url
            .split_once("://")
            .map(|(_, h)| h.trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let done = Instant::now();
        while reader.resolve(&host).kind() != "upstream" {
            if done.elapsed() > Duration::from_secs(10) {
                return Err(format!("change {i} never reached the other Portway"));
            }
            std::thread::yield_now();
            tokio::task::yield_now().await;
        }
        times.record(done.elapsed());
    }
    let propagation = times.summary_us();

    // Load: the records of `sandboxes` × 100 exposures, written through a third Portway's
    // store in bulk, then a fresh Portway opened.
    let prefix = format!("bench-load-{}:", std::process::id());
    let mut store = portway::StoreConfig::Redis(url(&prefix))
        .open()
        .map_err(|e| e.to_string())?;
    for s in 0..a.sandboxes {
        let id = format!("sb{s}");
        for p in 0..100u16 {
            let exposure = portway::store::ExposureRecord {
                port: 1024 + p,
                token: format!("t{s:07}p{p:03}xxxx"),
                name: None,
                created_at_ms: 1,
            };
            store
                .apply(portway::store::Change::PutExposure {
                    sandbox_id: &id,
                    upstream_host: "10.0.0.1",
                    status: portway::SandboxStatus::Running,
                    exposure: &exposure,
                })
                .map_err(|e| e.to_string())?;
        }
    }
    let started = Instant::now();
    let loaded = open(&url(&prefix))?;
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let count: usize = (0..a.sandboxes)
        .filter_map(|s| loaded.get_sandbox(&format!("sb{s}")))
        .map(|s| s.exposed_ports)
        .sum();
    println!(
        "{}",
        serde_json::json!({
            "changes": a.changes,
            "propagation": propagation,
            "exposures_loaded": count,
            "load_ms": (load_ms * 10.0).round() / 10.0,
        })
    );
    Ok(())
}
