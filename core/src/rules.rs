//! The configurable validation rules: which ports, sandbox ids, tokens and host names are
//! acceptable, and which preview domains the gateway routes.
//!
//! A [`Rules`] value is immutable once built. The free functions of the crate
//! (`portway::validate_port`, `portway::build_preview_url`, ...) use [`Rules::default`];
//! a `Portway` carries its own.
//!
//! Every check [`Rules`] offers is in this file: each one passes this value's settings to
//! the concept module that defines the check (`port`, `sandbox_id`, `token`, `hostname`,
//! `preview_url`), which knows nothing of [`Rules`].

use std::borrow::Cow;
use std::sync::LazyLock;

use crate::error::{Error, Result};
use crate::hostname::{self, HostRef, Hostname};
use crate::port;
use crate::preview_url::{self, Route, RouteRef, RouteSpans, preview_url};
use crate::sandbox_id;
use crate::token::{self, MAX_TOKEN_LENGTH};

/// Ports that can never be exposed unless configured otherwise: 3000 is the sandbox control
/// plane in Cloudflare's design.
pub const DEFAULT_RESERVED_PORTS: [u16; 1] = [3000];

/// Sandbox ids refused by default (compared case-insensitively).
pub const DEFAULT_RESERVED_SANDBOX_IDS: [&str; 7] = [
    "www",
    "api",
    "admin",
    "root",
    "system",
    "cloudflare",
    "workers",
];

/// Host-name suffixes that cannot carry wildcard subdomains.
pub const DEFAULT_CUSTOM_DOMAIN_SUFFIXES: [&str; 1] = ["workers.dev"];

/// The preview domain used when none is configured.
pub const DEFAULT_DOMAIN: &str = "localhost";

/// The shortest custom token accepted by default.
pub const DEFAULT_MIN_TOKEN_LENGTH: usize = 8;

static DEFAULT_RULES: LazyLock<Rules> = LazyLock::new(Rules::default);

/// The validation rules of one Portway configuration.
///
/// ```
/// use portway::Rules;
/// let rules = Rules::builder().reserved_ports([3000, 9000]).build()?;
/// assert!(rules.validate_port(9000).is_err());
/// assert_eq!(rules.validate_port(9001)?, 9001);
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub(crate) domains: Vec<String>,
    pub(crate) reserved_ports: Vec<u16>,
    pub(crate) reserved_sandbox_ids: Vec<String>,
    pub(crate) custom_domain_suffixes: Vec<String>,
    pub(crate) normalize_id: bool,
    pub(crate) min_token_length: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            domains: vec![DEFAULT_DOMAIN.to_owned()],
            reserved_ports: DEFAULT_RESERVED_PORTS.to_vec(),
            reserved_sandbox_ids: DEFAULT_RESERVED_SANDBOX_IDS.map(str::to_owned).to_vec(),
            custom_domain_suffixes: DEFAULT_CUSTOM_DOMAIN_SUFFIXES.map(str::to_owned).to_vec(),
            normalize_id: false,
            min_token_length: DEFAULT_MIN_TOKEN_LENGTH,
        }
    }
}

impl Rules {
    /// A builder starting from the defaults.
    ///
    /// ```
    /// let rules = portway::Rules::builder().normalize_id(true).build()?;
    /// assert_eq!(rules.validate_sandbox_id("My-Box")?, "my-box");
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn builder() -> RulesBuilder {
        RulesBuilder::default()
    }

    /// The shared default rules.
    pub(crate) fn default_ref() -> &'static Rules {
        &DEFAULT_RULES
    }

    /// The preview domains, normalised (lowercase, punycode, no port).
    ///
    /// ```
    /// assert_eq!(portway::Rules::default().domains(), ["localhost"]);
    /// ```
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// The reserved ports, sorted.
    ///
    /// ```
    /// assert_eq!(portway::Rules::default().reserved_ports(), [3000]);
    /// ```
    pub fn reserved_ports(&self) -> &[u16] {
        &self.reserved_ports
    }

    /// The reserved sandbox ids, lowercase.
    ///
    /// ```
    /// assert!(portway::Rules::default().reserved_sandbox_ids().contains(&"www".to_string()));
    /// ```
    pub fn reserved_sandbox_ids(&self) -> &[String] {
        &self.reserved_sandbox_ids
    }

    /// The host-name suffixes that need a custom domain.
    ///
    /// ```
    /// assert_eq!(portway::Rules::default().custom_domain_suffixes(), ["workers.dev"]);
    /// ```
    pub fn custom_domain_suffixes(&self) -> &[String] {
        &self.custom_domain_suffixes
    }

    /// Whether uppercase sandbox ids are lowercased instead of refused.
    ///
    /// ```
    /// assert!(!portway::Rules::default().normalize_id());
    /// ```
    pub fn normalize_id(&self) -> bool {
        self.normalize_id
    }

    /// The shortest custom token accepted.
    ///
    /// ```
    /// assert_eq!(portway::Rules::default().min_token_length(), 8);
    /// ```
    pub fn min_token_length(&self) -> usize {
        self.min_token_length
    }
}

