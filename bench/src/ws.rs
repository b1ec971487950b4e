//! WebSocket clients: echo round trips under load, and many idle sessions held open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::stats::{Latencies, proc_kib};

pub type Ws = WebSocketStream<TcpStream>;

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The address to connect to (backend, nginx or gateway).
    #[arg(long)]
    addr: String,
    /// The Host the handshake names (the preview host through a proxy).
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Sessions, each doing one round trip at a time.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to measure (after a half-second warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Opens a WebSocket session to `/ws` on `addr` with `Host: host`.
pub async fn connect(addr: &str, host: &str) -> Result<Ws, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(format!("ws://{host}/ws"), tcp, Some(config))
            .await
            .map_err(|e| format!("WebSocket handshake via {addr}: {e}"))?;
    Ok(ws)
}

/// One round trip: sends `payload`, waits for the same number of bytes back.
pub async fn round_trip(ws: &mut Ws, payload: &Bytes) -> Result<(), String> {
    ws.send(Message::Binary(payload.clone()))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) if b.len() == payload.len() => return Ok(()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => return Err(format!("unexpected message {other:?}")),
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("the session ended".into()),
        }
    }
}

pub async fn load(args: LoadArgs) -> Result<(), String> {
    let payload = Bytes::from(vec![b'w'; args.size]);
    let warmup = Duration::from_millis(500);
    let measure = Duration::from_secs_f64(args.seconds);
    let mut sessions = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        sessions.push(connect(&args.addr, &args.host).await?);
    }
    let start = Instant::now() + Duration::from_millis(50);
    let (from, until) = (start + warmup, start + warmup + measure);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut ws in sessions {
        let payload = payload.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::with_capacity(1 << 16);
            tokio::time::sleep_until(start.into()).await;
            loop {
                let t = Instant::now();
                if t >= until {
                    break;
                }
                if let Err(e) = round_trip(&mut ws, &payload).await {
                    eprintln!("ws-load: {e}");
                    errors.fetch_add(1, Relaxed);
                    break;
                }
                if t >= from {
                    lat.record(t.elapsed());
                }
            }
            let _ = ws.close(None).await;
            lat
        }));
    }
    let mut all = Latencies::default();
    for t in tasks {
        all.merge(t.await.map_err(|e| e.to_string())?);
    }
    let n = all.len();
    let mut out = all.summary_us();
    out["round_trips_per_s"] = serde_json::json!((n as f64 / measure.as_secs_f64()).round());
    out["errors"] = serde_json::json!(errors.load(Relaxed));
    out["connections"] = serde_json::json!(args.connections);
    out["size"] = serde_json::json!(args.size);
    println!("{out}");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct HoldArgs {
    /// The address to connect to (the gateway).
    #[arg(long)]
    addr: String,
    /// The preview host.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Sessions to hold.
    #[arg(long, default_value_t = 8000)]
    sessions: usize,
    /// The process whose memory is read (the gateway).
    #[arg(long)]
    pid: u32,
    /// Seconds to hold the sessions idle before reading the memory.
    #[arg(long, default_value_t = 3.0)]
    idle: f64,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Opens `n` sessions, at most 128 handshakes at a time.
pub async fn open_many(addr: &str, host: &str, n: usize) -> Result<Vec<Ws>, String> {
    let gate = Arc::new(Semaphore::new(128));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (addr, host, gate) = (addr.to_owned(), host.to_owned(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            connect(&addr, &host).await
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

/// Echoes one small message on every session, 128 at a time; returns the failures.
async fn check_all(sessions: Vec<Ws>) -> (Vec<Ws>, usize) {
    let gate = Arc::new(Semaphore::new(128));
    let payload = Bytes::from_static(b"still there?");
    let mut tasks = Vec::with_capacity(sessions.len());
    for mut ws in sessions {
        let (gate, payload) = (gate.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let ok = round_trip(&mut ws, &payload).await.is_ok();
            (ws, ok)
        }));
    }
    let (mut alive, mut failed) = (Vec::new(), 0);
    for t in tasks {
        match t.await {
            Ok((ws, true)) => alive.push(ws),
            _ => failed += 1,
        }
    }
    (alive, failed)
}

pub async fn hold(args: HoldArgs) -> Result<(), String> {
    let rss = |pid| proc_kib(pid, "VmRSS").ok_or("cannot read the process's memory");
    // First use of everything (runtime, pools, allocator arenas) is not a session's cost.
    let warm = open_many(&args.addr, &args.host, 64).await?;
    let (warm, _) = check_all(warm).await;
    close_all(warm).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss(args.pid)?;
    let t = Instant::now();
    let sessions = open_many(&args.addr, &args.host, args.sessions).await?;
    let open_s = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.idle)).await;
    let idle = rss(args.pid)?;
    let (sessions, failed) = check_all(sessions).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_echo = rss(args.pid)?;
    let held = sessions.len();
    close_all(sessions).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let closed = rss(args.pid)?;
    let per =
        |kib: u64| ((kib.saturating_sub(before)) as f64 * 1024.0 / args.sessions as f64).round();
    let out = serde_json::json!({
        "sessions": args.sessions,
        "open_seconds": (open_s * 100.0).round() / 100.0,
        "echo_failures": failed,
        "held_after_echo": held,
        "rss_before_kib": before,
        "rss_idle_kib": idle,
        "rss_after_echo_kib": after_echo,
        "rss_after_close_kib": closed,
        "bytes_per_idle_session": per(idle),
        "bytes_per_session_after_echo": per(after_echo),
    });
    println!("{out}");
    if failed > 0 {
        return Err(format!("{failed} sessions failed their echo"));
    }
    Ok(())
}

/// Closes every session with a close handshake, 256 at a time.
pub async fn close_all(sessions: Vec<Ws>) {
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(sessions.len());
    for mut ws in sessions {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
