//! Preview URLs: `{scheme}://{port}-{sandbox_id}-{token}.{hostname}/`, built and parsed back.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::hostname::{Hostname, MAX_HOSTNAME_LENGTH, MAX_LABEL_LENGTH};
use crate::rules::{MAX_TOKEN_LENGTH, Rules};
use crate::token::is_token_format;

/// Where a preview host points: a port of a sandbox, and the token that guards it.
///
/// ```
/// let route = portway::parse_preview_host("8080-my-box-token123.example.com").unwrap();
/// assert_eq!(route.port, 8080);
/// assert_eq!(route.sandbox_id, "my-box");
/// assert_eq!(route.token, "token123");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The exposed port.
    pub port: u16,
    /// The sandbox id.
    pub sandbox_id: String,
    /// The token of the exposed port.
    pub token: String,
}

/// A [`Route`] borrowed from the host it was parsed from (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteRef<'a> {
    pub port: u16,
    pub sandbox_id: &'a str,
    pub token: &'a str,
    /// `{port}-{sandbox_id}`, the label without its token.
    pub port_and_id: &'a str,
}

impl RouteRef<'_> {
    fn to_owned(self) -> Route {
        Route {
            port: self.port,
            sandbox_id: self.sandbox_id.into(),
            token: self.token.into(),
        }
    }
}

impl Rules {
    /// Builds the preview URL of a port: every part is validated first (port, sandbox id,
    /// token format, host name), then the first label is checked against DNS's 63 characters.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(
    ///     rules.build_preview_url(8080, "test-sandbox", "token123", "localhost:8787")?,
    ///     "http://8080-test-sandbox-token123.localhost:8787/"
    /// );
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn build_preview_url(
        &self,
        port: u16,
        sandbox_id: &str,
        token: &str,
        hostname: &str,
    ) -> Result<String> {
        self.validate_port(i64::from(port))?;
        let id = self.check_sandbox_id(sandbox_id)?;
        self.check_token_format(token)?;
        let host = self.validate_hostname(hostname)?;
        preview_url(port, &id, token, &host)
    }

    /// Parses a host (a `Host` header, with or without a port) into a [`Route`], without
    /// checking the domain. `None` when it is not a preview host; never an error.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// let r = rules.parse_preview_host("8080-550e8400-e29b-41d4-a716-446655440000-abc_def.example.com").unwrap();
    /// assert_eq!(r.sandbox_id, "550e8400-e29b-41d4-a716-446655440000");
    /// assert_eq!(r.token, "abc_def");
    /// assert!(rules.parse_preview_host("3000-sandbox-token.example.com").is_none());
    /// assert!(rules.parse_preview_host("example.com").is_none());
    /// ```
    pub fn parse_preview_host(&self, host: &str) -> Option<Route> {
        self.with_route(host, false, |r| r.to_owned())
    }

    /// Like [`Rules::parse_preview_host`], but the rest of the host after the first label must
    /// be exactly one of the preview domains: what the gateway routes.
    ///
    /// ```
    /// let rules = portway::Rules::builder().domains(["preview.example.com"]).build()?;
    /// assert!(rules.route_preview_host("8080-box-token123.preview.example.com:443").is_some());
    /// assert!(rules.route_preview_host("8080-box-token123.evil.com").is_none());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn route_preview_host(&self, host: &str) -> Option<Route> {
        self.with_route(host, true, |r| r.to_owned())
    }

    /// Parses `host` and hands the borrowed route to `f`; the gateway's allocation-free path.
    pub(crate) fn with_route<R>(
        &self,
        host: &str,
        check_domain: bool,
        f: impl FnOnce(RouteRef<'_>) -> R,
    ) -> Option<R> {
        self.with_route_shape(host, check_domain, |r| {
            self.route_is_valid(&r).then(|| f(r))
        })
        .flatten()
    }

    /// Like [`Rules::with_route`], but the port and sandbox id handed to `f` have only been
    /// checked for their shape (digits; `[a-z0-9_]` token), not against the port and id
    /// rules: the gateway looks a route up first and validates only when it is not exposed
    /// (an exposed route passed the rules when it was exposed). See [`Rules::route_is_valid`].
    pub(crate) fn with_route_shape<R>(
        &self,
        host: &str,
        check_domain: bool,
        f: impl FnOnce(RouteRef<'_>) -> R,
    ) -> Option<R> {
        let host = strip_port(host)?;
        let host: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        let host = host.strip_suffix('.').unwrap_or(&host);
        let (label, rest) = host.split_once('.')?;
        if rest.is_empty() || (check_domain && !self.domains.iter().any(|d| d == rest)) {
            return None;
        }
        split_label(label).map(f)
    }

    /// Whether a route's port and sandbox id pass the rules (the id as it is, lowercase).
    pub(crate) fn route_is_valid(&self, r: &RouteRef<'_>) -> bool {
        self.validate_port(i64::from(r.port)).is_ok()
            && matches!(self.check_sandbox_id(r.sandbox_id), Ok(Cow::Borrowed(_)))
    }
}

/// Splits the first label of a preview host into port, sandbox id and token, checking only
/// their shape.
fn split_label(label: &str) -> Option<RouteRef<'_>> {
    // No DNS name has a longer label, and no URL Portway builds does (found by fuzzing).
    if label.len() > MAX_LABEL_LENGTH {
        return None;
    }
    let (port, rest) = label.split_once('-')?;
    let (sandbox_id, token) = rest.rsplit_once('-')?;
    if !(4..=5).contains(&port.len())
        || port.starts_with('0')
        || !port.bytes().all(|b| b.is_ascii_digit())
        || token.len() > MAX_TOKEN_LENGTH
        || !is_token_format(token)
    {
        return None;
    }
    Some(RouteRef {
        port: port.parse().ok()?,
        sandbox_id,
        token,
        port_and_id: &label[..label.len() - token.len() - 1],
    })
}

