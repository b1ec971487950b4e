//! What the gateway changes in the headers it forwards, and only that.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers (RFC 9110 section 7.6.1, and the older `Proxy-Connection`): they
/// describe one connection and never cross a proxy.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Headers in the gateway's own namespace, dropped when a client sends them.
const OWN_PREFIX: &str = "x-portway-";

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Whether a request asks for a WebSocket upgrade (`Connection: upgrade` with
/// `Upgrade: websocket`).
pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: &HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has_token(&header::UPGRADE, "websocket") && has_token(&header::CONNECTION, "upgrade")
}

/// Removes the hop-by-hop headers and those the `Connection` header names.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// How a request is forwarded.
pub(crate) struct Forwarding<'a> {
    pub upstream_port: u16,
    pub rewrite_host: bool,
    /// The preview host, for `X-Forwarded-Host`.
    pub preview_host: Option<HeaderValue>,
    pub client: Option<SocketAddr>,
    pub proto: &'a str,
    pub websocket: bool,
}

/// Turns a client's request headers into the headers sent to the sandbox.
pub(crate) fn to_upstream(headers: &mut HeaderMap, f: &Forwarding<'_>) {
    remove_hop_by_hop(headers);
    if headers.keys().any(|k| k.as_str().starts_with(OWN_PREFIX)) {
        let own: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with(OWN_PREFIX))
            .cloned()
            .collect();
        for k in own {
            headers.remove(k);
        }
    }
    if f.websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        // The relay reads and writes frames itself and negotiates no extension.
        headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    }
    if f.rewrite_host {
        let host = if f.upstream_port == 80 {
            HeaderValue::from_static("localhost")
        } else {
            HeaderValue::try_from(format!("localhost:{}", f.upstream_port))
                .unwrap_or(HeaderValue::from_static("localhost"))
        };
        headers.insert(header::HOST, host);
    }
    if let Some(client) = f.client {
        let ip = client.ip().to_canonical().to_string();
        let value = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prior) if !prior.trim().is_empty() => format!("{prior}, {ip}"),
            _ => ip,
        };
        headers.remove(&X_FORWARDED_FOR);
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.insert(X_FORWARDED_FOR.clone(), v);
        }
    }
    match &f.preview_host {
        Some(v) => headers.insert(X_FORWARDED_HOST.clone(), v.clone()),
        None => headers.remove(&X_FORWARDED_HOST),
    };
    if let Ok(v) = HeaderValue::try_from(f.proto) {
        headers.insert(X_FORWARDED_PROTO.clone(), v);
    }
}

/// Turns a sandbox's response headers into the headers sent to the client: everything
/// passes (every `Set-Cookie`, `Location`, ...) except the hop-by-hop headers. A 101
/// keeps `Connection` and `Upgrade`.
pub(crate) fn to_client(headers: &mut HeaderMap, switching_protocols: bool) {
    let upgrade = switching_protocols
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    remove_hop_by_hop(headers);
    if let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn upstream_headers() {
        let mut h = map(&[
            ("host", "8080-box-token123.localhost:8787"),
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("x-portway-sandbox", "forged"),
            ("x-forwarded-for", "203.0.113.9"),
            ("cookie", "a=1"),
        ]);
        let f = Forwarding {
            upstream_port: 8080,
            rewrite_host: true,
            preview_host: Some(HeaderValue::from_static("8080-box-token123.localhost:8787")),
            client: Some("127.0.0.1:5555".parse().unwrap()),
            proto: "http",
            websocket: false,
        };
        to_upstream(&mut h, &f);
        assert_eq!(h["host"], "localhost:8080");
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "8080-box-token123.localhost:8787");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["cookie"], "a=1");
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "te",
            "x-portway-sandbox",
        ] {
            assert!(!h.contains_key(gone), "{gone} was forwarded");
        }
    }

    #[test]
    fn websocket_detection() {
        assert!(is_websocket_upgrade(&map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket")
        ])));
        assert!(!is_websocket_upgrade(&map(&[("upgrade", "websocket")])));
        assert!(!is_websocket_upgrade(&map(&[
            ("connection", "upgrade"),
            ("upgrade", "h2c")
        ])));
    }

    #[test]
    fn client_headers_keep_cookies() {
        let mut h = map(&[
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("connection", "close"),
            ("location", "/x"),
        ]);
        to_client(&mut h, false);
        assert_eq!(h.get_all("set-cookie").iter().count(), 2);
        assert_eq!(h["location"], "/x");
        assert!(!h.contains_key("connection"));
    }
}
