//! `Portway`: configuration, the store, sandboxes, resolution and the gateway.

use napi::Env;
use napi::bindgen_prelude::{Function, Object, Promise, PromiseRaw, Result, Unknown};
use napi_derive::napi;
use portway::Error;

use crate::convert;
use crate::errors::OrThrow;
use crate::gateway::{GatewayHandle, gateway_options};
use crate::lifecycle::{EventStream, NodeWakeHook};
use crate::records::{self, Resolution, Route, SandboxInfo, WakeRequest};
use crate::sandbox::Sandbox;

/// Options of `new Portway(...)`; every one has a default.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct PortwayOptions<'a> {
    /// The preview domains the gateway routes and `exposePort` accepts (default
    /// `['localhost']`).
    pub domains: Option<Vec<String>>,
    /// Where exposures are kept: `':memory:'` (the default), the path of an SQLite file,
    /// created if missing, that survives restarts (each write is durable before it returns),
    /// or a `redis://` (`rediss://`) URL of a Redis that several processes share.
    pub store: Option<String>,
    /// Ports that can never be exposed (default `[3000]`).
    pub reserved_ports: Option<Vec<f64>>,
    /// Sandbox ids refused, case-insensitively (default
    /// `['www', 'api', 'admin', 'root', 'system', 'cloudflare', 'workers']`).
    pub reserved_sandbox_ids: Option<Vec<String>>,
    /// Host names that cannot carry wildcard subdomains (default `['workers.dev']`).
    pub custom_domain_suffixes: Option<Vec<String>>,
    /// Lowercase uppercase sandbox ids instead of refusing them (default `false`).
    pub normalize_id: Option<bool>,
    /// The shortest custom token accepted, 1 to 16 (default 8).
    pub min_token_length: Option<f64>,
    /// The gateway's settings and limits.
    #[napi(ts_type = "GatewayOptions")]
    pub gateway: Option<Object<'a>>,
}

/// Options of `portway.sandbox(id, ...)`.
#[napi(object, object_to_js = false)]
pub struct SandboxOptions {
    /// The host the sandbox's services listen on: an IP address or a host name, without a
    /// port (default `'127.0.0.1'`).
    pub upstream_host: Option<String>,
}

/// Options of `portway.serve(...)`.
#[napi(object, object_to_js = false)]
pub struct ServeOptions<'a> {
    /// The address to listen on (default `'127.0.0.1:8080'`; port 0 picks a free port).
    pub listen: Option<String>,
    /// Starts a stopped sandbox when a request arrives for it: called once per sandbox however
    /// many requests wait, with `{ sandboxId, port }`. Resolve once the start is under way (the
    /// gateway then waits for the port and marks the sandbox running); reject, throw, or
    /// resolve to `false` to fail the wake (503 `SANDBOX_WAKE_FAILED` with the reason). Without
    /// it a stopped sandbox's URLs give 410.
    #[napi(ts_type = "(request: WakeRequest) => Promise<void | boolean>")]
    pub wake: Option<Function<'a, WakeRequest, Promise<Option<bool>>>>,
}

/// One Portway: its rules, its store of exposed ports, and the gateway that serves them.
///
/// @example
/// const portway = new Portway({ domains: ['localhost'] })
/// const sandbox = portway.sandbox('my-box')
/// const { url } = await sandbox.exposePort(8080, { hostname: 'localhost:8787' })
/// const gateway = await portway.serve({ listen: '127.0.0.1:8787' })
#[napi]
pub struct Portway {
    inner: portway::Portway,
}

