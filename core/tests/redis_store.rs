//! The Redis store against a real `redis-server` started by each test: the store contract
//! every store keeps, one registry shared by several Portways (each with its own
//! connections, as separate processes have), concurrent writers, Redis lost and back, a
//! missed change healed, and 100,000 exposures loaded.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use portway::store::{Change, ExposureRecord, SandboxStatus, Store};
use portway::{ExposeOptions, Portway, StoreConfig};
use portway_fixture::RedisServer;
use support::*;

fn portway_on(url: &str) -> Portway {
    Portway::builder().store_path(url).build().unwrap()
}

fn host_of_url(url: &str) -> String {
    host_of(url)
}

/// Whether `portway` routes `host` to an upstream (the gateway's own decision).
fn routes(portway: &Portway, host: &str) -> bool {
    portway.resolve(host).kind() == "upstream"
}

/// Exposes `port` of sandbox `id` (upstream 127.0.0.1) through `portway`: its preview host.
async fn expose_host(portway: &Portway, id: &str, port: u16) -> String {
    let exposed = portway
        .sandbox(id, "127.0.0.1")
        .unwrap()
        .expose_port(port, ExposeOptions::new("localhost"))
        .await
        .unwrap();
    host_of_url(&exposed.url)
}

/// `expose_host` as soon as the store takes writes again (Redis restarting).
async fn expose_host_once_back(portway: &Portway, id: &str, port: u16) -> String {
    loop {
        let attempt = portway
            .sandbox(id, "127.0.0.1")
            .unwrap()
            .expose_port(port, ExposeOptions::new("localhost"))
            .await;
        match attempt {
            Ok(e) => break host_of_url(&e.url),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits up to 5 s for `f`; the time it took.
async fn within(mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if f() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    f().then(|| start.elapsed())
}

/// The same changes give the same stored state in every store.
#[test]
fn every_store_keeps_the_same_contract() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<(&str, Box<dyn Store>)> = vec![
        ("memory", StoreConfig::Memory.open().unwrap()),
        (
            "sqlite",
            StoreConfig::File(dir.path().join("contract.db"))
                .open()
                .unwrap(),
        ),
        ("redis", StoreConfig::Redis(redis.url()).open().unwrap()),
    ];
    let web = ExposureRecord {
        port: 8080,
        token: "aaaaaaaabbbbbbbb".into(),
        name: Some("web".into()),
        created_at_ms: 1,
    };
    let api = ExposureRecord {
        port: 9000,
        token: "ccccccccdddddddd".into(),
        name: None,
        created_at_ms: 2,
    };
    let mut loaded = Vec::new();
    for (name, mut store) in stores {
        let changes = [
            Change::PutSandbox {
                id: "a",
                upstream_host: "10.0.0.1",
                status: SandboxStatus::Running,
            },
            Change::PutExposure {
                sandbox_id: "a",
                upstream_host: "10.0.0.1",
                status: SandboxStatus::Running,
                exposure: &api,
            },
            Change::PutExposure {
                sandbox_id: "b",
                upstream_host: "10.0.0.2",
                status: SandboxStatus::Running,
                exposure: &web,
            },
            Change::PutExposure {
                sandbox_id: "a",
                upstream_host: "10.0.0.1",
                status: SandboxStatus::Running,
                exposure: &web,
            },
            Change::DeleteExposure {
                sandbox_id: "a",
                port: 9000,
            },
            Change::DeleteExposure {
                sandbox_id: "nobody",
                port: 1,
            },
            Change::PutSandbox {
                id: "b",
                upstream_host: "10.0.0.3",
                status: SandboxStatus::Stopped,
            },
            Change::PutSandbox {
                id: "c",
                upstream_host: "10.0.0.4",
                status: SandboxStatus::Running,
            },
            Change::DeleteSandbox { id: "c" },
        ];
        for change in changes {
            store
                .apply(change)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let state = store.load().unwrap();
        assert_eq!(
            state.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"],
            "{name}"
        );
        loaded.push((name, state));
    }
    let (_, first) = &loaded[0];
    assert_eq!(first[0].exposures, vec![web.clone()]);
    assert_eq!(first[1].status, SandboxStatus::Stopped);
    assert_eq!(first[1].upstream_host, "10.0.0.3");
    for (name, state) in &loaded[1..] {
        assert_eq!(state, first, "{name} differs from memory");
    }
}

/// An exposure made through one Portway is routed by another on the same Redis within
/// milliseconds; unexpose, stop, rotate and destroy are seen too. Propagation is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portways_on_one_redis_route_each_others_exposures() {
    let redis = RedisServer::start();
    let writer = portway_on(&redis.url());
    let readers = [portway_on(&redis.url()), portway_on(&redis.url())];
    let up = start_upstream().await;
    let (_, gw) = (
        (),
        readers[0].serve("127.0.0.1:0").await.expect("a gateway"),
    );

    let sb = writer.sandbox("shared", "127.0.0.1").unwrap();
    let exposed = sb
        .expose_port(up.port(), ExposeOptions::new("localhost"))
        .await
        .unwrap();
    let host = host_of_url(&exposed.url);
    for r in &readers {
        assert!(within(|| routes(r, &host)).await.is_some(), "not routed");
    }
    assert_eq!(get(gw.local_addr(), &host, "/echo").await.status, 200);

    // Stop, run, unexpose: each seen by the others.
    sb.mark_stopped().await.unwrap();
    assert!(
        within(|| readers[0].resolve(&host).kind() == "stale")
            .await
            .is_some()
    );
    sb.mark_running().await.unwrap();
    assert!(within(|| routes(&readers[1], &host)).await.is_some());
    sb.unexpose_port(up.port()).await.unwrap();
    for r in &readers {
        assert!(within(|| !routes(r, &host)).await.is_some(), "still routed");
    }
    assert_eq!(get(gw.local_addr(), &host, "/echo").await.status, 404);

    // Rotation: a new custom token; the old URL stops at once, the new one routes.
    let old = sb
        .expose_port(up.port(), ExposeOptions::new("localhost"))
        .await
        .unwrap();
    let old_host = host_of_url(&old.url);
    assert!(within(|| routes(&readers[0], &old_host)).await.is_some());
    let new = sb
        .expose_port(
            up.port(),
            ExposeOptions::new("localhost").token("rotated1token2"),
        )
        .await
        .unwrap();
    let new_host = host_of_url(&new.url);
    assert!(
        within(|| routes(&readers[0], &new_host) && !routes(&readers[0], &old_host))
            .await
            .is_some()
    );
    sb.destroy().await.unwrap();
    for r in &readers {
        assert!(within(|| r.get_sandbox("shared").is_none()).await.is_some());
    }

    // Propagation, measured: 200 exposures made on one, each waited for on another.
    let mut times = Vec::new();
    for i in 0..200u16 {
        let sb = writer.sandbox(&format!("p{i}"), "127.0.0.1").unwrap();
        let url = sb
            .expose_port(20000 + i, ExposeOptions::new("localhost"))
            .await
            .unwrap()
            .url;
        let host = host_of_url(&url);
        let waited = within(|| routes(&readers[1], &host))
            .await
            .expect("propagated");
        times.push(waited);
    }
    times.sort();
    eprintln!(
        "propagation over 200 changes: p50 {:?}, p99 {:?}, max {:?}",
        times[100], times[197], times[199]
    );
}

/// Two Portways writing the same sandbox at once, each from its own threads, as two control
/// planes do: every write lands, no token is used twice, and a port exposed by both keeps
/// one token (the second write sees the first, though its copy had not caught up yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_keep_every_rule() {
    let redis = RedisServer::start();
    let a = Arc::new(portway_on(&redis.url()));
    let b = Arc::new(portway_on(&redis.url()));
    let mut tasks = Vec::new();
    for (n, p) in [a.clone(), b.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let sb = p.sandbox("busy", "127.0.0.1").unwrap();
            let mut urls = Vec::new();
            for i in 0..50u16 {
                // Both expose the shared ports 1..=25; each its own 100 + n*50 + i.
                let shared = sb
                    .expose_port(10000 + (i % 25), ExposeOptions::new("localhost"))
                    .await
                    .unwrap();
                let own = sb
                    .expose_port(11000 + n as u16 * 100 + i, ExposeOptions::new("localhost"))
                    .await
                    .unwrap();
                urls.push((10000 + (i % 25), shared.url));
                urls.push((11000 + n as u16 * 100 + i, own.url));
            }
            urls
        }));
    }
    let mut seen = std::collections::HashMap::<u16, String>::new();
    for t in tasks {
        for (port, url) in t.await.unwrap() {
            let token = host_of(&url)
                .split('.')
                .next()
                .unwrap()
                .rsplit('-')
                .next()
                .unwrap()
                .to_owned();
            if let Some(before) = seen.insert(port, token.clone()) {
                assert_eq!(before, token, "port {port} got two tokens");
            }
        }
    }
    // 25 shared + 100 own ports, all stored, tokens all different.
    let fresh = portway_on(&redis.url());
    let ports = fresh.sandbox("busy", "127.0.0.1").unwrap();
    let infos = ports.get_exposed_ports("localhost").await.unwrap();
    assert_eq!(infos.len(), 125);
    let tokens: std::collections::HashSet<String> = infos
        .iter()
        .map(|i| {
            host_of(&i.url)
                .split('.')
                .next()
                .unwrap()
                .rsplit('-')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 125, "a token was used twice");
    for info in &infos {
        let token = host_of(&info.url)
            .split('.')
            .next()
            .unwrap()
            .rsplit('-')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(seen[&info.port], token, "port {}", info.port);
    }
    // And both writers' copies hold all of it.
    for p in [&a, &b] {
        assert!(
            within(|| p
                .get_sandbox("busy")
                .is_some_and(|s| s.exposed_ports == 125))
            .await
            .is_some()
        );
    }
}

