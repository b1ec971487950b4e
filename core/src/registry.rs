//! The registry: every sandbox and exposed port, in memory for the gateway's lookups, written
//! through to a [`Store`] before any change is acknowledged.
//!
//! Writers are serialised by the store's lock and apply a change to the in-memory index only
//! after the store has made it durable, so a failed write changes nothing. Readers (the
//! gateway) take a read lock on the index alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use crate::error::{Error, Result};
use crate::hostname::Hostname;
use crate::preview_url::preview_url;
use crate::rules::Rules;
use crate::store::now_ms;
use crate::store::{Change, ExposureRecord, SandboxStatus, Store};
use crate::token::{generate_token, tokens_equal};

/// What the gateway should do with a request, decided from its Host header.
///
/// ```
/// # async fn demo() -> portway::Result<()> {
/// let portway = portway::Portway::builder().build()?;
/// let sb = portway.sandbox("box", "127.0.0.1")?;
/// let exposed = sb.expose_port(8080, portway::ExposeOptions::new("localhost")).await?;
/// let host = exposed.url.trim_start_matches("http://").trim_end_matches('/');
/// assert!(matches!(portway.resolve(host), portway::Resolution::Upstream(_)));
/// assert_eq!(portway.resolve("8080-box-wrongtoken.localhost"), portway::Resolution::Denied);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Not a preview host of this gateway (404 `NOT_FOUND`, or the host application's own
    /// routes when embedded).
    NotPreview,
    /// Unknown sandbox, unexposed port, wrong token or destroyed sandbox, all alike (404
    /// `INVALID_TOKEN`).
    Denied,
    /// The right token for a stopped sandbox (410 `STALE_PREVIEW_URL`).
    Stale {
        /// The sandbox id.
        sandbox_id: String,
        /// The port.
        port: u16,
    },
    /// Forward to this upstream.
    Upstream(Upstream),
}

/// Where a preview request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The sandbox id.
    pub sandbox_id: Arc<str>,
    /// The host the sandbox's services listen on.
    pub host: Arc<str>,
    /// The port.
    pub port: u16,
}

/// A sandbox as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    /// The sandbox id.
    pub id: String,
    /// The host its services listen on.
    pub upstream_host: String,
    /// Running or stopped.
    pub status: SandboxStatus,
    /// How many ports it has exposed.
    pub exposed_ports: usize,
}

#[derive(Debug)]
struct SandboxEntry {
    upstream_host: Arc<str>,
    status: SandboxStatus,
    ports: BTreeMap<u16, PortEntry>,
}

#[derive(Debug, Clone)]
pub(crate) struct PortEntry {
    pub token: String,
    pub name: Option<String>,
    pub created_at_ms: i64,
}

type Index = HashMap<Arc<str>, SandboxEntry>;

/// A port of a sandbox with its URL parts, as the registry hands it to the API layer.
#[derive(Debug, Clone)]
pub(crate) struct PortView {
    pub port: u16,
    pub token: String,
    pub name: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Registry {
    pub rules: Rules,
    store: Mutex<Box<dyn Store>>,
    index: RwLock<Index>,
}

impl Registry {
    /// Loads everything the store holds.
    pub fn open(rules: Rules, mut store: Box<dyn Store>) -> Result<Registry> {
        let mut index = Index::new();
        for sb in store.load()? {
            let ports = sb
                .exposures
                .into_iter()
                .map(|e| {
                    let entry = PortEntry {
                        token: e.token,
                        name: e.name,
                        created_at_ms: e.created_at_ms,
                    };
                    (e.port, entry)
                })
                .collect();
            index.insert(
                sb.id.into(),
                SandboxEntry {
                    upstream_host: sb.upstream_host.into(),
                    status: sb.status,
                    ports,
                },
            );
        }
        Ok(Registry {
            rules,
            store: Mutex::new(store),
            index: RwLock::new(index),
        })
    }

