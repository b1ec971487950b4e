//! What an exposure may point at, and what the sandbox is told about the client: the
//! upstream address policy, Portway's own listeners, loops between gateways, forwarding
//! headers from trusted proxies and the PROXY protocol. Real sockets on 127.0.0.1.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn networks(items: &[&str]) -> portway::Networks {
    portway::Networks::parse(items).unwrap()
}

fn code(err: &portway::Error) -> &'static str {
    err.code().as_str()
}

/// Sends raw bytes and reads until the gateway closes (or 3 s pass).
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn exposing_the_gateways_own_port_is_refused() {
    let (p, gw) = gateway().await;
    let sb = p.sandbox("box", "127.0.0.1").unwrap();
    let port = gw.local_addr().port();
    let err = sb
        .expose_port(port, portway::ExposeOptions::new("localhost"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UPSTREAM_FORBIDDEN", "{err}");
    assert!(err.to_string().contains("own listener"), "{err}");
    // Through a host name for this machine too.
    let sb = p.sandbox("box2", "localhost").unwrap();
    let err = sb
        .expose_port(port, portway::ExposeOptions::new("localhost"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UPSTREAM_FORBIDDEN", "{err}");
    assert!(p.get_sandbox("box").is_none(), "nothing was stored");
}

/// An admin API (or any listener the host application registers) can never be reached
/// through a preview URL: refused when exposed, and at connect when it started after the
/// exposure, before a single byte reaches it.
#[tokio::test]
async fn a_registered_listener_is_never_forwarded_to() {
    let (p, gw) = gateway().await;
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    // Exposed while it was not yet Portway's.
    let host = expose(&p, "box", admin_addr.port()).await;
    let registration = p.own_listeners().register(admin_addr);
    let sb = p.sandbox("other", "127.0.0.1").unwrap();
    let err = sb
        .expose_port(admin_addr.port(), portway::ExposeOptions::new("localhost"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UPSTREAM_FORBIDDEN", "{err}");
    let accepted = tokio::spawn(async move {
        let (mut s, _) = admin.accept().await.unwrap();
        let mut buf = [0u8; 64];
        s.read(&mut buf).await.unwrap_or(0)
    });
    let got = get(gw.local_addr(), &host, "/v1/sandboxes").await;
    assert_eq!(got.status, 502, "{}", got.text());
    assert_eq!(got.json()["code"], "UPSTREAM_FORBIDDEN");
    // The connect was made and dropped at once: the listener read nothing.
    let read = tokio::time::timeout(Duration::from_secs(2), accepted).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Err(_)),
        "the admin listener received a request: {read:?}"
    );
    drop(registration);
    assert!(p.own_listeners().addrs().iter().all(|a| *a != admin_addr));
}

#[tokio::test]
async fn the_default_policy_refuses_metadata_unspecified_and_multicast() {
    let (p, _gw) = gateway().await;
    for host in [
        "169.254.169.254",
        "0.0.0.0",
        "::",
        "[::]",
        "224.0.0.1",
        "255.255.255.255",
        "fe80::1",
        "::ffff:169.254.169.254",
    ] {
        let err = p.sandbox("box", host).unwrap_err();
        assert_eq!(code(&err), "UPSTREAM_FORBIDDEN", "{host}: {err}");
        let err = p.put_sandbox("box", Some(host), None).await.unwrap_err();
        assert_eq!(code(&err), "UPSTREAM_FORBIDDEN", "{host}: {err}");
    }
    assert!(p.get_sandbox("box").is_none(), "nothing was stored");
    for host in ["127.0.0.1", "10.0.0.7", "::1", "sandbox-7.internal"] {
        assert!(p.sandbox("box", host).is_ok(), "{host}");
    }
}

#[tokio::test]
async fn non_standard_ipv4_spellings_are_invalid_upstream_hosts() {
    for host in [
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "127.1",
        "0177.0.0.1",
        "127.000.0.1",
        "10.0.0.07",
    ] {
        let err = portway::validate_upstream_host(host).unwrap_err();
        assert_eq!(code(&err), "INVALID_UPSTREAM_HOST", "{host}");
        assert!(err.to_string().contains("a.b.c.d"), "{host}: {err}");
    }
    for host in ["127.0.0.1", "db-1", "box.1a", "sandbox7"] {
        assert!(portway::validate_upstream_host(host).is_ok(), "{host}");
    }
}

/// The policy is checked on the address actually connected to: a host name that resolves
/// into a denied network is refused at connect, and the service there sees nothing.
#[tokio::test]
async fn a_name_that_resolves_into_a_denied_network_is_refused_at_connect() {
    let up = start_upstream().await;
    let config = portway::GatewayConfig {
        upstream_deny: networks(&["127.0.0.0/8", "::1/128"]),
        ..Default::default()
    };
    let (p, gw) = gateway_with(config).await;
    // An IP address is refused when the sandbox is made ...
    let err = p.sandbox("box", "127.0.0.1").unwrap_err();
    assert_eq!(code(&err), "UPSTREAM_FORBIDDEN", "{err}");
    assert!(err.to_string().contains("upstream_deny"), "{err}");
    // ... a name only when it is resolved.
    let sb = p.sandbox("box", "localhost").unwrap();
    let url = sb
        .expose_port(up.port(), portway::ExposeOptions::new("localhost"))
        .await
        .unwrap()
        .url;
    let got = get(gw.local_addr(), &host_of(&url), "/echo").await;
    assert_eq!(got.status, 502, "{}", got.text());
    assert_eq!(got.json()["code"], "UPSTREAM_FORBIDDEN");
    let ws = tokio_tungstenite::connect_async(
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/ws",
            gw.local_addr()
        ))
        .map(|mut r| {
            r.headers_mut()
                .insert("host", host_of(&url).parse().unwrap());
            r
        })
        .unwrap(),
    )
    .await;
    match ws {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 502),
        other => panic!("the WebSocket handshake was not refused: {other:?}"),
    }
}

#[tokio::test]
async fn an_allow_list_is_the_only_networks_allowed() {
    let up = start_upstream().await;
    let config = portway::GatewayConfig {
        upstream_allow: networks(&["10.0.0.0/8"]),
        ..Default::default()
    };
    let (p, _gw) = gateway_with(config).await;
    let err = p.sandbox("box", "127.0.0.1").unwrap_err();
    assert!(err.to_string().contains("not in upstream_allow"), "{err}");
    assert!(p.sandbox("box", "10.1.2.3").is_ok());
    // Allowing a default refusal explicitly lifts it.
    let config = portway::GatewayConfig {
        upstream_allow: networks(&["127.0.0.0/8", "169.254.0.0/16"]),
        ..Default::default()
    };
    let (p, gw) = gateway_with(config).await;
    assert!(p.sandbox("box", "169.254.169.254").is_ok());
    let host = expose(&p, "box", up.port()).await;
    assert_eq!(get(gw.local_addr(), &host, "/echo").await.status, 200);
}

/// Two gateways that forward to each other: the request comes back to the first with its
/// hop marker in `Via` and is refused with 508, instead of looping until a limit.
#[tokio::test]
async fn a_loop_between_two_gateways_is_refused_with_508() {
    let keep_host = portway::GatewayConfig {
        rewrite_host: false,
        ..Default::default()
    };
    let b = portway::Portway::builder()
        .gateway_config(keep_host.clone())
        .build()
        .unwrap();
    let b_gw = b.serve("127.0.0.1:0").await.unwrap();
    let port = b_gw.local_addr().port();
    // Gateway A listens on another loopback address with the same port number, so that one
    // preview host names the same exposed port on both.
    let a = portway::Portway::builder()
        .gateway_config(keep_host)
        .build()
        .unwrap();
    let Ok(a_gw) = a.serve(&format!("127.0.0.2:{port}")).await else {
        eprintln!("127.0.0.2:{port} is not available here; skipping");
        return;
    };
    let token = "loopytoken1234";
    for (portway, upstream) in [(&a, "127.0.0.1"), (&b, "127.0.0.2")] {
        portway
            .sandbox("box", upstream)
            .unwrap()
            .expose_port(port, portway::ExposeOptions::new("localhost").token(token))
            .await
            .unwrap();
    }
    let host = format!("{port}-box-{token}.localhost");
    let got = tokio::time::timeout(Duration::from_secs(10), get(a_gw.local_addr(), &host, "/"))
        .await
        .expect("the request looped without an answer");
    assert_eq!(got.status, 508, "{}", got.text());
    assert_eq!(got.json()["code"], "LOOP_DETECTED");
}

#[tokio::test]
async fn a_proxy_protocol_header_from_a_trusted_proxy_names_the_client() {
    let up = start_upstream().await;
    let config = portway::GatewayConfig {
        trusted_proxies: networks(&["127.0.0.1"]),
        proxy_protocol: true,
        ..Default::default()
    };
    let (p, gw) = gateway_with(config).await;
    let host = expose(&p, "box", up.port()).await;
    let request = format!("GET /echo HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    // Version 1.
    let text = raw(
        gw.local_addr(),
        format!("PROXY TCP4 203.0.113.9 192.0.2.1 51000 80\r\n{request}").as_bytes(),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(r#""x-forwarded-for":"203.0.113.9""#),
        "{text}"
    );
    assert!(text.contains("for=203.0.113.9;"), "{text}");
    // Version 2, IPv6.
    let mut bytes = vec![];
    bytes.extend_from_slice(b"\r\n\r\n\0\r\nQUIT\n");
    bytes.extend_from_slice(&[0x21, 0x21, 0, 36]);
    bytes.extend_from_slice(
        &"2001:db8::9"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    bytes.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    bytes.extend_from_slice(&51000u16.to_be_bytes());
    bytes.extend_from_slice(&80u16.to_be_bytes());
    bytes.extend_from_slice(request.as_bytes());
    let text = raw(gw.local_addr(), &bytes).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(r#""x-forwarded-for":"2001:db8::9""#),
        "{text}"
    );
    // A trusted address that sends no PROXY header is closed without an answer.
    let text = raw(gw.local_addr(), request.as_bytes()).await;
    assert_eq!(text, "", "served without a PROXY header");
}

#[tokio::test]
async fn a_proxy_protocol_header_from_an_untrusted_client_is_not_believed() {
    let up = start_upstream().await;
    let config = portway::GatewayConfig {
        trusted_proxies: networks(&["192.0.2.0/24"]),
        proxy_protocol: true,
        ..Default::default()
    };
    let (p, gw) = gateway_with(config).await;
    let host = expose(&p, "box", up.port()).await;
    let text = raw(
        gw.local_addr(),
        format!(
            "PROXY TCP4 203.0.113.9 192.0.2.1 51000 80\r\nGET /echo HTTP/1.1\r\nhost: {host}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(!text.contains("203.0.113.9"), "{text}");
    // Served as plain HTTP, with the address it really came from.
    let got = get(gw.local_addr(), &host, "/echo").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["headers"]["x-forwarded-for"], "127.0.0.1");
}

#[test]
fn proxy_protocol_needs_trusted_proxies() {
    let config = portway::GatewayConfig {
        proxy_protocol: true,
        ..Default::default()
    };
    let err = config.validate().unwrap_err();
    assert_eq!(code(&err), "INVALID_CONFIG");
    assert!(err.to_string().contains("trusted_proxies"), "{err}");
}

/// Behind a trusted proxy that speaks the PROXY protocol, the per-client limits count the
/// client the header names, not the proxy: one client over its rate (or its connections) is
/// held back while another client through the same proxy is served.
#[tokio::test]
async fn per_client_limits_count_the_client_a_proxy_protocol_header_names() {
    let up = start_upstream().await;
    let config = portway::GatewayConfig {
        trusted_proxies: networks(&["127.0.0.1"]),
        proxy_protocol: true,
        client_request_rate: 1,
        client_request_burst: 1,
        max_connections_per_client: 1,
        ..Default::default()
    };
    let (p, gw) = gateway_with(config).await;
    let host = expose(&p, "box", up.port()).await;
    let via = |client: &str| {
        format!(
            "PROXY TCP4 {client} 192.0.2.1 51000 80\r\n\
             GET /echo HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
        )
    };
    let a = raw(gw.local_addr(), via("203.0.113.1").as_bytes()).await;
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    let again = raw(gw.local_addr(), via("203.0.113.1").as_bytes()).await;
    assert!(again.starts_with("HTTP/1.1 429"), "{again}");
    assert!(again.contains("RATE_LIMITED"), "{again}");
    let b = raw(gw.local_addr(), via("203.0.113.2").as_bytes()).await;
    assert!(
        b.starts_with("HTTP/1.1 200"),
        "another client was held back: {b}"
    );

    // A connection held open for client .3 (its PROXY header sent): a second one for .3 is
    // refused, one for .4 is not.
    let mut held = tokio::net::TcpStream::connect(gw.local_addr())
        .await
        .unwrap();
    held.write_all(b"PROXY TCP4 203.0.113.3 192.0.2.1 51000 80\r\n")
        .await
        .unwrap();
    let mut open = false;
    for _ in 0..100 {
        if gw.gateway().metrics().snapshot().open_connections == 1 {
            open = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(open, "the held connection was not counted");
    let second = raw(gw.local_addr(), via("203.0.113.3").as_bytes()).await;
    assert!(second.starts_with("HTTP/1.1 429"), "{second}");
    assert!(second.contains("CLIENT_CONNECTION_LIMIT"), "{second}");
    let other = raw(gw.local_addr(), via("203.0.113.4").as_bytes()).await;
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
    drop(held);
}
