//! Malformed or ambiguous HTTP is refused with a 4xx and a closed connection, never
//! forwarded. (Which hosts reach which ports, CONNECT and absolute-form targets are cases
//! of tests/vectors/gateway.json, run by gateway_vectors.rs.)

mod support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes, reads until the gateway closes (or 3 s pass); returns what came back and
/// whether the connection was closed.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> (String, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn status(text: &str) -> u16 {
    text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn smuggling_and_malformed_requests_are_refused_and_closed() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let addr = gw.local_addr();
    let h = |extra: &str, body: &str| {
        format!("POST /echo HTTP/1.1\r\nhost: {host}\r\n{extra}\r\n{body}")
    };
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nhost: {host}\r\n\r\n",
        "a".repeat(40_000)
    );
    let big_head = format!(
        "GET / HTTP/1.1\r\nhost: {host}\r\nx-big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    // Content-Length with Transfer-Encoding (either order): 400, and nothing is smuggled.
    for order in [
        "content-length: 5\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: chunked\r\ncontent-length: 5\r\n",
    ] {
        let (text, closed) = raw(
            addr,
            h(
                order,
                "0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x.localhost\r\n\r\n",
            )
            .as_bytes(),
        )
        .await;
        assert!(closed, "{order:?}: the connection stayed open");
        assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{order:?}: {text}");
        assert!(!text.contains("/smuggled"), "{order:?}: {text}");
        assert_eq!(status(&text), 400, "{order:?}: {text}");
    }
    let cases: Vec<(&str, String)> = vec![
        (
            "two different content-lengths",
            h("content-length: 5\r\ncontent-length: 6\r\n", "hello!"),
        ),
        (
            "invalid chunk size",
            h("transfer-encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"),
        ),
        (
            "obsolete line folding",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-a: one\r\n two\r\n\r\n"),
        ),
        (
            "control character in a header value",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-a: a\x01b\r\n\r\n"),
        ),
        (
            "CR inside a header value",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-a: a\rb\r\n\r\n"),
        ),
        (
            "space in a header name",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx a: b\r\n\r\n"),
        ),
        (
            "LF inside a header name",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nx\na: b\r\n\r\n"),
        ),
        ("oversized URI", long_uri),
        ("oversized head", big_head),
    ];
    let mut failures = Vec::new();
    for (name, request) in cases {
        let (text, closed) = raw(addr, request.as_bytes()).await;
        let code = status(&text);
        if !(400..500).contains(&code) || !closed || text.contains("/smuggled") {
            failures.push(format!(
                "{name}: {code} closed={closed}: {}",
                text.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The gateway serves on.
    assert_eq!(get(addr, &host, "/echo").await.status, 200);
}

/// A WebSocket handshake is a GET without a body (RFC 6455 section 4.1): one that declares a
/// body (a length or chunked) is refused with 400 at once, instead of being forwarded with a
/// length and no body for the sandbox to wait on.
#[tokio::test]
async fn a_websocket_handshake_with_a_body_is_refused() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let handshake = |framing: &str, body: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\
             {framing}\r\n{body}"
        )
    };
    for (framing, body) in [
        ("content-length: 5\r\n", "hello"),
        ("transfer-encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
    ] {
        let started = std::time::Instant::now();
        let (text, _) = raw(gw.local_addr(), handshake(framing, body).as_bytes()).await;
        assert_eq!(status(&text), 400, "{framing:?}: {text}");
        assert!(text.contains("BAD_REQUEST"), "{framing:?}: {text}");
        assert!(started.elapsed() < Duration::from_secs(3), "{framing:?}");
    }
    // Without a body (or with a zero length) the handshake goes through.
    for framing in ["", "content-length: 0\r\n"] {
        let (text, _) = raw(gw.local_addr(), handshake(framing, "").as_bytes()).await;
        assert_eq!(status(&text), 101, "{framing:?}: {text}");
    }
}

/// A sandbox service that records every byte it receives (all connections, in order) and
/// answers whatever it got, once nothing more has come for 200 ms, with a fixed 200.
struct Recorder {
    port: u16,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    async fn start() -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bytes.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    loop {
                        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf))
                            .await
                        {
                            Ok(Ok(0)) | Ok(Err(_)) => return,
                            Ok(Ok(n)) => seen.lock().unwrap().extend_from_slice(&buf[..n]),
                            Err(_) => {
                                let _ = s
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Recorder { port, bytes, task }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }
}

/// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 section 6.1: a proxy must not
/// guess): 400 `BAD_REQUEST`, the connection closed, and the sandbox gets no byte of it.
/// hyper drops the `Content-Length` before the gateway sees the request, so the gateway
/// reads the request head off the wire itself.
#[tokio::test]
async fn content_length_with_transfer_encoding_never_reaches_the_sandbox() {
    let rec = Recorder::start().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", rec.port).await;
    for order in [
        "content-length: 5\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: chunked\r\ncontent-length: 5\r\n",
        "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let request = format!(
            "POST /upload HTTP/1.1\r\nhost: {host}\r\n{order}\r\n0\r\n\r\n\
             GET /smuggled HTTP/1.1\r\nhost: {host}\r\n\r\n"
        );
        let (text, closed) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(
            status(&text),
            400,
            "{order:?}: {text}\nthe sandbox received: {:?}",
            rec.received()
        );
        assert!(text.contains("BAD_REQUEST"), "{order:?}: {text}");
        assert!(closed, "{order:?}: the connection stayed open");
        assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{order:?}: {text}");
        assert_eq!(
            rec.received(),
            "",
            "{order:?}: the sandbox received a request"
        );
    }
}

/// The same on a kept-alive connection, after requests whose bodies (chunked, with a
/// `Content-Length`) hold bytes that look like headers: each of those is forwarded, and only
/// the request with both headers is refused.
#[tokio::test]
async fn content_length_with_transfer_encoding_after_other_requests() {
    let up = start_upstream().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", up.port()).await;
    let decoy = "x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n";
    let requests = format!(
        "POST /echo HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{decoy}\r\n0\r\nx-trailer: 1\r\n\r\n\
         POST /echo HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n\r\n{decoy}\
         POST /echo HTTP/1.1\r\nhost: {host}\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n\
         0\r\n\r\n",
        decoy.len(),
        decoy.len(),
    );
    let (text, closed) = raw(gw.local_addr(), requests.as_bytes()).await;
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "400"], "{text}");
    assert_eq!(
        text.matches(&format!(r#""body_len":{}"#, decoy.len()))
            .count(),
        2,
        "{text}"
    );
    assert!(closed);
    // Without the ambiguous request, the connection serves on.
    let requests = format!(
        "POST /echo HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x}\r\n{decoy}\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nhost: {host}\r\n\r\n",
        decoy.len(),
    );
    let (text, closed) = raw(gw.local_addr(), requests.as_bytes()).await;
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(!closed);
}

/// A request mounted in a host application, whose server may keep both headers: refused on
/// the headers themselves.
#[tokio::test]
async fn a_mounted_gateway_refuses_both_framing_headers() {
    let up = start_upstream().await;
    let p = portway::Portway::builder().build().unwrap();
    let host = expose(&p, "box", up.port()).await;
    let req = http::Request::builder()
        .method("POST")
        .uri("/echo")
        .header("host", &host)
        .header("content-length", "5")
        .header("transfer-encoding", "chunked")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"hello",
        )))
        .unwrap();
    let res = p.gateway().unwrap().proxy_to_sandbox(req).await.unwrap();
    assert_eq!(res.status(), 400);
}

