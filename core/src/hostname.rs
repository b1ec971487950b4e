//! Host names given to `build_preview_url` and `expose_port`, and configured preview domains.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// The longest DNS label.
pub const MAX_LABEL_LENGTH: usize = 63;
/// The longest DNS host name.
pub const MAX_HOSTNAME_LENGTH: usize = 253;

/// A validated host name with its optional port, ready to carry preview subdomains.
///
/// ```
/// let h = portway::Rules::default().validate_hostname("Example.COM:8443")?;
/// assert_eq!(h.host(), "example.com");
/// assert_eq!(h.port(), Some(8443));
/// assert_eq!(h.scheme(), "https");
/// assert_eq!(h.to_string(), "example.com:8443");
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostname {
    host: String,
    port: Option<u16>,
}

impl Hostname {
    /// The host name: lowercase, punycode, no trailing dot, loopback IPs written `localhost`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port given with the host name, kept in preview URLs.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether this is a local host name (`localhost` or `*.localhost`).
    pub fn is_local(&self) -> bool {
        is_local(&self.host)
    }

    /// `http` for local host names, `https` for everything else.
    pub fn scheme(&self) -> &'static str {
        scheme(&self.host)
    }
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// `http` for a local host name, `https` for everything else.
pub(crate) fn scheme(host: &str) -> &'static str {
    if is_local(host) { "http" } else { "https" }
}

/// A [`Hostname`] that borrows its host from the input when the input is already in its
/// canonical form (the common case), so that building a URL allocates nothing for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostRef<'a> {
    pub host: Cow<'a, str>,
    pub port: Option<u16>,
}

impl From<HostRef<'_>> for Hostname {
    fn from(h: HostRef<'_>) -> Hostname {
        Hostname {
            host: h.host.into_owned(),
            port: h.port,
        }
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Parses a host name for preview URLs (syntax, IP literals) and refuses one under a
/// `custom_domain_suffixes` entry (`CUSTOM_DOMAIN_REQUIRED`); a canonical host is not copied.
pub(crate) fn check<'a>(input: &'a str, custom_domain_suffixes: &[String]) -> Result<HostRef<'a>> {
    let h = parse(input)?;
    if needs_custom_domain(&h.host, custom_domain_suffixes) {
        return Err(Error::CustomDomainRequired);
    }
    Ok(h)
}

/// Whether `host` is one of `custom_domain_suffixes` or under one (so it cannot carry
/// wildcard subdomains).
pub(crate) fn needs_custom_domain(host: &str, custom_domain_suffixes: &[String]) -> bool {
    custom_domain_suffixes.iter().any(|s| {
        host == s
            || (host.len() > s.len()
                && host.ends_with(s.as_str())
                && host.as_bytes()[host.len() - s.len() - 1] == b'.')
    })
}

/// Parses a configured domain (or suffix): a host name whose port, if any, is dropped.
pub(crate) fn parse_domain(input: &str) -> Result<String> {
    Ok(parse(input)?.host.into_owned())
}

fn invalid(input: &str, why: impl fmt::Display) -> Error {
    Error::InvalidHostname(format!("Invalid hostname '{input}': {why}"))
}

fn parse(input: &str) -> Result<HostRef<'_>> {
    match canonical_name(input) {
        Some(host) => Ok(HostRef {
            host: Cow::Borrowed(host),
            port: None,
        }),
        None => parse_full(input),
    }
}

/// Every rule, with a message that names the one broken.
fn parse_full(input: &str) -> Result<HostRef<'_>> {
    if input.is_empty() {
        return Err(Error::InvalidHostname(
            "A hostname is required (for example 'example.com' or 'localhost:8787').".into(),
        ));
    }
    if input.contains("://") || input.contains(['/', '?', '#', '@']) {
        return Err(invalid(
            input,
            "pass a host name such as 'example.com' or 'localhost:8787', not a URL.",
        ));
    }
    let (name, port) = match split_port(input)? {
        (Host::Ip(ip), port) => return ip_host(input, ip, port),
        (Host::Name(name), port) => (name, port),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return ip_host(input, IpAddr::V4(ip), port);
    }
    let host = if name.is_ascii() {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        }
    } else {
        Cow::Owned(
            idna::domain_to_ascii(name)
                .map_err(|_| invalid(input, "not a valid internationalised domain name."))?,
        )
    };
    check_labels(input, &host)?;
    Ok(HostRef { host, port })
}

