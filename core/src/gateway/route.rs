//! The route phase: from a request's host to where it goes. The host is split into its
//! parts, the registry looks the exposed port up, and the token is compared here, in
//! constant time ([`token_matches`]); the sandbox's status decides between forwarding and
//! 410. `Portway::resolve` answers with the same decision.

use http::Request;
use http::header::HOST;

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
