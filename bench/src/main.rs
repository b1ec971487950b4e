//! `portway-bench`: the pieces bench/run.sh and bench/soak.sh put together.
//!
//! - `backend`: a fast sandbox service (small HTTP responses, WebSocket echo, N-byte streams)
//! - `gateway`: a Portway gateway with the backend's port exposed at a fixed preview host
//! - `ws-load`: WebSocket echo round trips per second with latency percentiles
//! - `ws-hold`: holds N idle WebSocket sessions and reports the gateway's memory per session
//! - `stream`: a large body down or up, throughput and the gateway's peak extra memory
//! - `soak`: WebSocket sessions and steady HTTP load for a while: errors and memory over time
//! - `store`: the Redis store's propagation time between two Portways and its load time
//!
//! Every measuring command prints one JSON object on stdout.

mod backend;
mod gateway;
mod http_client;
mod soak;
mod stats;
mod store;
mod stream;
mod ws;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "portway-bench", about = "Portway's load benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A fast sandbox service: `GET /` (small), `GET /ws` (echo), `GET /stream?bytes=N`,
    /// `POST /sink`.
    Backend(backend::Args),
    /// A Portway gateway in front of the backend; prints the preview host.
    Gateway(gateway::Args),
    /// WebSocket echo round trips for a while.
    WsLoad(ws::LoadArgs),
    /// Holds idle WebSocket sessions and reads a process's memory.
    WsHold(ws::HoldArgs),
    /// Streams a body down (`GET /stream`) or up (`POST /sink`).
    Stream(stream::Args),
    /// WebSocket sessions plus steady HTTP load, with memory sampled every second.
    Soak(soak::Args),
    /// The Redis store: propagation between two Portways, and loading 100,000 exposures.
    Store(store::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Backend(a) => backend::run(a),
        Command::Gateway(a) => gateway::run(a),
        Command::WsLoad(a) => client_runtime(a.threads).and_then(|rt| rt.block_on(ws::load(a))),
        Command::WsHold(a) => client_runtime(a.threads).and_then(|rt| rt.block_on(ws::hold(a))),
        Command::Stream(a) => client_runtime(1).and_then(|rt| rt.block_on(stream::run(a))),
        Command::Soak(a) => client_runtime(a.threads).and_then(|rt| rt.block_on(soak::run(a))),
        Command::Store(a) => client_runtime(2).and_then(|rt| rt.block_on(store::run(a))),
    };
    if let Err(e) = result {
        eprintln!("portway-bench: {e}");
        std::process::exit(1);
    }
}

/// The runtime of a load client.
fn client_runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}
