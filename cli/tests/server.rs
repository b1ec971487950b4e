//! The `portway` binary as a process: admin API, gateway, restarts, configuration.

use std::io::{BufRead, BufReader, Lines};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running `portway serve`; killed when dropped.
struct Server {
    child: Child,
    gateway: SocketAddr,
    admin: SocketAddr,
    /// What it prints after its two addresses (the access log, by default), kept open.
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::start_with(args, envs, |_| {})
    }

    /// `start`, with `configure` applied to the command last (stderr, limits).
    fn start_with(
        args: &[&str],
        envs: &[(&str, &str)],
        configure: impl FnOnce(&mut Command),
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portway"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        configure(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addr = |prefix: &str| -> SocketAddr {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("portway exited before printing {prefix}"))
                .unwrap();
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("unexpected line {line:?}"))
                .parse()
                .unwrap()
        };
        let gateway = addr("gateway listening on ");
        let admin = addr("admin API listening on ");
        Server {
            child,
            gateway,
            admin,
            stdout: lines,
        }
    }

    /// SIGTERM, wait for a clean exit, and return what it printed that was not read yet.
    fn stop_keeping_stdout(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "portway exited with {status}");
        self.stdout.by_ref().map_while(Result::ok).collect()
    }

    /// SIGTERM, and wait for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "portway exited with {status}");
    }
}

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

async fn call(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let res = sender
        .send_request(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    Reply {
        status,
        headers,
        body: res.into_body().collect().await.unwrap().to_bytes(),
    }
}

async fn admin(s: &Server, method: &str, path: &str, body: Option<Value>) -> Reply {
    call(s.admin, method, "127.0.0.1", path, &[], body).await
}

/// A tiny upstream service: answers every request with its path.
async fn upstream() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from(format!("upstream saw {}", req.uri())),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, task)
}

fn host_of(url: &str) -> String {
    url.split_once("://")
        .unwrap()
        .1
        .trim_end_matches('/')
        .to_owned()
}

fn store_arg(dir: &Path) -> String {
    dir.join("portway.db").to_str().unwrap().to_owned()
}

#[tokio::test]
async fn expose_fetch_unexpose_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_arg(dir.path());
    let (port, _up) = upstream().await;
    let s = Server::start(&["--store", &store], &[]);

    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/my-box",
        Some(json!({"upstream_host": "127.0.0.1"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({
            "id": "my-box", "upstream_host": "127.0.0.1", "status": "running", "exposed_ports": 0,
            "last_activity_at": null, "open_connections": 0, "websocket_sessions": 0,
            "requests": 0, "bytes_received": 0, "bytes_sent": 0, "idle_after_seconds": null
        })
    );
    let r = admin(
        &s,
        "POST",
        "/v1/sandboxes/my-box/ports",
        Some(json!({"port": port, "hostname": "localhost", "name": "web"})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let url = r.json()["url"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["name"], "web");
    let host = host_of(&url);

    let got = call(s.gateway, "GET", &host, "/hello?x=1", &[], None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, Bytes::from("upstream saw /hello?x=1"));

    let list = admin(
        &s,
        "GET",
        "/v1/sandboxes/my-box/ports?hostname=localhost",
        None,
    )
    .await;
    assert_eq!(
        list.json(),
        json!({"ports": [{"port": port, "url": url, "name": "web", "status": "active"}]})
    );

    // Restart: the same URL still works.
    s.stop();
    let s = Server::start(&["--store", &store], &[]);
    assert_eq!(
        call(s.gateway, "GET", &host, "/again", &[], None)
            .await
            .body,
        Bytes::from("upstream saw /again")
    );

    let r = admin(
        &s,
        "DELETE",
        &format!("/v1/sandboxes/my-box/ports/{port}"),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        admin(
            &s,
            "DELETE",
            &format!("/v1/sandboxes/my-box/ports/{port}"),
            None
        )
        .await
        .status,
        204
    );
    let got = call(s.gateway, "GET", &host, "/", &[], None).await;
    assert_eq!(got.status, 404);
    assert_eq!(got.json()["code"], "INVALID_TOKEN");
    s.stop();
}

#[tokio::test]
async fn stopped_sandboxes_are_stale_and_deleted_ones_forgotten() {
    let (port, _up) = upstream().await;
    let s = Server::start(&["--store", ":memory:"], &[]);
    admin(&s, "PUT", "/v1/sandboxes/box", None).await;
    let url = admin(
        &s,
        "POST",
        "/v1/sandboxes/box/ports",
        Some(json!({"port": port, "hostname": "localhost"})),
    )
    .await
    .json()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = host_of(&url);
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"status": "stopped"})),
    )
    .await;
    assert_eq!(r.json()["status"], "stopped");
    assert_eq!(
        call(s.gateway, "GET", &host, "/", &[], None).await.status,
        410
    );
    admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"status": "running"})),
    )
    .await;
    assert_eq!(
        call(s.gateway, "GET", &host, "/", &[], None).await.status,
        200
    );
    assert_eq!(
        admin(&s, "DELETE", "/v1/sandboxes/box", None).await.status,
        204
    );
    assert_eq!(
        call(s.gateway, "GET", &host, "/", &[], None).await.status,
        404
    );
    assert_eq!(
        admin(&s, "DELETE", "/v1/sandboxes/box", None).await.status,
        404
    );
}

