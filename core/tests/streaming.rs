//! 100 MiB each way through the gateway while its memory stays bounded. In a test binary of
//! its own, so no other test's allocations blur the measurement.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::net::TcpStream;

const SIZE: u64 = 100 << 20;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Samples the process's RSS every 5 ms until stopped; returns the peak.
fn watch_rss() -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let peak = std::thread::spawn(move || {
        let mut peak = 0;
        while !s.load(Ordering::Relaxed) {
            peak = peak.max(rss_bytes());
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    (stop, peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mebibytes_each_way_with_bounded_memory() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    // Warm up allocators and pools with a small transfer first.
    assert_eq!(
        get(gw.local_addr(), &host, "/download?bytes=1048576")
            .await
            .body
            .len(),
        1 << 20
    );
    let baseline = rss_bytes();
    let (stop, peak) = watch_rss();

    // Down: the client counts the bytes as they come and keeps none.
    let stream = TcpStream::connect(gw.local_addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(format!("/download?bytes={SIZE}"))
        .header("host", &host)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let mut down = 0u64;
    while let Some(frame) = body.frame().await {
        down += frame
            .unwrap()
            .into_data()
            .map(|d| d.len() as u64)
            .unwrap_or(0);
    }
    assert_eq!(down, SIZE);

    // Up: a generated body, counted by the upstream as it streams in.
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let chunk = Bytes::from(vec![b'y'; 64 * 1024]);
    let chunks = futures_util::stream::unfold(SIZE, move |left| {
        let chunk = chunk.clone();
        let counter = counter.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(chunk.len() as u64);
            counter.fetch_add(take, Ordering::Relaxed);
            Some((
                Ok::<_, std::convert::Infallible>(Frame::data(chunk.slice(..take as usize))),
                left - take,
            ))
        }
    });
    let stream = TcpStream::connect(gw.local_addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method("POST")
        .uri("/upload")
        .header("host", &host)
        .header("content-length", SIZE.to_string())
        .body(StreamBody::new(chunks))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let answer = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(answer, Bytes::from(SIZE.to_string()));
    assert_eq!(sent.load(Ordering::Relaxed), SIZE);

    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let growth = peak.saturating_sub(baseline);
    println!(
        "baseline {} MiB, peak {} MiB, growth {} KiB",
        baseline >> 20,
        peak >> 20,
        growth >> 10
    );
    // Client, gateway and upstream all live in this process: buffering either body whole
    // would add 100 MiB. Streaming adds a few socket buffers.
    assert!(
        growth < 24 << 20,
        "memory grew by {} MiB while streaming",
        growth >> 20
    );
}
