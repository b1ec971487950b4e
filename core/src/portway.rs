//! The library's entry point, on top of the sandbox and the gateway: configuration
//! ([`PortwayBuilder`], [`PortwaySettings`]) and what a [`Portway`] builds and answers
//! (sandboxes, gateways, lookups). The handle's shared state is in `state.rs`.

use crate::error::{Error, Result};
use crate::gateway::{self, Gateway, GatewayConfig, GatewayHandle, GatewayHooks};
use crate::lifecycle::EventStream;
use crate::preview_url::Route;
use crate::registry::{Registry, Resolution, SandboxInfo};
use crate::rules::RulesBuilder;
use crate::sandbox::{Sandbox, validate_upstream_host};
pub use crate::state::Portway;
use crate::store::{SandboxStatus, Store, StoreConfig};

/// Configures a [`Portway`]. Every value is checked by [`PortwayBuilder::build`].
///
/// ```
/// let portway = portway::Portway::builder()
///     .domains(["preview.example.com"])
///     .reserved_ports([3000, 9000])
///     .normalize_id(true)
///     .min_token_length(12)
///     .store_path(":memory:")
///     .build()?;
/// assert_eq!(portway.rules().min_token_length(), 12);
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct PortwayBuilder {
    rules: RulesBuilder,
    store: StoreChoice,
    gateway: GatewayConfig,
}

#[derive(Debug, Default)]
enum StoreChoice {
    #[default]
    Memory,
    Config(StoreConfig),
    Custom(Box<dyn Store>),
}

impl PortwayBuilder {
    /// The preview domains the gateway routes and `expose_port` accepts (default
    /// `["localhost"]`).
    pub fn domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules = self.rules.domains(domains);
        self
    }

    /// Ports that can never be exposed (default `[3000]`).
    pub fn reserved_ports<I: IntoIterator<Item = i64>>(mut self, ports: I) -> Self {
        self.rules = self.rules.reserved_ports(ports);
        self
    }

    /// Sandbox ids that are refused (default `www api admin root system cloudflare workers`).
    pub fn reserved_sandbox_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules = self.rules.reserved_sandbox_ids(ids);
        self
    }

    /// Host-name suffixes that need a custom domain (default `["workers.dev"]`).
    pub fn custom_domain_suffixes<I, S>(mut self, suffixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules = self.rules.custom_domain_suffixes(suffixes);
        self
    }

    /// Lowercase uppercase sandbox ids instead of refusing them (default off).
    pub fn normalize_id(mut self, on: bool) -> Self {
        self.rules = self.rules.normalize_id(on);
        self
    }

    /// The shortest custom token accepted, 1..=16 (default 8).
    pub fn min_token_length(mut self, len: i64) -> Self {
        self.rules = self.rules.min_token_length(len);
        self
    }

    /// Where exposures are stored (default: memory).
    pub fn store(mut self, store: StoreConfig) -> Self {
        self.store = StoreChoice::Config(store);
        self
    }

    /// A file path for an SQLite store, or `":memory:"`.
    pub fn store_path(self, path: impl AsRef<str>) -> Self {
        self.store(StoreConfig::parse(path.as_ref()))
    }

    /// A store of your own (for example one backed by your platform's database).
    pub fn custom_store(mut self, store: Box<dyn Store>) -> Self {
        self.store = StoreChoice::Custom(store);
        self
    }

    /// The gateway's settings and limits (default: [`GatewayConfig::default`]).
    pub fn gateway_config(mut self, config: GatewayConfig) -> Self {
        self.gateway = config;
        self
    }

    /// Checks the configuration, opens the store and loads what it holds.
    pub fn build(self) -> Result<Portway> {
        let rules = self.rules.build()?;
        self.gateway.validate()?;
        for d in rules.domains() {
            if rules.needs_custom_domain(d) {
                return Err(Error::InvalidConfig(format!(
                    "preview domain '{d}' cannot carry wildcard subdomains (it is under one of \
                     the custom-domain suffixes {:?})",
                    rules.custom_domain_suffixes()
                )));
            }
        }
        let (store, blocking_writes) = match self.store {
            StoreChoice::Memory => (StoreConfig::Memory.open()?, false),
            StoreChoice::Config(c) => (c.open()?, c != StoreConfig::Memory),
            StoreChoice::Custom(s) => (s, true),
        };
        let registry = Registry::open(rules, store)?;
        Ok(Portway::new(registry, self.gateway, blocking_writes))
    }
}

