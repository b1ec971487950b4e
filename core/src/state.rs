//! The state a Portway's handles share: the registry (rules, store and the index the gateway
//! reads), the gateway settings, and how writes run. [`Portway`] is the handle on it, cheap
//! to clone; a `Sandbox` keeps one. What a Portway builds and answers (sandboxes, gateways,
//! lookups) is in `portway.rs`, above the sandbox and the gateway; here are only the
//! crate-private operations they share.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gateway::GatewayConfig;
use crate::hostname::Hostname;
use crate::registry::Registry;
use crate::rules::Rules;
use crate::upstream_policy::{OwnListeners, UpstreamPolicy};

/// One Portway: its rules, its store of exposures, and (with the gateway) the server that
/// routes preview hosts. Cheap to clone: clones share everything.
///
/// ```
/// # async fn demo() -> portway::Result<()> {
/// use portway::{ExposeOptions, Portway};
/// let portway = Portway::builder().domains(["localhost"]).build()?;
/// let sb = portway.sandbox("my-box", "127.0.0.1")?;
/// let exposed = sb.expose_port(8080, ExposeOptions::new("localhost:8787")).await?;
/// assert!(exposed.url.starts_with("http://8080-my-box-"));
/// assert!(exposed.url.ends_with(".localhost:8787/"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Portway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Shared with every gateway built from this Portway (what they route with).
    registry: Arc<Registry>,
    gateway_config: GatewayConfig,
    /// Writes go to a file: run them on the blocking pool, off the async workers.
    blocking_writes: bool,
}

impl Portway {
    /// Wraps what `PortwayBuilder::build` opened and checked.
    pub(crate) fn new(
        registry: Registry,
        gateway_config: GatewayConfig,
        blocking_writes: bool,
    ) -> Portway {
        let registry = Arc::new(registry);
        registry.lifecycle.configure(
            gateway_config.idle_after,
            gateway_config.websockets_keep_active,
        );
        // A shared store: changes other processes write reach this registry too.
        crate::registry::follow(&registry);
        Portway {
            inner: Arc::new(Inner {
                registry,
                gateway_config,
                blocking_writes,
            }),
        }
    }

    /// The rules this Portway validates with.
    pub fn rules(&self) -> &Rules {
        &self.inner.registry.rules
    }

    /// The registry: every sandbox and exposed port, with the rules.
    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The registry, shared: what a gateway routes with.
    pub(crate) fn shared_registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The settings of the gateways this Portway builds.
    pub(crate) fn gateway_config(&self) -> &GatewayConfig {
        &self.inner.gateway_config
    }

    /// Runs a registry write: on the blocking pool for a file store (SQLite commits wait for
    /// the disk), inline for memory.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Registry) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if !self.inner.blocking_writes {
            return f(&self.inner.registry);
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner.registry))
            .await
            .map_err(|e| Error::Store(format!("the store write did not complete: {e}")))?
    }

    /// `DOMAIN_NOT_CONFIGURED` unless `host` is one of the preview domains.
    pub(crate) fn check_domain(&self, host: &Hostname) -> Result<()> {
        let domains = self.rules().domains();
        if domains.iter().any(|d| d == host.host()) {
            return Ok(());
        }
        Err(Error::DomainNotConfigured(format!(
            "Hostname '{}' is not a preview domain of this Portway (configured: {}). The \
             gateway would not route its preview URLs; add it to the domains.",
            host.host(),
            domains.join(", ")
        )))
    }

    /// Checks an upstream as a sandbox names it, before anything is stored: an IP address
    /// against the gateways' upstream address policy, and (with a port) that `host:port` is
    /// not one of this Portway's own listeners. Host names are checked on the address they
    /// resolve to, at every connect. `UPSTREAM_FORBIDDEN` names the address and the rule.
    pub(crate) fn check_upstream(&self, host: &str, port: Option<u16>) -> Result<()> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let config = self.gateway_config();
            let policy = UpstreamPolicy {
                allow: config.upstream_allow.clone(),
                deny: config.upstream_deny.clone(),
            };
            if let Err(refused) = policy.check(ip) {
                return Err(Error::UpstreamForbidden(format!(
                    "Upstream host {host} is not allowed: {refused} (the gateway's \
                     upstream_allow and upstream_deny settings decide)."
                )));
            }
        }
        if let Some(port) = port
            && let Some(listener) = self.registry().listeners.named_by(host, port)
        {
            return Err(Error::UpstreamForbidden(format!(
                "Port {port} of {host} is Portway's own listener {listener}: exposing it would \
                 put Portway itself behind a preview URL."
            )));
        }
        Ok(())
    }

    /// The addresses this Portway listens on, which no exposure may point at. A host
    /// application registers the other listeners it runs beside the gateway (an admin API)
    /// with [`OwnListeners::register`]; a gateway registers itself.
    pub fn own_listeners(&self) -> &Arc<OwnListeners> {
        &self.registry().listeners
    }
}