/// Redis lost while serving: the gateway keeps routing from its copy, writes fail with
/// `STORE_ERROR` saying Redis is unreachable; Redis back (with its data): writes work again
/// and a change another process made meanwhile reaches this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_and_back() {
    let mut redis = RedisServer::start();
    let p = portway_on(&redis.url());
    let other = portway_on(&redis.url());
    let up = start_upstream().await;
    let gw = p.serve("127.0.0.1:0").await.unwrap();
    let host = expose_host(&p, "box", up.port()).await;

    redis.kill();
    for _ in 0..20 {
        assert_eq!(get(gw.local_addr(), &host, "/echo").await.status, 200);
    }
    let err = p
        .sandbox("box", "127.0.0.1")
        .unwrap()
        .expose_port(up.port() + 1, ExposeOptions::new("localhost"))
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "STORE_ERROR");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(
        !p.sandbox("box", "127.0.0.1")
            .unwrap()
            .is_port_exposed(up.port() + 1)
            .await
    );

    redis.restart();
    // Another process writes as soon as it can.
    let other_host = expose_host_once_back(&other, "other", up.port()).await;
    assert!(
        within(|| routes(&p, &other_host)).await.is_some(),
        "the change made while this process was disconnected never arrived"
    );
    p.sandbox("box", "127.0.0.1")
        .unwrap()
        .expose_port(up.port() + 1, ExposeOptions::new("localhost"))
        .await
        .expect("writes work again");
    assert_eq!(get(gw.local_addr(), &host, "/echo").await.status, 200);
}