/// The URL for already-validated parts; checks only the lengths DNS imposes.
pub(crate) fn preview_url(
    port: u16,
    sandbox_id: &str,
    token: &str,
    host: &Hostname,
) -> Result<String> {
    let label_len = port_digits(port) + 1 + sandbox_id.len() + 1 + token.len();
    if label_len > MAX_LABEL_LENGTH {
        return Err(Error::PreviewLabelTooLong(format!(
            "The preview label '{port}-{sandbox_id}-…' would be {label_len} characters; DNS allows \
             {MAX_LABEL_LENGTH} per label. Use a shorter sandbox id (at most {} characters with a \
             {}-character token).",
            MAX_LABEL_LENGTH.saturating_sub(port_digits(port) + 2 + token.len()),
            token.len()
        )));
    }
    let host_len = label_len + 1 + host.host().len();
    if host_len > MAX_HOSTNAME_LENGTH {
        return Err(Error::PreviewLabelTooLong(format!(
            "The preview host name would be {host_len} characters; DNS allows {MAX_HOSTNAME_LENGTH}. \
             Use a shorter hostname or sandbox id."
        )));
    }
    Ok(format!(
        "{}://{port}-{sandbox_id}-{token}.{host}/",
        host.scheme()
    ))
}

fn port_digits(port: u16) -> usize {
    if port >= 10_000 { 5 } else { 4 }
}

/// Drops a `:port`; `None` for an IPv6 literal or anything with more than one `:`.
fn strip_port(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        return None;
    }
    match host.split_once(':') {
        None => Some(host),
        Some((h, p)) if !p.contains(':') => Some(h),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_edges() {
        let r = Rules::default();
        assert!(r.parse_preview_host("").is_none());
        assert!(r.parse_preview_host("8080-box-token123").is_none());
        assert!(r.parse_preview_host("8080-box-token123.").is_none());
        assert!(
            r.parse_preview_host("08080-box-token123.example.com")
                .is_none()
        );
        assert!(
            r.parse_preview_host("808-box-token123.example.com")
                .is_none()
        );
        assert!(r.parse_preview_host("8080--token123.example.com").is_none());
        assert!(r.parse_preview_host("8080-box-.example.com").is_none());
        assert!(
            r.parse_preview_host("8080-www-token123.example.com")
                .is_none()
        );
        assert!(r.parse_preview_host("[::1]:8080").is_none());
        let route = r
            .parse_preview_host("8080-Box-TOKEN123.Example.com.:8787")
            .unwrap();
        assert_eq!(
            route,
            Route {
                port: 8080,
                sandbox_id: "box".into(),
                token: "token123".into()
            }
        );
    }

    #[test]
    fn label_limit() {
        let r = Rules::default();
        let id = "a".repeat(63 - 4 - 2 - 16);
        let tok = "t".repeat(16);
        assert!(r.build_preview_url(8080, &id, &tok, "example.com").is_ok());
        let long = format!("{id}a");
        let err = r
            .build_preview_url(8080, &long, &tok, "example.com")
            .unwrap_err();
        assert_eq!(err.code().as_str(), "PREVIEW_LABEL_TOO_LONG");
    }
}