    fn writer(&self) -> MutexGuard<'_, Box<dyn Store>> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Index)) {
        f(&mut self.index.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Exposes `port` (already validated with its host name, name and custom token).
    pub fn expose(
        &self,
        id: &str,
        upstream_host: &str,
        port: u16,
        host: &Hostname,
        name: Option<&str>,
        custom_token: Option<&str>,
    ) -> Result<(String, Option<String>)> {
        let mut store = self.writer();
        let (record, status, url) = {
            let index = self.read();
            let sandbox = index.get(id);
            let existing = sandbox.and_then(|s| s.ports.get(&port));
            let in_use = |token: &str| {
                sandbox.and_then(|s| {
                    s.ports
                        .iter()
                        .find(|(p, e)| **p != port && tokens_equal(&e.token, token))
                        .map(|(p, _)| *p)
                })
            };
            let token = match (custom_token, existing) {
                (Some(t), _) => t.to_owned(),
                (None, Some(e)) => e.token.clone(),
                (None, None) => loop {
                    let t = generate_token();
                    if in_use(&t).is_none() {
                        break t;
                    }
                },
            };
            let url = preview_url(port, id, &token, host)?;
            if let Some(other) = in_use(&token) {
                return Err(Error::TokenInUse { token, port: other });
            }
            let record = ExposureRecord {
                port,
                token,
                name: name
                    .map(str::to_owned)
                    .or_else(|| existing.and_then(|e| e.name.clone())),
                created_at_ms: existing.map_or_else(now_ms, |e| e.created_at_ms),
            };
            (
                record,
                sandbox.map_or(SandboxStatus::Running, |s| s.status),
                url,
            )
        };
        store.apply(Change::PutExposure {
            sandbox_id: id,
            upstream_host,
            status,
            exposure: &record,
        })?;
        let name = record.name.clone();
        self.update(|index| {
            let sb = entry(index, id, upstream_host, status);
            let entry = PortEntry {
                token: record.token,
                name: record.name,
                created_at_ms: record.created_at_ms,
            };
            sb.ports.insert(port, entry);
        });
        Ok((url, name))
    }

    /// Unexposes a port; nothing happens if it is not exposed.
    pub fn unexpose(&self, id: &str, port: u16) -> Result<()> {
        let mut store = self.writer();
        if !self
            .read()
            .get(id)
            .is_some_and(|s| s.ports.contains_key(&port))
        {
            return Ok(());
        }
        store.apply(Change::DeleteExposure {
            sandbox_id: id,
            port,
        })?;
        self.update(|index| {
            if let Some(sb) = index.get_mut(id) {
                sb.ports.remove(&port);
            }
        });
        Ok(())
    }

    /// Creates or updates a sandbox. `None` keeps the stored value (or the default for a new
    /// sandbox: `default_upstream`, running).
    pub fn put_sandbox(
        &self,
        id: &str,
        upstream_host: Option<&str>,
        default_upstream: &str,
        status: Option<SandboxStatus>,
    ) -> Result<SandboxInfo> {
        let mut store = self.writer();
        let (upstream, status) = {
            let index = self.read();
            let current = index.get(id);
            let upstream = upstream_host
                .map(Arc::<str>::from)
                .or_else(|| current.map(|s| s.upstream_host.clone()))
                .unwrap_or_else(|| default_upstream.into());
            (
                upstream,
                status.or(current.map(|s| s.status)).unwrap_or_default(),
            )
        };
        store.apply(Change::PutSandbox {
            id,
            upstream_host: &upstream,
            status,
        })?;
        let mut exposed_ports = 0;
        self.update(|index| {
            let sb = entry(index, id, &upstream, status);
            exposed_ports = sb.ports.len();
        });
        Ok(SandboxInfo {
            id: id.into(),
            upstream_host: upstream.to_string(),
            status,
            exposed_ports,
        })
    }

    /// Forgets a sandbox and every token it had; nothing happens if it is unknown.
    pub fn destroy(&self, id: &str) -> Result<bool> {
        let mut store = self.writer();
        if !self.read().contains_key(id) {
            return Ok(false);
        }
        store.apply(Change::DeleteSandbox { id })?;
        self.update(|index| {
            index.remove(id);
        });
        Ok(true)
    }

    /// The exposed ports of a sandbox, sorted, with its status (`None` if unknown).
    pub fn ports(&self, id: &str) -> Option<(SandboxStatus, Vec<PortView>)> {
        let index = self.read();
        let sb = index.get(id)?;
        let ports = sb
            .ports
            .iter()
            .map(|(&port, e)| PortView {
                port,
                token: e.token.clone(),
                name: e.name.clone(),
            })
            .collect();
        Some((sb.status, ports))
    }

    pub fn is_exposed(&self, id: &str, port: u16) -> bool {
        self.read()
            .get(id)
            .is_some_and(|s| s.ports.contains_key(&port))
    }

    pub fn validate_token(&self, id: &str, port: u16, token: &str) -> bool {
        self.read()
            .get(id)
            .and_then(|s| s.ports.get(&port))
            .is_some_and(|e| tokens_equal(&e.token, token))
    }

    pub fn sandbox(&self, id: &str) -> Option<SandboxInfo> {
        self.read().get(id).map(|s| info(id, s))
    }

    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        let index = self.read();
        let mut all: Vec<_> = index.iter().map(|(id, s)| info(id, s)).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The gateway's lookup: parse, one read lock, two hash lookups, a constant-time compare.
    pub fn resolve(&self, host: &str) -> Resolution {
        self.rules
            .with_route(host, true, |route| {
                let index = self.read();
                let Some((id, sb)) = index.get_key_value(route.sandbox_id) else {
                    return Resolution::Denied;
                };
                match sb.ports.get(&route.port) {
                    Some(e) if tokens_equal(&e.token, route.token) => match sb.status {
                        SandboxStatus::Stopped => Resolution::Stale {
                            sandbox_id: route.sandbox_id.to_owned(),
                            port: route.port,
                        },
                        SandboxStatus::Running => Resolution::Upstream(Upstream {
                            sandbox_id: id.clone(),
                            host: sb.upstream_host.clone(),
                            port: route.port,
                        }),
                    },
                    _ => Resolution::Denied,
                }
            })
            .unwrap_or(Resolution::NotPreview)
    }
}

fn entry<'a>(
    index: &'a mut Index,
    id: &str,
    upstream_host: &str,
    status: SandboxStatus,
) -> &'a mut SandboxEntry {
    let sb = index.entry(Arc::from(id)).or_insert_with(|| SandboxEntry {
        upstream_host: upstream_host.into(),
        status,
        ports: BTreeMap::new(),
    });
    if *sb.upstream_host != *upstream_host {
        sb.upstream_host = upstream_host.into();
    }
    sb.status = status;
    sb
}

fn info(id: &str, s: &SandboxEntry) -> SandboxInfo {
    SandboxInfo {
        id: id.to_owned(),
        upstream_host: s.upstream_host.to_string(),
        status: s.status,
        exposed_ports: s.ports.len(),
    }
}
