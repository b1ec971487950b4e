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
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// The forwarding headers a client may send that say who it is or how it came: removed
/// unless the client is a trusted proxy, so that the sandbox sees only what the gateway (or
/// a proxy it trusts) asserts.
static CLIENT_FORWARDING: [HeaderName; 8] = [
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-real-ip"),
];

/// The most `Via` entries a request may carry: more is a loop through proxies that do not
/// recognise one another (or a client's doing), answered 508.
pub(crate) const MAX_VIA_ENTRIES: usize = 30;

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
    /// Whether the client is a trusted proxy, whose forwarding headers are kept and extended.
    pub trusted: bool,
    pub proto: &'a str,
    /// This gateway's hop marker, added to `Via`.
    pub via: &'a HeaderValue,
    pub websocket: bool,
}

/// Whether a request's `Via` header shows it already passed through the gateway whose hop
/// marker is `own` (`1.1 portway-…`), or carries more than [`MAX_VIA_ENTRIES`] hops.
pub(crate) fn is_loop(headers: &HeaderMap, own: &HeaderValue) -> bool {
    let mut entries = 0;
    let own = own.as_bytes();
    for value in headers.get_all(header::VIA) {
        for entry in value.as_bytes().split(|b| *b == b',') {
            entries += 1;
            if entry.trim_ascii() == own || entries > MAX_VIA_ENTRIES {
                return true;
            }
        }
    }
    false
}

/// Every line of a header, joined with `, ` (a list header may come on several lines).
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let Ok(s) = v.to_str() else { continue };
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        match &mut out {
            Some(o) => {
                o.push_str(", ");
                o.push_str(s);
            }
            None => out = Some(s.to_owned()),
        }
    }
    out
}

/// Appends `item` to the list header `name`: after every line already there when `keep`,
/// alone otherwise.
fn extend(headers: &mut HeaderMap, name: &HeaderName, item: &str, keep: bool) {
    let value = match keep.then(|| joined(headers, name)).flatten() {
        Some(prior) => format!("{prior}, {item}"),
        None => item.to_owned(),
    };
    if let Ok(v) = HeaderValue::try_from(value) {
        headers.insert(name.clone(), v);
    }
}

/// The port a client reached the gateway on, as its host says, else the scheme's.
fn client_port(host: Option<&HeaderValue>, proto: &str) -> String {
    let port = host
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .filter(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .filter(|(h, _)| !h.ends_with(']') || h.starts_with('['))
        .map(|(_, p)| p.to_owned());
    port.unwrap_or_else(|| if proto == "https" { "443" } else { "80" }.to_owned())
}

/// A `Forwarded` element (RFC 7239) for this hop.
fn forwarded_element(
    client: Option<SocketAddr>,
    host: Option<&HeaderValue>,
    proto: &str,
) -> String {
    let mut el = String::with_capacity(64);
    match client.map(|c| c.ip().to_canonical()) {
        Some(std::net::IpAddr::V6(ip)) => el.push_str(&format!("for=\"[{ip}]\"")),
        Some(ip) => el.push_str(&format!("for={ip}")),
        None => el.push_str("for=unknown"),
    }
    if let Some(h) = host.and_then(|h| h.to_str().ok()) {
        // A quoted-string: the host has no quote or backslash (hyper checked the header).
        el.push_str(&format!(";host=\"{h}\""));
    }
    el.push_str(";proto=");
    el.push_str(proto);
    el
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
    if !f.trusted {
        for name in &CLIENT_FORWARDING {
            headers.remove(name);
        }
    }
    let forwarded = forwarded_element(f.client, f.preview_host.as_ref(), f.proto);
    extend(headers, &header::FORWARDED, &forwarded, f.trusted);
    if let Some(client) = f.client {
        let ip = client.ip().to_canonical().to_string();
        extend(headers, &X_FORWARDED_FOR, &ip, f.trusted);
    }
    // A trusted proxy's own view of the host, scheme and port is kept; else the gateway's.
    if !headers.contains_key(&X_FORWARDED_HOST)
        && let Some(v) = &f.preview_host
    {
        headers.insert(X_FORWARDED_HOST.clone(), v.clone());
    }
    if !headers.contains_key(&X_FORWARDED_PROTO)
        && let Ok(v) = HeaderValue::try_from(f.proto)
    {
        headers.insert(X_FORWARDED_PROTO.clone(), v);
    }
    if !headers.contains_key(&X_FORWARDED_PORT)
        && let Ok(v) = HeaderValue::try_from(client_port(f.preview_host.as_ref(), f.proto))
    {
        headers.insert(X_FORWARDED_PORT.clone(), v);
    }
    extend(
        headers,
        &header::VIA,
        f.via.to_str().unwrap_or("1.1 portway"),
        true,
    );
}

/// What the gateway adds to or changes in a sandbox's response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToClient<'a> {
    /// The host the client asked for (the Host header or an absolute-form target's
    /// authority, as sent), which a `Set-Cookie`'s `Domain` may name.
    pub preview_host: Option<&'a HeaderValue>,
    /// The `Referrer-Policy` a response without one gets (`referrer_policy`), if any.
    pub referrer_policy: Option<&'a HeaderValue>,
}

