//! Preview URLs: `{scheme}://{port}-{sandbox_id}-{token}.{hostname}/`, built and parsed back.

use crate::error::{Error, Result};
use crate::hostname::{MAX_HOSTNAME_LENGTH, MAX_LABEL_LENGTH, scheme};
use crate::rules::Rules;
use crate::token::MAX_TOKEN_LENGTH;

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
}

/// Where the parts of a [`Route`] lie in the host it was parsed from: byte ranges of the
/// caller's own string, for a binding that hands out slices of it instead of copies (the
/// host's first label, where they lie, is ASCII, so these are UTF-16 indices as well).
///
/// The host's text there is as the caller wrote it: lowercase it to get the route's
/// sandbox id and token (a route is case-insensitive, like the host it is part of).
///
/// ```
/// let host = "8080-My-Box-token123.example.com";
/// let spans = portway::Rules::default().locate_preview_route(host).unwrap();
/// assert_eq!(spans.port, 8080);
/// assert_eq!(&host[spans.sandbox_id], "My-Box");
/// assert_eq!(&host[spans.token], "token123");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpans {
    /// The exposed port.
    pub port: u16,
    /// Where the sandbox id is.
    pub sandbox_id: std::ops::Range<usize>,
    /// Where the token is.
    pub token: std::ops::Range<usize>,
}