/// A change whose message never came (written straight into Redis, unpublished) is found
/// by the revision check and read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_message_is_healed_by_the_revision_check() {
    let redis = RedisServer::start();
    let p = portway_on(&redis.url());
    let other = portway_on(&redis.url());
    other
        .sandbox("seed", "127.0.0.1")
        .unwrap()
        .expose_port(8080, ExposeOptions::new("localhost"))
        .await
        .unwrap();
    assert!(within(|| p.get_sandbox("seed").is_some()).await.is_some());
    // Another writer's change that was never published.
    let record = r#"{"upstream_host":"127.0.0.1","status":"running","exposures":[{"port":8081,"token":"silentsilent1234","name":null,"created_at_ms":1}]}"#;
    let escaped = record.replace('"', "\\\"");
    assert!(
        redis
            .command(&format!("SET portway:sandbox:silent \"{escaped}\""))
            .starts_with("+OK")
    );
    assert!(
        redis
            .command("SADD portway:sandboxes silent")
            .starts_with(':')
    );
    assert!(redis.command("INCR portway:revision").starts_with(':'));
    let host = "8081-silent-silentsilent1234.localhost";
    let healed = within(|| routes(&p, host)).await;
    assert!(healed.is_some(), "the unpublished change was never read");
    eprintln!("missed change read after {:?}", healed.unwrap());
}

/// Redis restarted without its data: this process keeps routing what it had, and writes
/// work again on the empty Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_keeps_the_copy() {
    let mut redis = RedisServer::start_with(false);
    let p = portway_on(&redis.url());
    let up = start_upstream().await;
    let host = expose_host(&p, "kept", up.port()).await;
    redis.restart_empty();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(routes(&p, &host), "the copy was dropped");
    let again = expose_host_once_back(&p, "new", up.port()).await;
    assert!(routes(&p, &again));
    assert!(redis.command("GET portway:epoch").starts_with('$'));
}

