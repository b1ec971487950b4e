//! Micro benchmarks: building a preview URL, parsing a host, and the gateway's route lookup
//! with 100,000 ports exposed. Run with `cargo bench -p portway --bench micro` (bench/run.sh
//! does, and puts the medians in bench/RESULTS.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portway::{ExposeOptions, Portway, Resolution};

/// 1,000 sandboxes with 100 ports each.
const SANDBOXES: usize = 1_000;
const PORTS_PER_SANDBOX: u16 = 100;

fn preview_urls(c: &mut Criterion) {
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

fn route_lookup(c: &mut Criterion) {
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
    // Visit the hosts in a scattered order so the lookups are not all cache-warm.
    let order: Vec<usize> = (0..hosts.len())
        .map(|i| (i * 7_919) % hosts.len())
        .collect();
    let mut i = 0;
    c.bench_function("resolve_100k_ports", |b| {
        b.iter(|| {
            i = (i + 1) % order.len();
            let r = portway.resolve(black_box(&hosts[order[i]]));
            debug_assert!(matches!(r, Resolution::Upstream(_)));
            r
        })
    });
    c.bench_function("resolve_100k_ports_wrong_token", |b| {
        b.iter(|| {
            portway.resolve(black_box(
                "8050-sandbox-0500-wrongtoken1234ab.preview.example.com",
            ))
        })
    });
}

criterion_group!(benches, preview_urls, route_lookup);
criterion_main!(benches);
