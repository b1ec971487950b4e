//! The plain objects the API returns, with the core's fields in JavaScript names.

use napi_derive::napi;

/// Where a preview host points: a port of a sandbox and the token that guards it.
#[napi(object, object_from_js = false)]
pub struct Route {
    /// The exposed port.
    pub port: u16,
    /// The sandbox id.
    pub sandbox_id: String,
    /// The token of the exposed port.
    pub token: String,
}

impl From<portway::Route> for Route {
    fn from(r: portway::Route) -> Self {
        Route {
            port: r.port,
            sandbox_id: r.sandbox_id,
            token: r.token,
        }
    }
}

/// What `exposePort` returns: Cloudflare's `{ port, url, name }`, plus `exposedAt`, the same
/// URL again under the name Cloudflare's SDK examples read.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct ExposedPort {
    /// The port.
    pub port: u16,
    /// Its preview URL, such as `https://8080-my-box-k3j5h2m9x7q1w4e8.example.com/`.
    pub url: String,
    /// Its name, or `null` when it has none.
    pub name: Option<String>,
    /// The preview URL again (what Cloudflare's SDK calls `exposedAt`).
    pub exposed_at: String,
}

impl From<portway::ExposedPort> for ExposedPort {
    fn from(p: portway::ExposedPort) -> Self {
        ExposedPort {
            port: p.port,
            exposed_at: p.url.clone(),
            url: p.url,
            name: p.name,
        }
    }
}

/// One entry of `getExposedPorts`.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct ExposedPortInfo {
    /// The port.
    pub port: u16,
    /// Its preview URL.
    pub url: String,
    /// Its name, or `null` when it has none.
    pub name: Option<String>,
    /// `'active'` while the sandbox runs, `'inactive'` while it is stopped (its URL then
    /// answers 410).
    #[napi(ts_type = "'active' | 'inactive'")]
    pub status: String,
}

impl From<portway::ExposedPortInfo> for ExposedPortInfo {
    fn from(p: portway::ExposedPortInfo) -> Self {
        ExposedPortInfo {
            port: p.port,
            url: p.url,
            name: p.name,
            status: p.status.as_str().to_owned(),
        }
    }
}

/// What `getExposedPorts` returns, in the shape of Cloudflare's SDK.
#[napi(object, object_from_js = false)]
pub struct ExposedPorts {
    /// The exposed ports, sorted by port.
    pub ports: Vec<ExposedPortInfo>,
}

/// What the gateway does with a request for a host: `kind` is `'not_preview'` (not a preview
/// host of this Portway: 404 `NOT_FOUND`), `'denied'` (unknown sandbox, port or token: 404
/// `INVALID_TOKEN`), `'stale'` (the right token of a stopped sandbox: 410) or `'upstream'`
/// (forwarded to `upstreamHost:port`).
#[napi(object, object_from_js = false)]
pub struct Resolution {
    /// What the gateway does.
    #[napi(ts_type = "'not_preview' | 'denied' | 'stale' | 'upstream'")]
    pub kind: String,
    /// The sandbox, for `'stale'` and `'upstream'`.
    pub sandbox_id: Option<String>,
    /// The port, for `'stale'` and `'upstream'`.
    pub port: Option<u16>,
    /// The host the request is forwarded to, for `'upstream'`.
    pub upstream_host: Option<String>,
}

impl From<portway::Resolution> for Resolution {
    fn from(r: portway::Resolution) -> Self {
        let kind = |k: &str| k.to_owned();
        match r {
            portway::Resolution::Stale { sandbox_id, port } => Resolution {
                kind: kind("stale"),
                sandbox_id: Some(sandbox_id),
                port: Some(port),
                upstream_host: None,
            },
            portway::Resolution::Upstream(up) => Resolution {
                kind: kind("upstream"),
                sandbox_id: Some(up.sandbox_id().to_owned()),
                port: Some(up.port()),
                upstream_host: Some(up.host().to_owned()),
            },
            portway::Resolution::Denied => Resolution {
                kind: kind("denied"),
                sandbox_id: None,
                port: None,
                upstream_host: None,
            },
            portway::Resolution::NotPreview => Resolution {
                kind: kind("not_preview"),
                sandbox_id: None,
                port: None,
                upstream_host: None,
            },
        }
    }
}

/// A sandbox as stored.
#[napi(object, object_from_js = false)]
pub struct SandboxInfo {
    /// The sandbox id.
    pub id: String,
    /// The host its services listen on.
    pub upstream_host: String,
    /// `'running'` (its URLs are served) or `'stopped'` (they answer 410).
    #[napi(ts_type = "'running' | 'stopped'")]
    pub status: String,
    /// How many ports it has exposed.
    pub exposed_ports: u32,
}

impl From<portway::SandboxInfo> for SandboxInfo {
    fn from(s: portway::SandboxInfo) -> Self {
        SandboxInfo {
            id: s.id,
            upstream_host: s.upstream_host,
            status: s.status.as_str().to_owned(),
            exposed_ports: u32::try_from(s.exposed_ports).unwrap_or(u32::MAX),
        }
    }
}
