//! The route phase: from a request's host to where it goes. The host is split into its
//! parts, the registry looks the exposed port up, and the token is compared here, in
//! constant time ([`token_matches`]); the sandbox's status decides between forwarding and
//! 410. `Portway::resolve` answers with the same decision.

use http::Request;
use http::header::{HOST, HeaderValue};

use crate::registry::{Registry, Resolution};
use crate::store::SandboxStatus;
use crate::token::{MAX_TOKEN_LENGTH, padded, padded_equal};

/// Decides what the gateway does with a request for `host` (its Host header): the host split
/// into its parts, one lookup, a constant-time token compare. The port and id rules are
/// checked only when the route is not exposed (an exposed one passed them), to tell a host
/// that is no preview host from one that names no exposed port.
pub(crate) fn resolve(registry: &Registry, host: &str) -> Resolution {
    let rules = &registry.rules;
    rules
        .with_route_shape(host, true, |route| {
            registry.lookup(route.sandbox_id, route.port, |slot| match slot {
                Some(e) if token_matches(e.token(), route.token) => match e.status() {
                    SandboxStatus::Stopped => Resolution::Stale {
                        sandbox_id: route.sandbox_id.to_owned(),
                        port: route.port,
                    },
                    SandboxStatus::Running => Resolution::Upstream(e.upstream()),
                },
                Some(_) => Resolution::Denied,
                None if rules.route_is_valid(&route) => Resolution::Denied,
                None => Resolution::NotPreview,
            })
        })
        .unwrap_or(Resolution::NotPreview)
}

/// Whether the token of a preview host is the exposed port's (zero-padded) token: one
/// constant-time compare of the whole padded token, no early exit.
#[inline]
fn token_matches(expected: &[u8; MAX_TOKEN_LENGTH], given: &str) -> bool {
    padded_equal(expected, &padded(given.as_bytes()))
}

/// The host a request is for: the authority of an absolute-form target (which RFC 9112 says
/// overrides `Host`), else the `Host` header.
pub(super) fn request_host<B>(req: &Request<B>) -> Option<&str> {
    match req.uri().authority() {
        Some(a) => Some(a.as_str().rsplit('@').next().unwrap_or_default()),
        None => req.headers().get(HOST)?.to_str().ok(),
    }
}

/// Whether the port of a host (`name:port`, `[v6]:port`), if it has one, is a port: at most
/// five digits, up to 65535. An empty port is valid (RFC 3986 section 3.2.3); anything
/// after a first `:` that is not digits (`:http`, `:80:80`, `:-1`) is not.
pub(super) fn host_port_is_valid(host: &str) -> bool {
    let after_name = match host.strip_prefix('[') {
        Some(v6) => match v6.find(']') {
            Some(end) => &v6[end + 1..],
            // No host at all: routing tells it is no preview host.
            None => return true,
        },
        None => host,
    };
    match after_name.find(':') {
        None => true,
        Some(colon) => {
            let port = &after_name[colon + 1..];
            port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u32>().map_or(port.is_empty(), |p| p <= 65535)
        }
    }
}

/// The host a request is for as the client sent it (port included), as a header value: the
/// `Host` header's own value when the host came from it (no copy).
pub(super) fn preview_host<B>(req: &Request<B>) -> Option<HeaderValue> {
    match req.uri().authority() {
        None => req.headers().get(HOST).cloned(),
        Some(_) => request_host(req).and_then(|h| HeaderValue::try_from(h).ok()),
    }
}