/// What the rules accept: each check composes the concept module that defines it
/// (`port`, `sandbox_id`, `token`, `hostname`, `preview_url`) with this value's settings.
impl Rules {
    /// Checks a port given as any integer; values that would wrap into a valid `u16`
    /// (such as 73616) are refused.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_port(8080)?, 8080);
    /// assert!(rules.validate_port(3000).is_err());
    /// assert!(rules.validate_port(73616).is_err());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_port(&self, port: i64) -> Result<u16> {
        port::validate(port, &self.reserved_ports)
    }

    /// Checks a port given as a floating-point number (what JavaScript passes): a fraction,
    /// NaN or an infinity is refused.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_port_f64(8080.0)?, 8080);
    /// assert!(rules.validate_port_f64(8080.5).is_err());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_port_f64(&self, port: f64) -> Result<u16> {
        port::validate_f64(port, &self.reserved_ports)
    }

    /// Whether `port` may be exposed.
    ///
    /// ```
    /// assert!(portway::Rules::default().is_valid_port(8080));
    /// assert!(!portway::Rules::default().is_valid_port(1023));
    /// ```
    pub fn is_valid_port(&self, port: u16) -> bool {
        port::is_valid(port, &self.reserved_ports)
    }

    /// The `INVALID_PORT` error for a value shown as `shown` (for a binding whose caller
    /// passed something that is not a number at all).
    ///
    /// ```
    /// let err = portway::Rules::default().invalid_port("'8080'");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Invalid port number: '8080'. Must be 1024-65535, excluding 3000 (sandbox control plane)."
    /// );
    /// ```
    pub fn invalid_port(&self, shown: &str) -> Error {
        port::invalid(shown, &self.reserved_ports)
    }

    /// Checks a sandbox id and returns it as stored: lowercased when `normalize_id` is on.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_sandbox_id("550e8400-e29b-41d4")?, "550e8400-e29b-41d4");
    /// let err = rules.validate_sandbox_id("My-Box").unwrap_err();
    /// assert!(err.to_string().contains("lowercase"));
    /// assert!(rules.validate_sandbox_id("www").is_err());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_sandbox_id(&self, id: &str) -> Result<String> {
        self.check_sandbox_id(id).map(Cow::into_owned)
    }

    /// [`Rules::validate_sandbox_id`] without allocating when the id is already valid.
    pub(crate) fn check_sandbox_id<'a>(&self, id: &'a str) -> Result<Cow<'a, str>> {
        sandbox_id::check(id, &self.reserved_sandbox_ids, self.normalize_id)
    }

    /// Whether `id` is a valid sandbox id as it is (so already lowercase), without
    /// allocating: what [`Rules::check_sandbox_id`] accepts unchanged.
    #[inline]
    pub(crate) fn is_lowercase_sandbox_id(&self, id: &str) -> bool {
        sandbox_id::is_lowercase_valid(id, &self.reserved_sandbox_ids)
    }

    /// Checks a custom token (`min_token_length..=16` characters of `[a-z0-9_]`) and returns
    /// it, as the other checks return what they checked. The error message never repeats the
    /// token, which is a secret.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_token("my_token_1")?, "my_token_1");
    /// let err = rules.validate_token("short").unwrap_err();
    /// assert_eq!(err.code().as_str(), "INVALID_TOKEN_FORMAT");
    /// assert!(err.to_string().contains("8 to 16 characters"));
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_token(&self, token: &str) -> Result<String> {
        token::validate_custom(token, self.min_token_length)?;
        Ok(token.to_owned())
    }

    /// Validates a host name for preview URLs: syntax, IP literals, and the custom-domain
    /// suffixes (`CUSTOM_DOMAIN_REQUIRED`).
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_hostname("127.0.0.1:8787")?.to_string(), "localhost:8787");
    /// assert_eq!(rules.validate_hostname("10.0.0.1").unwrap_err().code().as_str(), "INVALID_HOSTNAME");
    /// let err = rules.validate_hostname("my-worker.workers.dev").unwrap_err();
    /// assert_eq!(err.code().as_str(), "CUSTOM_DOMAIN_REQUIRED");
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_hostname(&self, input: &str) -> Result<Hostname> {
        self.check_hostname(input).map(Hostname::from)
    }

    /// [`Rules::validate_hostname`] without copying a host that is already canonical.
    pub(crate) fn check_hostname<'a>(&self, input: &'a str) -> Result<HostRef<'a>> {
        hostname::check(input, &self.custom_domain_suffixes)
    }

    /// Whether `host` is one of the custom-domain suffixes or under one.
    pub(crate) fn needs_custom_domain(&self, host: &str) -> bool {
        hostname::needs_custom_domain(host, &self.custom_domain_suffixes)
    }

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
        token::check_format(token)?;
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
    /// checked for their shape, not against the port and id rules (see
    /// [`Rules::route_is_valid`]): the gateway's route phase looks a route up first. With
    /// `check_domain`, the rest of the host must be one of the preview domains.
    #[inline]
    pub(crate) fn with_route_shape<R>(
        &self,
        host: &str,
        check_domain: bool,
        f: impl FnOnce(RouteRef<'_>) -> R,
    ) -> Option<R> {
        preview_url::with_route_shape(host, check_domain.then_some(self.domains.as_slice()), f)
    }

    /// Whether a route's port and sandbox id pass the rules (the id as it is, lowercase).
    pub(crate) fn route_is_valid(&self, r: &RouteRef<'_>) -> bool {
        self.is_valid_port(r.port) && self.is_lowercase_sandbox_id(r.sandbox_id)
    }
}