impl RouteRef<'_> {
    /// Where this route lies in its host: the label is `{port}-{sandbox_id}-{token}` from
    /// the host's first byte (the port without leading zeros), whatever string it was
    /// parsed from (the host itself or its lowercase copy, which has the same layout).
    fn spans(self) -> RouteSpans {
        let digits = self.port.checked_ilog10().map_or(1, |d| d as usize + 1);
        let id_start = digits + 1;
        let id_end = id_start + self.sandbox_id.len();
        RouteSpans {
            port: self.port,
            sandbox_id: id_start..id_end,
            token: id_end + 1..id_end + 1 + self.token.len(),
        }
    }

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
        let host = self.check_hostname(hostname)?;
        preview_url(port, &id, token, &host.host, host.port)
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

    /// Like [`Rules::parse_preview_host`], but gives where the route's parts lie in `host`
    /// instead of copies of them: see [`RouteSpans`].
    pub fn locate_preview_route(&self, host: &str) -> Option<RouteSpans> {
        self.with_route(host, false, |r| r.spans())
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
    ///
    /// A host with uppercase letters is lowercased into a buffer on the stack first (on the
    /// heap only past 256 bytes, which no preview host reaches).
    pub(crate) fn with_route_shape<R>(
        &self,
        host: &str,
        check_domain: bool,
        f: impl FnOnce(RouteRef<'_>) -> R,
    ) -> Option<R> {
        // `|` rather than `any`: no early exit, so the loop is vectorised.
        let upper = host
            .bytes()
            .fold(false, |up, b| up | b.is_ascii_uppercase());
        if !upper {
            return self.route_of_lowercase(host, check_domain, f);
        }
        let mut buf = [0u8; 256];
        match buf.get_mut(..host.len()) {
            Some(lower) => {
                lower.copy_from_slice(host.as_bytes());
                lower.make_ascii_lowercase();
                // ASCII case changes keep UTF-8 valid.
                let lower = std::str::from_utf8(lower).ok()?;
                self.route_of_lowercase(lower, check_domain, f)
            }
            None => self.route_of_lowercase(&host.to_ascii_lowercase(), check_domain, f),
        }
    }

    /// [`Rules::with_route_shape`] for a host without uppercase letters: the port's digits up
    /// to the first `-`, the first label up to the first `.` (found with SIMD searches; the
    /// last `-` in it ends the sandbox id and starts the token), then the domain, without its
    /// `:port` and one trailing dot.
    #[inline]
    fn route_of_lowercase<R>(
        &self,
        host: &str,
        check_domain: bool,
        f: impl FnOnce(RouteRef<'_>) -> R,
    ) -> Option<R> {
        let b = host.as_bytes();
        let mut port: u32 = 0;
        let mut i = 0;
        while i < 6 && i < b.len() && b[i].is_ascii_digit() {
            port = port * 10 + u32::from(b[i] - b'0');
            i += 1;
        }
        if !(4..=5).contains(&i) || b[0] == b'0' || b.get(i) != Some(&b'-') {
            return None;
        }
        let port = u16::try_from(port).ok()?;
        // The first `.` ends the label, which no DNS name has longer than 63 bytes (and no URL
        // Portway builds does: found by fuzzing). No `.` at all: no host name after it.
        let dot = memchr::memchr(b'.', &b[..b.len().min(MAX_LABEL_LENGTH + 1)])?;
        let label = &b[..dot];
        // A `:` before the first dot: no host name after the label either.
        if memchr::memchr(b':', label).is_some() {
            return None;
        }
        // The last `-` ends the sandbox id (`b[i]` is one, so there is one).
        let dash = i + memchr::memrchr(b'-', &label[i..])?;
        // No `-` after the port's: no token.
        let token = &b[dash + 1..dot];
        if dash == i
            || !(1..=MAX_TOKEN_LENGTH).contains(&token.len())
            || !token.iter().fold(true, |ok, &c| {
                ok & matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_')
            })
        {
            return None;
        }
        let mut rest = &host[dot + 1..];
        if let Some(colon) = memchr::memchr(b':', rest.as_bytes()) {
            // An IPv6 literal or anything else with two `:` is no host name with a port.
            if memchr::memchr(b':', &rest.as_bytes()[colon + 1..]).is_some() {
                return None;
            }
            rest = &rest[..colon];
        }
        let rest = rest.strip_suffix('.').unwrap_or(rest);
        if rest.is_empty() || (check_domain && !self.domains.iter().any(|d| d == rest)) {
            return None;
        }
        Some(f(RouteRef {
            port,
            sandbox_id: &host[i + 1..dash],
            token: &host[dash + 1..dot],
        }))
    }

    /// Whether a route's port and sandbox id pass the rules (the id as it is, lowercase).
    pub(crate) fn route_is_valid(&self, r: &RouteRef<'_>) -> bool {
        self.is_valid_port(r.port) && self.is_lowercase_sandbox_id(r.sandbox_id)
    }
}

/// The URL for already-validated parts; checks only the lengths DNS imposes.
pub(crate) fn preview_url(
    port: u16,
    sandbox_id: &str,
    token: &str,
    host: &str,
    host_port: Option<u16>,
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
    let host_len = label_len + 1 + host.len();
    if host_len > MAX_HOSTNAME_LENGTH {
        return Err(Error::PreviewLabelTooLong(format!(
            "The preview host name would be {host_len} characters; DNS allows {MAX_HOSTNAME_LENGTH}. \
             Use a shorter hostname or sandbox id."
        )));
    }
    // Written piece by piece into one exact allocation (`format!` costs more than the rest
    // of building a URL).
    let scheme = scheme(host);
    let mut url = String::with_capacity(scheme.len() + 3 + host_len + 6 + 1);
    url.push_str(scheme);
    url.push_str("://");
    push_decimal(&mut url, port);
    url.push('-');
    url.push_str(sandbox_id);
    url.push('-');
    url.push_str(token);
    url.push('.');
    url.push_str(host);
    if let Some(p) = host_port {
        url.push(':');
        push_decimal(&mut url, p);
    }
    url.push('/');
    Ok(url)
}

fn push_decimal(out: &mut String, n: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

fn port_digits(port: u16) -> usize {
    if port >= 10_000 { 5 } else { 4 }
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

    /// The parser as it was before its single-pass rewrite, kept as the reference.
    fn reference_shape(host: &str, domains: Option<&[String]>) -> Option<Route> {
        let host = if host.starts_with('[') {
            return None;
        } else {
            match host.split_once(':') {
                None => host,
                Some((h, p)) if !p.contains(':') => h,
                Some(_) => return None,
            }
        };
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        let (label, rest) = host.split_once('.')?;
        if rest.is_empty() || domains.is_some_and(|ds| !ds.iter().any(|d| d == rest)) {
            return None;
        }
        if label.len() > MAX_LABEL_LENGTH {
            return None;
        }
        let (port, rest) = label.split_once('-')?;
        let (sandbox_id, token) = rest.rsplit_once('-')?;
        if !(4..=5).contains(&port.len())
            || port.starts_with('0')
            || !port.bytes().all(|b| b.is_ascii_digit())
            || token.len() > MAX_TOKEN_LENGTH
            || !crate::token::is_token_format(token)
        {
            return None;
        }
        Some(Route {
            port: port.parse().ok()?,
            sandbox_id: sandbox_id.into(),
            token: token.into(),
        })
    }

    fn shape(r: &Rules, host: &str, check_domain: bool) -> Option<Route> {
        r.with_route_shape(host, check_domain, |route| route.to_owned())
    }

    /// The parser and the reference give the same shape, with and without the domain check.
    fn agrees_with_the_reference(host: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let r = Rules::builder()
            .domains(["preview.example.com", "localhost"])
            .build()
            .unwrap();
        proptest::prop_assert_eq!(shape(&r, host, false), reference_shape(host, None));
        proptest::prop_assert_eq!(
            shape(&r, host, true),
            reference_shape(host, Some(r.domains()))
        );
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(5_000))]

        #[test]
        fn single_pass_parser_agrees_with_the_reference(
            host in proptest::string::string_regex(
                "[0-9]{0,6}(-[a-zA-Z0-9_é-]{0,20}){0,4}[.:]?[a-zA-Z0-9._:\\[-]{0,30}"
            ).unwrap()
        ) {
            agrees_with_the_reference(&host)?;
        }

        #[test]
        fn single_pass_parser_agrees_on_preview_like_hosts(
            port in "0?[0-9]{3,6}",
            id in "[a-zA-Z0-9-]{0,60}",
            token in "[a-zA-Z0-9_-]{0,18}",
            domain in "(preview\\.example\\.com|localhost|Preview\\.Example\\.COM|evil\\.com)\\.?",
            suffix in "(:[0-9]{0,5})?",
        ) {
            let host = format!("{port}-{id}-{token}.{domain}{suffix}");
            agrees_with_the_reference(&host)?;
        }
    }

    #[test]
    fn long_uppercase_hosts_are_lowercased_on_the_heap() {
        let r = Rules::default();
        let host = format!("8080-BOX-TOKEN123.{}.COM", "A".repeat(300));
        assert_eq!(shape(&r, &host, false), reference_shape(&host, None));
        assert!(shape(&r, &host, false).is_some());
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
