//! Micro benchmarks: building a preview URL, parsing a host, and the gateway's route lookup
//! with 100,000 ports exposed. Run with `cargo bench -p portway --bench micro` (bench/run.sh
//! does, and puts the medians in bench/RESULTS.md).
//!
//! Times are the benchmark thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time, so that other work on a shared machine does not count as the code's.

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use portway::{ExposeOptions, Portway, Resolution};

/// CPU time of the calling thread, in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `t` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// 1,000 sandboxes with 100 ports each.
const SANDBOXES: usize = 1_000;
const PORTS_PER_SANDBOX: u16 = 100;

fn preview_urls(c: &mut Criterion<ThreadCpuTime>) {
    c.bench_function("build_preview_url", |b| {
        b.iter(|| {
            portway::build_preview_url(
                black_box(8080),
                black_box("550e8400-e29b-41d4"),
                black_box("k3j9x0q2m7w1z5ab"),
                black_box("preview.example.com"),
            )
        })
    });
    c.bench_function("parse_preview_host", |b| {
        b.iter(|| {
            portway::parse_preview_host(black_box(
                "8080-550e8400-e29b-41d4-k3j9x0q2m7w1z5ab.preview.example.com",
            ))
        })
    });
}

fn route_lookup(c: &mut Criterion<ThreadCpuTime>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let portway = Portway::builder()
        .domains(["preview.example.com"])
        .build()
        .expect("a portway");
    let mut hosts = Vec::with_capacity(SANDBOXES * PORTS_PER_SANDBOX as usize);
    rt.block_on(async {
        for s in 0..SANDBOXES {
            let sandbox = portway
                .sandbox(&format!("sandbox-{s:04}"), "127.0.0.1")
                .expect("a sandbox");
            for p in 0..PORTS_PER_SANDBOX {
                let exposed = sandbox
                    .expose_port(8000 + p, ExposeOptions::new("preview.example.com"))
                    .await
                    .expect("exposed");
                let host = exposed.url["https://".len()..]
                    .trim_end_matches('/')
                    .to_owned();
                hosts.push(host);
            }
        }
    });
    assert_eq!(hosts.len(), 100_000);
    // Two visiting orders: the order of exposure (a sandbox's hundred ports one after the
    // other, as a burst of requests to one sandbox would come), and a scattered one (every
    // lookup for another sandbox, as requests to many sandboxes come). The hosts themselves
    // lie one after the other in memory in the order they are visited, so reading them costs
    // what reading a request's Host header costs: little.
    for (name, step) in [
        ("resolve_100k_ports", 1),
        ("resolve_100k_ports_scattered", 7_919),
    ] {
        let mut arena = String::new();
        let mut spans = Vec::with_capacity(hosts.len());
        for k in 0..hosts.len() {
            let h = &hosts[(k * step) % hosts.len()];
            spans.push((arena.len(), arena.len() + h.len()));
            arena.push_str(h);
        }
        let mut i = 0;
        c.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % spans.len();
                let (from, to) = spans[i];
                let r = portway.resolve(black_box(&arena[from..to]));
                debug_assert!(matches!(r, Resolution::Upstream(_)));
                r
            })
        });
    }
    c.bench_function("resolve_100k_ports_wrong_token", |b| {
        b.iter(|| {
            portway.resolve(black_box(
                "8050-sandbox-0500-wrongtoken1234ab.preview.example.com",
            ))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = preview_urls, route_lookup
}
criterion_main!(benches);