/// Calls `$callback!` with the table of a [`Portway`]'s settings, each as `/// doc`
/// `name: Type;`. [`PortwaySettings`] is built from it, and so are the bindings' constructors,
/// so a setting added here reaches every language (or fails to build there).
///
/// ```
/// macro_rules! names {
///     ($($(#[doc = $doc:literal])* $name:ident: $ty:ty;)*) => { [$(stringify!($name)),*] };
/// }
/// assert_eq!(portway::portway_settings!(names)[0], "domains");
/// ```
#[macro_export]
macro_rules! portway_settings {
    ($callback:ident) => {
        $callback! {
            /// The preview domains (default `["localhost"]`).
            domains: Vec<String>;
            /// `":memory:"` (default), the path of an SQLite file, or a `redis://` URL of a
            /// Redis that several processes share.
            store: String;
            /// Ports that can never be exposed (default `[3000]`).
            reserved_ports: Vec<i64>;
            /// Sandbox ids that are refused (default `www api admin root system cloudflare
            /// workers`).
            reserved_sandbox_ids: Vec<String>;
            /// Host-name suffixes that need a custom domain (default `["workers.dev"]`).
            custom_domain_suffixes: Vec<String>;
            /// Lowercase uppercase sandbox ids instead of refusing them (default off).
            normalize_id: bool;
            /// The shortest custom token accepted, 1..=16 (default 8).
            min_token_length: i64;
            /// The gateway's settings (default: the gateway's defaults).
            gateway: GatewayConfig;
        }
    };
}