/// A Redis that cannot be reached at start: `STORE_ERROR`, naming the server.
#[test]
fn an_unreachable_redis_at_start_is_a_clear_error() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let err = Portway::builder()
        .store_path(format!("redis://127.0.0.1:{port}/0"))
        .build()
        .unwrap_err();
    assert_eq!(err.code().as_str(), "STORE_ERROR");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.to_string().contains("unreachable"), "{err}");
    let err = Portway::builder()
        .store_path("redis://127.0.0.1:1/0?prefix=")
        .build()
        .unwrap_err();
    assert_eq!(err.code().as_str(), "INVALID_CONFIG", "{err}");
}

/// Two deployments on one Redis, told apart by their key prefixes, see nothing of each other.
#[tokio::test]
async fn prefixes_keep_deployments_apart() {
    let redis = RedisServer::start();
    let staging = portway_on(&format!("{}?prefix=staging:", redis.url()));
    let prod = portway_on(&format!("{}?prefix=prod:", redis.url()));
    staging
        .sandbox("box", "127.0.0.1")
        .unwrap()
        .expose_port(8080, ExposeOptions::new("localhost"))
        .await
        .unwrap();
    assert!(staging.get_sandbox("box").is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(prod.get_sandbox("box").is_none());
    assert!(
        portway_on(&format!("{}?prefix=prod:", redis.url()))
            .get_sandbox("box")
            .is_none()
    );
    assert!(
        portway_on(&format!("{}?prefix=staging:", redis.url()))
            .get_sandbox("box")
            .is_some()
    );
}

/// 100,000 exposures (1,000 sandboxes of 100 ports) load into a new Portway; the time is
/// printed (a figure, not a test of speed).
#[test]
fn a_hundred_thousand_exposures_load() {
    let redis = RedisServer::start_with(false);
    let mut store = StoreConfig::Redis(redis.url()).open().unwrap();
    // Written straight, one record per sandbox, as 100,000 exposures leave them.
    let mut records = Vec::new();
    for s in 0..1000 {
        let exposures: Vec<String> = (0..100)
            .map(|p| {
                format!(
                    r#"{{"port":{},"token":"t{s:07}p{p:03}xxxx","name":null,"created_at_ms":1}}"#,
                    1024 + p
                )
            })
            .collect();
        records.push((
            format!("sb{s}"),
            format!(
                r#"{{"upstream_host":"10.0.0.1","status":"running","exposures":[{}]}}"#,
                exposures.join(",")
            ),
        ));
    }
    // A first change through the store makes the epoch and the revision.
    store
        .apply(Change::PutSandbox {
            id: "first",
            upstream_host: "10.0.0.1",
            status: SandboxStatus::Running,
        })
        .unwrap();
    drop(store);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    {
        use std::io::{BufRead, BufReader, Write};
        let mut out = Vec::new();
        for (id, json) in &records {
            let key = format!("portway:sandbox:{id}");
            for cmd in [
                vec!["SET", key.as_str(), json.as_str()],
                vec!["SADD", "portway:sandboxes", id.as_str()],
            ] {
                out.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
                for arg in cmd {
                    out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
                }
            }
        }
        raw.write_all(&out).unwrap();
        let mut reader = BufReader::new(raw);
        let mut line = String::new();
        for _ in 0..records.len() * 2 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with('+') || line.starts_with(':'), "{line}");
        }
    }
    let started = Instant::now();
    let p = portway_on(&redis.url());
    let took = started.elapsed();
    let total: usize = (0..1000)
        .map(|s| p.get_sandbox(&format!("sb{s}")).unwrap().exposed_ports)
        .sum();
    assert_eq!(total, 100_000);
    assert!(routes(&p, "1050-sb999-t0000999p026xxxx.localhost"));
    eprintln!("100,000 exposures loaded from Redis in {took:?}");
}

/// A password in the URL is used, and never shown in an error.
#[tokio::test]
async fn a_password_in_the_url_is_used_and_never_shown() {
    let redis = RedisServer::start_with(false);
    assert!(
        redis
            .command("CONFIG SET requirepass s3cret-pass")
            .starts_with("+OK")
    );
    let port = redis.port();
    let with = portway_on(&format!("redis://:s3cret-pass@127.0.0.1:{port}/0"));
    with.sandbox("box", "127.0.0.1")
        .unwrap()
        .expose_port(8080, ExposeOptions::new("localhost"))
        .await
        .unwrap();
    for url in [
        format!("redis://127.0.0.1:{port}/0"),
        format!("redis://:wrong-pass@127.0.0.1:{port}/0"),
    ] {
        let err = Portway::builder().store_path(&url).build().unwrap_err();
        assert_eq!(err.code().as_str(), "STORE_ERROR", "{err}");
        assert!(
            !err.to_string().contains("s3cret") && !err.to_string().contains("wrong-pass"),
            "{err}"
        );
    }
}