/// Turns a sandbox's response headers into the headers sent to the client: everything
/// passes (every `Set-Cookie`, `Location`, ...) except the hop-by-hop headers. A 101
/// keeps `Connection` and `Upgrade`. A `Set-Cookie` whose `Domain` is not the preview host
/// loses that attribute ([`host_only_cookie`]); a response (not a 101) without
/// `Referrer-Policy` gets the configured one.
pub(crate) fn to_client(headers: &mut HeaderMap, switching_protocols: bool, c: &ToClient<'_>) {
    let upgrade = switching_protocols
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    remove_hop_by_hop(headers);
    if let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
    if let header::Entry::Occupied(mut cookies) = headers.entry(header::SET_COOKIE) {
        let host = c.preview_host.map_or(&b""[..], |h| host_name(h.as_bytes()));
        for value in cookies.iter_mut() {
            if let Some(rewritten) = host_only_cookie(value.as_bytes(), host) {
                *value = rewritten;
            }
        }
    }
    if let Some(policy) = c.referrer_policy
        && !switching_protocols
        && !headers.contains_key(header::REFERRER_POLICY)
    {
        headers.insert(header::REFERRER_POLICY, policy.clone());
    }
}

/// A host without its port and one trailing dot (`Box.localhost.:8080` → `Box.localhost`).
fn host_name(host: &[u8]) -> &[u8] {
    let name = match memchr::memchr(b':', host) {
        Some(colon) => &host[..colon],
        None => host,
    };
    name.strip_suffix(b".").unwrap_or(name)
}