macro_rules! define_portway_settings {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty;)*) => {
        /// A [`Portway`]'s settings as a host gives them (the [`portway_settings!`] table):
        /// every field optional, `None` keeps the default of [`PortwayBuilder`]. What the
        /// bindings build; [`PortwaySettings::build`] checks everything (`INVALID_CONFIG`,
        /// `INVALID_HOSTNAME`, `STORE_ERROR`).
        ///
        /// ```
        /// let portway = portway::PortwaySettings {
        ///     domains: Some(vec!["example.com".into()]),
        ///     min_token_length: Some(12),
        ///     ..Default::default()
        /// }
        /// .build()?;
        /// assert_eq!(portway.rules().min_token_length(), 12);
        /// # Ok::<(), portway::Error>(())
        /// ```
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct PortwaySettings {
            $($(#[doc = $doc])* pub $name: Option<$ty>,)*
        }
    };
}

portway_settings!(define_portway_settings);

impl PortwaySettings {
    /// Checks the settings, opens the store and loads what it holds.
    pub fn build(self) -> Result<Portway> {
        let mut b = Portway::builder();
        if let Some(d) = self.domains {
            b = b.domains(d);
        }
        if let Some(path) = self.store {
            b = b.store_path(path);
        }
        if let Some(p) = self.reserved_ports {
            b = b.reserved_ports(p);
        }
        if let Some(ids) = self.reserved_sandbox_ids {
            b = b.reserved_sandbox_ids(ids);
        }
        if let Some(s) = self.custom_domain_suffixes {
            b = b.custom_domain_suffixes(s);
        }
        if let Some(on) = self.normalize_id {
            b = b.normalize_id(on);
        }
        if let Some(n) = self.min_token_length {
            b = b.min_token_length(n);
        }
        if let Some(g) = self.gateway {
            b = b.gateway_config(g);
        }
        b.build()
    }
}

impl Portway {
    /// A builder with the defaults: domain `localhost`, memory store.
    pub fn builder() -> PortwayBuilder {
        PortwayBuilder::default()
    }

    /// A handle on a sandbox. Validates the id (and lowercases it when `normalize_id` is
    /// on) and the upstream host; stores nothing until the first write.
    ///
    /// ```
    /// let portway = portway::Portway::builder().build()?;
    /// assert_eq!(portway.sandbox("my-box", "127.0.0.1")?.id(), "my-box");
    /// assert_eq!(portway.sandbox("My-Box", "127.0.0.1").unwrap_err().code().as_str(), "INVALID_SANDBOX_ID");
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn sandbox(&self, id: &str, upstream_host: &str) -> Result<Sandbox> {
        let id = self.rules().validate_sandbox_id(id)?;
        let upstream = validate_upstream_host(upstream_host)?;
        self.check_upstream(&upstream, None)?;
        Ok(Sandbox::new(self.clone(), id, upstream))
    }

    /// Parses a host into a route if it is a preview host under one of this Portway's
    /// domains; `None` otherwise.
    ///
    /// ```
    /// let portway = portway::Portway::builder().domains(["example.com"]).build()?;
    /// assert!(portway.parse_preview_host("8080-box-token123.example.com").is_some());
    /// assert!(portway.parse_preview_host("8080-box-token123.other.com").is_none());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn parse_preview_host(&self, host: &str) -> Option<Route> {
        self.rules().route_preview_host(host)
    }

    /// A gateway over this Portway's exposures, to mount in a host application's own HTTP
    /// server (see [`Gateway::proxy_to_sandbox`]). Each call makes a gateway with its own
    /// upstream pool and counters.
    pub fn gateway(&self) -> Result<Gateway> {
        self.gateway_with(GatewayHooks::default())
    }

    /// [`Portway::gateway`] with the host's hooks (a wake hook: see [`GatewayHooks`]).
    pub fn gateway_with(&self, hooks: GatewayHooks) -> Result<Gateway> {
        Gateway::new(
            self.shared_registry().clone(),
            self.gateway_config().clone(),
            hooks,
        )
    }

    /// Starts the gateway on `addr` (such as `"127.0.0.1:8080"`, or port 0 for any free
    /// port) on the current tokio runtime, and returns its handle.
    ///
    /// ```
    /// # async fn demo() -> portway::Result<()> {
    /// let portway = portway::Portway::builder().build()?;
    /// let gateway = portway.serve("127.0.0.1:0").await?;
    /// assert!(gateway.local_addr().port() > 0);
    /// gateway.close().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve(&self, addr: &str) -> Result<GatewayHandle> {
        GatewayHandle::bind(self.gateway()?, addr).await
    }

    /// [`Portway::serve`] with the host's hooks (a wake hook: see [`GatewayHooks`]).
    pub async fn serve_with(&self, addr: &str, hooks: GatewayHooks) -> Result<GatewayHandle> {
        GatewayHandle::bind(self.gateway_with(hooks)?, addr).await
    }

    /// A subscription to this Portway's lifecycle events (`idle`, `exposed`, `unexposed`,
    /// `running`, `stopped`, `destroyed`), from now on.
    ///
    /// ```
    /// # async fn demo() -> portway::Result<()> {
    /// let portway = portway::Portway::builder().build()?;
    /// let events = portway.events();
    /// portway.sandbox("box", "127.0.0.1")?.expose_port(8080, portway::ExposeOptions::new("localhost")).await?;
    /// let event = events.next().await.unwrap();
    /// assert_eq!((event.kind.as_str(), event.port), ("exposed", Some(8080)));
    /// events.close();
    /// # Ok(()) }
    /// ```
    pub fn events(&self) -> EventStream {
        self.registry().lifecycle.subscribe()
    }

    /// Decides what the gateway does with a request for `host` (its Host header).
    pub fn resolve(&self, host: &str) -> Resolution {
        gateway::resolve(self.registry(), host)
    }

    /// A sandbox as stored, if it exists.
    ///
    /// ```
    /// let portway = portway::Portway::builder().build()?;
    /// assert!(portway.get_sandbox("nobody").is_none());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn get_sandbox(&self, id: &str) -> Option<SandboxInfo> {
        self.registry().sandbox(id)
    }

    /// Every sandbox, sorted by id.
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        self.registry().sandboxes()
    }

    /// Creates or updates a sandbox. `None` keeps what is stored (a new sandbox gets
    /// `127.0.0.1` and runs).
    ///
    /// ```
    /// # async fn demo() -> portway::Result<()> {
    /// let portway = portway::Portway::builder().build()?;
    /// let info = portway.put_sandbox("box", Some("10.0.0.7"), None).await?;
    /// assert_eq!(info.status, portway::SandboxStatus::Running);
    /// # Ok(()) }
    /// ```
    pub async fn put_sandbox(
        &self,
        id: &str,
        upstream_host: Option<&str>,
        status: Option<SandboxStatus>,
    ) -> Result<SandboxInfo> {
        let id = self.rules().validate_sandbox_id(id)?;
        let upstream = upstream_host.map(validate_upstream_host).transpose()?;
        if let Some(upstream) = &upstream {
            self.check_upstream(upstream, None)?;
        }
        self.write(move |reg| {
            reg.put_sandbox(
                &id,
                upstream.as_deref(),
                crate::DEFAULT_UPSTREAM_HOST,
                status,
            )
        })
        .await
    }

    /// Forgets a sandbox and its tokens; `false` if it did not exist.
    pub async fn destroy_sandbox(&self, id: &str) -> Result<bool> {
        let id = self.rules().validate_sandbox_id(id)?;
        self.write(move |reg| reg.destroy(&id)).await
    }
}
