//! `Portway`: the configuration, the store of exposures, sandboxes and the gateway.

use std::sync::Arc;

use crate::errors::PortwayError;
use crate::gateway::GatewayHandle;
use crate::records::{GatewayConfig, Resolution, Route, SandboxInfo};
use crate::sandbox::Sandbox;

/// One Portway: its rules, its store of exposures, and the gateway that routes preview hosts.
#[derive(Debug, uniffi::Object)]
pub struct Portway {
    inner: portway::Portway,
}

#[uniffi::export]
impl Portway {
    /// Checks the configuration and opens the store (`":memory:"`, or an SQLite file path,
    /// created if missing). `nil` keeps a default: domains `["localhost"]`, reserved ports
    /// `[3000]`, reserved ids `www api admin root system cloudflare workers`, custom-domain
    /// suffixes `["workers.dev"]`, minimum custom-token length 8, the gateway's defaults.
    #[uniffi::constructor(default(
        domains = None,
        store = ":memory:",
        reserved_ports = None,
        reserved_sandbox_ids = None,
        custom_domain_suffixes = None,
        normalize_id = false,
        min_token_length = None,
        gateway = None
    ))]
    #[allow(clippy::too_many_arguments)] // the foreign side names every argument
    pub fn new(
        domains: Option<Vec<String>>,
        store: String,
        reserved_ports: Option<Vec<i64>>,
        reserved_sandbox_ids: Option<Vec<String>>,
        custom_domain_suffixes: Option<Vec<String>>,
        normalize_id: bool,
        min_token_length: Option<i64>,
        gateway: Option<GatewayConfig>,
    ) -> Result<Arc<Portway>, PortwayError> {
        let mut b = portway::Portway::builder()
            .store_path(store)
            .normalize_id(normalize_id);
        if let Some(d) = domains {
            b = b.domains(d);
        }
        if let Some(p) = reserved_ports {
            b = b.reserved_ports(p);
        }
        if let Some(ids) = reserved_sandbox_ids {
            b = b.reserved_sandbox_ids(ids);
        }
        if let Some(s) = custom_domain_suffixes {
            b = b.custom_domain_suffixes(s);
        }
        if let Some(n) = min_token_length {
            b = b.min_token_length(n);
        }
        if let Some(g) = gateway {
            b = b.gateway_config(g.to_core()?);
        }
        Ok(Arc::new(Portway { inner: b.build()? }))
    }

    /// A handle on a sandbox whose services listen at `upstream_host`. Validates the id
    /// (lowercased when `normalizeId` is on) and the host; stores nothing until a write.
    #[uniffi::method(default(upstream_host = "127.0.0.1"))]
    pub fn sandbox(&self, id: String, upstream_host: String) -> Result<Arc<Sandbox>, PortwayError> {
        Ok(Arc::new(Sandbox::new(
            self.inner.sandbox(&id, &upstream_host)?,
        )))
    }

    /// Starts the gateway on `listen` (port 0 for any free port) and returns its handle.
    #[uniffi::method(default(listen = "127.0.0.1:0"))]
    pub async fn serve(&self, listen: String) -> Result<Arc<GatewayHandle>, PortwayError> {
        let portway = self.inner.clone();
        let handle = crate::run(async move { Ok(portway.serve(&listen).await?) }).await?;
        Ok(Arc::new(GatewayHandle::new(handle)))
    }

    /// What the gateway does with a request for `host` (its Host header).
    pub fn resolve(&self, host: String) -> Resolution {
        self.inner.resolve(&host).into()
    }

    /// Parses a host into a route if it is a preview host under one of this Portway's
    /// domains; `nil` otherwise.
    pub fn parse_preview_host(&self, host: String) -> Option<Route> {
        self.inner.parse_preview_host(&host).map(Route::from)
    }

    /// A sandbox as stored, if it exists.
    pub fn get_sandbox(&self, id: String) -> Option<SandboxInfo> {
        self.inner.get_sandbox(&id).map(SandboxInfo::from)
    }

    /// Every sandbox, sorted by id.
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        self.inner
            .sandboxes()
            .into_iter()
            .map(SandboxInfo::from)
            .collect()
    }

    /// Checks a port with this Portway's reserved ports and returns it.
    pub fn validate_port(&self, port: i64) -> Result<u16, PortwayError> {
        Ok(self.inner.rules().validate_port(port)?)
    }

    /// Checks a sandbox id with this Portway's rules and returns it as stored.
    pub fn validate_sandbox_id(&self, id: String) -> Result<String, PortwayError> {
        Ok(self.inner.rules().validate_sandbox_id(&id)?)
    }

    /// Checks a custom token with this Portway's rules and returns it.
    pub fn validate_token(&self, token: String) -> Result<String, PortwayError> {
        self.inner.rules().validate_token(&token)?;
        Ok(token)
    }

    /// Builds a preview URL with this Portway's rules.
    pub fn build_preview_url(
        &self,
        port: i64,
        sandbox_id: String,
        token: String,
        hostname: String,
    ) -> Result<String, PortwayError> {
        let rules = self.inner.rules();
        let port = rules.validate_port(port)?;
        Ok(rules.build_preview_url(port, &sandbox_id, &token, &hostname)?)
    }
}