/// `Transfer-Encoding` other than `chunked` alone (`gzip, chunked`, `chunked` twice, codings
/// over two lines): hyper would decode the chunks and the gateway forward them as a plain
/// chunked body, the `gzip` lost. Refused with 400 instead, and the sandbox gets nothing.
#[tokio::test]
async fn transfer_codings_other_than_chunked_are_refused() {
    let rec = Recorder::start().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", rec.port).await;
    for framing in [
        "transfer-encoding: gzip, chunked\r\n",
        "transfer-encoding: chunked, chunked\r\n",
        "transfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: identity, chunked\r\n",
    ] {
        let request = format!(
            "POST /upload HTTP/1.1\r\nhost: {host}\r\n{framing}\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let (text, closed) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(
            status(&text),
            400,
            "{framing:?}: {text}\nthe sandbox received: {:?}",
            rec.received()
        );
        assert!(text.contains("BAD_REQUEST"), "{framing:?}: {text}");
        assert!(closed, "{framing:?}");
        assert_eq!(
            rec.received(),
            "",
            "{framing:?}: the sandbox received a request"
        );
    }
    // `chunked` alone, in any case, is forwarded.
    let up = start_upstream().await;
    let host = expose(&p, "other", up.port()).await;
    for framing in ["chunked", "Chunked", " chunked "] {
        let request = format!(
            "POST /echo HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding:{framing}\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n"
        );
        let (text, _) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(status(&text), 200, "{framing:?}: {text}");
        assert!(text.contains(r#""body_len":5"#), "{framing:?}: {text}");
    }
}

/// RFC 9112 section 3.2: an HTTP/1.1 request without `Host`, with two `Host` lines, or with a
/// `Host` whose port is not a port gets 400 (and the connection is closed); such a request
/// never reaches a sandbox. An HTTP/1.0 request may go without `Host` (it is no preview
/// request: 404).
#[tokio::test]
async fn malformed_hosts_are_refused_with_400() {
    let rec = Recorder::start().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", rec.port).await;
    let cases = [
        ("no Host", "GET / HTTP/1.1\r\n\r\n".to_owned()),
        (
            "two Host lines, the same",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nHost: {host}\r\n\r\n"),
        ),
        (
            "two Host lines, another host second",
            format!("GET / HTTP/1.1\r\nhost: {host}\r\nhost: example.com\r\n\r\n"),
        ),
        (
            "two Host lines, the preview host second",
            format!("GET / HTTP/1.1\r\nhost: example.com\r\nhost: {host}\r\n\r\n"),
        ),
        (
            "a port that is a name",
            format!("GET / HTTP/1.1\r\nhost: {host}:http\r\n\r\n"),
        ),
        (
            "a port over 65535",
            format!("GET / HTTP/1.1\r\nhost: {host}:99999\r\n\r\n"),
        ),
        (
            "a port of 65536",
            format!("GET / HTTP/1.1\r\nhost: {host}:65536\r\n\r\n"),
        ),
        (
            "a negative port",
            format!("GET / HTTP/1.1\r\nhost: {host}:-1\r\n\r\n"),
        ),
        (
            "a port with a letter after it",
            format!("GET / HTTP/1.1\r\nhost: {host}:8080x\r\n\r\n"),
        ),
        (
            "two ports",
            format!("GET / HTTP/1.1\r\nhost: {host}:80:80\r\n\r\n"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, request) in cases {
        let (text, closed) = raw(gw.local_addr(), request.as_bytes()).await;
        if status(&text) != 400 || !text.contains("BAD_REQUEST") || !closed {
            failures.push(format!("{name}: closed={closed} {text}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(rec.received(), "", "the sandbox received a request");
    // HTTP/1.0 without Host: not a preview request.
    let (text, _) = raw(gw.local_addr(), b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status(&text), 404, "{text}");
    assert!(text.contains("NOT_FOUND"), "{text}");
    // A valid port, and an empty one (RFC 3986 allows it), still route.
    for port in [":8080", ":0", ":65535", ":"] {
        let request = format!("GET / HTTP/1.1\r\nhost: {host}{port}\r\nconnection: close\r\n\r\n");
        let (text, _) = raw(gw.local_addr(), request.as_bytes()).await;
        assert_eq!(status(&text), 200, "{port:?}: {text}");
    }
}

/// The fixture service (tests/fixture) on an ephemeral port; aborted when dropped.
struct Fixture {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fixture() -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    Fixture {
        port,
        task: tokio::spawn(portway_fixture::serve(listener)),
    }
}

/// A query component with every byte but unreserved ones percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Cookie tossing: a sandbox's `Set-Cookie` with a `Domain` other than its own preview host
/// (the shared preview domain, another sandbox's host) would reach every preview under that
/// domain. The gateway drops the `Domain` attribute, so the cookie is host-only; everything
/// else in the header stays byte for byte. A `Domain` that is the preview host itself (any
/// case, a leading dot) is kept.
#[tokio::test]
async fn cookies_for_the_whole_preview_domain_become_host_only() {
    let fx = fixture().await;
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", fx.port).await;
    let other = format!("{}-other-tok_other1.localhost", fx.port);
    let upper = host.to_ascii_uppercase();
    let cases: Vec<(String, String)> = vec![
        ("a=1; Domain=localhost; Path=/".into(), "a=1; Path=/".into()),
        (
            "b=2; Path=/; domain=.LOCALHOST; Secure".into(),
            "b=2; Path=/; Secure".into(),
        ),
        (
            "g=7;Domain=localhost;HttpOnly".into(),
            "g=7;HttpOnly".into(),
        ),
        (format!("e=5; Domain={other}"), "e=5".into()),
        (
            "k=1; Domain=box.localhost; Max-Age=60".into(),
            "k=1; Max-Age=60".into(),
        ),
        (
            format!("h=8; Domain=localhost; SameSite=Lax; Domain={host}"),
            "h=8; SameSite=Lax".into(),
        ),
        // Its own host: kept as it is.
        (
            format!("c=3; Domain={host}; Path=/"),
            format!("c=3; Domain={host}; Path=/"),
        ),
        (
            format!("d=4; Domain=.{upper}"),
            format!("d=4; Domain=.{upper}"),
        ),
        // No Domain, an empty one, or `Domain=` inside the value: nothing to change.
        ("f=6; Path=/".into(), "f=6; Path=/".into()),
        ("j=9; Domain=; Path=/".into(), "j=9; Domain=; Path=/".into()),
        (
            "i=Domain=localhost; Path=/".into(),
            "i=Domain=localhost; Path=/".into(),
        ),
        (
            "l=\"a;b\" ;  Domain = localhost ;Path=/x".into(),
            "l=\"a;b\" ;Path=/x".into(),
        ),
    ];
    let query: Vec<String> = cases
        .iter()
        .map(|(c, _)| format!("set-cookie={}", encode(c)))
        .collect();
    let path = format!("/response-headers?{}", query.join("&"));
    for client_host in [host.clone(), format!("{host}:{}", gw.local_addr().port())] {
        let got = get(gw.local_addr(), &client_host, &path).await;
        assert_eq!(got.status, 200, "{}", got.text());
        let cookies: Vec<&str> = got
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        let want: Vec<&str> = cases.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(cookies, want, "Host {client_host}");
    }
}

fn with_referrer_policy(value: &str) -> portway::Result<portway::GatewayConfig> {
    let mut opts = portway::GatewayOptions::default();
    opts.set(
        "referrer_policy",
        portway::options::OptionValue::Text(value.into()),
        portway::options::TimeUnit::Seconds,
        "referrer_policy",
    )?;
    opts.resolve()
}

/// The preview origin holds the token, and browsers send the origin in `Referer` to other
/// sites: a sandbox's response without `Referrer-Policy` gets `same-origin` (the default of
/// `referrer_policy`); one with its own keeps it; `""` turns it off; a list is sent as given.
#[tokio::test]
async fn responses_get_a_referrer_policy_unless_they_have_one() {
    let fx = fixture().await;
    let policy = |got: &Got| -> Vec<String> {
        got.headers
            .get_all("referrer-policy")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let (p, gw) = gateway().await;
    let host = expose(&p, "box", fx.port).await;
    for path in ["/echo", "/status/404", "/redirect", "/stream/2"] {
        let got = get(gw.local_addr(), &host, path).await;
        assert_eq!(policy(&got), ["same-origin"], "{path}");
    }
    let own = "/response-headers?referrer-policy=no-referrer&referrer-policy=origin";
    let got = get(gw.local_addr(), &host, own).await;
    assert_eq!(policy(&got), ["no-referrer", "origin"]);
    let got = get(gw.local_addr(), &host, "/response-headers?Referrer-Policy=").await;
    assert_eq!(
        policy(&got),
        [""],
        "an empty policy of the sandbox's own is kept"
    );

    for (value, want) in [
        ("", vec![]),
        (
            "no-referrer, strict-origin-when-cross-origin",
            vec!["no-referrer, strict-origin-when-cross-origin".to_owned()],
        ),
    ] {
        let (p, gw) = gateway_with(with_referrer_policy(value).unwrap()).await;
        let host = expose(&p, "box", fx.port).await;
        let got = get(gw.local_addr(), &host, "/echo").await;
        assert_eq!(policy(&got), want, "{value:?}");
    }
}

#[test]
fn referrer_policy_takes_the_policy_tokens_of_the_w3c_spec() {
    for good in [
        "",
        "no-referrer",
        "no-referrer-when-downgrade",
        "same-origin",
        "origin",
        "strict-origin",
        "origin-when-cross-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
        "no-referrer, strict-origin-when-cross-origin",
        " origin ,unsafe-url",
    ] {
        with_referrer_policy(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    for bad in [
        "unsafe",
        "Same-Origin",
        "same-origin,",
        ",same-origin",
        "same-origin,,origin",
        "same origin",
        "same-origin;",
        " ",
        "no-referrer\r\nx-injected: 1",
    ] {
        let err = with_referrer_policy(bad).unwrap_err();
        assert_eq!(err.code().as_str(), "INVALID_CONFIG", "{bad:?}");
    }
    let fields = portway::GatewayConfig::fields();
    let field = fields.iter().find(|f| f.name == "referrer_policy");
    assert_eq!(
        field.map(|f| f.default.clone()),
        Some(serde_json::json!("same-origin"))
    );
}
