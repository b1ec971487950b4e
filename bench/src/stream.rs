//! One large body down (`GET /stream?bytes=N`) or up (`POST /sink`), timed, with the peak
//! resident memory of a process (the gateway) while it flows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Empty};

use crate::backend::Reply;
use crate::http_client;
use crate::stats::{proc_kib, reset_peak};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Direction {
    Down,
    Up,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to connect to.
    #[arg(long)]
    addr: String,
    /// The Host header (the preview host through a proxy).
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Bytes to move.
    #[arg(long, default_value_t = 1 << 30)]
    bytes: u64,
    #[arg(long, value_enum)]
    direction: Direction,
    /// A process whose peak memory is reported (the gateway).
    #[arg(long)]
    pid: Option<u32>,
}

pub async fn run(args: Args) -> Result<(), String> {
    let before = args.pid.and_then(|p| proc_kib(p, "VmRSS"));
    if let Some(pid) = args.pid {
        reset_peak(pid);
    }
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = args.pid.map(|pid| {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Relaxed) {
                if let Some(kib) = proc_kib(pid, "VmRSS") {
                    peak.fetch_max(kib, Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    });

    let t = Instant::now();
    let moved = match args.direction {
        Direction::Down => {
            let mut sender = http_client::open::<Empty<Bytes>>(&args.addr).await?;
            let path = format!("/stream?bytes={}", args.bytes);
            let req = http_client::request(Method::GET, &args.host, &path, Empty::new());
            let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("GET /stream: {}", res.status()));
            }
            let mut body = res.into_body();
            let mut n = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("body: {e}"))?;
                n += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            n
        }
        Direction::Up => {
            let mut sender = http_client::open::<Reply>(&args.addr).await?;
            let body = Reply::Stream {
                left: args.bytes,
                chunk: Bytes::from(vec![b'u'; 64 * 1024]),
            };
            let req = http_client::request(Method::POST, &args.host, "/sink", body);
            let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("POST /sink: {}", res.status()));
            }
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            String::from_utf8_lossy(&body)
                .trim()
                .parse()
                .map_err(|_| format!("unexpected answer {body:?}"))?
        }
    };
    let secs = t.elapsed().as_secs_f64();
    done.store(true, Relaxed);
    if let Some(s) = sampler {
        let _ = s.join();
    }
    if moved != args.bytes {
        return Err(format!("moved {moved} bytes of {}", args.bytes));
    }
    let mut out = serde_json::json!({
        "bytes": moved,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "mib_per_s": (moved as f64 / (1 << 20) as f64 / secs).round(),
    });
    if let (Some(pid), Some(before)) = (args.pid, before) {
        let hwm = proc_kib(pid, "VmHWM").unwrap_or(0);
        let peak = peak.load(Relaxed).max(hwm);
        out["rss_before_kib"] = before.into();
        out["rss_peak_kib"] = peak.into();
        out["peak_extra_kib"] = peak.saturating_sub(before).into();
    }
    println!("{out}");
    Ok(())
}