/// Builds [`Rules`]; every value is checked by [`RulesBuilder::build`].
#[derive(Debug, Clone)]
pub struct RulesBuilder {
    domains: Vec<String>,
    reserved_ports: Vec<i64>,
    reserved_sandbox_ids: Vec<String>,
    custom_domain_suffixes: Vec<String>,
    normalize_id: bool,
    min_token_length: i64,
}

impl Default for RulesBuilder {
    fn default() -> Self {
        let d = Rules::default();
        RulesBuilder {
            domains: d.domains,
            reserved_ports: d.reserved_ports.into_iter().map(i64::from).collect(),
            reserved_sandbox_ids: d.reserved_sandbox_ids,
            custom_domain_suffixes: d.custom_domain_suffixes,
            normalize_id: d.normalize_id,
            min_token_length: d.min_token_length as i64,
        }
    }
}

impl RulesBuilder {
    /// The preview domains the gateway routes and `expose_port` accepts (default
    /// `["localhost"]`). A port given with a domain (`localhost:8787`) is ignored here: the
    /// gateway routes on the host name alone.
    pub fn domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Ports that can never be exposed (default `[3000]`).
    pub fn reserved_ports<I: IntoIterator<Item = i64>>(mut self, ports: I) -> Self {
        self.reserved_ports = ports.into_iter().collect();
        self
    }

    /// Sandbox ids that are refused, case-insensitively.
    pub fn reserved_sandbox_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reserved_sandbox_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Host-name suffixes that cannot carry wildcard subdomains (default `["workers.dev"]`).
    pub fn custom_domain_suffixes<I, S>(mut self, suffixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.custom_domain_suffixes = suffixes.into_iter().map(Into::into).collect();
        self
    }

    /// Lowercase uppercase sandbox ids instead of refusing them (default off).
    pub fn normalize_id(mut self, on: bool) -> Self {
        self.normalize_id = on;
        self
    }

    /// The shortest custom token accepted, 1..=16 (default 8).
    pub fn min_token_length(mut self, len: i64) -> Self {
        self.min_token_length = len;
        self
    }

