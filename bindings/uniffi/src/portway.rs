//! `Portway`: the configuration, the store of exposures, sandboxes and the gateway.

use std::sync::Arc;

use crate::errors::PortwayError;
use crate::gateway::GatewayHandle;
use crate::lifecycle::{EventStream, SwiftWakeHook, WakeHandler};
use crate::records::{self, GatewayConfig, Resolution, Route, SandboxInfo};
use crate::sandbox::Sandbox;

/// One Portway: its rules, its store of exposures, and the gateway that routes preview hosts.
#[derive(Debug, uniffi::Object)]
pub struct Portway {
    inner: portway::Portway,
}

/// A setting as Swift gives it, converted to the core's (the gateway's record is checked).
trait IntoCore {
    type Core;
    fn into_core(self) -> Result<Self::Core, PortwayError>;
}

macro_rules! as_is_in_swift {
    ($($ty:ty),*) => {
        $(impl IntoCore for $ty {
            type Core = $ty;
            fn into_core(self) -> Result<$ty, PortwayError> {
                Ok(self)
            }
        })*
    };
}

as_is_in_swift!(Vec<String>, String, Vec<i64>, bool, i64);

impl IntoCore for GatewayConfig {
    type Core = portway::GatewayConfig;
    fn into_core(self) -> Result<portway::GatewayConfig, PortwayError> {
        self.to_core()
    }
}

/// The constructor from the core's table ([`portway::portway_settings!`]): one optional
/// argument per setting.
macro_rules! swift_portway_constructor {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty;)*) => {
        #[uniffi::export]
        impl Portway {
            /// Checks the configuration and opens the store (`":memory:"`, or an SQLite file
            /// path, created if missing). `nil` keeps a default: domains `["localhost"]`,
            /// reserved ports `[3000]`, reserved ids `www api admin root system cloudflare
            /// workers`, custom-domain suffixes `["workers.dev"]`, minimum custom-token length
            /// 8, the gateway's defaults.
            #[uniffi::constructor(default($($name = None),*))]
            #[allow(clippy::too_many_arguments)] // the foreign side names every argument
            pub fn new($($name: Option<$ty>),*) -> Result<Arc<Portway>, PortwayError> {
                let settings = portway::PortwaySettings {
                    $($name: $name.map(IntoCore::into_core).transpose()?,)*
                };
                Ok(Arc::new(Portway { inner: settings.build()? }))
            }
        }
    };
}

portway::portway_settings!(swift_portway_constructor);

#[uniffi::export]
impl Portway {
    /// A handle on a sandbox whose services listen at `upstream_host`. Validates the id
    /// (lowercased when `normalizeId` is on) and the host; stores nothing until a write.
    #[uniffi::method(default(upstream_host = None))]
    pub fn sandbox(
        &self,
        id: String,
        upstream_host: Option<String>,
    ) -> Result<Arc<Sandbox>, PortwayError> {
        let upstream_host = upstream_host
            .as_deref()
            .unwrap_or(portway::DEFAULT_UPSTREAM_HOST);
        Ok(Arc::new(Sandbox::new(
            self.inner.sandbox(&id, upstream_host)?,
        )))
    }

    /// Starts the gateway on `listen` (default `127.0.0.1:8080`; port 0 for any free port)
    /// and returns its handle.
    ///
    /// `wake` starts a stopped sandbox when a request arrives for it (without one, a stopped
    /// sandbox's URLs give 410): see ``WakeHandler``.
    #[uniffi::method(default(listen = None, wake = None))]
    pub async fn serve(
        &self,
        listen: Option<String>,
        wake: Option<Arc<dyn WakeHandler>>,
    ) -> Result<Arc<GatewayHandle>, PortwayError> {
        let listen = listen.unwrap_or_else(|| portway::DEFAULT_LISTEN.to_owned());
        let portway = self.inner.clone();
        let mut hooks = portway::GatewayHooks::new();
        if let Some(wake) = wake {
            hooks = hooks.wake(SwiftWakeHook(wake));
        }
        let handle =
            crate::run(async move { Ok(portway.serve_with(&listen, hooks).await?) }).await?;
        Ok(Arc::new(GatewayHandle::new(handle)))
    }

    /// The lifecycle events from now on (`idle`, `exposed`, `unexposed`, `running`,
    /// `stopped`, `destroyed`): `for await event in portway.events() { ... }`.
    pub fn events(&self) -> Arc<EventStream> {
        Arc::new(EventStream::new(self.inner.events()))
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
        records::all(self.inner.sandboxes())
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
        Ok(self.inner.rules().validate_token(&token)?)
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
