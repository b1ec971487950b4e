//! Preview URLs: `{scheme}://{port}-{sandbox_id}-{token}.{hostname}/`, built and parsed back.

use crate::error::{Error, Result};
use crate::hostname::{MAX_HOSTNAME_LENGTH, MAX_LABEL_LENGTH, scheme};
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
    pub(crate) fn spans(self) -> RouteSpans {
        let digits = self.port.checked_ilog10().map_or(1, |d| d as usize + 1);
        let id_start = digits + 1;
        let id_end = id_start + self.sandbox_id.len();
        RouteSpans {
            port: self.port,
            sandbox_id: id_start..id_end,
            token: id_end + 1..id_end + 1 + self.token.len(),
        }
    }

    pub(crate) fn to_owned(self) -> Route {
        Route {
            port: self.port,
            sandbox_id: self.sandbox_id.into(),
            token: self.token.into(),
        }
    }
}

/// Parses `host` and hands the borrowed route to `f`, when the rest of the host after the
/// first label is one of `domains` (any, with `None`). The port and sandbox id handed to
/// `f` have only been checked for their shape (digits; `[a-z0-9_]` token), not against
/// the port and id rules: the gateway looks a route up first and validates only when it
/// is not exposed (an exposed route passed the rules when it was exposed).
///
/// A host with uppercase letters is lowercased into a buffer on the stack first (on the
/// heap only past 256 bytes, which no preview host reaches).
pub(crate) fn with_route_shape<R>(
    host: &str,
    domains: Option<&[String]>,
    f: impl FnOnce(RouteRef<'_>) -> R,
) -> Option<R> {
    // `|` rather than `any`: no early exit, so the loop is vectorised.
    let upper = host
        .bytes()
        .fold(false, |up, b| up | b.is_ascii_uppercase());
    if !upper {
        return route_of_lowercase(host, domains, f);
    }
    let mut buf = [0u8; 256];
    match buf.get_mut(..host.len()) {
        Some(lower) => {
            lower.copy_from_slice(host.as_bytes());
            lower.make_ascii_lowercase();
            // ASCII case changes keep UTF-8 valid.
            let lower = std::str::from_utf8(lower).ok()?;
            route_of_lowercase(lower, domains, f)
        }
        None => route_of_lowercase(&host.to_ascii_lowercase(), domains, f),
    }
}

/// [`with_route_shape`] for a host without uppercase letters: the port's digits up
/// to the first `-`, the first label up to the first `.` (found with SIMD searches; the
/// last `-` in it ends the sandbox id and starts the token), then the domain, without its
/// `:port` and one trailing dot.
#[inline]
fn route_of_lowercase<R>(
    host: &str,
    domains: Option<&[String]>,
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
    if rest.is_empty() || domains.is_some_and(|ds| !ds.iter().any(|d| d == rest)) {
        return None;
    }
    Some(f(RouteRef {
        port,
        sandbox_id: &host[i + 1..dash],
        token: &host[dash + 1..dot],
    }))
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