    /// Checks every value and builds the rules.
    ///
    /// ```
    /// let err = portway::Rules::builder().min_token_length(17).build().unwrap_err();
    /// assert_eq!(err.code().as_str(), "INVALID_CONFIG");
    /// ```
    pub fn build(self) -> Result<Rules> {
        if self.domains.is_empty() {
            return Err(Error::InvalidConfig(
                "at least one preview domain is required (for example \"localhost\")".into(),
            ));
        }
        let mut domains = Vec::with_capacity(self.domains.len());
        for d in &self.domains {
            let host = hostname::parse_domain(d)?;
            if !domains.contains(&host) {
                domains.push(host);
            }
        }
        let mut reserved_ports = Vec::with_capacity(self.reserved_ports.len());
        for &p in &self.reserved_ports {
            let p = u16::try_from(p).map_err(|_| {
                Error::InvalidConfig(format!("reserved port {p} is not in 0..=65535"))
            })?;
            reserved_ports.push(p);
        }
        reserved_ports.sort_unstable();
        reserved_ports.dedup();
        if !(1..=MAX_TOKEN_LENGTH as i64).contains(&self.min_token_length) {
            return Err(Error::InvalidConfig(format!(
                "min_token_length must be 1 to {MAX_TOKEN_LENGTH} (got {})",
                self.min_token_length
            )));
        }
        let mut suffixes = Vec::with_capacity(self.custom_domain_suffixes.len());
        for s in &self.custom_domain_suffixes {
            let s = s.trim_start_matches('.');
            suffixes.push(hostname::parse_domain(s)?);
        }
        Ok(Rules {
            domains,
            reserved_ports,
            reserved_sandbox_ids: self
                .reserved_sandbox_ids
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            custom_domain_suffixes: suffixes,
            normalize_id: self.normalize_id,
            min_token_length: self.min_token_length as usize,
        })
    }
}

/// The port checks, through [`Rules`].
#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn boundaries() {
        let r = Rules::default();
        for ok in [1024, 1025, 2999, 3001, 8080, 65535] {
            assert_eq!(r.validate_port(ok).unwrap() as i64, ok);
        }
        for bad in [
            i64::MIN,
            -1,
            0,
            80,
            1023,
            3000,
            65536,
            73616,
            -57456,
            i64::MAX,
        ] {
            assert_eq!(
                r.validate_port(bad).unwrap_err().code().as_str(),
                "INVALID_PORT"
            );
        }
    }

    #[test]
    fn floats() {
        let r = Rules::default();
        assert_eq!(r.validate_port_f64(65535.0).unwrap(), 65535);
        for bad in [
            f64::NAN,
            f64::INFINITY,
            -1.0,
            1023.0,
            8080.5,
            65536.0,
            1e300,
        ] {
            assert!(r.validate_port_f64(bad).is_err(), "{bad}");
        }
        assert!(
            r.validate_port_f64(f64::NAN)
                .unwrap_err()
                .to_string()
                .contains("NaN.")
        );
    }

    #[test]
    fn messages_follow_the_reserved_list() {
        let r = Rules::builder().reserved_ports([]).build().unwrap();
        assert_eq!(
            r.validate_port(1).unwrap_err().to_string(),
            "Invalid port number: 1. Must be 1024-65535."
        );
        assert_eq!(r.validate_port(3000).unwrap(), 3000);
        let r = Rules::builder()
            .reserved_ports([9000, 3000, 9000])
            .build()
            .unwrap();
        assert_eq!(
            r.validate_port(9000).unwrap_err().to_string(),
            "Invalid port number: 9000. Must be 1024-65535, excluding 3000, 9000 (reserved)."
        );
    }
}

/// The sandbox id checks, through [`Rules`].
#[cfg(test)]
mod sandbox_id_tests {
    use super::*;

    fn code(r: &Rules, id: &str) -> String {
        r.validate_sandbox_id(id).unwrap_err().to_string()
    }

    #[test]
    fn rules_in_order() {
        let r = Rules::default();
        assert!(code(&r, "").contains("1 to 63 characters"));
        assert!(code(&r, &"a".repeat(64)).contains("1 to 63 characters"));
        assert_eq!(r.validate_sandbox_id(&"a".repeat(63)).unwrap().len(), 63);
        assert!(code(&r, "Box_1").contains("lowercase"));
        assert!(code(&r, "box_1").contains("only lowercase letters, digits and '-'"));
        assert!(code(&r, "-box").contains("start or end with '-'"));
        assert!(code(&r, "box-").contains("start or end with '-'"));
        assert!(code(&r, "admin").contains("reserved"));
        assert_eq!(r.validate_sandbox_id("a--b").unwrap(), "a--b");
    }

    proptest::proptest! {
        #[test]
        fn the_fast_check_accepts_what_the_full_check_keeps(
            id in "(www|WWW|admin)?([a-z0-9-]{0,64}|[a-zA-Z0-9_é-]{0,65})"
        ) {
            for r in [Rules::default(), Rules::builder().normalize_id(true).build().unwrap()] {
                let full = matches!(
                    sandbox_id::check_slow(&id, &r.reserved_sandbox_ids, r.normalize_id),
                    Ok(Cow::Borrowed(_))
                );
                proptest::prop_assert_eq!(r.is_lowercase_sandbox_id(&id), full, "{:?}", id);
            }
        }
    }