#[tokio::test]
async fn admin_errors_carry_codes() {
    let s = Server::start(&["--store", ":memory:"], &[]);
    let check = |r: Reply, status: u16, code: &str| {
        assert_eq!(r.status, status, "{:?}", r.body);
        assert_eq!(r.json()["code"], code, "{:?}", r.body);
        assert!(r.json()["error"].as_str().is_some_and(|m| !m.is_empty()));
    };
    check(
        admin(
            &s,
            "POST",
            "/v1/sandboxes/nobody/ports",
            Some(json!({"port": 8080, "hostname": "localhost"})),
        )
        .await,
        404,
        "SANDBOX_NOT_FOUND",
    );
    check(
        admin(
            &s,
            "GET",
            "/v1/sandboxes/nobody/ports?hostname=localhost",
            None,
        )
        .await,
        404,
        "SANDBOX_NOT_FOUND",
    );
    check(
        admin(&s, "PUT", "/v1/sandboxes/Bad_Id", None).await,
        400,
        "INVALID_SANDBOX_ID",
    );
    check(
        admin(
            &s,
            "PUT",
            "/v1/sandboxes/box",
            Some(json!({"status": "paused"})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    );
    check(
        admin(
            &s,
            "PUT",
            "/v1/sandboxes/box",
            Some(json!({"upstream_host": "10.0.0.1:80"})),
        )
        .await,
        400,
        "INVALID_UPSTREAM_HOST",
    );
    check(
        admin(
            &s,
            "PUT",
            "/v1/sandboxes/box",
            Some(json!({"upstrem_host": "x"})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    );
    admin(&s, "PUT", "/v1/sandboxes/box", None).await;
    let post = |body: Value| admin(&s, "POST", "/v1/sandboxes/box/ports", Some(body));
    check(
        post(json!({"port": 3000, "hostname": "localhost"})).await,
        400,
        "INVALID_PORT",
    );
    check(
        post(json!({"port": "8080", "hostname": "localhost"})).await,
        400,
        "INVALID_PORT",
    );
    check(
        post(json!({"port": 8080.5, "hostname": "localhost"})).await,
        400,
        "INVALID_PORT",
    );
    check(post(json!({"port": 8080})).await, 400, "INVALID_HOSTNAME");
    check(
        post(json!({"port": 8080, "hostname": "https://localhost"})).await,
        400,
        "INVALID_HOSTNAME",
    );
    check(
        post(json!({"port": 8080, "hostname": "example.com"})).await,
        400,
        "DOMAIN_NOT_CONFIGURED",
    );
    check(
        post(json!({"port": 8080, "hostname": "x.workers.dev"})).await,
        400,
        "CUSTOM_DOMAIN_REQUIRED",
    );
    check(
        post(json!({"port": 8080, "hostname": "localhost", "token": "short"})).await,
        400,
        "INVALID_TOKEN_FORMAT",
    );
    check(
        post(json!({"port": 8080, "hostname": "localhost", "name": ""})).await,
        400,
        "INVALID_PORT_NAME",
    );
    assert_eq!(
        post(json!({"port": 8080, "hostname": "localhost", "token": "token_one"}))
            .await
            .status,
        200
    );
    check(
        post(json!({"port": 8081, "hostname": "localhost", "token": "token_one"})).await,
        400,
        "TOKEN_IN_USE",
    );
    check(
        admin(&s, "DELETE", "/v1/sandboxes/box/ports/80", None).await,
        400,
        "INVALID_PORT",
    );
    let bad_json = call(
        s.admin,
        "POST",
        "127.0.0.1",
        "/v1/sandboxes/box/ports",
        &[],
        None,
    )
    .await;
    check(bad_json, 400, "INVALID_ARGUMENT");
    check(
        admin(&s, "GET", "/v1/nothing", None).await,
        404,
        "NOT_FOUND",
    );
    check(
        admin(&s, "PATCH", "/v1/sandboxes/box", None).await,
        405,
        "METHOD_NOT_ALLOWED",
    );
}

#[tokio::test]
async fn the_admin_token_guards_everything_but_healthz() {
    let s = Server::start(
        &["--store", ":memory:"],
        &[("PORTWAY_ADMIN_TOKEN", "s3cret-admin")],
    );
    let r = admin(&s, "PUT", "/v1/sandboxes/box", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "UNAUTHORIZED");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let wrong = call(
        s.admin,
        "GET",
        "127.0.0.1",
        "/metrics",
        &[("authorization", "Bearer nope")],
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    let ok = call(
        s.admin,
        "PUT",
        "127.0.0.1",
        "/v1/sandboxes/box",
        &[("authorization", "Bearer s3cret-admin")],
        None,
    )
    .await;
    assert_eq!(ok.status, 200);
    let health = admin(&s, "GET", "/healthz", None).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    let metrics = call(
        s.admin,
        "GET",
        "127.0.0.1",
        "/metrics",
        &[("authorization", "Bearer s3cret-admin")],
        None,
    )
    .await;
    assert_eq!(metrics.status, 200);
    assert!(String::from_utf8_lossy(&metrics.body).contains("portway_open_connections"));
}

#[tokio::test]
async fn a_public_admin_listener_without_a_token_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_portway"))
        .args([
            "serve",
            "--store",
            ":memory:",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-token"));
}

#[tokio::test]
async fn configuration_from_a_toml_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portway.toml");
    std::fs::write(
        &config,
        "domains = [\"preview.test\"]\nstore = \":memory:\"\nreserved_ports = [3000, 9000]\n",
    )
    .unwrap();
    let s = Server::start(
        &["--config", config.to_str().unwrap()],
        &[("PORTWAY_MIN_TOKEN_LENGTH", "12")],
    );
    admin(&s, "PUT", "/v1/sandboxes/box", None).await;
    let r = admin(
        &s,
        "POST",
        "/v1/sandboxes/box/ports",
        Some(json!({"port": 9000, "hostname": "preview.test"})),
    )
    .await;
    assert_eq!(r.json()["code"], "INVALID_PORT");
    let r = admin(
        &s,
        "POST",
        "/v1/sandboxes/box/ports",
        Some(json!({"port": 9001, "hostname": "preview.test", "token": "elevenchars"})),
    )
    .await;
    assert_eq!(r.json()["code"], "INVALID_TOKEN_FORMAT");
    let r = admin(
        &s,
        "POST",
        "/v1/sandboxes/box/ports",
        Some(json!({"port": 9001, "hostname": "preview.test"})),
    )
    .await;
    assert!(
        r.json()["url"]
            .as_str()
            .unwrap()
            .starts_with("https://9001-box-")
    );
    assert!(
        r.json()["url"]
            .as_str()
            .unwrap()
            .ends_with(".preview.test/")
    );
    // A flag beats the file.
    let s2 = Server::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--domain",
            "other.test",
        ],
        &[],
    );
    admin(&s2, "PUT", "/v1/sandboxes/box", None).await;
    let r = admin(
        &s2,
        "POST",
        "/v1/sandboxes/box/ports",
        Some(json!({"port": 9001, "hostname": "preview.test"})),
    )
    .await;
    assert_eq!(r.json()["code"], "DOMAIN_NOT_CONFIGURED");
}

#[tokio::test]
async fn demo_prints_a_url_that_works() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portway"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut curl_by_host = None;
    for line in lines {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("curl -H 'Host: ") {
            let (host, addr) = rest.split_once("' http://").unwrap();
            curl_by_host = Some((
                host.to_owned(),
                addr.trim_end_matches('/').parse::<SocketAddr>().unwrap(),
            ));
            break;
        }
    }
    let (host, addr) = curl_by_host.expect("no curl line printed");
    let got = tokio::time::timeout(
        Duration::from_secs(10),
        call(addr, "GET", &host, "/", &[], None),
    )
    .await
    .unwrap();
    assert_eq!(got.status, 200);
    assert!(String::from_utf8_lossy(&got.body).contains("Hello from the sandbox service"));
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn web_pages_cannot_drive_the_admin_api() {
    let s = Server::start(&["--store", ":memory:"], &[]);
    let body = json!({"upstream_host": "127.0.0.1"});
    // A cross-site form POST: text/plain, with an Origin.
    let r = call(
        s.admin,
        "PUT",
        "127.0.0.1",
        "/v1/sandboxes/box",
        &[("origin", "https://evil.example")],
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    // DNS rebinding: the request is addressed to the attacker's host name.
    let r = call(
        s.admin,
        "GET",
        "rebind.evil.example:9090",
        "/v1/sandboxes",
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    // A body that is not declared as JSON.
    let stream = TcpStream::connect(s.admin).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method("PUT")
        .uri("/v1/sandboxes/box")
        .header("host", "127.0.0.1")
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 415);
    assert_eq!(
        admin(&s, "GET", "/v1/sandboxes", None).await.json(),
        json!({"sandboxes": []})
    );
    // Programs pass: localhost and IP hosts, JSON bodies.
    assert_eq!(
        call(s.admin, "GET", "localhost:9090", "/v1/sandboxes", &[], None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(s.admin, "GET", "[::1]:9090", "/v1/sandboxes", &[], None)
            .await
            .status,
        200
    );
}

/// tests/api/parity.json, and what `portway serve --help` prints.
fn parity_and_serve_help() -> (Value, String) {
    let parity = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/api/parity.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_portway"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    (parity, String::from_utf8_lossy(&help.stdout).into_owned())
}

/// Every Portway setting that tests/api/parity.json gives a flag is a flag of `portway
/// serve`, and one it gives none (null) has none, so a flag added to the server fails until
/// the list names it.
#[test]
fn every_portway_setting_with_a_flag_is_a_serve_flag() {
    let (parity, help) = parity_and_serve_help();
    let settings = parity["options"]["PortwaySettings"].as_array().unwrap();
    assert!(
        !settings.is_empty(),
        "parity.json lists no Portway settings"
    );
    for setting in settings {
        let name = setting["rust"].as_str().unwrap();
        match setting["cli"].as_str() {
            Some(flag) => assert!(
                help.contains(&format!("{flag} ")),
                "`portway serve --help` has no {flag} ({name})"
            ),
            None => {
                // The flag it would have: the name with dashes, singular (--reserved-port).
                let dashed = name.replace('_', "-");
                let stem = dashed.trim_end_matches("es").trim_end_matches('s');
                assert!(
                    !help.contains(&format!("--{stem}")),
                    "`portway serve --help` has a flag for {name}: parity.json gives it none"
                );
            }
        }
    }
}

/// Every gateway setting of tests/api/parity.json is a flag of `portway serve`, and a flag
/// reaches the core's checks (an unusable value is refused at start, naming the setting).
#[test]
fn every_gateway_setting_is_a_serve_flag() {
    let (parity, help) = parity_and_serve_help();
    for option in parity["options"]["GatewayConfig"].as_array().unwrap() {
        let flag = option["cli"].as_str().unwrap();
        assert!(help.contains(flag), "`portway serve --help` has no {flag}");
    }
    for (flag, value, setting) in [
        ("--max-headers", "0", "max_headers"),
        ("--ws-max-frame-size", "0", "ws_max_frame_size"),
        ("--upstream-pool-idle-timeout", "1s", ""),
        ("--idle-timeout", "0", "idle_timeout"),
        ("--upstream-allow", "10.0.0.0/33", "upstream_allow"),
        ("--referrer-policy", "unsafe", "referrer_policy"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_portway"))
            .args(["serve", "--store", ":memory:", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0", flag, value, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag} {value} is not a flag");
        if setting.is_empty() {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_portway"))
            .args(["serve", "--store", ":memory:", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0", flag, value])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} {value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(setting), "{flag} {value}: {stderr}");
    }
}

/// `portway serve` with its arguments, run to its exit: (status code, stderr).
fn serve_output(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portway"));
    cmd.args(["serve", "--store", ":memory:", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads until the peer closes; `Err` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .map_err(|_| format!("still open after {limit:?}"))?;
    Ok(got)
}

#[tokio::test]
async fn silent_admin_connections_are_closed_after_the_head_timeout() {
    let s = Server::start(&["--store", ":memory:"], &[]);
    let started = std::time::Instant::now();
    let limit = Duration::from_secs(25);
    // Nothing at all; half a head; a head whose body never comes; idle after one request.
    let mut silent = TcpStream::connect(s.admin).await.unwrap();
    let mut half = TcpStream::connect(s.admin).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut no_body = TcpStream::connect(s.admin).await.unwrap();
    no_body
        .write_all(
            b"PUT /v1/sandboxes/box HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{",
        )
        .await
        .unwrap();
    let mut idle = TcpStream::connect(s.admin).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (silent, half, no_body, idle) = tokio::join!(
        closed_within(&mut silent, limit),
        closed_within(&mut half, limit),
        closed_within(&mut no_body, limit),
        closed_within(&mut idle, limit),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "closed too soon"
    );
    assert_eq!(silent.unwrap(), b"");
    half.unwrap();
    let no_body = String::from_utf8(no_body.unwrap()).unwrap();
    assert!(no_body.starts_with("HTTP/1.1 408"), "{no_body}");
    assert!(
        no_body.contains("\"code\":\"INVALID_ARGUMENT\""),
        "{no_body}"
    );
    let idle = String::from_utf8(idle.unwrap()).unwrap();
    assert!(idle.starts_with("HTTP/1.1 200"), "{idle}");
    // Nothing was stored, and the API still answers.
    assert_eq!(
        admin(&s, "GET", "/v1/sandboxes", None).await.json(),
        json!({"sandboxes": []})
    );
}

#[tokio::test]
async fn admin_connections_are_bounded() {
    let s = Server::start(&["--store", ":memory:"], &[]);
    let mut held = Vec::new();
    for _ in 0..256 {
        held.push(TcpStream::connect(s.admin).await.unwrap());
    }
    // Give the server time to take them all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = tokio::spawn(call(s.admin, "GET", "127.0.0.1", "/healthz", &[], None));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !waiting.is_finished(),
        "the 257th admin connection was served"
    );
    drop(held.pop());
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("a freed slot was not reused")
        .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = Server::start(
        &["--store", ":memory:"],
        &[("PORTWAY_ADMIN_TOKEN", "s3cret-admin")],
    );
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} s3cret-admin");
        let r = call(
            s.admin,
            "GET",
            "127.0.0.1",
            "/v1/sandboxes",
            &[("authorization", &auth)],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{scheme}");
    }
    for auth in ["Basic s3cret-admin", "Bearers3cret-admin", "s3cret-admin"] {
        let r = call(
            s.admin,
            "GET",
            "127.0.0.1",
            "/v1/sandboxes",
            &[("authorization", auth)],
            None,
        )
        .await;
        assert_eq!(r.status, 401, "{auth}");
    }
}

#[tokio::test]
async fn the_admin_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "t0ken-from-file\n").unwrap();
    let file = file.to_str().unwrap();
    let authorized = |s: &Server, token: &'static str| {
        let addr = s.admin;
        async move {
            let auth = format!("Bearer {token}");
            call(
                addr,
                "GET",
                "127.0.0.1",
                "/v1/sandboxes",
                &[("authorization", &auth)],
                None,
            )
            .await
            .status
        }
    };
    // The flag; the trailing newline is not part of the token.
    let s = Server::start(&["--store", ":memory:", "--admin-token-file", file], &[]);
    assert_eq!(admin(&s, "GET", "/v1/sandboxes", None).await.status, 401);
    assert_eq!(authorized(&s, "t0ken-from-file").await, 200);
    drop(s);
    // The environment, and the TOML file.
    let s = Server::start(
        &["--store", ":memory:"],
        &[("PORTWAY_ADMIN_TOKEN_FILE", file)],
    );
    assert_eq!(authorized(&s, "t0ken-from-file").await, 200);
    drop(s);
    let config = dir.path().join("portway.toml");
    std::fs::write(&config, format!("admin_token_file = {file:?}\n")).unwrap();
    let s = Server::start(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(admin(&s, "GET", "/v1/sandboxes", None).await.status, 401);
    assert_eq!(authorized(&s, "t0ken-from-file").await, 200);
    drop(s);

    // A missing, an empty or an unreadable file stops the start, naming the file.
    let missing = dir.path().join("nope");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let unreadable = dir.path().to_str().unwrap(); // a directory
    for bad in [
        missing.to_str().unwrap(),
        empty.to_str().unwrap(),
        unreadable,
    ] {
        let (code, stderr) = serve_output(&["--admin-token-file", bad], &[]);
        assert_ne!(code, Some(0), "{bad}: {stderr}");
        assert!(code.is_some(), "{bad}: killed");
        assert!(stderr.contains(bad), "{bad}: {stderr}");
    }
    // With --admin-token as well, it is refused.
    let (code, stderr) = serve_output(&["--admin-token-file", file, "--admin-token", "x"], &[]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("--admin-token"), "{stderr}");
    let (code, stderr) = serve_output(
        &["--admin-token-file", file],
        &[("PORTWAY_ADMIN_TOKEN", "x")],
    );
    assert_ne!(code, Some(0), "{stderr}");
    std::fs::write(
        &config,
        format!("admin_token_file = {file:?}\nadmin_token = \"abcdefgh\"\n"),
    )
    .unwrap();
    let (code, stderr) = serve_output(&["--config", config.to_str().unwrap()], &[]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("admin_token_file"), "{stderr}");
}

/// The soft and hard open-file limits of a running process.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_owned(), fields[4].to_owned())
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_open_file_limit_is_raised_to_the_hard_limit() {
    use std::os::unix::process::CommandExt;
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    assert!(hard > 256, "the hard limit here is {hard}");
    let s = Server::start_with(&["--store", ":memory:"], &[], |cmd| {
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, 256, hard));
        }
    });
    let (soft, got_hard) = open_file_limits(s.child.id());
    assert_eq!(
        (soft.as_str(), got_hard.as_str()),
        (&*hard.to_string(), &*hard.to_string())
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_low_open_file_limit_is_warned_about_and_accept_failures_are_logged_sparingly() {
    use std::os::unix::process::CommandExt;
    // Room for the runtime, the store and the listeners, and a few connections.
    let mut s = Server::start_with(&["--store", ":memory:"], &[], |cmd| {
        cmd.stderr(Stdio::piped());
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 64, 64));
        }
    });
    let mut stderr = s.child.stderr.take().unwrap();
    // More connections than descriptors: accept fails with EMFILE over and over.
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(TcpStream::connect(s.admin).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(held);
    let _ = s.child.kill();
    let _ = s.child.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert!(log.contains("open-file limit"), "{log}");
    let failures = log.matches("admin accept failed").count();
    assert!(
        (1..=3).contains(&failures),
        "{failures} accept failures logged:\n{log}"
    );
}

#[test]
fn durations_take_humantime_forms_and_overflows_are_refused() {
    // humantime's forms and the ones it does not take (fractions, bare seconds) start.
    for value in ["1h30m", "2m 30s", "1.5s", "10", "0.25", "250ms"] {
        let (code, stderr) = serve_output(&["--idle-timeout", value, "--help"], &[]);
        assert_eq!(code, Some(0), "{value}: {stderr}");
        let (code, stderr) = serve_output(&["--idle-timeout", value, "--max-headers", "0"], &[]);
        assert_eq!(code, Some(1), "{value}: {stderr}");
        assert!(stderr.contains("max_headers"), "{value}: {stderr}");
    }
    // Overflowing values: a clear message at start and a non-zero exit, never a panic.
    for value in [
        "10000000000000000000",
        "100000000000000000000",
        "10000000000000000000h",
        "1e400",
        "400d",
        "1.5e300s",
    ] {
        let (code, stderr) = serve_output(&["--idle-timeout", value], &[]);
        assert!(
            matches!(code, Some(1 | 2)),
            "{value}: exit {code:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{value}: {stderr}");
        assert!(stderr.contains("idle"), "{value}: {stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portway.toml");
    std::fs::write(&config, "idle_timeout = \"10000000000000000000\"\n").unwrap();
    let (code, stderr) = serve_output(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("idle_timeout"), "{stderr}");
    std::fs::write(&config, "idle_timeout = \"100000000000000000000\"\n").unwrap();
    let (code, stderr) = serve_output(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("idle_timeout"), "{stderr}");
}

/// Exposes `port` of a new sandbox `id` through the admin API; its preview host.
async fn expose_through_admin(s: &Server, id: &str, port: u16) -> String {
    let r = admin(s, "PUT", &format!("/v1/sandboxes/{id}"), None).await;
    assert_eq!(r.status, 200);
    let r = admin(
        s,
        "POST",
        &format!("/v1/sandboxes/{id}/ports"),
        Some(json!({"port": port, "hostname": "localhost"})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    host_of(r.json()["url"].as_str().unwrap())
}

/// `portway serve` logs each gateway request to stdout by default, one JSON line with the
/// token replaced and no query; `--access-log off` turns it off, and `PORTWAY_ACCESS_LOG`
/// names a file.
#[tokio::test]
async fn the_access_log_goes_to_stdout_by_default_without_tokens() {
    let (port, _up) = upstream().await;
    let mut s = Server::start(&["--store", ":memory:"], &[]);
    let host = expose_through_admin(&s, "logged", port).await;
    let token = host
        .split('.')
        .next()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .to_owned();
    let got = call(
        s.gateway,
        "GET",
        &host,
        &format!("/page?t={token}"),
        &[],
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    let wrong = host.replace(&token, "notthetoken1");
    assert_eq!(
        call(s.gateway, "GET", &wrong, "/", &[], None).await.status,
        404
    );
    let mut lines = Vec::new();
    for _ in 0..2 {
        let line = s.stdout.next().expect("stdout ended").unwrap();
        assert!(
            !line.contains(&token) && !line.contains("notthetoken1"),
            "{line}"
        );
        lines.push(serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    let first = &lines[0];
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/page");
    assert_eq!(first["status"], 200);
    assert_eq!(first["sandbox"], "logged");
    assert_eq!(first["port"], port);
    assert_eq!(
        first["bytes"],
        format!("upstream saw /page?t={token}").len()
    );
    assert_eq!(first["host"], format!("{port}-logged-REDACTED.localhost"));
    assert!(first["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(first["upstream_ms"].is_number() && first["duration_ms"].is_number());
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["status"], 404);
    assert_eq!(
        lines[1]["host"],
        format!("{port}-logged-REDACTED.localhost")
    );
    s.stop_keeping_stdout();

    // Off: nothing is printed after the two addresses.
    let s = Server::start(&["--store", ":memory:", "--access-log", "off"], &[]);
    let host = expose_through_admin(&s, "quiet", port).await;
    assert_eq!(
        call(s.gateway, "GET", &host, "/", &[], None).await.status,
        200
    );
    let rest = s.stop_keeping_stdout();
    assert!(rest.is_empty(), "printed with the access log off: {rest:?}");

    // A file from the environment.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let s = Server::start(
        &["--store", ":memory:"],
        &[("PORTWAY_ACCESS_LOG", file.to_str().unwrap())],
    );
    let host = expose_through_admin(&s, "filed", port).await;
    assert_eq!(
        call(s.gateway, "GET", &host, "/x", &[], None).await.status,
        200
    );
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        (line["path"].as_str(), line["sandbox"].as_str()),
        (Some("/x"), Some("filed"))
    );
}

/// The per-client and per-sandbox limits are flags of `portway serve` that reach the
/// gateway: with a client rate of 1 and a burst of 1, the second request is 429.
#[tokio::test]
async fn the_rate_limit_flags_reach_the_gateway() {
    let (port, _up) = upstream().await;
    let s = Server::start(
        &["--store", ":memory:", "--access-log", "off"],
        &[
            ("PORTWAY_CLIENT_REQUEST_RATE", "1"),
            ("PORTWAY_CLIENT_REQUEST_BURST", "1"),
        ],
    );
    let host = expose_through_admin(&s, "limited", port).await;
    assert_eq!(
        call(s.gateway, "GET", &host, "/", &[], None).await.status,
        200
    );
    let refused = call(s.gateway, "GET", &host, "/", &[], None).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["code"], "RATE_LIMITED");
    assert_eq!(refused.headers["retry-after"], "1");
    let metrics = admin(&s, "GET", "/metrics", None).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("portway_rate_limited_requests_total{limit=\"client\"} 1\n"),
        "{text}"
    );
}

/// The gateway's listener out of file descriptors: accept fails over and over, and is
/// logged at most once a second with the count of the failures left out, while the loop
/// backs off instead of spinning (the process uses little CPU meanwhile).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn gateway_accept_failures_are_logged_once_a_second_and_back_off() {
    use std::os::unix::process::CommandExt;
    let mut s = Server::start_with(
        &["--store", ":memory:", "--access-log", "off"],
        &[],
        |cmd| {
            cmd.stderr(Stdio::piped());
            // SAFETY: setrlimit is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 64, 64));
            }
        },
    );
    let mut stderr = s.child.stderr.take().unwrap();
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // utime and stime, in clock ticks (fields 14 and 15 of stat).
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu(s.child.id());
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(TcpStream::connect(s.gateway).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let used = cpu(s.child.id()) - before;
    drop(held);
    let _ = s.child.kill();
    let _ = s.child.wait();
    let mut raw = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut raw).unwrap();
    let log = without_colours(&raw);
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("accept failed") && !l.contains("admin accept failed"))
        .collect();
    // The first failure, then at most one a second (the backoff reaches a second too).
    assert!(
        (2..=4).contains(&failures.len()),
        "{} accept failures logged:\n{log}",
        failures.len()
    );
    assert!(
        failures.iter().all(|l| l.contains(" suppressed=")),
        "each line counts the failures left out:\n{log}"
    );
    assert!(
        failures
            .iter()
            .skip(1)
            .any(|l| !l.contains(" suppressed=0")),
        "no failure was left out:\n{log}"
    );
    // Clock ticks are 1/100 s: well under a second of CPU in 2.5 s.
    assert!(used < 100, "{used} ticks of CPU while out of descriptors");
}

/// `text` without its ANSI colour sequences (`ESC [ ... m`).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The admin API and the gateway can never be put behind a preview URL: exposing their ports
/// is refused (which, before, published the admin API on the gateway without its token), and
/// so is an upstream at the cloud metadata address.
#[tokio::test]
async fn portway_s_own_listeners_and_metadata_cannot_be_exposed() {
    let s = Server::start(&["--store", ":memory:"], &[]);
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"upstream_host": "127.0.0.1"})),
    )
    .await;
    assert_eq!(r.status, 200);
    for port in [s.admin.port(), s.gateway.port()] {
        let r = admin(
            &s,
            "POST",
            "/v1/sandboxes/box/ports",
            Some(json!({"port": port, "hostname": "localhost"})),
        )
        .await;
        assert_eq!(r.status, 400, "port {port}: {:?}", r.body);
        assert_eq!(r.json()["code"], "UPSTREAM_FORBIDDEN", "port {port}");
    }
    let r = admin(&s, "GET", "/v1/sandboxes/box", None).await;
    assert_eq!(r.json()["exposed_ports"], 0, "nothing was exposed");
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/meta",
        Some(json!({"upstream_host": "169.254.169.254"})),
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.json()["code"], "UPSTREAM_FORBIDDEN");
    // The lists are flags (and environment variables): allowing the network lifts the refusal.
    let s = Server::start(
        &["--store", ":memory:"],
        &[("PORTWAY_UPSTREAM_ALLOW", "169.254.0.0/16,127.0.0.0/8")],
    );
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/meta",
        Some(json!({"upstream_host": "169.254.169.254"})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// Three `portway serve` processes on one Redis: a sandbox exposed through one's admin API
/// is routed by the other two's gateways; unexposing it, and destroying a sandbox, are seen
/// by all three; a rotated token moves every gateway to the new URL.
#[tokio::test]
async fn three_servers_share_one_redis() {
    let redis = portway_fixture::RedisServer::start();
    let (port, _up) = upstream().await;
    let servers: Vec<Server> = (0..3)
        .map(|_| Server::start(&["--store", &redis.url(), "--access-log", "off"], &[]))
        .collect();
    let status_everywhere = |host: String| {
        let gateways: Vec<SocketAddr> = servers.iter().map(|s| s.gateway).collect();
        async move {
            let mut out = Vec::new();
            for gw in gateways {
                out.push(call(gw, "GET", &host, "/", &[], None).await.status);
            }
            out
        }
    };
    let until = |host: String, want: u16| {
        let status_everywhere = &status_everywhere;
        async move {
            for _ in 0..500 {
                if status_everywhere(host.clone())
                    .await
                    .iter()
                    .all(|s| *s == want)
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    };
    let host = expose_through_admin(&servers[0], "shared", port).await;
    assert!(
        until(host.clone(), 200).await,
        "not routed by every gateway"
    );

    // Another server's admin API sees the sandbox and unexposes the port.
    let r = admin(&servers[1], "GET", "/v1/sandboxes/shared", None).await;
    assert_eq!(r.json()["exposed_ports"], 1, "{:?}", r.body);
    let r = admin(
        &servers[1],
        "DELETE",
        &format!("/v1/sandboxes/shared/ports/{port}"),
        None,
    )
    .await;
    assert!(r.status < 300, "{:?}", r.body);
    assert!(until(host.clone(), 404).await, "still routed somewhere");

    // Rotation through the third: the old URL stops everywhere, the new one routes.
    let old = expose_through_admin(&servers[2], "rotating", port).await;
    assert!(until(old.clone(), 200).await);
    let r = admin(
        &servers[2],
        "POST",
        "/v1/sandboxes/rotating/ports",
        Some(json!({"port": port, "hostname": "localhost", "token": "rotated1token2"})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new = host_of(r.json()["url"].as_str().unwrap());
    assert!(until(new, 200).await && until(old, 404).await);

    // Destroy through the first: gone from every admin API.
    let r = admin(&servers[0], "DELETE", "/v1/sandboxes/rotating", None).await;
    assert!(r.status < 300, "{:?}", r.body);
    for s in &servers {
        let mut gone = false;
        for _ in 0..500 {
            if admin(s, "GET", "/v1/sandboxes/rotating", None).await.status == 404 {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone, "a server still has the destroyed sandbox");
    }
}

/// `portway serve` with a Redis that cannot be reached exits at once with a message that
/// names it.
#[test]
fn serve_with_an_unreachable_redis_says_so() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_portway"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--store", &format!("redis://127.0.0.1:{port}/0")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
}

/// `rediss://`: the Redis store over TLS, the server's certificate checked against the
/// system's roots plus `SSL_CERT_FILE` (here a throwaway CA made by the test). Two servers
/// share a registry through it; without the CA, `portway serve` stops at start with an error
/// about the certificate (and does not panic).
#[tokio::test]
async fn a_redis_store_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl (the test makes its certificates with it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        path("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=portway test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
    let redis = portway_fixture::RedisServer::start_tls(
        path("server.pem"),
        path("server.key"),
        path("ca.pem"),
    );
    let url = format!("rediss://localhost:{}/0", redis.port());
    let ca = path("ca.pem");
    let env = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let (port, _up) = upstream().await;
    let a = Server::start(&["--store", &url, "--access-log", "off"], &env);
    let b = Server::start(&["--store", &url, "--access-log", "off"], &env);
    let host = expose_through_admin(&a, "tls", port).await;
    let mut status = 0;
    for _ in 0..500 {
        status = call(b.gateway, "GET", &host, "/", &[], None).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, 200, "the other server never routed the exposure");

    // Without the CA: refused at start, about the certificate.
    let out = Command::new(env!("CARGO_BIN_EXE_portway"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--store", &url])
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
}

/// A platform's webhook receiver: every POST's path and JSON body go to the channel; `/wake`
/// answers `wake_answer` (and, with 200, starts the sandbox's service on `start_port` after
/// 200 ms, as a platform starting a container would); `/events` answers 500 to its first
/// POST (to show the retry) and 200 after.
async fn webhook_receiver(
    wake_answer: (u16, &'static str),
    start_port: u16,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let events_seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, events_seen) = (tx.clone(), events_seen.clone());
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (tx, events_seen) = (tx.clone(), events_seen.clone());
                        async move {
                            let path = req.uri().path().to_owned();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let json: Value = serde_json::from_slice(&body).unwrap();
                            let (status, text) = if path == "/wake" {
                                if wake_answer.0 == 200 {
                                    tokio::spawn(async move {
                                        tokio::time::sleep(Duration::from_millis(200)).await;
                                        let l = TcpListener::bind(("127.0.0.1", start_port))
                                            .await
                                            .unwrap();
                                        portway_fixture::serve(l).await;
                                    });
                                }
                                wake_answer
                            } else if events_seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                                == 0
                            {
                                (500, "not yet")
                            } else {
                                (200, "ok")
                            };
                            if status == 200 {
                                let _ = tx.send((path, json));
                            }
                            let mut res = http::Response::new(Full::new(Bytes::from(text)));
                            *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, rx)
}

async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn next_posted(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a webhook POST within 10 s")
        .unwrap()
}

/// `--wake-url` wakes a stopped sandbox once for many requests, which all get 200;
/// `--events-url` gets every event in order, retried after a failure; `--idle-after` fires
/// `idle`; the admin API shows the activity.
#[tokio::test]
async fn a_wake_url_starts_a_stopped_sandbox_and_events_reach_the_events_url() {
    let port = free_port().await;
    let (hooks, mut posted) = webhook_receiver((200, "starting"), port).await;
    let wake_url = format!("http://{hooks}/wake");
    let events_url = format!("http://{hooks}/events");
    let s = Server::start(
        &[
            "--store",
            ":memory:",
            "--wake-url",
            &wake_url,
            "--events-url",
            &events_url,
            "--idle-after",
            "700ms",
        ],
        &[],
    );
    let host = expose_through_admin(&s, "box", port).await;
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"status": "stopped"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let (gateway, host) = (s.gateway, host.clone());
            tokio::spawn(async move { call(gateway, "GET", &host, "/status/200", &[], None).await })
        })
        .collect();
    for r in requests {
        let r = r.await.unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let sandbox = admin(&s, "GET", "/v1/sandboxes/box", None).await.json();
    assert_eq!(sandbox["status"], "running");
    assert_eq!(sandbox["requests"], 10);
    assert_eq!(sandbox["open_connections"], 0);
    assert_eq!(sandbox["websocket_sessions"], 0);
    assert!(sandbox["last_activity_at"].as_str().unwrap().ends_with('Z'));
    // In order: the exposure and the stop (the first POST failed and was sent again), the
    // wake, the running sandbox, then idle once nothing happens.
    let mut kinds = Vec::new();
    let mut wakes = 0;
    while !kinds.contains(&"idle".to_owned()) {
        let (path, body) = next_posted(&mut posted).await;
        if path == "/wake" {
            wakes += 1;
            assert_eq!(body["sandbox_id"], "box");
            assert_eq!(body["port"], port);
            continue;
        }
        assert_eq!(body["sandbox_id"], "box");
        assert!(body["time"].as_str().unwrap().ends_with('Z'));
        kinds.push(body["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(wakes, 1);
    assert_eq!(kinds, ["exposed", "stopped", "running", "idle"]);
    s.stop();
}

#[tokio::test]
async fn a_failing_wake_url_gives_503_with_its_answer() {
    let port = free_port().await;
    let (hooks, _posted) = webhook_receiver((500, "no capacity left"), port).await;
    let wake_url = format!("http://{hooks}/wake");
    let s = Server::start(&["--store", ":memory:", "--wake-url", &wake_url], &[]);
    let host = expose_through_admin(&s, "box", port).await;
    admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"status": "stopped"})),
    )
    .await;
    let r = call(s.gateway, "GET", &host, "/", &[], None).await;
    assert_eq!(r.status, 503);
    let body = r.json();
    assert_eq!(body["code"], "SANDBOX_WAKE_FAILED");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("500") && reason.contains("no capacity left"),
        "{reason}"
    );
    // Unreachable: the reason says so.
    let s = Server::start(
        &[
            "--store",
            ":memory:",
            "--wake-url",
            "http://127.0.0.1:1/wake",
        ],
        &[],
    );
    let host = expose_through_admin(&s, "box", port).await;
    admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"status": "stopped"})),
    )
    .await;
    let r = call(s.gateway, "GET", &host, "/", &[], None).await;
    assert_eq!(r.status, 503);
    assert!(
        r.json()["reason"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn a_sandbox_s_idle_after_is_set_through_the_admin_api() {
    let s = Server::start(&["--store", ":memory:"], &[]);
    let r = admin(&s, "PUT", "/v1/sandboxes/box", None).await;
    assert_eq!(r.json()["idle_after_seconds"], Value::Null);
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"idle_after_seconds": 0.25})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["idle_after_seconds"], 0.25);
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"idle_after_seconds": -1})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "INVALID_ARGUMENT");
    let r = admin(&s, "GET", "/v1/sandboxes/box", None).await;
    assert_eq!(
        r.json()["idle_after_seconds"],
        0.25,
        "a refused write keeps it"
    );
    let r = admin(
        &s,
        "PUT",
        "/v1/sandboxes/box",
        Some(json!({"idle_after_seconds": null})),
    )
    .await;
    assert_eq!(r.json()["idle_after_seconds"], Value::Null);
    let listed = admin(&s, "GET", "/v1/sandboxes", None).await.json();
    assert_eq!(listed["sandboxes"][0]["requests"], 0);
}

#[test]
fn bad_webhook_urls_are_refused_at_start() {
    for (flag, url) in [
        ("--wake-url", "ftp://example.com/wake"),
        ("--events-url", "http:///nohost"),
        ("--wake-url", "not a url"),
    ] {
        let (code, stderr) = serve_output(&[flag, url], &[]);
        assert_eq!(code, Some(1), "{stderr}");
        let setting = flag.trim_start_matches("--").replace('-', "_");
        assert!(stderr.contains(&setting), "{stderr}");
    }
}
