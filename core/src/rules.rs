//! The configurable validation rules: which ports, sandbox ids, tokens and host names are
//! acceptable, and which preview domains the gateway routes.
//!
//! A [`Rules`] value is immutable once built. The free functions of the crate
//! ([`crate::validate_port`], [`crate::build_preview_url`], ...) use [`Rules::default`];
//! a [`crate::Portway`] carries its own.

use std::sync::LazyLock;

use crate::error::{Error, Result};
use crate::hostname;
use crate::token::MAX_TOKEN_LENGTH;

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