    #[test]
    fn normalize() {
        let r = Rules::builder().normalize_id(true).build().unwrap();
        assert_eq!(r.validate_sandbox_id("My-Box").unwrap(), "my-box");
        assert!(code(&r, "WWW").contains("reserved"));
        assert!(code(&r, "Ünï").contains("only lowercase"));
    }
}

/// The token checks, through [`Rules`].
#[cfg(test)]
mod token_tests {
    use super::*;
    use crate::token::{generate_token, padded, padded_equal};

    #[test]
    fn generated_tokens_are_valid_custom_tokens() {
        let r = Rules::default();
        for _ in 0..1000 {
            let t = generate_token();
            assert!(!t.contains('_'));
            r.validate_token(&t).unwrap();
        }
    }

    #[test]
    fn padded_tokens_compare_whole() {
        let eq = |a: &str, b: &str| padded_equal(&padded(a.as_bytes()), &padded(b.as_bytes()));
        assert!(eq("token123", "token123"));
        assert!(eq("abcdefghijklmnop", "abcdefghijklmnop"));
        assert!(!eq("token123", "token124"));
        assert!(!eq("token12", "token123"));
        assert!(!eq("token123", "token12"));
        assert!(!eq("", "a"));
        assert!(!eq("abcdefghijklmnop", "abcdefghijklmnoq"));
    }

    #[test]
    fn custom_token_rules() {
        let r = Rules::default();
        assert!(r.validate_token("abcdefg").is_err());
        assert!(r.validate_token("abcdefgh").is_ok());
        assert!(r.validate_token(&"a".repeat(16)).is_ok());
        assert!(r.validate_token(&"a".repeat(17)).is_err());
        let up = r.validate_token("Abcdefgh").unwrap_err().to_string();
        assert!(up.contains("uppercase") && !up.contains("Abcdefgh"), "{up}");
        assert!(r.validate_token("abc-defgh").is_err());
        let r1 = Rules::builder().min_token_length(1).build().unwrap();
        assert!(r1.validate_token("a").is_ok());
    }
}

/// The host name checks, through [`Rules`].
#[cfg(test)]
mod hostname_tests {
    use super::*;

    fn ok(s: &str) -> String {
        Rules::default().validate_hostname(s).unwrap().to_string()
    }
    fn err(s: &str) -> &'static str {
        Rules::default()
            .validate_hostname(s)
            .unwrap_err()
            .code()
            .as_str()
    }

    #[test]
    fn accepted() {
        assert_eq!(ok("example.com"), "example.com");
        assert_eq!(ok("Example.COM."), "example.com");
        assert_eq!(ok("localhost:8787"), "localhost:8787");
        assert_eq!(ok("127.0.0.1"), "localhost");
        assert_eq!(ok("127.5.6.7:1"), "localhost:1");
        assert_eq!(ok("0.0.0.0:80"), "localhost:80");
        assert_eq!(ok("[::1]:8787"), "localhost:8787");
        assert_eq!(ok("::1"), "localhost");
        assert_eq!(ok("[::]"), "localhost");
        assert_eq!(ok("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("app.localhost"), "app.localhost");
    }

    #[test]
    fn refused() {
        for s in [
            "",
            "https://example.com",
            "example.com/",
            "a..b",
            ".a",
            "a..",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a b.com",
            "10.0.0.1",
            "[2001:db8::1]",
            "2001:db8::1",
            "example.com:0",
            "example.com:65536",
            "example.com:",
            "example.com:x",
            "[::1",
            "[::1]x",
            "127.1",
            "example.0x7f",
            "user@example.com",
        ] {
            assert!(
                matches!(err(s), "INVALID_HOSTNAME"),
                "{s:?} gave {}",
                err(s)
            );
        }
        assert_eq!(err(&format!("{}.com", "a".repeat(64))), "INVALID_HOSTNAME");
        assert_eq!(err("workers.dev"), "CUSTOM_DOMAIN_REQUIRED");
        assert_eq!(err("My-Worker.Workers.Dev"), "CUSTOM_DOMAIN_REQUIRED");
        assert_eq!(ok("notworkers.dev"), "notworkers.dev");
    }
}

/// The preview URL checks, through [`Rules`].
#[cfg(test)]
mod preview_url_tests {
    use super::*;
    use crate::hostname::MAX_LABEL_LENGTH;

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
