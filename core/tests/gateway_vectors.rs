//! Runs every case of `tests/vectors/gateway.json` (the format is in `tests/vectors/README.md`,
//! section "Gateway") against the Rust gateway: a fresh in-memory `Portway` and its gateway
//! on 127.0.0.1:0 per case, in front of the fixture service (`tests/fixture`, run in-process
//! here; the other languages start its binary), each request written as raw HTTP/1.1 bytes
//! so that nothing normalises it on the way.

use std::net::SocketAddr;
use std::time::Duration;

use portway::options::{OptionValue, TimeUnit};
use portway::{ExposeOptions, GatewayOptions, Portway};
#[path = "support/config.rs"]
mod config;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn load() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/gateway.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases = doc["cases"]
        .as_array()
        .expect("gateway.json: no cases")
        .clone();
    assert!(!cases.is_empty(), "gateway.json: no cases");
    cases
}

/// The case's variables: `{fixture}`, `{closed}`, `{gateway}`.
struct Vars {
    fixture: u16,
    closed: u16,
    gateway: u16,
}

impl Vars {
    fn subst(&self, s: &str) -> String {
        s.replace("{fixture}", &self.fixture.to_string())
            .replace("{closed}", &self.closed.to_string())
            .replace("{gateway}", &self.gateway.to_string())
    }
}