/// The host name itself when `input` is a valid host name in canonical form (lowercase
/// ASCII, no port, no trailing dot, not an IP address): one pass over its bytes. Anything
/// else (`None`) goes through [`parse`]'s full rules, which also explain what is wrong.
fn canonical_name(input: &str) -> Option<&str> {
    let b = input.as_bytes();
    if b.is_empty() || b.len() > MAX_HOSTNAME_LENGTH {
        return None;
    }
    let mut label_start = 0;
    let mut prev = b'.';
    let mut label_all_digits = true;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => {
                if prev == b'.' && c == b'-' {
                    return None;
                }
                label_all_digits &= c.is_ascii_digit();
            }
            b'.' => {
                if prev == b'.' || prev == b'-' || i - label_start > MAX_LABEL_LENGTH {
                    return None;
                }
                label_start = i + 1;
                label_all_digits = true;
            }
            _ => return None,
        }
        prev = c;
    }
    // The last label: not empty (no trailing dot), not too long, not ending in '-', and not
    // what a browser reads as an IPv4 address (all digits, or `0x…`).
    let last = &b[label_start..];
    if prev == b'.'
        || prev == b'-'
        || last.len() > MAX_LABEL_LENGTH
        || label_all_digits
        || last.starts_with(b"0x")
    {
        return None;
    }
    Some(input)
}

enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// Splits off a port; a bracketed or bare IPv6 literal comes back as an address.
fn split_port(input: &str) -> Result<(Host<'_>, Option<u16>)> {
    if let Some(rest) = input.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| invalid(input, "an IPv6 literal needs its closing ']'."))?;
        let ip: Ipv6Addr = rest[..end]
            .parse()
            .map_err(|_| invalid(input, "not a valid IPv6 address."))?;
        let port = match &rest[end + 1..] {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(p) => Some(parse_port(input, p)?),
                None => return Err(invalid(input, "unexpected text after ']'.")),
            },
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }
    match input.matches(':').count() {
        0 => Ok((Host::Name(input), None)),
        1 => {
            let (name, p) = input.rsplit_once(':').unwrap_or((input, ""));
            Ok((Host::Name(name), Some(parse_port(input, p)?)))
        }
        _ => {
            let ip: Ipv6Addr = input.parse().map_err(|_| {
                invalid(
                    input,
                    "write an IPv6 address in brackets, such as '[::1]:8787'.",
                )
            })?;
            Ok((Host::Ip(IpAddr::V6(ip)), None))
        }
    }
}

fn parse_port(input: &str, p: &str) -> Result<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            input,
            "the port after ':' must be a number from 1 to 65535.",
        ));
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            input,
            "the port after ':' must be a number from 1 to 65535.",
        )),
    }
}

fn ip_host(input: &str, ip: IpAddr, port: Option<u16>) -> Result<HostRef<'static>> {
    if ip.is_loopback() || ip.is_unspecified() {
        Ok(HostRef {
            host: Cow::Borrowed("localhost"),
            port,
        })
    } else {
        Err(invalid(
            input,
            "an IP address cannot carry preview subdomains; use a domain name \
             (loopback addresses are written as 'localhost').",
        ))
    }
}

fn check_labels(input: &str, host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(invalid(input, "the host name is empty."));
    }
    if host.len() > MAX_HOSTNAME_LENGTH {
        return Err(invalid(
            input,
            format_args!(
                "{} characters long; DNS allows {MAX_HOSTNAME_LENGTH}.",
                host.len()
            ),
        ));
    }
    let mut last = "";
    for label in host.split('.') {
        if label.is_empty() {
            return Err(invalid(
                input,
                "it has an empty label (two dots in a row, or a leading dot).",
            ));
        }
        if label.len() > MAX_LABEL_LENGTH {
            return Err(invalid(
                input,
                format_args!(
                    "a label of {} characters; DNS allows {MAX_LABEL_LENGTH}.",
                    label.len()
                ),
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
        {
            return Err(invalid(
                input,
                format_args!(
                    "only letters, digits and '-' are allowed in host names (found {c:?})."
                ),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(input, "a label must not start or end with '-'."));
        }
        last = label;
    }
    // The WHATWG URL parser reads a host whose last label is a number as an IPv4 address
    // (`127.1`, `0x7f.1`), so browsers would never treat it as a name.
    if last.bytes().all(|b| b.is_ascii_digit())
        || (last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(invalid(
            input,
            "it reads as an IP address, which cannot carry preview subdomains.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The one-pass check accepts only what the full rules accept, unchanged.
        #[test]
        fn canonical_names_pass_the_full_rules(input in "[a-z0-9.\\-]{0,12}|[a-zA-Z0-9.:\\-]{1,70}|[0x9.a-f]{1,8}") {
            if let Some(host) = canonical_name(&input) {
                let full = parse_full(&input).expect("the full rules accept a canonical name");
                prop_assert_eq!(full.host.as_ref(), host);
                prop_assert_eq!(full.port, None);
            } else if let Ok(full) = parse_full(&input) {
                // Refused by the fast path but accepted by the full rules: only forms the fast
                // path leaves to them (a port, uppercase, a trailing dot, `0x` labels).
                prop_assert!(
                    full.port.is_some()
                        || input.bytes().any(|b| b.is_ascii_uppercase())
                        || input.ends_with('.')
                        || full.host != input
                        || input.rsplit('.').next().is_some_and(|l| l.starts_with("0x")),
                    "{} was refused by the fast path only", input
                );
            }
        }
    }
}
