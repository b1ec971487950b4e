//! A Portway gateway with one sandbox port exposed under a fixed token, so the preview host
//! is known in advance: `{port}-bench-benchtoken01.localhost`.

use portway::{ExposeOptions, GatewayConfig, Portway};

/// The sandbox id and token of the benchmark's exposure.
pub const SANDBOX: &str = "bench";
pub const TOKEN: &str = "benchtoken01";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:18003")]
    listen: String,
    /// The backend's port on 127.0.0.1.
    #[arg(long, default_value_t = 18001)]
    upstream_port: u16,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// The store: `:memory:` (default), an SQLite file or a Redis URL.
    #[arg(long, default_value = ":memory:")]
    store: String,
}

pub fn run(args: Args) -> Result<(), String> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        // The scale and soak runs hold 8,000 WebSocket sessions to one sandbox; the defaults
        // (10,000 connections, 1,000 per sandbox) are for many sandboxes.
        let config = GatewayConfig {
            max_connections: 20_000,
            max_connections_per_sandbox: 20_000,
            ..Default::default()
        };
        let portway = Portway::builder()
            .domains(["localhost"])
            .store_path(&args.store)
            .gateway_config(config)
            .build()
            .map_err(|e| e.to_string())?;
        let sandbox = portway
            .sandbox(SANDBOX, "127.0.0.1")
            .map_err(|e| e.to_string())?;
        let exposed = sandbox
            .expose_port(
                args.upstream_port,
                ExposeOptions::new("localhost").token(TOKEN),
            )
            .await
            .map_err(|e| e.to_string())?;
        let handle = portway
            .serve(&args.listen)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "gateway listening on {} for {}",
            handle.local_addr(),
            exposed.url
        );
        let _ = tokio::signal::ctrl_c().await;
        handle.close().await;
        Ok(())
    })
}