/// The case's `Portway`: its `config` (as in the other vector files) and `gateway` options
/// (the core's names; durations in seconds).
fn portway_for(case: &Value) -> Portway {
    let config = &case["config"];
    let mut b = config::builder_for(config);
    let mut opts = GatewayOptions::default();
    for (name, value) in case["gateway"].as_object().into_iter().flatten() {
        let value = match value {
            Value::Bool(b) => OptionValue::Bool(*b),
            Value::Number(n) => OptionValue::Number(n.as_f64().unwrap()),
            Value::String(s) => OptionValue::Text(s.clone()),
            Value::Array(a) => {
                OptionValue::List(a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            }
            other => panic!("gateway option {name}: {other}"),
        };
        opts.set(name, value, TimeUnit::Seconds, name).unwrap();
    }
    b = b.gateway_config(opts.resolve().unwrap());
    b.build().unwrap()
}

/// Exposes the setup's ports (with their tokens), then stops or destroys the sandboxes that
/// say so.
async fn set_up(portway: &Portway, case: &Value, vars: &Vars) {
    let domain = case["config"]["domains"][0].as_str().unwrap_or("localhost");
    for sb in case["sandboxes"].as_array().into_iter().flatten() {
        let handle = portway
            .sandbox(sb["id"].as_str().unwrap(), "127.0.0.1")
            .unwrap();
        for p in sb["ports"].as_array().unwrap() {
            let port = match p["port"].as_str().unwrap() {
                "fixture" => vars.fixture,
                "closed" => vars.closed,
                other => panic!("unknown port {other}"),
            };
            let opts = ExposeOptions::new(domain).token(p["token"].as_str().unwrap());
            handle.expose_port(port, opts).await.unwrap();
        }
        match sb["status"].as_str().unwrap_or("running") {
            "running" => {}
            "stopped" => handle.mark_stopped().await.unwrap(),
            "destroyed" => handle.destroy().await.unwrap(),
            other => panic!("unknown status {other}"),
        }
    }
}

/// A response as it came off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The request's bytes: the request line, `Host` (when given), the headers in order, a
/// `Content-Length` for a body (unless the headers frame it), the body.
fn request_bytes(req: &Value, vars: &Vars) -> Vec<u8> {
    let target = vars.subst(req["target"].as_str().unwrap());
    let mut head = format!("{} {target} HTTP/1.1\r\n", req["method"].as_str().unwrap());
    if let Some(host) = req["host"].as_str() {
        head.push_str(&format!("host: {}\r\n", vars.subst(host)));
    }
    let mut framed = false;
    for h in req["headers"].as_array().into_iter().flatten() {
        let (name, value) = (h[0].as_str().unwrap(), vars.subst(h[1].as_str().unwrap()));
        framed |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = req["body"].as_str().unwrap_or("");
    if req.get("body").is_some() && !framed {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Reads one response: its head, then a body framed by `Transfer-Encoding: chunked`,
/// `Content-Length` or the end of the connection (none for HEAD, 1xx, 204 and 304).
async fn read_reply(s: &mut TcpStream, head_request: bool) -> Reply {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the connection closed before a response head: {buf:?}"
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let mut rest = buf[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status < 200 || status == 204 || status == 304 {
        return reply;
    }
    let mut more = async |rest: &mut Vec<u8>| {
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk).await.unwrap();
        rest.extend_from_slice(&chunk[..n]);
        n > 0
    };
    if reply.values("transfer-encoding") == ["chunked"] {
        loop {
            while !rest.windows(2).any(|w| w == b"\r\n") {
                assert!(more(&mut rest).await, "cut inside a chunk size");
            }
            let i = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let line = String::from_utf8(rest[..i].to_vec()).unwrap();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
            rest.drain(..i + 2);
            while rest.len() < size + 2 {
                assert!(more(&mut rest).await, "cut inside a chunk");
            }
            if size == 0 {
                break; // no trailers in these cases
            }
            reply.body.extend_from_slice(&rest[..size]);
            rest.drain(..size + 2);
        }
    } else if let Some(len) = reply.values("content-length").first() {
        let len: usize = len.parse().unwrap();
        while rest.len() < len {
            assert!(more(&mut rest).await, "cut before Content-Length");
        }
        reply.body = rest[..len].to_vec();
    } else {
        while more(&mut rest).await {}
        reply.body = rest;
    }
    reply
}

/// Checks `want` (a name → value or list of values object) and `absent` against headers.
fn check_headers(
    ctx: &str,
    values: impl Fn(&str) -> Vec<String>,
    want: &Value,
    absent: &Value,
    vars: &Vars,
) {
    for (name, value) in want.as_object().into_iter().flatten() {
        let want: Vec<String> = match value {
            Value::String(s) => vec![vars.subst(s)],
            Value::Array(a) => a.iter().map(|v| vars.subst(v.as_str().unwrap())).collect(),
            other => panic!("{ctx}: header {name}: {other}"),
        };
        assert_eq!(values(name), want, "{ctx}: header {name}");
    }
    for name in absent.as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        assert!(
            values(name).is_empty(),
            "{ctx}: {name} is present: {:?}",
            values(name)
        );
    }
}

fn check(ctx: &str, expect: &Value, reply: &Reply, vars: &Vars) {
    let text = String::from_utf8_lossy(&reply.body);
    assert_eq!(
        u64::from(reply.status),
        expect["status"].as_u64().unwrap(),
        "{ctx}: status ({:?} {text})",
        reply.headers
    );
    let values = |name: &str| reply.values(name).into_iter().map(str::to_owned).collect();
    check_headers(
        ctx,
        values,
        &expect["headers"],
        &expect["headers_absent"],
        vars,
    );
    if let Some(code) = expect.get("code") {
        let body: Value = serde_json::from_slice(&reply.body)
            .unwrap_or_else(|e| panic!("{ctx}: not the gateway's JSON ({e}): {text}"));
        assert_eq!(&body["code"], code, "{ctx}: code in {text}");
        if let Some(message) = expect.get("message") {
            assert_eq!(&body["error"], message, "{ctx}: message in {text}");
        }
    }
    if let Some(body) = expect["body"].as_str() {
        assert_eq!(text, vars.subst(body), "{ctx}: body");
    }
    for part in expect["body_contains"].as_array().into_iter().flatten() {
        let part = vars.subst(part.as_str().unwrap());
        assert!(text.contains(&part), "{ctx}: body lacks {part:?}: {text}");
    }
    if let Some(len) = expect["body_len"].as_u64() {
        assert_eq!(reply.body.len() as u64, len, "{ctx}: body length");
    }
    if let Some(want) = expect.get("sandbox") {
        let saw: Value = serde_json::from_slice(&reply.body)
            .unwrap_or_else(|e| panic!("{ctx}: not the fixture's echo ({e}): {text}"));
        for key in ["method", "path", "body"] {
            if let Some(w) = want[key].as_str() {
                assert_eq!(
                    saw[key].as_str(),
                    Some(vars.subst(w).as_str()),
                    "{ctx}: the sandbox's {key}"
                );
            }
        }
        let list: Vec<(String, String)> = saw["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let values = |name: &str| {
            list.iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let ctx = format!("{ctx}: the sandbox's headers {list:?}");
        check_headers(
            &ctx,
            values,
            &want["headers"],
            &want["headers_absent"],
            vars,
        );
        if let Some(exact) = want["header_list"].as_array() {
            // A null value: the header is there, with any value (a random hop marker).
            let exact: Vec<(String, String)> = exact
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let value = match p[1].as_str() {
                        Some(v) => vars.subst(v),
                        None => list.get(i).map(|(_, v)| v.clone()).unwrap_or_default(),
                    };
                    (p[0].as_str().unwrap().to_owned(), value)
                })
                .collect();
            assert_eq!(list, exact, "{ctx}: the sandbox's header list");
        }
    }
}

/// Fails on a key the format does not have (a misspelt expectation would check nothing).
fn known_keys(ctx: &str, v: &Value, what: &str, keys: &[&str]) {
    for key in v.as_object().into_iter().flatten().map(|(k, _)| k) {
        assert!(
            keys.contains(&key.as_str()),
            "{ctx}: unknown {what} key {key:?}"
        );
    }
}

fn check_format(ctx: &str, case: &Value) {
    known_keys(
        ctx,
        case,
        "case",
        &[
            "name",
            "config",
            "gateway",
            "sandboxes",
            "request",
            "expect",
        ],
    );
    let config_keys = [
        "domains",
        "reserved_ports",
        "reserved_sandbox_ids",
        "custom_domain_suffixes",
        "normalize_id",
        "min_token_length",
    ];
    known_keys(ctx, &case["config"], "config", &config_keys);
    for sb in case["sandboxes"].as_array().into_iter().flatten() {
        known_keys(ctx, sb, "sandbox", &["id", "status", "ports"]);
        for p in sb["ports"].as_array().into_iter().flatten() {
            known_keys(ctx, p, "port", &["port", "token"]);
        }
    }
    let request = ["method", "target", "host", "headers", "body"];
    known_keys(ctx, &case["request"], "request", &request);
    let expect = [
        "status",
        "code",
        "message",
        "headers",
        "headers_absent",
        "body",
        "body_contains",
        "body_len",
        "sandbox",
    ];
    known_keys(ctx, &case["expect"], "expect", &expect);
    let sandbox = [
        "method",
        "path",
        "body",
        "headers",
        "headers_absent",
        "header_list",
    ];
    known_keys(ctx, &case["expect"]["sandbox"], "expect.sandbox", &sandbox);
}

async fn run(case: &Value, fixture: u16, closed: u16) {
    let ctx = format!("gateway.json {}", case["name"].as_str().unwrap_or("?"));
    check_format(&ctx, case);
    let portway = portway_for(case);
    let gateway = portway.serve("127.0.0.1:0").await.unwrap();
    let vars = Vars {
        fixture,
        closed,
        gateway: gateway.local_addr().port(),
    };
    set_up(&portway, case, &vars).await;
    let req = &case["request"];
    let addr: SocketAddr = gateway.local_addr();
    let reply = tokio::time::timeout(Duration::from_secs(10), async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&request_bytes(req, &vars)).await.unwrap();
        read_reply(&mut s, req["method"] == "HEAD").await
    })
    .await
    .unwrap_or_else(|_| panic!("{ctx}: no response within 10 s"));
    check(&ctx, &case["expect"], &reply, &vars);
    gateway.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn gateway_vectors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fixture = listener.local_addr().unwrap().port();
    let service = tokio::spawn(portway_fixture::serve(listener));
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = free.local_addr().unwrap().port();
    drop(free);
    let cases = load();
    // Every case runs; the failures are reported together.
    let mut failures = Vec::new();
    for case in &cases {
        let case = case.clone();
        if let Err(e) = tokio::spawn(async move { run(&case, fixture, closed).await }).await {
            let panic = e.into_panic();
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(why);
        }
    }
    service.abort();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("gateway.json: {} cases run", cases.len());
}
