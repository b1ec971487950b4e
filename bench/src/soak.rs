//! The soak: many WebSocket sessions, each echoing a message now and then, plus steady HTTP
//! requests, through the gateway for a while. Every error counts; the gateway's resident
//! memory is read every second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Empty};
use tokio::sync::Mutex;
use tokio::time::MissedTickBehavior;

use crate::stats::{Latencies, proc_kib, slope};
use crate::{http_client, ws};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gateway's address.
    #[arg(long)]
    addr: String,
    /// The preview host.
    #[arg(long)]
    host: String,
    /// The gateway's process id (its memory is sampled).
    #[arg(long)]
    pid: u32,
    /// WebSocket sessions held for the whole run.
    #[arg(long, default_value_t = 8000)]
    sessions: usize,
    /// Seconds of load once every session is open.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds at the start of the load that count as warm-up for the memory check.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Seconds between two echoes on one session.
    #[arg(long, default_value_t = 2.0)]
    message_interval: f64,
    /// Keep-alive HTTP connections.
    #[arg(long, default_value_t = 32)]
    http_connections: usize,
    /// HTTP requests per second over all connections.
    #[arg(long, default_value_t = 5000)]
    http_rate: u64,
    /// Largest growth of resident memory allowed after warm-up, in KiB (the median of the
    /// last five samples against the median of the first five).
    #[arg(long, default_value_t = 8192)]
    max_growth_kib: u64,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Default)]
struct Counts {
    ws_ok: AtomicU64,
    ws_err: AtomicU64,
    http_ok: AtomicU64,
    http_err: AtomicU64,
}

pub async fn run(args: Args) -> Result<(), String> {
    let rss0 = proc_kib(args.pid, "VmRSS").ok_or("cannot read the gateway's memory")?;
    let t = Instant::now();
    let sessions = ws::open_many(&args.addr, &args.host, args.sessions).await?;
    eprintln!(
        "soak: {} sessions open in {:.1} s",
        sessions.len(),
        t.elapsed().as_secs_f64()
    );
    let counts = Arc::new(Counts::default());
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);

    let mut ws_tasks = Vec::with_capacity(sessions.len());
    let n = sessions.len().max(1);
    let interval = Duration::from_secs_f64(args.message_interval);
    for (i, mut session) in sessions.into_iter().enumerate() {
        let counts = counts.clone();
        // Spread the sessions' messages evenly over the interval.
        let offset = interval.mul_f64(i as f64 / n as f64);
        ws_tasks.push(tokio::spawn(async move {
            let payload = Bytes::from(format!("session {i}"));
            let mut tick = tokio::time::interval_at((start + offset).into(), interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if Instant::now() >= end {
                    break;
                }
                let sent = tokio::time::timeout(
                    Duration::from_secs(10),
                    ws::round_trip(&mut session, &payload),
                );
                match sent.await {
                    Ok(Ok(())) => counts.ws_ok.fetch_add(1, Relaxed),
                    Ok(Err(e)) => {
                        eprintln!("soak: session {i}: {e}");
                        counts.ws_err.fetch_add(1, Relaxed);
                        return None;
                    }
                    Err(_) => {
                        eprintln!("soak: session {i}: no echo within 10 s");
                        counts.ws_err.fetch_add(1, Relaxed);
                        return None;
                    }
                };
            }
            Some(session)
        }));
    }

    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let mut http_tasks = Vec::new();
    let per_conn = Duration::from_secs_f64(args.http_connections as f64 / args.http_rate as f64);
    for c in 0..args.http_connections {
        let (counts, latencies) = (counts.clone(), latencies.clone());
        let (addr, host) = (args.addr.clone(), args.host.clone());
        let offset = per_conn.mul_f64(c as f64 / args.http_connections as f64);
        http_tasks.push(tokio::spawn(async move {
            let mut sender = match http_client::open::<Empty<Bytes>>(&addr).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("soak: http: {e}");
                    counts.http_err.fetch_add(1, Relaxed);
                    return;
                }
            };
            let mut lat = Latencies::with_capacity(1 << 16);
            let mut tick = tokio::time::interval_at((start + offset).into(), per_conn);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if Instant::now() >= end {
                    break;
                }
                let t = Instant::now();
                let req = http_client::request(Method::GET, &host, "/", Empty::new());
                let ok = match sender.send_request(req).await {
                    Ok(res) if res.status().is_success() => res
                        .into_body()
                        .collect()
                        .await
                        .is_ok_and(|b| !b.to_bytes().is_empty()),
                    Ok(res) => {
                        eprintln!("soak: http status {}", res.status());
                        false
                    }
                    Err(e) => {
                        eprintln!("soak: http: {e}");
                        false
                    }
                };
                if !ok {
                    counts.http_err.fetch_add(1, Relaxed);
                    return;
                }
                lat.record(t.elapsed());
                counts.http_ok.fetch_add(1, Relaxed);
            }
            latencies.lock().await.merge(lat);
        }));
    }

    // One memory sample a second, from the start of the load.
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < end {
        tick.tick().await;
        samples.push(proc_kib(args.pid, "VmRSS").unwrap_or(0));
        let s = samples.len();
        if s % 10 == 0 {
            eprintln!(
                "soak: {s:>3} s  rss {} KiB  ws echoes {}  http {}  errors {}",
                samples[s - 1],
                counts.ws_ok.load(Relaxed),
                counts.http_ok.load(Relaxed),
                counts.ws_err.load(Relaxed) + counts.http_err.load(Relaxed),
            );
        }
    }
    let mut survivors = Vec::new();
    for t in ws_tasks {
        if let Ok(Some(s)) = t.await {
            survivors.push(s);
        }
    }
    for t in http_tasks {
        let _ = t.await;
    }
    let held = survivors.len();
    ws::close_all(survivors).await;

    let after: Vec<f64> = samples
        .iter()
        .skip(args.warmup as usize)
        .map(|&k| k as f64)
        .collect();
    let median = |xs: &[f64]| -> f64 {
        let mut v = xs.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let k = after.len().min(5);
    let first = median(&after[..k]);
    let last = median(&after[after.len() - k..]);
    let growth = last - first;
    let errors = counts.ws_err.load(Relaxed) + counts.http_err.load(Relaxed);
    let lat = std::mem::take(&mut *latencies.lock().await);
    let out = serde_json::json!({
        "sessions": args.sessions,
        "sessions_held_to_the_end": held,
        "seconds": args.seconds,
        "ws_echoes": counts.ws_ok.load(Relaxed),
        "ws_errors": counts.ws_err.load(Relaxed),
        "http_requests": counts.http_ok.load(Relaxed),
        "http_errors": counts.http_err.load(Relaxed),
        "http_latency": lat.summary_us(),
        "rss_before_sessions_kib": rss0,
        "rss_after_warmup_kib": first,
        "rss_at_end_kib": last,
        "rss_growth_after_warmup_kib": growth,
        "rss_slope_kib_per_s": (slope(&after) * 10.0).round() / 10.0,
        "max_growth_kib": args.max_growth_kib,
        "rss_samples_kib": samples,
    });
    println!("{out}");
    if errors > 0 || held != args.sessions {
        return Err(format!(
            "{errors} errors; {held} of {} sessions held to the end",
            args.sessions
        ));
    }
    if growth > args.max_growth_kib as f64 {
        return Err(format!(
            "the gateway's memory grew {growth:.0} KiB after warm-up (bound {} KiB)",
            args.max_growth_kib
        ));
    }
    Ok(())
}