#[napi]
impl Portway {
    /// Checks the options, opens the store and loads what it holds.
    ///
    /// @throws {PortwayError} `INVALID_CONFIG` for an unusable option, `INVALID_HOSTNAME` for a
    /// malformed domain, `STORE_ERROR` when the store file cannot be opened.
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<PortwayOptions<'_>>) -> Result<Self> {
        build(options.unwrap_or_default())
            .map(|inner| Portway { inner })
            .or_throw(&env)
    }

    /// A handle on a sandbox; validates the id (lowercasing it when `normalizeId` is on) and
    /// the upstream host. Stores nothing until the first write.
    ///
    /// @throws {PortwayError} `INVALID_SANDBOX_ID` or `INVALID_UPSTREAM_HOST`.
    #[napi]
    pub fn sandbox(
        &self,
        env: Env,
        id: String,
        options: Option<SandboxOptions>,
    ) -> Result<Sandbox> {
        let upstream = options
            .and_then(|o| o.upstream_host)
            .unwrap_or_else(|| portway::DEFAULT_UPSTREAM_HOST.to_owned());
        self.inner
            .sandbox(&id, &upstream)
            .map(Sandbox::from)
            .or_throw(&env)
    }

    /// Starts the gateway: an HTTP and WebSocket reverse proxy that routes this Portway's
    /// preview hosts to exposed ports. Like an `http.Server`, a listening gateway keeps the
    /// process alive until it is closed (or `unref()`'d).
    ///
    /// @throws {PortwayError} `GATEWAY_ERROR` when the address cannot be bound.
    #[napi(ts_return_type = "Promise<GatewayHandle>")]
    pub fn serve<'env>(
        &self,
        env: &'env Env,
        options: Option<ServeOptions<'_>>,
    ) -> Result<PromiseRaw<'env, GatewayHandle>> {
        let (listen, wake) = match options {
            Some(o) => (o.listen, o.wake),
            None => (None, None),
        };
        let listen = listen.unwrap_or_else(|| portway::DEFAULT_LISTEN.to_owned());
        let mut hooks = portway::GatewayHooks::new();
        if let Some(wake) = &wake {
            hooks = hooks.wake(NodeWakeHook::new(wake)?);
        }
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { inner.serve_with(&listen, hooks).await },
            GatewayHandle::new,
        )
    }

    /// The lifecycle events from now on (`idle`, `exposed`, `unexposed`, `running`,
    /// `stopped`, `destroyed`): `for await (const event of portway.events()) { ... }`.
    #[napi]
    pub fn events(&self) -> EventStream {
        EventStream::new(self.inner.events())
    }

    /// Decides what the gateway does with a request for `host` (its Host header).
    #[napi]
    pub fn resolve(&self, host: String) -> Resolution {
        self.inner.resolve(&host).into()
    }

    /// A sandbox as stored; `null` if there is none with this id.
    #[napi]
    pub fn get_sandbox(&self, id: String) -> Option<SandboxInfo> {
        self.inner.get_sandbox(&id).map(SandboxInfo::from)
    }

    /// Every stored sandbox, sorted by id.
    #[napi]
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        records::all(self.inner.sandboxes())
    }

    /// Checks a port with this Portway's reserved ports and returns it.
    ///
    /// @throws {PortwayError} `INVALID_PORT`.
    #[napi(ts_args_type = "port: unknown")]
    pub fn validate_port(&self, env: Env, port: Unknown<'_>) -> Result<u32> {
        convert::port(self.inner.rules(), &port)
            .map(u32::from)
            .or_throw(&env)
    }

    /// Checks a sandbox id with this Portway's rules and returns it as stored (lowercased
    /// when `normalizeId` is on).
    ///
    /// @throws {PortwayError} `INVALID_SANDBOX_ID`.
    #[napi]
    pub fn validate_sandbox_id(&self, env: Env, id: String) -> Result<String> {
        self.inner.rules().validate_sandbox_id(&id).or_throw(&env)
    }

    /// Checks a custom token with this Portway's rules (`minTokenLength` to 16 of
    /// `[a-z0-9_]`) and returns it.
    ///
    /// @throws {PortwayError} `INVALID_TOKEN_FORMAT`.
    #[napi]
    pub fn validate_token(&self, env: Env, token: String) -> Result<String> {
        self.inner.rules().validate_token(&token).or_throw(&env)
    }

    /// Builds a preview URL with this Portway's rules (any host name: the domains are
    /// checked by `exposePort`).
    ///
    /// @throws {PortwayError} as the free `buildPreviewUrl`.
    #[napi(ts_args_type = "port: number, sandboxId: string, token: string, hostname: string")]
    pub fn build_preview_url(
        &self,
        env: Env,
        port: Unknown<'_>,
        sandbox_id: String,
        token: String,
        hostname: String,
    ) -> Result<String> {
        crate::preview_url::build_with(
            self.inner.rules(),
            &env,
            &port,
            &sandbox_id,
            &token,
            &hostname,
        )
    }

    /// Parses a host into its route if it is a preview host under one of this Portway's
    /// domains; `null` otherwise. Never throws.
    #[napi]
    pub fn parse_preview_host(&self, host: String) -> Option<Route> {
        self.inner.parse_preview_host(&host).map(Route::from)
    }

    /// The preview domains, normalised (lowercase, punycode, no port).
    #[napi(getter)]
    pub fn domains(&self) -> Vec<String> {
        self.inner.rules().domains().to_vec()
    }
}

fn build(o: PortwayOptions<'_>) -> portway::Result<portway::Portway> {
    let whole = |name: &str, v: f64| convert::whole(name, v, Error::InvalidConfig);
    portway::PortwaySettings {
        domains: o.domains,
        store: o.store,
        reserved_ports: o
            .reserved_ports
            .map(|ports| {
                ports
                    .into_iter()
                    .map(|p| whole("a reserved port", p))
                    .collect()
            })
            .transpose()?,
        reserved_sandbox_ids: o.reserved_sandbox_ids,
        custom_domain_suffixes: o.custom_domain_suffixes,
        normalize_id: o.normalize_id,
        min_token_length: o
            .min_token_length
            .map(|n| whole("minTokenLength", n))
            .transpose()?,
        gateway: o
            .gateway
            .map(|g| gateway_options(&g)?.resolve())
            .transpose()?,
    }
    .build()
}