/// Cookie tossing: a `Set-Cookie` whose `Domain` covers more than the preview host (the
/// shared preview domain, a parent of it, another sandbox's host) would reach the previews
/// of every sandbox under it. Such a cookie is made host-only: the value without its
/// `Domain` attributes (each with the `;` before it), every other byte as it was. `None`
/// when the cookie has no such `Domain`: no `Domain` (or an empty one, which browsers
/// ignore), or one naming the preview host itself (ASCII case ignored, a leading dot too).
/// The cookie's own `name=value` (before the first `;`) is never an attribute.
pub(crate) fn host_only_cookie(cookie: &[u8], preview_host: &[u8]) -> Option<HeaderValue> {
    let attributes = || {
        let mut start = memchr::memchr(b';', cookie)?;
        Some(std::iter::from_fn(move || {
            if start >= cookie.len() {
                return None;
            }
            let end =
                memchr::memchr(b';', &cookie[start + 1..]).map_or(cookie.len(), |n| start + 1 + n);
            let span = (start, end); // from the `;` to before the next one
            start = end;
            Some(span)
        }))
    };
    let domain_of = |(from, to): (usize, usize)| {
        let av = &cookie[from + 1..to];
        let (name, value) = match memchr::memchr(b'=', av) {
            Some(eq) => (&av[..eq], &av[eq + 1..]),
            None => (av, &b""[..]),
        };
        name.trim_ascii()
            .eq_ignore_ascii_case(b"domain")
            .then(|| value.trim_ascii())
    };
    let foreign = attributes()?.filter_map(domain_of).any(|d| {
        let d = d.strip_prefix(b".").unwrap_or(d);
        !d.is_empty() && !d.eq_ignore_ascii_case(preview_host)
    });
    if !foreign {
        return None;
    }
    let mut out = Vec::with_capacity(cookie.len());
    let first = memchr::memchr(b';', cookie).unwrap_or(cookie.len());
    out.extend_from_slice(&cookie[..first]);
    for span in attributes()? {
        if domain_of(span).is_none() {
            out.extend_from_slice(&cookie[span.0..span.1]);
        }
    }
    HeaderValue::from_bytes(&out).ok()
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
            ("x-forwarded-for", "198.51.100.1"),
            ("x-real-ip", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("x-forwarded-port", "1"),
            ("cookie", "a=1"),
        ]);
        let via = HeaderValue::from_static("1.1 portway-test");
        let mut f = Forwarding {
            upstream_port: 8080,
            rewrite_host: true,
            preview_host: Some(HeaderValue::from_static("8080-box-token123.localhost:8787")),
            client: Some("127.0.0.1:5555".parse().unwrap()),
            trusted: false,
            proto: "http",
            via: &via,
            websocket: false,
        };
        let original = h.clone();
        to_upstream(&mut h, &f);
        assert_eq!(h["host"], "localhost:8080");
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "8080-box-token123.localhost:8787");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-port"], "8787");
        assert_eq!(
            h["forwarded"],
            "for=127.0.0.1;host=\"8080-box-token123.localhost:8787\";proto=http"
        );
        assert_eq!(h["via"], "1.1 portway-test");
        assert_eq!(h["cookie"], "a=1");
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "te",
            "x-portway-sandbox",
            "x-real-ip",
        ] {
            assert!(!h.contains_key(gone), "{gone} was forwarded");
        }

        // From a trusted proxy, its headers are kept (every line) and extended.
        let mut h = original;
        f.trusted = true;
        f.client = Some("[::1]:5555".parse().unwrap());
        to_upstream(&mut h, &f);
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 198.51.100.1, ::1");
        assert_eq!(h["x-real-ip"], "203.0.113.9");
        assert_eq!(h["x-forwarded-port"], "1");
        assert_eq!(
            h["forwarded"],
            "for=203.0.113.9, for=\"[::1]\";host=\"8080-box-token123.localhost:8787\";proto=http"
        );
    }

    #[test]
    fn loops_are_seen_in_via() {
        let own = HeaderValue::from_static("1.1 portway-aa");
        assert!(!is_loop(&map(&[("via", "1.1 cdn, 1.1 portway-bb")]), &own));
        assert!(is_loop(
            &map(&[("via", "1.1 cdn"), ("via", "1.1 portway-aa")]),
            &own
        ));
        let many = vec!["1.1 x"; MAX_VIA_ENTRIES + 1].join(", ");
        let mut h = HeaderMap::new();
        h.insert("via", HeaderValue::try_from(many).unwrap());
        assert!(is_loop(&h, &own));
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
        let none = ToClient {
            preview_host: None,
            referrer_policy: None,
        };
        to_client(&mut h, false, &none);
        assert_eq!(h.get_all("set-cookie").iter().count(), 2);
        assert_eq!(h["location"], "/x");
        assert!(!h.contains_key("connection"));
    }

    #[test]
    fn cookies_for_other_hosts_become_host_only() {
        let host = b"8080-box-tok.localhost";
        let cases: &[(&str, Option<&str>)] = &[
            ("a=1; Domain=localhost; Path=/", Some("a=1; Path=/")),
            ("a=1;domain=.LocalHost", Some("a=1")),
            (
                "a=1; Path=/; Domain=evil.example; Secure",
                Some("a=1; Path=/; Secure"),
            ),
            (
                "a=1; Domain=localhost; Domain=8080-box-tok.localhost",
                Some("a=1"),
            ),
            ("a=1; Domain=8080-BOX-tok.localhost", None),
            ("a=1; Domain=.8080-box-tok.localhost; Path=/", None),
            ("a=1; Domain=", None),
            ("a=1; Domain", None),
            ("Domain=localhost", None),
            ("a=1", None),
            ("a=1; Path=/;", None),
            ("a=1;Domain=localhost;", Some("a=1;")),
        ];
        for (cookie, want) in cases {
            let got = host_only_cookie(cookie.as_bytes(), host);
            assert_eq!(
                got.as_ref().map(|v| v.to_str().unwrap()),
                *want,
                "{cookie:?}"
            );
        }
        assert_eq!(host_name(b"Box.localhost.:8080"), b"Box.localhost");
    }
}
